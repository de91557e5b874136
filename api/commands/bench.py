"""``videoident bench [--quick] [--json] [--only AREA ...]``: performance and accuracy, beside the baselines.

Runs each benchmark area (``api/benchmarks/``) between two calibrations of a fixed reference workload,
prints one table of rows with absolute numbers and ratios (to the reference workload, or to a baseline),
and writes ``docs/benchmarks.md`` when every area ran (``--output`` elsewhere, ``--no-docs`` not at all).
``--compare RUN.json`` (a previous ``--json`` or ``--save-json`` output) adds, row by row, whether the
two runs agree: timing rows (CPU-time ratios) within 15%, deterministic rows (shares and verdicts of
seeded scenes) exactly; load rows (measured against a clock) are listed only. It exits with 3 when a
timing or deterministic row disagrees (after writing the report).

Areas (``--only``): see ``videoident bench --help``. Quick (``--quick``): about 170 s of CPU in all areas
(measured 2026-11-26 at load 12-18 on the 2-core machine, 12 min wall there); the accuracy scenes run in
two processes, the live, API and scale-out areas partly in real time. Without it the areas use
more scenes and longer runs. OpenCV and BLAS run on one thread, so CPU times are one core's work.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["register", "run", "AREAS", "run_areas"]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
#: Exit status of ``--compare`` when a timing row differs by more than 15% or a deterministic row differs
#: (1 = an area failed, 2 = unreadable input).
EXIT_DISAGREE = 3


def _core(quick: bool) -> dict[str, Any]:
    from api.benchmarks import core

    return core.run(quick)


def _throughput(quick: bool) -> dict[str, Any]:
    from api.benchmarks import concurrency

    return concurrency.run(quick, sessions=False)


def _sessions(quick: bool) -> dict[str, Any]:
    from api.benchmarks import live_media

    return live_media.run(quick=quick)


def _api(quick: bool) -> dict[str, Any]:
    from api.benchmarks import api_load

    return api_load.run(quick)


def _accuracy(quick: bool) -> dict[str, Any]:
    from api.benchmarks import accuracy

    return accuracy.run(quick)


def _mrz_baseline(quick: bool) -> dict[str, Any]:
    from api.benchmarks import mrz_baseline

    return mrz_baseline.run(quick)


def _face(quick: bool) -> dict[str, Any]:
    from api.benchmarks import face

    return face.run(quick)


def _scale(quick: bool) -> dict[str, Any]:
    import importlib

    try:
        scale = importlib.import_module("api.benchmarks.scale")
    except ModuleNotFoundError:
        return {"skipped": "api.benchmarks.scale is not part of this build"}
    result: dict[str, Any] = scale.run(quick)
    return result


def _mrz(quick: bool) -> dict[str, Any]:
    from api.benchmarks import mrz

    return mrz.run(quick)


#: name: (what it measures, runner, part of ``--quick`` by default)
AREAS: dict[str, tuple[str, Callable[[bool], dict[str, Any]], bool]] = {
    "throughput": ("frames analysed per core-second, 640x480 and 1280x720", _throughput, True),
    "mrz_baseline": ("MRZ reads: ours vs passporteye.read_mrz as documented, same frames", _mrz_baseline, True),
    "face": ("the face area's own benchmark: 15 fps scenes, face_recognition baseline (slow)", _face, False),
    "accuracy": ("MRZ per frame/session (consensus on/off), document shown -> MRZ, APCER/BPCER per attack, "
                 "face visible -> score, face FMR/FNMR, face_recognition baseline", _accuracy, True),
    "sessions": ("concurrent live sessions at 5 analysed fps (<=10% dropped), event-loop lag p99", _sessions, True),
    "api": ("REST API latency at 50 requests/s, real uvicorn", _api, True),
    "core": ("session bookkeeping on SQLite/PostgreSQL, vault, masking", _core, True),
    "scale": ("scale-out: several workers behind PostgreSQL and Redis (api.benchmarks.scale)", _scale, True),
    "mrz": ("the MRZ area's own benchmark: specimens, conditions, tampering (slow)", _mrz, False),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure speed and accuracy beside the baselines; write docs/benchmarks.md",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="the short run (a few minutes on 2 cores)")
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON instead of the table")
    parser.add_argument("--only", nargs="+", choices=sorted(AREAS), metavar="AREA",
                        help=f"run only these areas ({', '.join(AREAS)}); docs are then not written")
    parser.add_argument("--output", type=Path, default=DOCS, help=f"where to write the report (default {DOCS})")
    parser.add_argument("--no-docs", action="store_true", help="do not write the markdown report")
    parser.add_argument("--save-json", type=Path, help="also write the whole result as JSON to this file")
    parser.add_argument("--compare", type=Path,
                        help="a previous run's JSON: which rows agree (timing within 15%%, deterministic "
                        "exactly); exit 3 when one does not")
    parser.add_argument("--from-json", type=Path, metavar="RUN.json",
                        help="measure nothing: report a saved run (with --compare, beside another saved run)")
    parser.set_defaults(handler=run)


def run_areas(names: list[str], quick: bool, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run ``names`` in order, each between two calibrations; return the whole result (JSON-able)."""
    from api.benchmarks.harness import REFERENCE_WORKLOAD, machine_info, run_area, single_threaded
    from api.commands.bench_report import build_rows

    single_threaded()  # CPU time = one core's work (as the reference workload, which runs on one thread)
    machine = machine_info()
    started = time.perf_counter()
    areas: dict[str, Any] = {}
    for name in names:
        if progress:
            progress(f"bench: {name} ...")
        runner = AREAS[name][1]
        areas[name] = run_area(name, lambda runner=runner: runner(quick))  # type: ignore[misc]
        if progress:
            outcome = "error: " + areas[name]["error"] if "error" in areas[name] else "ok"
            progress(f"bench: {name} {outcome} ({areas[name]['wall_s']} s)")
    import os

    result: dict[str, Any] = {
        "command": "videoident bench" + (" --quick" if quick else "") + (
            "" if names == _default_areas(quick) else " --only " + " ".join(names)),
        "quick": quick,
        "machine": machine,
        "load_avg_1_5_15m_after": [round(x, 2) for x in os.getloadavg()],
        "reference_workload": REFERENCE_WORKLOAD,
        "total_wall_s": round(time.perf_counter() - started, 1),
        "areas": areas,
    }
    result["rows"] = build_rows(result)
    return result


