"""MRZ reads, ours beside ``passporteye.read_mrz`` as documented, on the same synthetic frames.

``run(quick)`` returns a JSON-able dict. Run it with::

    .venv/bin/python -c "from api.benchmarks.mrz_baseline import run; import json; print(json.dumps(run(True)))"

A shorter cousin of :mod:`api.benchmarks.mrz` (the MRZ area's own, slower benchmark) for ``videoident bench
--quick``: per frame, the exact-read share and the CPU per read (tesseract's child processes included).
"""

from __future__ import annotations

import random
import statistics
import tempfile
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import cv2

from api.benchmarks.accuracy import REFERENCE_DATE, rectified
from api.benchmarks.harness import cpu_seconds, summarise
from api.benchmarks.mrz import single_core_mrz_engine
from api.benchmarks.mrz_scenes import degrade, place_in_frame, random_mrz, render_document
from models.mrz_locator import passporteye_read_mrz, passporteye_version
from pipelines.frame import DocumentKind
from pipelines.mrz.read import read_image, read_rectified

__all__ = ["run"]


def _share(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def run(quick: bool = True) -> dict[str, Any]:
    """Ours beside ``passporteye.read_mrz`` as documented, on the same synthetic 1280x720 frames (a
    document with a valid MRZ and no face, :mod:`api.benchmarks.mrz_scenes`, flat and tilted up to 20 deg):
    exact-read share and CPU per read (tesseract's child processes included). Ours twice: on the raw
    frame (it finds the MRZ itself, the same job as passporteye) and on the located document (the live
    path). Frames go to a temporary PNG for passporteye only (synthetic: no personal data, no face)."""
    engine = single_core_mrz_engine()  # one core for every engine, ours and passporteye's
    if isinstance(engine, str):
        return {"skipped": engine}
    rng = random.Random(20261126)
    n = 6 if quick else 24
    exact: Counter[str] = Counter()
    cpu: dict[str, list[float]] = {"ours_raw_frame": [], "ours_located": [], "passporteye_documented": []}
    with tempfile.TemporaryDirectory(prefix="videoident-bench-mrz-") as tmp:
        for i in range(n):
            kind = DocumentKind.ID1 if i % 2 else DocumentKind.TD3
            mrz = random_mrz(rng, kind)
            tilt = rng.uniform(0, 3) if i % 4 < 2 else rng.uniform(10, 20)
            frame, corners = place_in_frame(render_document(mrz, rng), rng, tilt)
            frame = degrade(frame, rng, 0.6, 3.0, 85)
            path = Path(tmp) / f"frame-{i}.png"
            cv2.imwrite(str(path), frame)
            attempts: dict[str, Callable[[], Any]] = {
                "ours_raw_frame": partial(read_image, engine, frame, REFERENCE_DATE),
                "ours_located": partial(read_rectified, engine, rectified(frame, corners, kind), kind, REFERENCE_DATE),
                "passporteye_documented": partial(passporteye_read_mrz, path, None),
            }
            for name, attempt in attempts.items():
                c0 = cpu_seconds()
                read = attempt()
                cpu[name].append(cpu_seconds() - c0)
                exact[name] += read is not None and read.lines == mrz.lines
    out: dict[str, Any] = {"frames": n, "baseline": passporteye_version() + " read_mrz(path) as documented"}
    for name, values in cpu.items():
        out[name] = {"exact": _share(exact[name], n), "cpu_s": summarise(values, 3)}
    base = statistics.median(cpu["passporteye_documented"])
    for name in ("ours_raw_frame", "ours_located"):
        ours = statistics.median(cpu[name])
        out[name]["speedup_vs_passporteye"] = round(base / ours, 2) if ours > 0 else None
    return out
