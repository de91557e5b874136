"""Face and liveness benchmark on generated scenes (fixtures), with face_recognition's default pipeline
run on every frame as the baseline.

``run(quick)`` returns a JSON-able dict. Run it with::

    .venv/bin/python -c "from api.benchmarks.face import run; import json; print(json.dumps(run(True), indent=1))"

What it measures, per scene (genuine and attacks), feeding frames in order as a live session would and
asking for the result every :data:`POLL_S` seconds of video (like the agent console):

- ``face visible -> match score``: seconds of video from the first frame with the customer's face to the
  first poll that returns a distance, plus the CPU of that poll (the encodings); p50 / p95 over scenes;
- CPU seconds of face + liveness work per session (``process_time``), and per frame;
- decisions: genuine matched, portrait swaps flagged (not pass), replays / loops flagged by liveness,
  genuine flagged by liveness;
- baseline: ``face_recognition.face_locations`` (HOG, upsample 1) + ``face_encodings`` of every face
  on every frame: ms per frame and CPU per session.

The document stage is not part of this benchmark: each frame's ``DocumentView`` is built from the
scene's ground-truth corners (the frame warped flat at the layout's scale), so only face work is timed.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

from fixtures.attacks import Attack
from fixtures.scenes import Scene, SceneSpec, generate_scene
from models.face import FaceEngine
from pipelines.face.live import FaceTracker
from pipelines.face.stage import FaceStage
from pipelines.frame import DocumentView, FrameContext
from pipelines.layouts import LAYOUTS, Template, rectified_size_px
from pipelines.liveness.stage import LivenessStage
from pipelines.results import Verdict

__all__ = ["run", "scene_contexts", "run_scene", "POLL_S"]

#: How often (seconds of video) the benchmark asks the stages for their result, like the console does.
POLL_S = 0.5
TEMPLATES = (Template.NL_ID, Template.DE_ID, Template.PASSPORT)


def scene_contexts(scene: Scene) -> Iterator[FrameContext]:
    """The scene's frames with a ``DocumentView`` from the ground truth (rectified by warping the frame)."""
    layout = LAYOUTS[scene.spec.template]
    width, height = rectified_size_px(layout.kind)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    for frame, truth in scene.frames():
        corners = truth.corners_px.astype(np.float32)
        view = None
        if truth.visible_fraction > 0.8:
            h = cv2.getPerspectiveTransform(corners, target)
            rectified = cv2.warpPerspective(frame.image, h, (width, height))
            view = DocumentView(corners, rectified, layout.kind, truth.side, truth.yaw_deg, truth.pitch_deg, 0.9)
        yield FrameContext(frame, view)


def run_scene(engine: FaceEngine, spec: SceneSpec, baseline: bool = False) -> dict[str, Any]:
    """Feed one generated scene through FaceStage + LivenessStage (shared tracker); time the face work."""
    contexts = list(scene_contexts(generate_scene(spec)))  # rendering is not timed
    tracker = FaceTracker(engine)
    face, live = FaceStage(engine, tracker), LivenessStage(tracker)
    cpu = 0.0
    first_distance_s: float | None = None
    poll_cpu = 0.0
    next_poll = POLL_S
    for context in contexts:
        c0 = time.process_time()
        face.observe(context)
        live.observe(context)
        cpu += time.process_time() - c0
        if context.frame.t_s >= next_poll:
            next_poll += POLL_S
            c0 = time.process_time()
            result = face.result()
            spent = time.process_time() - c0
            cpu += spent
            if first_distance_s is None and "distance" in result.measurements:
                first_distance_s, poll_cpu = context.frame.t_s, spent
    c0 = time.process_time()
    face_result, live_result = face.result(), live.result()
    cpu += time.process_time() - c0
    out: dict[str, Any] = {
        "attack": spec.attack.value if spec.attack else None,
        "template": spec.template.value,
        "seed": spec.seed,
        "frames": len(contexts),
        "face": face_result.verdict.value,
        "face_reason": face_result.reason.code,
        "distance": face_result.measurements.get("distance"),
        "liveness": live_result.verdict.value,
        "liveness_reason": live_result.reason.code,
        "cpu_s": round(cpu, 3),
        "ms_per_frame": round(1000 * cpu / max(1, len(contexts)), 1),
        "encodings": face_result.measurements.get("encodings"),
        "face_to_score_s": None if first_distance_s is None else round(first_distance_s + poll_cpu, 3),
    }
    if baseline:
        c0 = time.process_time()
        for context in contexts:
            engine.default_pipeline(context.frame.image)
        base = time.process_time() - c0
        out["baseline_cpu_s"] = round(base, 3)
        out["baseline_ms_per_frame"] = round(1000 * base / max(1, len(contexts)), 1)
    return out


