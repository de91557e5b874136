"""Timing helpers for ``videoident bench``: repeated runs, percentiles, CPU time, and a calibration loop.

These machines are shared and noisy, so every absolute time is also reported as a **ratio** against a
fixed reference workload timed in the same run (:func:`calibrate`): "this step costs 3.1 reference units"
stays comparable when the machine is twice as busy, because the reference slows down too. CPU time
(:func:`cpu_seconds`: this process plus its finished children, e.g. tesseract) is reported beside wall
time: it is what one core spends, and it barely depends on how busy the other cores are.

Everything here is plain measurement logic; the areas that use it live in the other ``api.benchmarks``
modules. Shapes: times are seconds (floats) unless a key says ``_ms``.
"""

from __future__ import annotations

import hashlib
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

__all__ = [
    "RATIO_TOLERANCE",
    "build_id",
    "REFERENCE_WORKLOAD",
    "Calibration",
    "Sample",
    "calibrate",
    "compare_ratio_rows",
    "compare_rows",
    "cpu_seconds",
    "machine_info",
    "percentile",
    "ratio_rows",
    "repeat",
    "run_area",
    "single_threaded",
    "summarise",
]

#: Two runs "agree" on a ratio row when they differ by at most this share of the first run's value
#: (the acceptance criterion of issue 11).
RATIO_TOLERANCE = 0.15
#: What one reference unit is: a fixed, deterministic image-processing workload close to what the
#: pipelines do per frame (colour conversion, blur, edges, a perspective warp, a small matrix product) on
#: one 640x360 frame. About 7 ms of one core on these machines, on one thread (measured 6.7-7.2 ms under
#: load 17 with :func:`single_threaded`; 26-31 ms before, when numpy's BLAS pool spun on the matmul).
REFERENCE_WORKLOAD = (
    "640x360 BGR: cvtColor+GaussianBlur 5x5+Canny+warpPerspective+Laplacian var; 256x256 float64 matmul"
)
#: Runs of the reference workload per calibration (median taken): enough that one scheduler hiccup does
#: not move the median, short enough to bracket every area (~0.1 s of CPU).
CALIBRATION_RUNS = 15


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of its children that have finished (tesseract)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def single_threaded() -> None:
    """Pin this process's OpenCV and BLAS/OpenMP pools to one thread (tesseract already is: models.ocr sets
    OMP_THREAD_LIMIT=1). CPU time then counts one core's work: with pools, idle workers spinning for work
    add CPU time that grows with the machine's load (two runs' ratio rows disagreed by 20-50%)."""
    cv2.setNumThreads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ModuleNotFoundError:  # scikit-learn's helper; without it numpy keeps its default pool
        return
    threadpool_limits(limits=1)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks (numpy's default).

    Raises ValueError on an empty sequence or ``q`` outside 0..100."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be within 0..100, got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarise(values: Sequence[float], digits: int = 4) -> dict[str, Any]:
    """``{"n", "p50", "p95", "mean", "min", "max"}`` of ``values`` (same unit as the values); ``{"n": 0}``
    when there are none."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), digits),
        "p95": round(percentile(values, 95), digits),
        "mean": round(statistics.fmean(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


@dataclass(frozen=True)
class Sample:
    """One timed call: wall seconds, CPU seconds (process + finished children), and what it returned."""

    wall_s: float
    cpu_s: float
    value: Any = None


def repeat(fn: Callable[[], Any], runs: int, warmup: int = 1) -> list[Sample]:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times timed, one after the other."""
    if runs < 1 or warmup < 0:
        raise ValueError("runs must be >= 1 and warmup >= 0")
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        wall0, cpu0 = time.perf_counter(), cpu_seconds()
        value = fn()
        samples.append(Sample(time.perf_counter() - wall0, cpu_seconds() - cpu0, value))
    return samples


def _reference_inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20261125)
    frame = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
    matrix = np.array([[0.98, 0.05, 12.0], [-0.04, 1.01, -8.0], [2e-5, -1e-5, 1.0]])
    square = rng.standard_normal((256, 256))
    return frame, matrix, square


