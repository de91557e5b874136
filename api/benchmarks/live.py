"""Document location, tilt, hologram and quality on generated scenes: speed and accuracy.

``run(quick)`` returns a JSON-able dict. Run it with::

    .venv/bin/python -c "from api.benchmarks.live import run; import json; print(json.dumps(run(True), indent=1))"

What it measures:

- ``speed``: CPU time (``time.process_time``, one thread) per frame at 640x480 and 1280x720 of
  (a) document location + tilt as the analyzer runs it (:class:`pipelines.document_track.DocumentTracker`:
  optical flow + edge snap, a full search when that fails and every
  :data:`pipelines.document_track.VERIFY_EVERY` frames), (b) a full search on every frame, and
  (c) the whole analyzer without MRZ/face stages (location, quality, tilt, hologram); reported as ms per
  frame and frames per core-second. Frames are rendered before the clock starts.
- ``corners``: over scenes of every template, frames where the whole card is in view (all corners
  inside the frame, tilt <= 60 deg, >= 90 % of it unoccluded): detection rate, corner error as a
  fraction of the card width (median over corners, and median / p90 of each frame's worst corner),
  median absolute yaw and pitch error in degrees, and side (front/back) agreement.
- ``hologram``: verdicts over genuine, photocopy and screen-replay scenes, inconclusive counted apart.

The full run (``quick=False``) uses 24 scenes for corners and 200 for the hologram (100 genuine,
50 photocopy, 50 screen replay; 4 s at 10 fps, 640x480). A hologram scene costs ~1 s CPU to render and
~1.3 s to analyse (2026-11-26); on the shared machine at load 15-20, with ``nice``, that was 1-2 scenes
a minute of wall time.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from api.benchmarks.harness import single_threaded
from fixtures.attacks import Attack
from fixtures.scenes import SceneSpec, generate_scene
from pipelines.analyzer import SessionAnalyzer
from pipelines.document import DocumentLocator
from pipelines.document_track import DocumentTracker
from pipelines.frame import Frame
from pipelines.layouts import Template

__all__ = ["run", "speed", "accuracy", "hologram_verdicts"]

TEMPLATES = (Template.NL_ID, Template.DE_ID, Template.PASSPORT)
#: A frame counts as "whole card in view" for the detection rate under these conditions.
MAX_VIEW_TILT_DEG = 60.0
MIN_VISIBLE_FRACTION = 0.9


def _frames(template: Template, size: tuple[int, int], seconds: float, seed: int) -> list[Frame]:
    scene = generate_scene(SceneSpec(template, seed=seed, size=size, seconds=seconds, fps=15.0))
    return [frame for frame, _ in scene.frames()]


def speed(quick: bool) -> dict[str, Any]:
    """ms per frame and frames per core-second at both sizes (see the module docstring), on one thread:
    with OpenCV's default pool the CPU time of the same work read 26-29 ms instead of 21-23 ms at 720p
    (2026-11-26, idle 2-core machine), the pool's threads adding their overhead to ``process_time``."""
    single_threaded()
    out: dict[str, Any] = {}
    for size in ((640, 480), (1280, 720)):
        frames = _frames(Template.NL_ID, size, 2.0 if quick else 6.0, seed=11)
        locator = DocumentLocator()
        tracker = DocumentTracker(locator)
        started = time.process_time()
        for frame in frames:
            tracker.locate(frame.image)
        tracked = (time.process_time() - started) / len(frames)
        started = time.process_time()
        for frame in frames:
            locator.locate(frame.image)
        full = (time.process_time() - started) / len(frames)
        analyzer = SessionAnalyzer()
        started = time.process_time()
        for frame in frames:
            analyzer.process(frame)
        analysed = (time.process_time() - started) / len(frames)
        out[f"{size[0]}x{size[1]}"] = {
            "frames": len(frames),
            "frames_tracked": tracker.tracked_frames,
            "full_searches": tracker.full_searches,
            "locate_tilt_tracked_ms": round(1000 * tracked, 1),
            "locate_tilt_full_search_ms": round(1000 * full, 1),
            "analyzer_ms": round(1000 * analysed, 1),
            "analyzer_frames_per_core_s": round(1.0 / analysed, 1),
            "locate_tilt_frames_per_core_s": round(1.0 / tracked, 1),
        }
    return out


