"""Capacity rows of ``videoident bench``: frames analysed per core-second, and concurrent live sessions.

``run(quick)`` returns a JSON-able dict. Run it with::

    .venv/bin/python -c "from api.benchmarks.concurrency import run; import json; print(json.dumps(run(True)))"

- ``throughput``: a genuine generated scene (fixtures/, rendered once per size, before timing) fed frame
  by frame to the analyzer the live service builds per session (:func:`api.benchmarks.accuracy.
  build_service_analyzer`, the same as the accuracy rows use) at 640x480 and 1280x720, on one thread.
  Repeated with a fresh analyzer each time, each repetition right after a short timing of the reference
  workload (:func:`api.benchmarks.harness.calibrate`), so each repetition has its own ratio; the medians
  over repetitions are reported. Frames per core-second = frames / CPU seconds of this process (so it
  does not depend on how busy the other core is).
- ``sessions``: concurrent live sessions at 5 analysed fps each before more than 10% of frames are
  dropped, and the event-loop lag p99, over real loopback WebRTC: :mod:`api.benchmarks.live_media`
  (customers in a separate process), whose result is included as it is.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from api.benchmarks.accuracy import (
    CAMERA_FPS,
    REFERENCE_DATE,
    SCENE_FPS,
    analysed_frames,
    build_service_analyzer,
    engines,
)
from api.benchmarks.harness import calibrate, cpu_seconds, summarise
from fixtures.scenes import SceneSpec, generate_scene
from pipelines.layouts import Template

__all__ = ["run", "throughput"]

SIZES = ((640, 480), (1280, 720))
#: Repetitions of the whole scene per size (quick, full); the median is reported.
REPETITIONS = (3, 5)
#: Scene length (quick, full): 20 and 50 analysed frames at 5 fps (one reference unit is ~15-30 ms,
#: a 720p frame ~10 units, so a repetition is a few seconds of CPU: far above timer resolution).
SCENE_SECONDS = (4.0, 10.0)
#: Runs of the reference workload timed before each repetition (median taken).
REFERENCE_RUNS = 9


def throughput(size: tuple[int, int], seconds: float, repetitions: int) -> dict[str, Any]:
    """Frames per core-second of the service's analyzer on a genuine scene of ``size`` (width, height),
    and its CPU per frame in reference-workload units: medians over ``repetitions`` fresh analyzers."""
    loaded = engines()
    spec = SceneSpec(Template.DE_ID, seed=42, size=size, fps=CAMERA_FPS, seconds=seconds)
    frames = [frame for frame, _ in analysed_frames(generate_scene(spec))]  # rendering is not timed
    fps: list[float] = []
    ratios: list[float] = []
    wall: list[float] = []
    references: list[float] = []
    per_frame: list[float] = []
    sections: list[str] = []
    for _ in range(repetitions):
        reference = calibrate(REFERENCE_RUNS)
        analyzer = build_service_analyzer(loaded)
        wall0, cpu0 = time.perf_counter(), cpu_seconds()
        for frame in frames:
            c0 = cpu_seconds()
            analyzer.process(frame)
            per_frame.append(cpu_seconds() - c0)
        cpu = cpu_seconds() - cpu0
        wall.append(time.perf_counter() - wall0)
        fps.append(len(frames) / cpu)
        ratios.append(cpu / len(frames) / reference.cpu_s)
        references.append(1000 * reference.cpu_s)
        sections = sorted(k for k, v in analyzer.report().items() if isinstance(v, dict) and "verdict" in v
                          and v.get("reason", {}).get("code") != "not_implemented")
    return {
        "size": f"{size[0]}x{size[1]}",
        "frames": len(frames),
        "repetitions": repetitions,
        "frames_per_core_second": round(statistics.median(fps), 2),
        "frames_per_core_second_each": [round(x, 2) for x in fps],
        "cpu_per_frame_reference_units": round(statistics.median(ratios), 2),
        "cpu_per_frame_reference_units_each": [round(x, 2) for x in ratios],
        "reference_cpu_ms_each": [round(x, 2) for x in references],
        "cpu_ms_per_frame": summarise([1000 * c for c in per_frame], 1),
        "wall_s": round(sum(wall), 2),
        "sections": sections,
    }


def run(quick: bool = True, sessions: bool = True) -> dict[str, Any]:
    """Throughput at both sizes (see the module); ``sessions=False`` skips the WebRTC capacity run
    (live_media)."""
    seconds, repetitions = (SCENE_SECONDS[0], REPETITIONS[0]) if quick else (SCENE_SECONDS[1], REPETITIONS[1])
    out: dict[str, Any] = {"scene_fps": SCENE_FPS, "reference_date": REFERENCE_DATE.isoformat(),
                           "composition": "service (pipelines.analyzer.build_analyzer, as api.media.analysis)"}
    out["throughput"] = {"service": {f"{w}x{h}": throughput((w, h), seconds, repetitions) for w, h in SIZES}}
    if sessions:
        from api.benchmarks import live_media

        out["sessions"] = live_media.run(quick=quick)
    return out