def _p(values: list[float], q: float) -> float | None:
    return None if not values else round(float(np.percentile(values, q)), 3)


def _share(rows: list[dict[str, Any]], key: str, test: Any) -> float | None:
    return None if not rows else round(sum(bool(test(r[key])) for r in rows) / len(rows), 3)


def run(quick: bool = False) -> dict[str, Any]:
    """Quick: 2 genuine scenes + one of each face/liveness attack, 3 s each; full: 9 genuine + 3 of each
    attack, 6 s each. 1280x720 at 15 fps."""
    engine = FaceEngine()
    engine.warmup()
    seconds, genuine_n, attack_n = (3.0, 2, 1) if quick else (6.0, 9, 3)
    rows: list[dict[str, Any]] = []
    for i in range(genuine_n):
        spec = SceneSpec(TEMPLATES[i % 3], seed=100 + i, seconds=seconds)
        rows.append(run_scene(engine, spec, baseline=i < (1 if quick else 2)))
    attacks = (Attack.PORTRAIT_SWAP, Attack.SCREEN_REPLAY, Attack.INJECTED_LOOP, Attack.INJECTED_STATIC)
    for attack in attacks:
        for i in range(attack_n):
            rows.append(run_scene(engine, SceneSpec(TEMPLATES[i % 3], seed=200 + i, attack=attack, seconds=seconds)))
    genuine = [r for r in rows if r["attack"] is None]
    swaps = [r for r in rows if r["attack"] == Attack.PORTRAIT_SWAP.value]
    replays = [r for r in rows if r["attack"] in {a.value for a in attacks[1:]}]
    latency = [r["face_to_score_s"] for r in genuine + swaps if r["face_to_score_s"] is not None]
    base = [r for r in rows if "baseline_cpu_s" in r]
    return {
        "name": "face",
        "engine": engine.version,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "scene_seconds": seconds,
        "face_visible_to_match_score_s": {"p50": _p(latency, 50), "p95": _p(latency, 95), "n": len(latency)},
        "cpu_per_session_s": {"p50": _p([r["cpu_s"] for r in rows], 50), "max": _p([r["cpu_s"] for r in rows], 100)},
        "ms_per_frame_p50": _p([r["ms_per_frame"] for r in rows], 50),
        "baseline_every_frame": {
            "ms_per_frame_p50": _p([r["baseline_ms_per_frame"] for r in base], 50),
            "cpu_per_session_s_p50": _p([r["baseline_cpu_s"] for r in base], 50),
        },
        "genuine_matched": _share(genuine, "face", lambda v: v == Verdict.PASS.value),
        "portrait_swap_flagged": _share(swaps, "face", lambda v: v != Verdict.PASS.value),
        "replay_or_injection_flagged": _share(replays, "liveness", lambda v: v == Verdict.FAIL.value),
        "genuine_flagged_by_liveness": _share(genuine, "liveness", lambda v: v == Verdict.FAIL.value),
        "median_genuine_distance": (
            round(statistics.median(d for r in genuine if (d := r["distance"]) is not None), 4)
            if any(r["distance"] is not None for r in genuine) else None
        ),
        "scenes": rows,
    }