def accuracy(quick: bool) -> dict[str, Any]:
    """Corner, tilt and side accuracy against the scenes' ground truth (tracking as the analyzer does)."""
    sizes = ((640, 480),) if quick else ((640, 480), (1280, 720))
    seeds = (1,) if quick else (1, 2, 3, 4)
    corner_errors: list[float] = []
    worst_errors: list[float] = []
    yaw_errors: list[float] = []
    pitch_errors: list[float] = []
    in_view = found = side_right = 0
    scenes = 0
    for size in sizes:
        for template in TEMPLATES:
            for seed in seeds:
                scene = generate_scene(SceneSpec(template, seed=seed, size=size, seconds=4.0 if quick else 8.0))
                scenes += 1
                analyzer = SessionAnalyzer()
                width, height = size
                for frame, truth in scene.frames():
                    observation = analyzer.process(frame)
                    corners = truth.corners_px
                    whole = bool(
                        (corners[:, 0] >= 0).all()
                        and (corners[:, 0] <= width - 1).all()
                        and (corners[:, 1] >= 0).all()
                        and (corners[:, 1] <= height - 1).all()
                        and truth.tilt_deg <= MAX_VIEW_TILT_DEG
                        and truth.visible_fraction >= MIN_VISIBLE_FRACTION
                    )
                    if not whole:
                        continue
                    in_view += 1
                    view = observation.document
                    if view is None:
                        continue
                    found += 1
                    card_width = float(np.linalg.norm(corners[1] - corners[0]))
                    errors = np.linalg.norm(view.corners_px - corners, axis=1) / card_width
                    corner_errors.extend(float(e) for e in errors)
                    worst_errors.append(float(errors.max()))
                    side_right += int(view.side is truth.side)
                    if view.yaw_deg is not None and view.pitch_deg is not None:
                        yaw_errors.append(abs(view.yaw_deg - truth.yaw_deg))
                        pitch_errors.append(abs(view.pitch_deg - truth.pitch_deg))
    return {
        "scenes": scenes,
        "frames_whole_card_in_view": in_view,
        "detection_rate": round(found / in_view, 4) if in_view else None,
        "corner_error_median_fraction": round(statistics.median(corner_errors), 4) if corner_errors else None,
        "frame_worst_corner_median_fraction": round(statistics.median(worst_errors), 4) if worst_errors else None,
        "frame_worst_corner_p90_fraction": round(float(np.percentile(worst_errors, 90)), 4) if worst_errors else None,
        "yaw_error_median_deg": round(statistics.median(yaw_errors), 2) if yaw_errors else None,
        "pitch_error_median_deg": round(statistics.median(pitch_errors), 2) if pitch_errors else None,
        "side_agreement": round(side_right / found, 4) if found else None,
    }


def hologram_verdicts(quick: bool, progress: Path | None = None) -> dict[str, Any]:
    """Hologram verdict counts per kind of scene (4 s at 10 fps, 640x480, templates in turn; seeds from
    1000). ``progress``: a JSON file rewritten after every scene with the counts so far and each scene's
    verdict, response and ratio (a long run can be watched, and an interrupted one still says something)."""
    plan = {"genuine": (None, 2 if quick else 100), "photocopy": (Attack.PHOTOCOPY, 2 if quick else 50),
            "screen-replay": (Attack.SCREEN_REPLAY, 2 if quick else 50)}
    out: dict[str, Any] = {}
    scenes: list[dict[str, Any]] = []
    verdicts: dict[str, Counter[str]] = {label: Counter() for label in plan}
    responses: dict[str, list[float]] = {label: [] for label in plan}
    # Interleaved (genuine, photocopy, screen replay, genuine, ...), so a run cut short still covers each kind.
    order = [(index, label) for index in range(max(n for _, n in plan.values())) for label in plan]
    for index, label in order:
        attack, count = plan[label]
        if index >= count:
            continue
        template = TEMPLATES[index % len(TEMPLATES)]
        spec = SceneSpec(template, seed=1000 + index, attack=attack, size=(640, 480), seconds=4.0, fps=10.0)
        analyzer = SessionAnalyzer()
        for frame, _ in generate_scene(spec).frames():
            analyzer.process(frame)
        section = analyzer.report()["hologram"]
        verdicts[label][section["verdict"]] += 1
        if "response_lab" in section:
            responses[label].append(float(section["response_lab"]))
        scenes.append({"kind": label, "template": template.value, "seed": 1000 + index,
                       "verdict": section["verdict"], "reason": section["reason"]["code"],
                       **{key: section.get(key) for key in ("response_lab", "ratio", "frames",
                                                            "skipped_misregistered")}})
        values = responses[label]
        out[label] = {
            "scenes": sum(verdicts[label].values()),
            "verdicts": dict(verdicts[label]),
            "response_lab_min_median_max": [round(min(values), 2), round(statistics.median(values), 2),
                                            round(max(values), 2)] if values else None,
        }
        if progress is not None:
            progress.write_text(json.dumps({"hologram": out, "scenes": scenes}, indent=1))
    return out


def run(quick: bool = True) -> dict[str, Any]:
    started = time.perf_counter()
    result: dict[str, Any] = {"speed": speed(quick), "corners": accuracy(quick), "hologram": hologram_verdicts(quick)}
    result["wall_s"] = round(time.perf_counter() - started, 1)
    return result
