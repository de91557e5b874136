"""Capacity rows of ``videoident bench``: frames analysed per core-second, and concurrent live sessions.

``run(quick)`` returns a JSON-able dict. Run it with::

    .venv/bin/python -c "from api.benchmarks.concurrency import run; import json; print(json.dumps(run(True)))"

- ``throughput``: a genuine generated scene (fixtures/, rendered before timing) fed frame by frame to the
  session analyzer at 640x480 and 1280x720; frames per core-second = frames / CPU seconds of this process
  (so it does not depend on how busy the other core is). Two compositions: ``service`` (what the live
  service builds per session, :func:`api.media.analysis.session_analyzer_factory`) and ``all_stages``
  (every stage of this build: document, tilt, hologram, MRZ, face, liveness; as the accuracy rows use).
- ``sessions``: concurrent live sessions at 5 analysed fps each before more than 10% of frames are
  dropped, and the event-loop lag p99, over real loopback WebRTC: :mod:`api.benchmarks.live_media`
  (customers in a separate process), whose result is included as it is.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

from api.benchmarks.accuracy import REFERENCE_DATE, SCENE_FPS, compose_analyzer
from api.benchmarks.harness import cpu_seconds, summarise
from fixtures.scenes import SceneSpec, generate_scene
from pipelines.layouts import Template

__all__ = ["run", "throughput"]

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SIZES = ((640, 480), (1280, 720))


def _service_analyzer() -> Any:
    """One session's analyzer as the live service builds it (None when that is not part of this build)."""
    try:
        analysis = importlib.import_module("api.media.analysis")
    except ModuleNotFoundError:
        return None
    return analysis.session_analyzer_factory()("bench").analyzer


def _all_stages_analyzer() -> Any:
    from models.face import FaceEngine
    from models.ocr import TesseractEngine

    tessdata = SHARED / "tessdata"
    mrz = TesseractEngine(tessdata) if (tessdata / "mrz.traineddata").is_file() else None
    face = FaceEngine()
    face.warmup()
    if mrz is not None:
        mrz.warmup()
    analyzer, _ = compose_analyzer(mrz, face)
    return analyzer


def throughput(size: tuple[int, int], seconds: float, build: Any) -> dict[str, Any]:
    """Frames per core-second of ``build()``'s analyzer on a genuine scene of ``size`` (width, height)."""
    spec = SceneSpec(Template.DE_ID, seed=42, size=size, fps=SCENE_FPS, seconds=seconds)
    frames = [frame for frame, _ in generate_scene(spec).frames()]  # rendering is not timed
    analyzer = build()
    if analyzer is None:
        return {"skipped": "not part of this build"}
    analyzer.process(frames[0])  # first-frame set-up is not steady state
    per_frame: list[float] = []
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    for frame in frames[1:]:
        c0 = cpu_seconds()
        analyzer.process(frame)
        per_frame.append(cpu_seconds() - c0)
    cpu = cpu_seconds() - cpu0
    wall = time.perf_counter() - wall0
    return {
        "size": f"{size[0]}x{size[1]}",
        "frames": len(per_frame),
        "frames_per_core_second": round(len(per_frame) / cpu, 2) if cpu > 0 else None,
        "cpu_ms_per_frame": summarise([1000 * c for c in per_frame], 1),
        "wall_s": round(wall, 2),
        "sections": sorted(k for k, v in analyzer.report().items() if isinstance(v, dict) and "verdict" in v
                           and v.get("reason", {}).get("code") != "not_implemented"),
    }


def run(quick: bool = True, sessions: bool = True) -> dict[str, Any]:
    """Quick: 4 s scenes (20 frames) per size and composition; full: 10 s. ``sessions=False`` skips the
    WebRTC capacity run (live_media)."""
    seconds = 4.0 if quick else 10.0
    out: dict[str, Any] = {"scene_fps": SCENE_FPS, "reference_date": REFERENCE_DATE.isoformat()}
    out["throughput"] = {
        "service": {f"{w}x{h}": throughput((w, h), seconds, _service_analyzer) for w, h in SIZES},
        "all_stages": {f"{w}x{h}": throughput((w, h), seconds, _all_stages_analyzer) for w, h in SIZES},
    }
    if sessions:
        from api.benchmarks import live_media

        out["sessions"] = live_media.run(quick=quick)
    return out
