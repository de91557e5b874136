"""``videoident bench``: the harness logic (percentiles, calibration, ratios, run agreement), the report,
the accuracy bookkeeping, and one real cheap area through the CLI. Nothing here is timed."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api.benchmarks import harness
from api.benchmarks.accuracy import ANALYSE_EVERY, CAMERA_FPS, analysed_frames, attack_rows
from api.benchmarks.api_load import MIX, _schedule
from api.cli import main
from api.commands.bench_report import RowKind, build_rows, render_markdown, render_table, with_kinds
from fixtures.attacks import SHOULD_FAIL, Attack
from fixtures.scenes import SceneSpec, generate_scene
from pipelines.layouts import Template


def test_percentile_matches_numpy_linear_interpolation() -> None:
    rng = random.Random(3)
    for n in (1, 2, 7, 100):
        values = [rng.uniform(0, 10) for _ in range(n)]
        for q in (0, 50, 95, 99, 100):
            assert harness.percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_refuses_nothing_and_bad_q() -> None:
    with pytest.raises(ValueError):
        harness.percentile([], 50)
    with pytest.raises(ValueError):
        harness.percentile([1.0], 101)


def test_summarise_reports_the_order_statistics() -> None:
    out = harness.summarise([5.0, 1.0, 3.0, 2.0, 4.0])
    assert out["n"] == 5 and out["p50"] == 3.0 and out["min"] == 1.0 and out["max"] == 5.0
    assert 4.0 < out["p95"] <= 5.0
    assert harness.summarise([]) == {"n": 0}


def test_repeat_runs_warmup_untimed_then_times_each_call() -> None:
    calls: list[int] = []
    samples = harness.repeat(lambda: calls.append(1) or len(calls), runs=3, warmup=2)
    assert len(calls) == 5 and [s.value for s in samples] == [3, 4, 5]
    assert all(s.wall_s >= 0 and s.cpu_s >= 0 for s in samples)


def test_cpu_seconds_grows_with_work_not_with_sleep() -> None:
    start = harness.cpu_seconds()
    total = 0
    for i in range(2_000_000):
        total += i
    assert harness.cpu_seconds() > start


def test_calibration_times_the_reference_workload() -> None:
    calibration = harness.calibrate(runs=3)
    assert calibration.wall_s > 0 and calibration.cpu_s > 0 and calibration.runs == 3
    merged = harness.Calibration.merge([calibration, harness.Calibration(2 * calibration.wall_s, 0.0, 3, 1.0)])
    assert merged.wall_s == pytest.approx(1.5 * calibration.wall_s) and merged.runs == 6
    with pytest.raises(ValueError):
        harness.Calibration(0.0, 0.0, 1, 0.0)


def test_run_area_keeps_going_after_an_error_and_brackets_with_calibrations() -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("camera unplugged")

    out = harness.run_area("broken", broken)
    assert out["error"] == "RuntimeError: camera unplugged" and "result" not in out
    assert out["calibration"]["reference_wall_ms"] > 0
    ok = harness.run_area("ok", lambda: {"x": 1})
    assert ok["result"] == {"x": 1} and "error" not in ok


def test_ratio_rows_agree_within_fifteen_percent() -> None:
    first = {"a": 1.0, "b": 2.0, "c": 10.0, "only_first": 1.0}
    second = {"a": 1.14, "b": 2.4, "c": 8.6, "only_second": 3.0}
    rows = {r["name"]: r for r in harness.compare_ratio_rows(first, second)}
    assert rows["a"]["agree"] is True
    assert rows["b"]["agree"] is False and rows["b"]["difference"] == pytest.approx(0.2)
    assert rows["c"]["agree"] is True  # 14% lower
    assert rows["only_first"]["agree"] is None and rows["only_second"]["agree"] is None


def _result() -> dict[str, Any]:
    calibration = {"reference_cpu_ms": 20.0, "reference_wall_ms": 40.0, "before_wall_ms": 39.0,
                   "after_wall_ms": 41.0, "load_avg_1m": 3.0}
    return {
        "command": "videoident bench --quick",
        "machine": {"utc": "2026-11-25 23:00 UTC", "cores": 2, "load_avg_1_5_15m": [3.0, 3.0, 3.0]},
        "areas": {
            "throughput": {"result": {"throughput": {"service": {"640x480": {
                "frames_per_core_second": 25.0, "cpu_ms_per_frame": {"p50": 40.0}}}}},
                "calibration": calibration, "wall_s": 1.0, "cpu_s": 1.0},
            "api": {"result": {"rate_per_s": 50.0, "latency_ms": {"p95": 80.0, "p50": 20.0},
                               "answered": 400, "requests": 400},
                    "calibration": calibration, "wall_s": 1.0, "cpu_s": 1.0},
            "face": {"error": "RuntimeError: boom", "calibration": calibration, "wall_s": 0.1, "cpu_s": 0.1},
        },
    }


def test_rows_carry_ratios_to_the_reference_workload() -> None:
    result = _result()
    rows = {r["name"]: r for r in build_rows(result)}
    fps = rows["live pipeline (service) 640x480: frames per core-second"]
    assert fps["value"] == 25.0 and fps["ratio"] == 2.0 and fps["ratio_of"] == "ref_cpu"
    p95 = rows["REST API latency p95 at 50.0 req/s (from schedule)"]
    assert p95["ratio"] == 2.0 and p95["ratio_of"] == "ref_wall"
    assert not any(r["area"] == "face" for r in rows.values())  # an area that failed has no rows
    assert fps["kind"] == RowKind.TIMING and p95["kind"] == RowKind.LOAD
    assert rows["REST API answered / sent"]["kind"] == RowKind.LOAD  # the api area runs to a clock


def test_a_ratio_measured_interleaved_by_the_area_wins_over_the_area_calibration() -> None:
    result = _result()
    row = result["areas"]["throughput"]["result"]["throughput"]["service"]["640x480"]
    row["cpu_per_frame_reference_units"] = 1.7
    fps = {r["name"]: r for r in build_rows(result)}["live pipeline (service) 640x480: frames per core-second"]
    assert fps["ratio"] == 1.7 and fps["ratio_of"] == "ref_cpu"


def test_compare_rows_holds_each_kind_to_its_own_criterion() -> None:
    def row(name: str, kind: RowKind, value: Any, ratio: float | None = None) -> dict[str, Any]:
        return {"name": name, "kind": kind.value, "value": value, "ratio": ratio}

    first = [row("t1", RowKind.TIMING, 10, 1.0), row("t2", RowKind.TIMING, 10, 2.0),
             row("d1", RowKind.DETERMINISTIC, 0.5), row("d2", RowKind.DETERMINISTIC, "pass 2"),
             row("l1", RowKind.LOAD, 80.0, 2.0), row("gone", RowKind.TIMING, 1, 1.0)]
    second = [row("t1", RowKind.TIMING, 99, 1.14), row("t2", RowKind.TIMING, 10, 2.4),
              row("d1", RowKind.DETERMINISTIC, 0.5), row("d2", RowKind.DETERMINISTIC, "fail 1, pass 1"),
              row("l1", RowKind.LOAD, 400.0, 10.0)]
    out = {r["name"]: r for r in harness.compare_rows(first, second)}
    assert out["t1"]["agree"] is True and out["t1"]["first"] == 1.0  # timing rows compare ratios, not values
    assert out["t2"]["agree"] is False and out["t2"]["difference"] == pytest.approx(0.2)
    assert out["d1"]["agree"] is True and out["d2"]["agree"] is False
    assert out["l1"]["agree"] is None and out["l1"]["second"] == 400.0  # listed, never compared
    assert out["gone"]["agree"] is None


def test_an_area_that_lists_its_own_rows_is_reported_as_listed() -> None:
    result = _result()
    result["areas"]["scale"] = {"result": {"rows": [
        {"name": "scale: sessions created/s, 2 worker(s)", "unit": "1/s", "value": 41.5},
        {"name": "scale: created", "unit": "", "value": 12, "kind": "deterministic"},
        {"name": "scale: no value", "unit": "s", "value": None}, "not a row"]}, "calibration": {}}
    rows = {r["name"]: r for r in build_rows(result) if r["area"] == "scale"}
    assert set(rows) == {"scale: sessions created/s, 2 worker(s)", "scale: created"}
    assert rows["scale: sessions created/s, 2 worker(s)"]["kind"] == RowKind.LOAD
    assert rows["scale: created"]["kind"] == RowKind.DETERMINISTIC


def test_rows_of_a_run_saved_without_kinds_get_them_inferred() -> None:
    rows = with_kinds([{"area": "accuracy", "name": "a", "value": 1.0, "ratio": None, "ratio_of": None},
                       {"area": "accuracy", "name": "b", "value": 9.0, "ratio": 3.0, "ratio_of": "ref_cpu"},
                       {"area": "sessions", "name": "c", "value": 9.0, "ratio": 3.0, "ratio_of": "ref_cpu"},
                       {"area": "api", "name": "d", "value": 9.0, "ratio": 3.0, "ratio_of": "ref_wall"}])
    assert [r["kind"] for r in rows] == ["deterministic", "timing", "load", "load"]


def test_markdown_report_names_machine_command_errors_and_agreement() -> None:
    result = _result()
    result["rows"] = build_rows(result)
    result["comparison"] = {"first": "a", "second": "b", "rows": harness.compare_rows(
        [{"name": "x", "kind": "timing", "ratio": 1.0}], [{"name": "x", "kind": "timing", "ratio": 1.5}])}
    text = render_markdown(result)
    assert "videoident bench --quick" in text and "2026-11-25 23:00 UTC" in text
    assert "| throughput | live pipeline (service) 640x480: frames per core-second | 25 |" in text
    assert "error: RuntimeError: boom" in text
    assert "Timing rows within 15%: **0 of 1**" in text
    assert "ERROR RuntimeError: boom" in render_table(result)


def test_attack_rows_count_apcer_per_attack_and_bpcer() -> None:
    def row(attack: Attack | None, **verdicts: str) -> dict[str, Any]:
        full = {"quality": "pass", "hologram": "pass", "mrz": "pass", "face": "pass", "liveness": "pass"} | verdicts
        overall = "fail" if "fail" in full.values() else "inconclusive" if "inconclusive" in full.values() else "pass"
        return {"attack": None if attack is None else attack.value, "verdict": overall, "verdicts": full}

    rows = [
        row(None), row(None, hologram="fail"), row(None, liveness="inconclusive"), row(None),
        row(Attack.PHOTOCOPY, hologram="fail"), row(Attack.PHOTOCOPY, hologram="inconclusive"),
        row(Attack.PORTRAIT_SWAP),
    ]
    out = attack_rows(rows)
    assert out["bpcer"] == 0.25 and out["genuine_failing_checks"] == {"hologram": 1}
    assert out["genuine_verdicts_per_check"]["hologram"] == {"pass": 3, "fail": 1}
    assert out["genuine_verdicts_per_check"]["liveness"] == {"pass": 3, "inconclusive": 1}  # not a BPCER error
    assert out["genuine_failure_reasons"] == {"hologram: ?": 1}  # rows without reason codes
    photocopy = out["per_attack"]["photocopy"]
    assert photocopy["apcer"] == 0.5 and photocopy["passed_outright"] == 0.0
    assert photocopy["hologram"] == {"fail": 1, "inconclusive": 1}
    assert set(photocopy["targeted_checks"]) == set(SHOULD_FAIL[Attack.PHOTOCOPY])
    assert out["per_attack"]["portrait-swap"]["apcer"] == 1.0
    assert "screen-replay" not in out["per_attack"]  # no scene, no row


def test_api_load_mix_follows_its_weights() -> None:
    names = _schedule(sum(w for _, w in MIX) * 5)
    for name, weight in MIX:
        assert names.count(name) == 5 * weight


def _saved(tmp_path: Path, result: dict[str, Any], name: str) -> Path:
    result["rows"] = build_rows(result)
    path = tmp_path / name
    path.write_text(json.dumps(result))
    return path


def test_report_only_rerenders_a_saved_run_beside_another(tmp_path: Path) -> None:
    first, second = _result(), _result()
    second["areas"]["throughput"]["result"]["throughput"]["service"]["640x480"]["cpu_ms_per_frame"]["p50"] = 50.0
    second["areas"]["api"]["result"]["latency_ms"]["p95"] = 400.0  # a load row: listed, not compared
    output = tmp_path / "benchmarks.md"
    assert main(["bench", "--from-json", str(_saved(tmp_path, first, "a.json")), "--compare",
                 str(_saved(tmp_path, second, "b.json")), "--output", str(output)]) == 1  # an area failed
    text = output.read_text()
    assert "Timing rows within 15%: **0 of 1**" in text
    assert "| live pipeline (service) 640x480: frames per core-second | timing | 2 | 2.5 | 0.25 | **no** |" in text
    assert "| REST API latency p95 at 50.0 req/s (from schedule) | load | 80 | 400 |  |  |" in text


def test_build_id_names_the_commit_and_any_uncommitted_source_change(tmp_path: Path) -> None:
    import subprocess

    assert harness.build_id(tmp_path) is None  # not a git checkout
    repo = tmp_path / "repo"
    (repo / "api").mkdir(parents=True)
    (repo / "api" / "a.py").write_text("x = 1\n")
    (repo / "notes.txt").write_text("not source\n")
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@example.org", "commit",
                                                "-q", "-m", "one"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    clean = harness.build_id(repo)
    assert clean is not None and "+" not in clean
    (repo / "notes.txt").write_text("changed, but not source\n")
    assert harness.build_id(repo) == clean
    (repo / "api" / "a.py").write_text("x = 2\n")
    changed = harness.build_id(repo)
    assert changed is not None and changed.startswith(clean + "+") and harness.build_id(repo) == changed
    (repo / "api" / "new.py").write_text("y = 1\n")  # an untracked source file counts too
    assert harness.build_id(repo) not in (clean, changed)


def test_compare_exits_3_when_a_timing_row_disagrees_and_0_when_all_agree(tmp_path: Path) -> None:
    first, second = _result(), _result()
    for result in (first, second):
        del result["areas"]["face"]
    same = main(["bench", "--from-json", str(_saved(tmp_path, first, "a.json")), "--compare",
                 str(_saved(tmp_path, second, "b.json")), "--no-docs"])
    second["areas"]["throughput"]["result"]["throughput"]["service"]["640x480"]["cpu_ms_per_frame"]["p50"] = 47.0
    off = main(["bench", "--from-json", str(_saved(tmp_path, first, "a.json")), "--compare",
                str(_saved(tmp_path, second, "c.json")), "--no-docs"])
    assert (same, off) == (0, 3)


def test_analysed_frames_are_every_third_camera_frame_rendered_alone() -> None:
    """The accuracy scenes render only the analysed frames; they must be exactly what iterating the whole
    camera-rate scene and keeping every third frame gives (also for an injected loop)."""
    assert ANALYSE_EVERY == 3 and CAMERA_FPS == 15.0
    for attack in (None, Attack.INJECTED_LOOP):
        scene = generate_scene(SceneSpec(Template.NL_ID, seed=3, attack=attack, size=(320, 240), fps=CAMERA_FPS,
                                         seconds=1.0))
        picked = list(analysed_frames(scene))
        every = list(scene.frames())[::ANALYSE_EVERY]
        assert [f.index for f, _ in picked] == [f.index for f, _ in every] == [0, 3, 6, 9, 12]
        assert [f.t_s for f, _ in picked] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
        for (a, ta), (b, tb) in zip(picked, every, strict=True):
            assert np.array_equal(a.image, b.image) and ta.tilt_deg == tb.tilt_deg


def test_cli_runs_the_api_area_and_prints_the_documented_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "benchmarks.md"
    code = main(["bench", "--quick", "--only", "api", "--json", "--output", str(output),
                 "--save-json", str(tmp_path / "run.json")])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert {"command", "quick", "machine", "reference_workload", "total_wall_s", "areas", "rows"} <= set(printed)
    area = printed["areas"]["api"]
    assert {"result", "wall_s", "cpu_s", "calibration"} <= set(area)
    api = area["result"]
    assert api["requests"] == 400 and (
        api["answered"] + sum(api["errors"].values()) + api["unanswered_at_deadline"] == api["requests"])
    assert set(api["status_codes"]) <= {f"{name} {code}" for name, _ in MIX for code in (200, 201, 409)}
    assert api["answered"] > 0 and api["latency_ms"]["p95"] >= api["latency_ms"]["p50"] > 0
    names = [r["name"] for r in printed["rows"]]
    assert any(n.startswith("REST API latency p95 at 50.0 req/s") for n in names)
    assert not output.exists()  # --only never overwrites the full report
    assert json.loads((tmp_path / "run.json").read_text())["rows"] == printed["rows"]
