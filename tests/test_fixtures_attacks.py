"""Each attack differs from the genuine scene or document exactly as specified, and says so in its truth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fixtures.attacks import SHOULD_FAIL, Attack
from fixtures.documents import render_document
from fixtures.faces import FacePhoto, FixtureUnavailable, load_face_library
from fixtures.mrz_format import check_digits_valid
from fixtures.scenes import SceneSpec, generate_scene
from pipelines.frame import DocumentSide
from pipelines.layouts import ZoneName

SMALL = (320, 240)


def test_every_attack_names_the_checks_it_defeats() -> None:
    assert set(SHOULD_FAIL) == set(Attack)
    assert all(SHOULD_FAIL[a] for a in Attack)


@pytest.mark.parametrize("template", ["nl-id", "passport"])
def test_tampered_mrz_breaks_a_check_digit_with_one_character(template: str) -> None:
    genuine = render_document(template, 8)
    tampered = render_document(template, 8, attack=Attack.TAMPERED_MRZ)
    assert genuine.truth.mrz_valid and not tampered.truth.mrz_valid
    assert not check_digits_valid(tampered.truth.mrz_lines)
    changed = sum(a != b for g, t in zip(genuine.truth.mrz_lines, tampered.truth.mrz_lines, strict=True)
                  for a, b in zip(g, t, strict=True))
    assert changed == 1 and tampered.truth.tampering
    assert tampered.truth.printed == genuine.truth.printed


@pytest.mark.parametrize("template", ["de-id", "passport"])
def test_mrz_mismatch_keeps_valid_check_digits_but_encodes_other_data(template: str) -> None:
    genuine = render_document(template, 9)
    forged = render_document(template, 9, attack=Attack.MRZ_MISMATCH)
    assert forged.truth.mrz_valid and check_digits_valid(forged.truth.mrz_lines)
    assert forged.truth.mrz_lines != genuine.truth.mrz_lines
    assert forged.truth.printed == genuine.truth.printed  # the visual zone still shows the genuine data
    holder, encoded = forged.truth.holder, forged.truth.mrz_data
    assert (encoded.birthdate, encoded.document_number) != (holder.birthdate, holder.document_number)


def test_photocopy_is_grey_and_its_ovd_does_not_respond() -> None:
    copy = render_document("nl-id", 6, attack=Attack.PHOTOCOPY)
    genuine = render_document("nl-id", 6)
    front = copy.front[..., :3].astype(np.int16)
    assert np.abs(front[..., 0] - front[..., 2]).max() <= 2  # no colour at all
    front_view = DocumentSide.FRONT
    assert np.array_equal(copy.side_image(front_view, -20, 0), copy.side_image(front_view, 20, 0))
    assert not np.array_equal(genuine.side_image(front_view, -20, 0), genuine.side_image(front_view, 20, 0))
    assert copy.front[0, 0, 3] == 255  # cut out of paper: square corners
    scene = generate_scene(SceneSpec("nl-id", seed=6, attack=Attack.PHOTOCOPY, size=SMALL, fps=5, seconds=2))
    assert all(truth.ovd_hue is None for _, truth in scene.frames())


def test_screen_replay_shows_a_bezel_and_a_frozen_ovd() -> None:
    genuine = generate_scene(SceneSpec("de-id", seed=2, size=(640, 480), fps=5, seconds=4))
    replay = generate_scene(SceneSpec("de-id", seed=2, attack=Attack.SCREEN_REPLAY, size=(640, 480), fps=5, seconds=4))
    g_image, g_truth = genuine.render(1)
    r_image, r_truth = replay.render(1)
    assert r_truth.ovd_hue is None and g_truth.ovd_hue is not None

    def ring(image: np.ndarray, corners: np.ndarray) -> float:
        """Mean brightness of a band 3-9 px outside the document outline."""
        center = corners.mean(axis=0)
        outer, inner = np.zeros(image.shape[:2], np.uint8), np.zeros(image.shape[:2], np.uint8)
        for mask, grow in ((outer, 9.0), (inner, 3.0)):
            scaled = center + (corners - center) * (1 + grow / np.linalg.norm(corners - center, axis=1).mean())
            cv2.fillConvexPoly(mask, np.round(scaled).astype(np.int32), 1)
        band = (outer > 0) & (inner == 0)
        return float(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[band].mean())

    assert ring(r_image, r_truth.corners_px) < 60 < ring(g_image, g_truth.corners_px)
    # The OVD of the screenshot does not change when the phone is tilted.
    frozen = [replay.held[DocumentSide.FRONT].image(yaw, 0) for yaw in (-25, 25)]
    assert np.array_equal(frozen[0], frozen[1])


def test_portrait_swap_puts_another_person_on_the_document() -> None:
    library = load_face_library()
    if not library.real:
        with pytest.raises(FixtureUnavailable):
            generate_scene(SceneSpec("nl-id", seed=1, attack=Attack.PORTRAIT_SWAP, size=SMALL, fps=5, seconds=1))
        return
    scene = generate_scene(SceneSpec("nl-id", seed=1, attack=Attack.PORTRAIT_SWAP, size=SMALL, fps=5, seconds=1))
    data = scene.truth_json()
    assert data["same_person"] is False
    assert data["document"]["portrait"]["identity"] != data["live_face"]["identity"]
    genuine = generate_scene(SceneSpec("nl-id", seed=1, size=SMALL, fps=5, seconds=1))
    assert genuine.truth_json()["same_person"] is True
    box = genuine.document.layout.box_px(ZoneName.PORTRAIT)
    assert not np.array_equal(scene.document.front[box[1] : box[3], box[0] : box[2]],
                              genuine.document.front[box[1] : box[3], box[0] : box[2]])


def test_portrait_swap_without_a_second_identity_is_refused() -> None:
    from fixtures.faces import FaceLibrary

    lonely = FaceLibrary((FacePhoto("solo", "skimage:astronaut", (76, 265, 166, 175)),), real=False)
    with pytest.raises(FixtureUnavailable):
        render_document("nl-id", 1, attack=Attack.PORTRAIT_SWAP, faces=lonely)


def test_injected_static_repeats_one_frame_byte_for_byte() -> None:
    scene = generate_scene(SceneSpec("nl-id", seed=3, attack=Attack.INJECTED_STATIC, size=SMALL, fps=10, seconds=1))
    frames = list(scene.frames())
    assert all(np.array_equal(frames[0][0].image, f.image) for f, _ in frames)
    assert [t.repeated_of for _, t in frames][1:] == [0] * 9
    assert [f.t_s for f, _ in frames] == sorted(f.t_s for f, _ in frames)


def test_injected_loop_repeats_a_clip() -> None:
    scene = generate_scene(SceneSpec("nl-id", seed=3, attack=Attack.INJECTED_LOOP, size=SMALL, fps=10, seconds=2))
    images = [f.image for f, _ in scene.frames()]
    loop = scene.truth_json()["loop_frames"]
    assert loop == 10
    assert all(np.array_equal(images[i], images[i + loop]) for i in range(loop))
    assert not np.array_equal(images[0], images[1])  # within the clip, frames differ as in a genuine video


def test_no_tilt_never_tilts_but_still_shows_both_sides() -> None:
    scene = generate_scene(SceneSpec("de-id", seed=4, attack=Attack.NO_TILT, size=SMALL, fps=15, seconds=8))
    poses = [scene.pose_at(i) for i in range(len(scene))]
    assert max(abs(p.yaw_deg) for _, p in poses) < 4 and max(abs(p.pitch_deg) for _, p in poses) < 4
    assert {s for s, _ in poses} == {DocumentSide.FRONT, DocumentSide.BACK}
    genuine = generate_scene(SceneSpec("de-id", seed=4, size=SMALL, fps=15, seconds=8))
    assert max(abs(genuine.pose_at(i)[1].yaw_deg) for i in range(len(genuine))) > 25