def _reference_once(frame: np.ndarray, matrix: np.ndarray, square: np.ndarray) -> float:
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    blurred = cv2.GaussianBlur(grey, (5, 5), 0)
    edges = cv2.Canny(blurred, 50, 150)
    warped = cv2.warpPerspective(frame, matrix, (640, 360))
    sharp = float(cv2.Laplacian(cv2.cvtColor(warped, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())
    return sharp + float(edges.mean()) + float((square @ square).trace())


@dataclass(frozen=True)
class Calibration:
    """The reference workload's time in this run: median wall and CPU seconds per run, and the load."""

    wall_s: float
    cpu_s: float
    runs: int
    load_avg_1m: float

    def __post_init__(self) -> None:
        if self.wall_s <= 0 or self.cpu_s < 0 or self.runs < 1:
            raise ValueError("a calibration needs a positive time and at least one run")

    def to_json(self) -> dict[str, Any]:
        return {
            "reference_wall_ms": round(1000 * self.wall_s, 2),
            "reference_cpu_ms": round(1000 * self.cpu_s, 2),
            "runs": self.runs,
            "load_avg_1m": round(self.load_avg_1m, 2),
        }

    @staticmethod
    def merge(items: Iterable[Calibration]) -> Calibration:
        """One calibration from several (e.g. before and after an area): the mean of their medians."""
        listed = list(items)
        if not listed:
            raise ValueError("nothing to merge")
        return Calibration(
            statistics.fmean(c.wall_s for c in listed),
            statistics.fmean(c.cpu_s for c in listed),
            sum(c.runs for c in listed),
            statistics.fmean(c.load_avg_1m for c in listed),
        )


def calibrate(runs: int = CALIBRATION_RUNS, threads: int = 1) -> Calibration:
    """Time the reference workload ``runs`` times on ``threads`` OpenCV threads (1: one core, like the
    pipelines' per-frame work) and return the medians."""
    previous = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    try:
        inputs = _reference_inputs()
        samples = repeat(lambda: _reference_once(*inputs), runs, warmup=2)
    finally:
        cv2.setNumThreads(previous)
    return Calibration(
        statistics.median(s.wall_s for s in samples),
        statistics.median(s.cpu_s for s in samples),
        runs,
        os.getloadavg()[0],
    )


def run_area(name: str, fn: Callable[[], Mapping[str, Any]]) -> dict[str, Any]:
    """Run one benchmark area between two calibrations. Returns ``{"area", "result" | "error",
    "wall_s", "cpu_s", "calibration"}``; an exception becomes ``error`` (the other areas still run)."""
    before = calibrate()
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    out: dict[str, Any] = {"area": name}
    try:
        out["result"] = dict(fn())
    except Exception as exc:  # one broken area must not lose the others' numbers
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc(limit=6)
    out["wall_s"] = round(time.perf_counter() - wall0, 2)
    out["cpu_s"] = round(cpu_seconds() - cpu0, 2)
    after = calibrate()
    merged = Calibration.merge((before, after))
    out["calibration"] = merged.to_json() | {
        "before_wall_ms": round(1000 * before.wall_s, 2),
        "after_wall_ms": round(1000 * after.wall_s, 2),
    }
    return out


def ratio_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """``{row name: ratio}`` of the rows that carry a ratio (``rows`` as the bench command builds them:
    each with ``name`` and optionally ``ratio``)."""
    return {str(r["name"]): float(r["ratio"]) for r in rows if isinstance(r.get("ratio"), int | float)}


def compare_ratio_rows(
    first: Mapping[str, float], second: Mapping[str, float], tolerance: float = RATIO_TOLERANCE
) -> list[dict[str, Any]]:
    """Row by row: both values, the relative difference ``|b - a| / |a|`` and whether it is within
    ``tolerance``. Rows present in only one run are listed with ``agree: None``."""
    out = []
    for name in list(first) + [n for n in second if n not in first]:
        a, b = first.get(name), second.get(name)
        if a is None or b is None:
            out.append({"name": name, "first": a, "second": b, "difference": None, "agree": None})
            continue
        if a == 0:
            difference = 0.0 if b == 0 else math.inf
        else:
            difference = abs(b - a) / abs(a)
        out.append({
            "name": name,
            "first": a,
            "second": b,
            "difference": round(difference, 4) if math.isfinite(difference) else None,
            "agree": difference <= tolerance,
        })
    return out


def compare_rows(
    first: Iterable[Mapping[str, Any]], second: Iterable[Mapping[str, Any]], tolerance: float = RATIO_TOLERANCE
) -> list[dict[str, Any]]:
    """Row by row (rows as the bench command builds them, each with ``name``, ``value``, ``ratio`` and
    ``kind``), what two runs of the same build should agree on:

    - ``timing`` rows: the ratios differ by at most ``tolerance`` of the first (``|b - a| / |a|``);
    - ``deterministic`` rows: the values are equal;
    - ``load`` rows: not compared (``agree`` None), their values listed.

    Returns ``{"name", "kind", "first", "second", "difference", "agree"}`` per row (``first``/``second``:
    the ratio of a timing row, the value otherwise); a row present in only one run has ``agree`` None."""
    a_rows = {str(r["name"]): r for r in first}
    b_rows = {str(r["name"]): r for r in second}
    out: list[dict[str, Any]] = []
    for name in list(a_rows) + [n for n in b_rows if n not in a_rows]:
        a, b = a_rows.get(name), b_rows.get(name)
        kind = str((b or a or {}).get("kind", "deterministic"))
        key = "ratio" if kind == "timing" else "value"
        va, vb = (None if a is None else a.get(key)), (None if b is None else b.get(key))
        row: dict[str, Any] = {"name": name, "kind": kind, "first": va, "second": vb, "difference": None,
                               "agree": None}
        if a is not None and b is not None and kind == "timing":
            row.update(compare_ratio_rows({name: float(va)}, {name: float(vb)}, tolerance)[0]
                       if isinstance(va, int | float) and isinstance(vb, int | float) else {"agree": False})
            row["kind"] = kind
        elif a is not None and b is not None and kind == "deterministic":
            row["agree"] = va == vb
        out.append(row)
    return out


#: The source directories whose state decides what a run measured (see :func:`build_id`).
SOURCE_DIRS = ("api", "pipelines", "models", "fixtures", "videoident")
#: How long the git calls of :func:`build_id` may take (seconds).
GIT_TIMEOUT_S = 20.0


def build_id(repo: Path | None = None) -> str | None:
    """What was measured: ``<commit>`` for a clean checkout of :data:`SOURCE_DIRS`, ``<commit>+<12 hex>``
    when they hold uncommitted changes (sha256 of ``git diff HEAD`` and of the untracked files' names and
    contents), None outside a git checkout. Two runs with the same id measured the same code, so their
    deterministic rows must be equal."""
    root = repo or Path(__file__).resolve().parents[2]
    executable = shutil.which("git")
    if executable is None:
        return None

    def git(*args: str) -> bytes:
        return subprocess.run([executable, *args], cwd=root, capture_output=True, check=True,  # noqa: S603 - our own argv, no shell
                              timeout=GIT_TIMEOUT_S).stdout

    try:
        head = git("rev-parse", "--short=12", "HEAD").decode().strip()
        digest = hashlib.sha256(git("diff", "HEAD", "--", *SOURCE_DIRS))
        for name in sorted(git("ls-files", "--others", "--exclude-standard", "--", *SOURCE_DIRS).split(b"\n")):
            if name:
                digest.update(name)
                try:
                    digest.update((root / name.decode()).read_bytes())
                except OSError:
                    pass
    except (OSError, subprocess.SubprocessError):
        return None
    untouched = hashlib.sha256(b"").hexdigest()
    return head if digest.hexdigest() == untouched else f"{head}+{digest.hexdigest()[:12]}"


def machine_info() -> dict[str, Any]:
    """CPU model, core count, memory, Python and OS, load average, the UTC time (no host name), and the
    build measured (:func:`build_id`)."""
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gib = None
    try:
        memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    load = os.getloadavg()
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "opencv": cv2.__version__,
        "load_avg_1_5_15m": [round(x, 2) for x in load],
        "utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "build": build_id(),
    }
