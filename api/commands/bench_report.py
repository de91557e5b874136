"""Rows, table and markdown report of ``videoident bench`` (see :mod:`api.commands.bench`).

A row: ``{"area", "name", "value", "unit", "ratio", "ratio_of"}``. ``ratio_of`` says what the ratio is:

- ``ref_cpu``: the row's CPU time / the reference workload's CPU time in the same area's calibration
  (how many reference workloads the step costs; stable when the machine is busy);
- ``ref_wall``: the row's wall time / the reference workload's wall time (busy machines slow both);
- ``baseline/ours``: the baseline's time / ours on the same inputs (a speed-up; > 1 = ours faster).

Accuracy rows (shares of seeded scenes) have no ratio: they are deterministic for a given build.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

__all__ = ["RowKind", "build_rows", "row_kind", "with_kinds", "render_table", "render_markdown"]


class RowKind(StrEnum):
    """What ``--compare`` expects of a row in two runs of the same build (see docs/benchmarks.md).

    - ``timing``: a CPU-time ratio (to the reference workload or a baseline) of work that does not run to
      a clock: agrees within :data:`api.benchmarks.harness.RATIO_TOLERANCE`, on a loaded machine too;
    - ``deterministic``: a share, count or verdict of seeded scenes: equal in both runs;
    - ``load``: measured against a clock (latency, loop lag, dropped frames, live sessions, fsync-bound
      bookkeeping): depends on what else the machine does; reported, not compared.
    """

    TIMING = "timing"
    DETERMINISTIC = "deterministic"
    LOAD = "load"

Row = dict[str, Any]

#: Areas that run against a clock (live WebRTC sessions at 5 fps, requests at 50/s, fsync-bound database
#: and vault writes): every row of theirs is a ``load`` row, even a CPU ratio (the live analysis CPU per
#: frame includes decoding frames that are then dropped, so it grows with the machine's load).
CLOCKED_AREAS = frozenset({"sessions", "api", "core"})


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class _Rows:
    def __init__(self, area: str, record: Mapping[str, Any]) -> None:
        self.area = area
        self.result = record.get("result") or {}
        calibration = record.get("calibration") or {}
        self.ref_cpu_ms = _num(calibration.get("reference_cpu_ms"))
        self.ref_wall_ms = _num(calibration.get("reference_wall_ms"))
        self.rows: list[Row] = []

    def add(self, name: str, value: Any, unit: str, *, cpu_ms: Any = None, wall_ms: Any = None,
            speedup: Any = None, ref_units: Any = None, kind: RowKind | None = None) -> None:
        """A row; ``cpu_ms`` / ``wall_ms`` (the row's time in ms) make a ratio to the area's reference
        workload, ``ref_units`` is a CPU ratio the area measured itself (interleaved with its own reference
        timings), ``speedup`` is a baseline/ours ratio. ``kind``: see :class:`RowKind` (default: timing for
        a CPU or speed-up ratio, load for a wall-time ratio, deterministic otherwise). Rows without a value
        are left out."""
        if value is None:
            return
        ratio, ratio_of = None, None
        cpu, wall, fast, units = _num(cpu_ms), _num(wall_ms), _num(speedup), _num(ref_units)
        if units is not None:
            ratio, ratio_of = round(units, 2), "ref_cpu"
        elif cpu is not None and self.ref_cpu_ms:
            ratio, ratio_of = round(cpu / self.ref_cpu_ms, 2), "ref_cpu"
        elif wall is not None and self.ref_wall_ms:
            ratio, ratio_of = round(wall / self.ref_wall_ms, 2), "ref_wall"
        elif fast is not None:
            ratio, ratio_of = round(fast, 2), "baseline/ours"
        if kind is None and self.area in CLOCKED_AREAS:
            kind = RowKind.LOAD
        if kind is None:
            kind = RowKind.DETERMINISTIC if ratio is None else (RowKind.LOAD if ratio_of == "ref_wall"
                                                                 else RowKind.TIMING)
        self.rows.append({"area": self.area, "name": name, "value": value, "unit": unit, "ratio": ratio,
                          "ratio_of": ratio_of, "kind": kind.value})


def _counts(counts: Any) -> str | None:
    """``{"pass": 2, "fail": 1}`` -> ``"fail 1, pass 2"`` (None when empty)."""
    if not isinstance(counts, Mapping) or not counts:
        return None
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def _ms(seconds: Any) -> float | None:
    value = _num(seconds)
    return None if value is None else value * 1000


def _throughput(r: _Rows) -> None:
    for composition in ("service", "all_stages"):
        for size, row in (_get(r.result, "throughput", composition) or {}).items():
            units = _get(row, "cpu_per_frame_reference_units")
            r.add(f"live pipeline ({composition}) {size}: frames per core-second",
                  _get(row, "frames_per_core_second"), "frames/core-s", ref_units=units,
                  cpu_ms=None if units is not None else _get(row, "cpu_ms_per_frame", "p50"))


def _mrz_baseline(r: _Rows) -> None:
    for name, label in (("ours_located", "ours, located document"), ("ours_raw_frame", "ours, raw frame"),
                        ("passporteye_documented", "passporteye.read_mrz as documented")):
        r.add(f"MRZ single frame, {label}: exact reads", _get(r.result, name, "exact"), "share")
        r.add(f"MRZ single frame, {label}: CPU per read p50", _get(r.result, name, "cpu_s", "p50"), "s",
              cpu_ms=_ms(_get(r.result, name, "cpu_s", "p50")))
        if name != "passporteye_documented":  # the ratio is the value (medians before rounding)
            speedup = _get(r.result, name, "speedup_vs_passporteye")
            r.add(f"MRZ single frame, {label}: speed-up over passporteye", speedup, "x", speedup=speedup)


def _face(r: _Rows) -> None:
    res = r.result
    # seconds of video plus the CPU of the poll that scored: not deterministic, not a ratio
    r.add("face visible -> match score p50", _get(res, "face_visible_to_match_score_s", "p50"), "s", kind=RowKind.LOAD)
    r.add("face visible -> match score p95", _get(res, "face_visible_to_match_score_s", "p95"), "s", kind=RowKind.LOAD)
    ours, base = _num(_get(res, "ms_per_frame_p50")), _num(_get(res, "baseline_every_frame", "ms_per_frame_p50"))
    r.add("face + liveness CPU per frame p50 (ours)", ours, "ms", cpu_ms=ours)
    r.add("face_recognition default pipeline on every frame, CPU per frame p50", base, "ms", cpu_ms=base)
    r.add("face: speed-up of ours over the every-frame baseline", round(base / ours, 2) if base and ours else None,
          "x", speedup=base / ours if base and ours else None)
    r.add("face + liveness CPU per session p50", _get(res, "cpu_per_session_s", "p50"), "s",
          cpu_ms=_ms(_get(res, "cpu_per_session_s", "p50")))
    for key in ("genuine_matched", "portrait_swap_flagged", "replay_or_injection_flagged",
                "genuine_flagged_by_liveness"):
        r.add(f"face scenes (15 fps): {key.replace('_', ' ')}", _get(res, key), "share")


def _accuracy(r: _Rows) -> None:
    res = r.result
    mrz = _get(res, "mrz") or {}
    r.add("MRZ exact reads per frame (all tilts)", _get(mrz, "per_frame", "exact"), "share")
    for bucket in ("tilt_le_10", "tilt_le_20", "tilt_le_90"):
        r.add(f"MRZ exact reads per frame, {bucket.replace('_', ' ')} deg", _get(mrz, "per_frame", bucket, "exact"),
              "share")
    r.add("MRZ exact per session, consensus on", _get(mrz, "per_session", "consensus_exact"), "share")
    r.add("MRZ exact per session, consensus off (first valid read)", _get(mrz, "per_session", "consensus_off_exact"),
          "share")
    r.add("MRZ wrong read accepted per session, consensus off",
          _get(mrz, "per_session", "consensus_off_wrong_accepted"), "share")
    r.add("forged MRZ (tampered, mismatch) flagged", _get(mrz, "forged_mrz_flagged"), "share")
    r.add("document shown -> MRZ read and cross-checked p50", _get(mrz, "document_shown_to_mrz_cross_checked_s",
                                                                   "p50"), "s of video")
    r.add("document shown -> MRZ read and cross-checked p95", _get(mrz, "document_shown_to_mrz_cross_checked_s",
                                                                   "p95"), "s of video")
    cpu = _get(mrz, "mrz_cpu_until_cross_checked_s", "p50")
    r.add("MRZ CPU from document shown to cross-checked p50", cpu, "s", cpu_ms=_ms(cpu))
    attacks = _get(res, "presentation_attacks") or {}
    for attack, row in (attacks.get("per_attack") or {}).items():
        r.add(f"APCER {attack}", _get(row, "apcer"), "share")
    r.add("BPCER (genuine sessions with a failed check)", _get(attacks, "bpcer"), "share")
    for check, counts in (_get(attacks, "genuine_verdicts_per_check") or {}).items():
        r.add(f"genuine sessions, {check} verdicts", _counts(counts), "")
    r.add("genuine sessions, failed checks (reason code)", _counts(_get(attacks, "genuine_failure_reasons")), "")
    for attack, row in (attacks.get("per_attack") or {}).items():
        holo = _get(row, "hologram") or {}
        r.add(f"hologram verdicts, {attack}", ", ".join(f"{k} {v}" for k, v in sorted(holo.items())) or None, "")
    genuine_holo = _get(attacks, "genuine_hologram") or {}
    r.add("hologram verdicts, genuine", ", ".join(f"{k} {v}" for k, v in sorted(genuine_holo.items())) or None, "")
    faces = _get(res, "face_scenes") or {}
    # seconds of video plus the CPU of the poll that scored: not deterministic, not a ratio
    r.add("face visible -> match score p50", _get(faces, "face_visible_to_match_score_s", "p50"), "s",
          kind=RowKind.LOAD)
    r.add("face visible -> match score p95", _get(faces, "face_visible_to_match_score_s", "p95"), "s",
          kind=RowKind.LOAD)
    ours = _get(faces, "ours_face_liveness_cpu_ms_per_frame", "p50")
    base = _get(faces, "baseline_every_frame_cpu_ms_per_frame", "p50")
    r.add("face + liveness CPU per analysed frame p50 (ours)", ours, "ms", cpu_ms=ours)
    r.add("face_recognition default pipeline on every frame, CPU p50", base, "ms", cpu_ms=base)
    r.add("face: speed-up of ours over the every-frame baseline", _get(faces, "speedup_vs_baseline"), "x",
          speedup=_get(faces, "speedup_vs_baseline"))
    r.add("face FNMR on genuine scenes (5 fps)", _get(res, "face_scenes", "fnmr"), "share")
    r.add("face FMR on portrait swaps (5 fps)", _get(res, "face_scenes", "fmr"), "share")
    pairs = _get(res, "face_pairs", "report", "conditions") or {}
    for condition, row in pairs.items():
        r.add(f"face pairs ({condition}): FMR at the pass threshold", _get(row, "at_pass_threshold", "fmr"), "share")
        r.add(f"face pairs ({condition}): FNMR at the pass threshold", _get(row, "at_pass_threshold", "fnmr"),
              "share")
    r.add("analyzer CPU per frame, all stages, 720p", _get(res, "analyzer_cpu_ms_per_frame"), "ms",
          cpu_ms=_get(res, "analyzer_cpu_ms_per_frame"))


def _sessions(r: _Rows) -> None:
    res = r.result
    r.add("concurrent live sessions at 5 analysed fps, <=10% dropped", _get(res, "sustained_sessions"), "sessions")
    r.add("sessions projected on an idle machine (from CPU per session)", _get(res, "projected_sessions_idle_machine"),
          "sessions")
    for level in _get(res, "levels") or []:
        n = level.get("sessions")
        r.add(f"{n} live session(s): event-loop lag p99", level.get("loop_lag_p99_ms"), "ms")
        r.add(f"{n} live session(s): dropped due frames", level.get("dropped_ratio"), "share")
        r.add(f"{n} live session(s): analysis CPU per frame", level.get("analysis_cpu_ms_per_frame"), "ms",
              cpu_ms=level.get("analysis_cpu_ms_per_frame"))


def _api(r: _Rows) -> None:
    res = r.result
    rate = _get(res, "rate_per_s")
    r.add(f"REST API latency p95 at {rate} req/s (from schedule)", _get(res, "latency_ms", "p95"), "ms",
          wall_ms=_get(res, "latency_ms", "p95"))
    r.add(f"REST API latency p50 at {rate} req/s", _get(res, "latency_ms", "p50"), "ms",
          wall_ms=_get(res, "latency_ms", "p50"))
    r.add("REST API answered / sent", f"{_get(res, 'answered')}/{_get(res, 'requests')}" if res else None, "")


def _core(r: _Rows) -> None:
    res = r.result
    for db in ("sqlite", "postgres"):
        p50 = _get(res, db, "session", "p50_ms")
        r.add(f"whole session bookkeeping on {db} p50", p50, "ms", wall_ms=p50)
    r.add("vault sealed write", _get(res, "vault", "write_mib_per_s"), "MiB/s")


def _mrz(r: _Rows) -> None:
    res = r.result
    r.add("MRZ area: specimens with check digits holding (ours)", _get(res, "specimens", "ours",
          "check_digits_hold_pct"), "%")
    r.add("MRZ area: sessions exact after consensus", _get(res, "sessions", "consensus_exact_pct"), "%")
    r.add("MRZ area: located read at 720p, CPU p50", _get(res, "frames", "timing_located_720p", "cpu_p50_s"), "s",
          cpu_ms=_ms(_get(res, "frames", "timing_located_720p", "cpu_p50_s")))


def _listed(r: _Rows) -> None:
    """An area that lists its own rows: ``result["rows"]`` = ``[{"name", "value", "unit", "kind"?}]``
    (``kind`` a :class:`RowKind` value; default ``load``: such areas run against a clock)."""
    for row in _get(r.result, "rows") or []:
        if isinstance(row, Mapping) and "name" in row:
            kind = row.get("kind")
            r.add(str(row["name"]), row.get("value"), str(row.get("unit", "")),
                  kind=RowKind(kind) if kind in {k.value for k in RowKind} else RowKind.LOAD)


_BUILDERS = {"throughput": _throughput, "mrz_baseline": _mrz_baseline, "face": _face, "accuracy": _accuracy,
             "sessions": _sessions, "api": _api, "core": _core, "mrz": _mrz, "scale": _listed}


def row_kind(row: Mapping[str, Any]) -> RowKind:
    """The row's :class:`RowKind`: as recorded, or (a run saved before kinds were recorded) inferred the
    way :meth:`_Rows.add` assigns it."""
    if row.get("kind") in {k.value for k in RowKind}:
        return RowKind(row["kind"])
    if row.get("area") in CLOCKED_AREAS or row.get("ratio_of") == "ref_wall":
        return RowKind.LOAD
    return RowKind.DETERMINISTIC if row.get("ratio") is None else RowKind.TIMING


def with_kinds(rows: list[Row]) -> list[Row]:
    """``rows`` with ``kind`` filled in (see :func:`row_kind`)."""
    return [dict(r) | {"kind": row_kind(r).value} for r in rows]


def build_rows(result: Mapping[str, Any]) -> list[Row]:
    """Every row of every area that ran without error, in area order."""
    rows: list[Row] = []
    for area, record in (result.get("areas") or {}).items():
        builder = _BUILDERS.get(area)
        if builder is None or "result" not in record:
            continue
        collected = _Rows(area, record)
        builder(collected)
        rows += collected.rows
    return rows


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value)


def render_table(result: Mapping[str, Any]) -> str:
    """A plain-text table for the terminal."""
    lines = [f"{'row':<72} {'value':>10} {'unit':<14} {'ratio':>7} ratio of"]
    for row in result.get("rows", []):
        lines.append(f"{row['name'][:72]:<72} {_fmt(row['value']):>10} {row['unit']:<14} "
                     f"{_fmt(row['ratio']):>7} {row['ratio_of'] or ''}")
    for area, record in (result.get("areas") or {}).items():
        if "error" in record:
            lines.append(f"{area}: ERROR {record['error']}")
    lines.append(f"total {result.get('total_wall_s')} s; load average (1, 5, 15 min) before "
                 f"{_get(result, 'machine', 'load_avg_1_5_15m')}, after {result.get('load_avg_1_5_15m_after')}")
    return "\n".join(lines)


def agreement(comparison: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Per row kind: rows compared, agreeing and disagreeing (``{"timing": {"compared", "agree",
    "disagree"}, ...}``; load rows are never compared)."""
    out: dict[str, dict[str, int]] = {}
    for row in comparison.get("rows", []):
        counts = out.setdefault(str(row.get("kind", "deterministic")), {"compared": 0, "agree": 0, "disagree": 0})
        if row.get("agree") is not None:
            counts["compared"] += 1
            counts["agree" if row["agree"] else "disagree"] += 1
    return out


def comparison_lines(comparison: Mapping[str, Any]) -> list[str]:
    """The criterion, the counts per row kind, and the agreement table (markdown lines)."""
    counts = agreement(comparison)
    timing = counts.get("timing", {"compared": 0, "agree": 0})
    fixed = counts.get("deterministic", {"compared": 0, "agree": 0})
    builds = (comparison.get("first_build"), comparison.get("second_build"))
    if None in builds:
        same_build = "The build of a run is not recorded, so whether both measured the same code is unknown. "
    elif builds[0] == builds[1]:
        same_build = f"Both runs measured build `{builds[0]}`. "
    else:
        same_build = (f"**The runs measured different builds** (`{builds[0]}`, `{builds[1]}`: commit + hash of "
                      "uncommitted changes): deterministic rows may differ by design. ")
    out = [
        f"First run {comparison.get('first')}, second run {comparison.get('second')}. {same_build}"
        "Criterion: a **timing** "
        "row (a CPU-time ratio to the reference workload or to a baseline, of work that does not run to a "
        "clock) agrees when its ratios differ by at most 15% of the first run's; a **deterministic** row (a "
        "share, count or verdict of seeded scenes) agrees when its values are equal; a **load** row (latency, "
        "loop lag, dropped frames, live sessions, fsync-bound writes) depends on the machine's other work and "
        "is listed, not compared. `--compare` exits with 3 when a timing or deterministic row disagrees.",
        "",
        f"Timing rows within 15%: **{timing['agree']} of {timing['compared']}**; deterministic rows equal: "
        f"**{fixed['agree']} of {fixed['compared']}**.",
        "",
    ]
    out += _md_table(["row", "kind", "first", "second", "difference", "agrees"],
                     [[r["name"], r.get("kind", ""), r["first"], r["second"], r["difference"],
                       {True: "yes", False: "**no**", None: "only in one run" if r.get("kind") != "load" else ""}[
                           r["agree"]]] for r in comparison.get("rows", [])])
    return out


def _md_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_fmt(c).replace("|", "/") for c in row) + " |" for row in rows]
    return out


