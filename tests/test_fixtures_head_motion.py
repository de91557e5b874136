"""The generated customer performs active-liveness challenges: head turns, deliberate blinks, coming closer."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.head_motion import CLOSER_SCALE, TURN_PEAK_DEG, TURN_PHASES_S, HeadMoves, turn_head
from fixtures.scenes import SceneSpec, generate_scene
from pipelines.liveness.active import Challenge


def test_schedule_turns_blinks_and_comes_closer() -> None:
    moves = HeadMoves(((Challenge.TURN_LEFT, 1.0), (Challenge.TURN_RIGHT, 3.0), (Challenge.BLINK, 5.0),
                       (Challenge.COME_CLOSER, 6.0)))
    up, hold, _ = TURN_PHASES_S
    assert moves.yaw_deg(0.5) == 0.0
    assert moves.yaw_deg(1.0 + up + hold / 2) == TURN_PEAK_DEG  # the person's own left: positive
    assert moves.yaw_deg(3.0 + up + hold / 2) == -TURN_PEAK_DEG
    assert moves.eye_closure(5.0) == 0.0 and moves.eye_closure(5.2) == 1.0 and moves.eye_closure(5.6) == 0.0
    assert moves.scale(5.9) == 1.0 and moves.scale(9.0) == pytest.approx(CLOSER_SCALE)
    with pytest.raises(ValueError):
        HeadMoves(((Challenge.BLINK, -1.0),))


def test_turn_head_moves_the_face_only() -> None:
    rng = np.random.default_rng(3)
    person = rng.integers(0, 255, (400, 300, 3), dtype=np.uint8)
    box = (100, 200, 220, 100)  # (top, right, bottom, left)
    assert turn_head(person, box, None, 0.0) is person
    turned = turn_head(person, box, None, 30.0)
    changed = np.any(turned != person, axis=2)
    assert changed[100:220, 100:200].mean() > 0.5  # the face moved
    assert not changed[:, :50].any() and not changed[330:].any()  # far from the head nothing did


def test_scene_truth_carries_the_head_yaw_and_actions() -> None:
    spec = SceneSpec("nl-id", seed=1, size=(320, 240), fps=15, seconds=3, actions=((Challenge.TURN_RIGHT, 1.0),),
                     natural_blinks=False)
    scene = generate_scene(spec)
    yaws = [truth.head_yaw_deg for _, truth in scene.frames()]
    assert min(yaws) == -TURN_PEAK_DEG and yaws[0] == 0.0
    assert not scene.backdrop.blinks
    assert scene.truth_json()["spec"]["actions"] == [["turn_right", 1.0]]
    plain = generate_scene(SceneSpec("nl-id", seed=1, size=(320, 240), fps=15, seconds=3))
    image_plain, _ = plain.render(0)
    image_moving, _ = scene.render(0)  # before the turn: the same picture as without actions
    assert np.array_equal(image_plain, image_moving)