def _default_areas(quick: bool) -> list[str]:
    return [name for name, (_, _, in_quick) in AREAS.items() if in_quick or not quick]


def run(args: argparse.Namespace) -> int:
    from api.benchmarks.harness import compare_rows
    from api.commands.bench_report import agreement, render_markdown, render_table, with_kinds

    names = list(dict.fromkeys(args.only)) if args.only else _default_areas(args.quick)
    previous = None
    if args.compare is not None:
        previous = _read_run(args.compare)
        if previous is None:
            return 2
    if args.from_json is not None:
        result = _read_run(args.from_json)
        if result is None:
            return 2
        if previous is not None:
            previous, result = result, previous  # the run given with --compare is reported as the second
        names = list(result.get("areas", {}))
    else:
        result = run_areas(names, args.quick, progress=lambda line: print(line, file=sys.stderr, flush=True))
    if previous is not None:
        result["comparison"] = {
            "first": previous.get("machine", {}).get("utc"),
            "second": result["machine"]["utc"],
            "first_build": previous.get("machine", {}).get("build"),
            "second_build": result["machine"].get("build"),
            "rows": compare_rows(with_kinds(previous.get("rows", [])), with_kinds(result["rows"])),
        }
    if args.save_json is not None:
        args.save_json.write_text(json.dumps(result, indent=1, default=str))
    if args.json:
        json.dump(result, sys.stdout, indent=1, default=str)
        print()
    else:
        print(render_table(result))
    if (not args.only or args.from_json is not None) and not args.no_docs:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(render_markdown(result))
        print(f"videoident bench: wrote {args.output}", file=sys.stderr)
    if any("error" in area for area in result["areas"].values()):
        return 1
    if previous is not None:
        counts = agreement(result["comparison"])
        disagree = {kind: c["disagree"] for kind, c in counts.items() if c["disagree"]}
        for kind, c in sorted(counts.items()):
            if c["compared"]:
                print(f"videoident bench: {kind} rows agreeing {c['agree']} of {c['compared']}", file=sys.stderr)
        if disagree:
            return EXIT_DISAGREE
    return 0


def _read_run(path: Path) -> Any:
    """A saved run (``--save-json``), or None after saying on stderr why it cannot be read."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"videoident bench: cannot read {path}: {exc}", file=sys.stderr)
        return None