def render_markdown(result: Mapping[str, Any]) -> str:
    """docs/benchmarks.md: how to reproduce, the machine, the table, baselines, comparison, errors."""
    machine = result.get("machine") or {}
    areas = result.get("areas") or {}
    out = [
        "# Benchmarks",
        "",
        "Written by `videoident bench`; do not edit by hand. Reproduce with:",
        "",
        "```sh",
        f".venv/bin/{result.get('command')} --save-json run1.json",
        f".venv/bin/{result.get('command')} --compare run1.json   # rewrites this file with the agreement table",
        "```",
        "",
        f"Measured {machine.get('utc')} on {machine.get('cpu_model')}, {machine.get('cores')} cores, "
        f"{machine.get('memory_gib')} GiB, Python {machine.get('python')}, OpenCV {machine.get('opencv')}, "
        f"{machine.get('os')}; "
        + (f"build `{machine['build']}` (commit + hash of uncommitted changes)" if machine.get("build")
           else "build not recorded") + ". Load "
        f"average (1, 5, 15 min) at the start {machine.get('load_avg_1_5_15m')}, "
        f"at the end {result.get('load_avg_1_5_15m_after')}: the machine was shared with other work, so wall "
        f"times are pessimistic; CPU-time rows and ratios are the comparable ones. Whole run: "
        f"{result.get('total_wall_s')} s.",
        "",
        "**Ratios.** Each area runs between two timings of a fixed reference workload "
        f"({result.get('reference_workload')}); the throughput rows time it again before each of their "
        "repetitions and report the median ratio. `ref_cpu` = the row's CPU time / the reference's CPU time; "
        "`ref_wall` = wall time / the reference's wall time; `baseline/ours` = the baseline's time / ours on "
        "the same inputs (> 1: ours is faster). OpenCV and BLAS run on one thread, so CPU time is one core's "
        "work. **Kinds** (what `--compare` checks): `timing` rows (CPU ratios of work that does not run to a "
        "clock) should agree within 15% between runs; `deterministic` rows (shares, counts, verdicts of seeded "
        "generated scenes) should be equal for a build; `load` rows (latency, loop lag, dropped frames, live "
        "sessions, fsync-bound writes, scale-out) depend on the machine's other work.",
        "",
        "## Results",
        "",
    ]
    out += _md_table(["area", "row", "value", "unit", "ratio", "ratio of", "kind"],
                     [[r["area"], r["name"], r["value"], r["unit"], r["ratio"], r["ratio_of"], row_kind(r).value]
                      for r in result.get("rows", [])])
    accuracy = _get(areas, "accuracy", "result") or {}
    if accuracy.get("scenes"):
        attacks = _get(accuracy, "presentation_attacks") or {}
        per_attack = {row.get("sessions") for row in (attacks.get("per_attack") or {}).values()}
        out += ["", f"Sample sizes: the accuracy rows rest on {accuracy['scenes']} generated scenes "
                f"({attacks.get('genuine_sessions')} genuine, {', '.join(str(n) for n in sorted(per_attack))} per "
                f"attack type) of {accuracy.get('scene_seconds')} s, {accuracy.get('size')}, rendered at "
                f"{accuracy.get('camera_fps', '?')} fps with {accuracy.get('scene_fps')} frames per second analysed "
                "(as the live sampler; rendering only 5 fps smeared 3x the motion into each frame). A share over "
                "1-3 scenes is a smoke test, not an error rate; `videoident bench` without `--quick` uses 9 "
                "genuine and 3 per attack type. Genuine sessions are `inconclusive` (not failed) while liveness "
                "asks no challenge and the injection check is not built: the per-check rows say which."]
    out += ["", "## Areas", ""]
    out += _md_table(
        ["area", "wall s", "CPU s", "reference wall ms (before/after)", "reference CPU ms", "load 1 min", "outcome"],
        [[name, rec.get("wall_s"), rec.get("cpu_s"),
          f"{_get(rec, 'calibration', 'before_wall_ms')}/{_get(rec, 'calibration', 'after_wall_ms')}",
          _get(rec, "calibration", "reference_cpu_ms"), _get(rec, "calibration", "load_avg_1m"),
          "error: " + rec["error"] if "error" in rec else "ok"] for name, rec in areas.items()])
    out += [
        "",
        "## Baselines (same run, same inputs)",
        "",
        "- MRZ: `passporteye.read_mrz(path)` as its documentation shows it (stock tesseract model), on the same "
        "synthetic 1280x720 frames as ours (`mrz_baseline`); the MRZ area (`--only mrz`) adds it with the MRZ "
        "model and on the real specimens.",
        "- Face: face_recognition's default pipeline (HOG detector, upsample 1, then an encoding of every face) "
        "on every frame of the same scenes (`face`).",
        "- Our pipeline with its MRZ consensus turned off: the same frames and gating, the first read whose check "
        "digits hold is accepted (`accuracy`, rows \"consensus off\").",
    ]
    comparison = result.get("comparison")
    if comparison:
        out += ["", "## Two runs", ""] + comparison_lines(comparison)
    out.append("")
    return "\n".join(out)
