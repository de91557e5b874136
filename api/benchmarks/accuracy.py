"""Accuracy rows of ``videoident bench``: generated scenes (fixtures/) through the whole session analyzer.

``run(quick)`` returns a JSON-able dict. Run it with::

    .venv/bin/python -c "from api.benchmarks.accuracy import run; import json; print(json.dumps(run(True), indent=1))"

Every scene (genuine, and one per attack type; see :data:`fixtures.attacks.SHOULD_FAIL`) is rendered at
1280x720 at :data:`CAMERA_FPS`, and every :data:`ANALYSE_EVERY`-th frame (:data:`SCENE_FPS` per second,
as the live service analyses 5 frames per second) is fed in order to the analyzer the live service
builds per session (:func:`api.media.pool_worker.build_session_analyzer`, i.e. ``build_analyzer``:
document detector, quality, tilt, hologram, MRZ with the bank's claim, face, liveness).
What it measures:

- ``mrz``: exact-read rate **per frame** (every frame whose MRZ side is in view, rectified from the scene's
  ground-truth corners, one read each, by tilt bucket), and **per session** (the MRZ stage's consensus,
  exact and reached) beside the same pipeline with its consensus turned off (the first read whose check
  digits hold is accepted, as a single-frame reader would); "document shown -> MRZ read and
  cross-checked" in seconds of video (p50/p95) and the MRZ CPU spent until then;
- ``presentation_attacks``: per attack type, the verdict of every check it targets and of the hologram,
  APCER (attack sessions in which no check failed) and the share that passed outright; BPCER (genuine
  sessions in which any check failed) and genuine sessions per overall verdict;
- ``face_scenes``: face verdicts on genuine scenes (FNMR: the genuine customer not matched) and on
  portrait swaps (FMR: another person's ID photo matched); "face visible -> match score" in seconds of
  video (the face stage polled every :data:`FACE_POLL_S`); face + liveness CPU per frame beside
  face_recognition's default pipeline run on every frame of the same genuine scenes (the baseline);
- ``face_pairs``: FMR/FNMR at the match threshold on the labelled real pairs in ../shared/data (via
  ``videoident face-calibrate``'s measurement; full runs only: it encodes every photo three times).

Nothing is written to disk; no MRZ text, name or image leaves memory (rows hold verdicts and counts).
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import itertools
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from api.benchmarks.harness import cpu_seconds, single_threaded, summarise
from api.media.pool_worker import EngineSpec, LoadedEngines, build_session_analyzer, load_engines
from fixtures.attacks import SHOULD_FAIL, Attack
from fixtures.scene_truth import FrameTruth
from fixtures.scenes import Scene, SceneSpec, generate_scene
from models.face import FaceEngine
from models.ocr import TesseractEngine
from pipelines.frame import DocumentKind, DocumentSide, Frame, FrameContext
from pipelines.identity import ClaimedIdentity
from pipelines.layouts import Template, rectified_size_px
from pipelines.mrz.locate import band_from_rectified, sharpness
from pipelines.mrz.read import EXPECTED_LINES, MrzRead, read_band, read_rectified
from pipelines.mrz.stage import MIN_BAND_SHARPNESS, MIN_INTERVAL_S, MrzStage
from pipelines.results import CheckResult, Reason, Verdict

__all__ = [
    "run", "build_service_analyzer", "analyzer_stages", "analysed_frames", "engines", "rectified", "run_scene",
    "SCENE_FPS", "CAMERA_FPS", "REFERENCE_DATE", "SingleReadMrz", "attack_rows",
]

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
#: The live service analyses 5 frames per second per session (api.media.sampler.DEFAULT_ANALYSED_FPS).
SCENE_FPS = 5.0
#: The camera's frame rate in the generated scenes (the fixtures' default, fixtures.scenes.SceneSpec.fps).
#: A generated frame's motion blur is the motion over one frame interval of its scene
#: (fixtures.scenes._SHUTTER_FRACTION), so scenes are rendered at this rate and every
#: :data:`ANALYSE_EVERY`-th frame is analysed, as the live sampler takes 5 of the camera's frames per
#: second. Rendered at 5 fps instead, each frame smeared 3x the motion: genuine DE-ID seed 500 lost both
#: of its "towards" tilt frames to the document detector and failed tilt (it passes from 15 fps frames).
CAMERA_FPS = 15.0
ANALYSE_EVERY = round(CAMERA_FPS / SCENE_FPS)
#: The session date the MRZ expiry is judged against (fixed, so runs are comparable).
REFERENCE_DATE = dt.date(2026, 11, 25)
#: A frame counts for the per-frame MRZ rate when at least this share of the document is in view.
MIN_VISIBLE_FRACTION = 0.8
#: Tilt buckets of the per-frame MRZ rate (issue 5's targets: >=98% within 10 deg, >=90% within 20 deg).
TILT_BUCKETS_DEG = (10.0, 20.0, 90.0)
TEMPLATES = (Template.NL_ID, Template.DE_ID, Template.PASSPORT)


def _module(name: str) -> Any:
    """A module of another area that may not be part of this build yet (None then)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        return None


class SingleReadMrz:
    """The MRZ stage with its consensus turned off: the same frame gating as :class:`MrzStage` (located
    document on its MRZ side, one attempt per :data:`MIN_INTERVAL_S`, sharp bands only), and the first
    read whose check digits hold (after repair) is accepted as the document's MRZ."""

    name = "mrz_single_read"

    def __init__(self, engine: TesseractEngine, reference_date: dt.date) -> None:
        self._engine = engine
        self._reference_date = reference_date
        self._last_s: float | None = None
        self.attempts = 0
        self.accepted: MrzRead | None = None
        self.accepted_t_s: float | None = None

    def observe(self, context: FrameContext) -> None:
        document = context.document
        if self.accepted is not None or document is None:
            return
        if document.kind is DocumentKind.ID1 and document.side is DocumentSide.FRONT:
            return
        t_s = context.frame.t_s
        if self._last_s is not None and t_s - self._last_s < MIN_INTERVAL_S:
            return
        band = band_from_rectified(document.rectified, document.kind)
        if sharpness(band.image) < MIN_BAND_SHARPNESS:
            return
        self._last_s, self.attempts = t_s, self.attempts + 1
        read = read_band(self._engine, band, self._reference_date, EXPECTED_LINES[document.kind])
        if read is not None and read.check_digits_hold:
            self.accepted, self.accepted_t_s = read, t_s

    def result(self) -> CheckResult:
        read = self.accepted
        if read is None or read.document is None:
            return CheckResult.inconclusive(self.name, "not_read", "no read with holding check digits yet")
        verdict = Verdict.PASS if read.valid else Verdict.FAIL
        return CheckResult(self.name, verdict, Reason("single_read", "first read with holding check digits"))


def build_service_analyzer(loaded: LoadedEngines, claim: ClaimedIdentity | None = None) -> Any:
    """A :class:`pipelines.analyzer.SessionAnalyzer` built by the very function the live service's analysis
    processes build one per session with (:func:`api.media.pool_worker.build_session_analyzer`: the
    engines loaded by :func:`api.media.pool_worker.load_engines`, the session date, the bank's claim), so
    the bench follows every change to the service's composition."""
    return build_session_analyzer(loaded, claim, REFERENCE_DATE)


def analyzer_stages(analyzer: Any) -> list[Any]:
    """The analyzer's stages (tilt, hologram, MRZ, face, liveness, ...), to time them in place."""
    return list(analyzer.stages)


def _claim(scene: Scene) -> ClaimedIdentity:
    holder = scene.document.truth.holder
    return ClaimedIdentity(holder.given_names, holder.surname, holder.birthdate)


def rectified(image: np.ndarray, corners: np.ndarray, kind: DocumentKind) -> np.ndarray:
    width, height = rectified_size_px(kind)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    return cv2.warpPerspective(image, cv2.getPerspectiveTransform(corners.astype(np.float32), target), (width, height))


def analysed_frames(scene: Scene) -> Iterator[tuple[Frame, FrameTruth]]:
    """Every :data:`ANALYSE_EVERY`-th frame of ``scene`` (rendered at :data:`CAMERA_FPS`) with its truth,
    keeping the camera's frame index as the live service does (api.media.session). Only those frames are
    rendered, except for the injected-video attacks, whose repeats the scene works out while iterating."""
    if scene.spec.attack in (Attack.INJECTED_STATIC, Attack.INJECTED_LOOP):
        yield from itertools.islice(scene.frames(), 0, None, ANALYSE_EVERY)
        return
    for index in range(0, len(scene), ANALYSE_EVERY):
        image, truth = scene.render(index)
        yield Frame(image, index, index / scene.spec.fps), truth


def _bucket(tilt_deg: float) -> str:
    for limit in TILT_BUCKETS_DEG:
        if tilt_deg <= limit:
            return f"tilt_le_{limit:g}"
    return "tilt_over"


class _StageTimer:
    """Adds up the CPU one stage's ``observe`` and ``result`` take (per-stage cost), by wrapping the two
    methods of that stage instance in place, so the analyzer stays exactly as built. ``tap``: called with
    every frame context after the stage (its CPU is kept apart in ``tap_cpu_s``), to run a baseline stage
    on the very same located documents."""

    def __init__(self, stage: Any, tap: Any = None) -> None:
        self.name = stage.name
        self.cpu_s = 0.0
        self.tap_cpu_s = 0.0
        observe, result = stage.observe, stage.result
        self.untimed_result = result

        def timed_observe(context: FrameContext) -> None:
            c0 = cpu_seconds()
            observe(context)
            c1 = cpu_seconds()
            self.cpu_s += c1 - c0
            if tap is not None:
                tap(context)
                self.tap_cpu_s += cpu_seconds() - c1

        def timed_result() -> CheckResult:
            c0 = cpu_seconds()
            out: CheckResult = result()
            self.cpu_s += cpu_seconds() - c0
            return out

        stage.observe, stage.result = timed_observe, timed_result


#: The face stage is asked for its result every this many seconds of video (like the console polls).
FACE_POLL_S = 0.5
#: A face counts as visible when less than this share of its box is covered by the held document.
MAX_FACE_OCCLUDED = 0.3


def run_scene(spec: SceneSpec, loaded: LoadedEngines, per_frame_every: int = 0,
              face_baseline: int = 0) -> dict[str, Any]:
    """One scene through the service's analyzer (:func:`build_service_analyzer`), with the consensus-off
    MRZ baseline (:class:`SingleReadMrz`) fed the same located documents beside it (it is not a section
    of the report, so it never decides a verdict). ``per_frame_every`` > 0: also read every n-th frame's
    MRZ side from the ground-truth corners (the per-frame rate). ``face_baseline``: also run
    face_recognition's default pipeline on each of the first that many frames. Returns verdicts, reason
    codes, counts and timings only."""
    scene = generate_scene(spec)
    truth_doc = scene.document.truth
    analyzer = build_service_analyzer(loaded, _claim(scene))
    mrz_engine: TesseractEngine | None = loaded.mrz
    face_engine: FaceEngine | None = loaded.face
    stages = analyzer_stages(analyzer)
    single = SingleReadMrz(mrz_engine, REFERENCE_DATE) if mrz_engine is not None else None
    mrz_stage = next((s for s in stages if isinstance(s, MrzStage)), None)
    timed = {stage.name: _StageTimer(stage, single.observe if single is not None and stage is mrz_stage else None)
             for stage in stages}
    face_stage = next((s for s in stages if s.name == "face"), None)
    mrz_side = scene.document.layout.mrz_side
    shown_t: float | None = None
    done_t: float | None = None
    face_seen_t: float | None = None
    face_scored_t: float | None = None
    next_poll = 0.0
    cpu = 0.0
    mrz_cpu_at_shown = 0.0
    mrz_cpu_at_done: float | None = None
    frames = 0
    per_frame: Counter[str] = Counter()
    per_frame_cpu: list[float] = []
    baseline_cpu: list[float] = []
    for index, (frame, truth) in enumerate(analysed_frames(scene)):
        frames += 1
        c0 = cpu_seconds()
        tapped = timed["mrz"].tap_cpu_s if "mrz" in timed else 0.0
        analyzer.process(frame)
        cpu += cpu_seconds() - c0 - ((timed["mrz"].tap_cpu_s - tapped) if "mrz" in timed else 0.0)
        in_view = truth.side is mrz_side and truth.visible_fraction >= MIN_VISIBLE_FRACTION
        mrz_cpu = timed["mrz"].cpu_s if "mrz" in timed else 0.0
        if in_view and shown_t is None:
            shown_t, mrz_cpu_at_shown = frame.t_s, mrz_cpu
        if mrz_stage is not None and done_t is None and shown_t is not None and timed["mrz"].untimed_result(
        ).measurements.get("consensus"):
            done_t, mrz_cpu_at_done = frame.t_s, mrz_cpu
        if face_seen_t is None and truth.face_occluded_fraction < MAX_FACE_OCCLUDED:
            face_seen_t = frame.t_s
        if face_stage is not None and face_scored_t is None and frame.t_s >= next_poll:
            next_poll += FACE_POLL_S
            c0 = cpu_seconds()
            scored = "distance" in face_stage.result().measurements
            poll_cpu = cpu_seconds() - c0
            cpu += poll_cpu
            if scored:  # the answer is there once this poll's own CPU (the encodings) is spent
                face_scored_t = frame.t_s + poll_cpu
        if face_engine is not None and len(baseline_cpu) < face_baseline:
            c0 = cpu_seconds()
            face_engine.default_pipeline(frame.image)
            baseline_cpu.append(cpu_seconds() - c0)
        if per_frame_every and in_view and mrz_engine is not None and index % per_frame_every == 0:
            kind = truth_doc.kind
            c0 = cpu_seconds()
            read = read_rectified(mrz_engine, rectified(frame.image, truth.corners_px, kind), kind, REFERENCE_DATE)
            per_frame_cpu.append(cpu_seconds() - c0)
            bucket = _bucket(abs(truth.tilt_deg))
            per_frame[f"{bucket}_frames"] += 1
            per_frame[f"{bucket}_exact"] += read is not None and read.lines == truth_doc.mrz_lines
    report = analyzer.report()
    sections = {name: section for name, section in report.items() if isinstance(section, dict)
                and "verdict" in section}
    verdicts = {name: section["verdict"] for name, section in sections.items()}
    reasons = {name: str((section.get("reason") or {}).get("code")) for name, section in sections.items()}
    row: dict[str, Any] = {
        "template": spec.template.value,
        "attack": spec.attack.value if spec.attack else None,
        "seed": spec.seed,
        "frames": frames,
        "verdict": report["verdict"],
        "verdicts": verdicts,
        "reasons": reasons,
        "cpu_s": round(cpu, 3),
        "stage_cpu_s": {name: round(stage.cpu_s, 3) for name, stage in timed.items()},
        "per_frame": dict(per_frame),
        "per_frame_read_cpu_s": per_frame_cpu,
        "face_baseline_cpu_s": baseline_cpu,
        "face_visible_to_score_s": None if face_seen_t is None or face_scored_t is None
        else round(face_scored_t - face_seen_t, 3),
    }
    if mrz_stage is not None:
        mrz = report["mrz"]
        row["mrz_consensus"] = bool(mrz.get("consensus"))
        row["mrz_exact"] = bool(mrz.get("consensus")) and tuple(mrz.get("lines", ())) == truth_doc.mrz_lines
        row["mrz_cross_checks"] = sorted(name for name in mrz.get("checks", {}) if name.startswith("claim"))
        row["mrz_shown_to_done_s"] = None if done_t is None or shown_t is None else round(done_t - shown_t, 3)
        row["mrz_cpu_to_done_s"] = None if mrz_cpu_at_done is None else round(mrz_cpu_at_done - mrz_cpu_at_shown, 3)
    if single is not None:
        read = single.accepted
        row["single_read_accepted"] = read is not None
        row["single_read_exact"] = read is not None and read.lines == truth_doc.mrz_lines
    return row


def _share(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def attack_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """APCER per attack type and BPCER from scene rows (``attack``, ``verdict``, ``verdicts``).

    An attack session is classified bona fide when **no** check failed (APCER counts those); the share
    that passed outright (overall verdict pass) is reported beside it, and inconclusive (the agent must
    decide) is the rest. A genuine session is classified as an attack when any check failed (BPCER)."""
    out: dict[str, Any] = {}
    for attack in Attack:
        mine = [r for r in rows if r["attack"] == attack.value]
        if not mine:
            continue
        targeted = SHOULD_FAIL[attack]
        not_failed = sum(all(v != Verdict.FAIL.value for v in r["verdicts"].values()) for r in mine)
        passed = sum(r["verdict"] == Verdict.PASS.value for r in mine)
        out[attack.value] = {
            "sessions": len(mine),
            "apcer": _share(not_failed, len(mine)),
            "passed_outright": _share(passed, len(mine)),
            "targeted_checks": {
                check: dict(Counter(r["verdicts"].get(check, "absent") for r in mine)) for check in targeted
            },
            "hologram": dict(Counter(r["verdicts"].get("hologram", "absent") for r in mine)),
        }
    genuine = [r for r in rows if r["attack"] is None]
    failing = Counter(name for r in genuine for name, v in r["verdicts"].items() if v == Verdict.FAIL.value)
    return {
        "per_attack": out,
        "genuine_sessions": len(genuine),
        "bpcer": _share(sum(any(v == Verdict.FAIL.value for v in r["verdicts"].values()) for r in genuine),
                        len(genuine)),
        "genuine_overall_verdicts": dict(Counter(r["verdict"] for r in genuine)),
        "genuine_failing_checks": dict(failing),
        "genuine_verdicts_per_check": {
            name: dict(Counter(r["verdicts"].get(name, "absent") for r in genuine))
            for name in sorted({n for r in genuine for n in r["verdicts"]})
        },
        "genuine_failure_reasons": dict(Counter(
            f"{name}: {r.get('reasons', {}).get(name, '?')}" for r in genuine
            for name, v in r["verdicts"].items() if v == Verdict.FAIL.value)),
        "genuine_hologram": dict(Counter(r["verdicts"].get("hologram", "absent") for r in genuine)),
    }


def _mrz_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    genuine = [r for r in rows if r["attack"] is None and "mrz_exact" in r]
    per_frame: Counter[str] = Counter()
    read_cpu: list[float] = []
    for r in genuine:
        per_frame.update(r["per_frame"])
        read_cpu.extend(r["per_frame_read_cpu_s"])
    buckets = {}
    for limit in TILT_BUCKETS_DEG:
        key = f"tilt_le_{limit:g}"
        buckets[key] = {"frames": per_frame[f"{key}_frames"],
                        "exact": _share(per_frame[f"{key}_exact"], per_frame[f"{key}_frames"])}
    total_frames = sum(per_frame[f"tilt_le_{limit:g}_frames"] for limit in TILT_BUCKETS_DEG)
    total_exact = sum(per_frame[f"tilt_le_{limit:g}_exact"] for limit in TILT_BUCKETS_DEG)
    latency = [r["mrz_shown_to_done_s"] for r in genuine if r["mrz_shown_to_done_s"] is not None]
    latency_cpu = [r["mrz_cpu_to_done_s"] for r in genuine if r["mrz_cpu_to_done_s"] is not None]
    tampered = [r for r in rows if r["attack"] in (Attack.TAMPERED_MRZ.value, Attack.MRZ_MISMATCH.value)]
    return {
        "per_frame": {"frames": total_frames, "exact": _share(total_exact, total_frames), **buckets,
                      "read_cpu_s": summarise(read_cpu, 3)},
        "per_session": {
            "sessions": len(genuine),
            "consensus_exact": _share(sum(r["mrz_exact"] for r in genuine), len(genuine)),
            "consensus_reached": _share(sum(r["mrz_consensus"] for r in genuine), len(genuine)),
            "consensus_off_exact": _share(sum(r["single_read_exact"] for r in genuine), len(genuine)),
            "consensus_off_wrong_accepted": _share(
                sum(r["single_read_accepted"] and not r["single_read_exact"] for r in genuine), len(genuine)),
        },
        "forged_mrz_flagged": _share(sum(r["verdicts"].get("mrz") == Verdict.FAIL.value for r in tampered),
                                     len(tampered)),
        "document_shown_to_mrz_cross_checked_s": summarise(latency, 3) | {"sessions_done": len(latency),
                                                                         "sessions": len(genuine)},
        "mrz_cpu_until_cross_checked_s": summarise(latency_cpu, 3),
    }


def _face_scene_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    genuine = [r for r in rows if r["attack"] is None]
    swaps = [r for r in rows if r["attack"] == Attack.PORTRAIT_SWAP.value]
    return {
        "genuine_sessions": len(genuine),
        "fnmr": _share(sum(r["verdicts"].get("face") == Verdict.FAIL.value for r in genuine), len(genuine)),
        "genuine_not_matched": _share(sum(r["verdicts"].get("face") != Verdict.PASS.value for r in genuine),
                                      len(genuine)),
        "portrait_swaps": len(swaps),
        "fmr": _share(sum(r["verdicts"].get("face") == Verdict.PASS.value for r in swaps), len(swaps)),
    }


def face_pairs(limit: int | None) -> dict[str, Any]:
    """FMR/FNMR at the configured thresholds on the real labelled pairs (``videoident face-calibrate``)."""
    from api.commands.face_calibrate import DEFAULT_PAIRS, calibrate

    if not DEFAULT_PAIRS.is_file():
        return {"skipped": f"needs {DEFAULT_PAIRS} (../shared/data)"}
    started = time.perf_counter()
    report, _ = calibrate(DEFAULT_PAIRS, limit)
    return {"pairs_limit": limit, "seconds": round(time.perf_counter() - started, 1), "report": report}


@functools.lru_cache(maxsize=1)
def engines() -> LoadedEngines:
    """The engines of this process (the bench's main process or an accuracy worker), loaded and warmed up
    once per process by the service's own loader (:func:`api.media.pool_worker.load_engines`) and shared
    by every area and scene: MRZ (None without ../shared's MRZ model: the MRZ check then says
    inconclusive, as the service does), face. Also pins OpenCV and BLAS to one thread, as the service's
    analysis processes run (see :func:`api.benchmarks.harness.single_threaded`)."""
    single_threaded()
    tessdata = SHARED / "tessdata"
    return load_engines(EngineSpec(tessdata, mrz=(tessdata / "mrz.traineddata").is_file(), face=True))


def _scene_job(spec: SceneSpec, per_frame_every: int, face_baseline: int) -> dict[str, Any]:
    return run_scene(spec, engines(), per_frame_every, face_baseline)


def _face_speed(rows: list[dict[str, Any]]) -> dict[str, Any]:
    genuine = [r for r in rows if r["attack"] is None]
    ours = [1000 * (r["stage_cpu_s"].get("face", 0.0) + r["stage_cpu_s"].get("liveness", 0.0)) / r["frames"]
            for r in genuine]
    base = [1000 * c for r in genuine for c in r["face_baseline_cpu_s"]]
    latency = [r["face_visible_to_score_s"] for r in rows if r["attack"] is None
               and r["face_visible_to_score_s"] is not None]
    out = {"ours_face_liveness_cpu_ms_per_frame": summarise(ours, 1),
           "baseline_every_frame_cpu_ms_per_frame": summarise(base, 1),
           "face_visible_to_match_score_s": summarise(latency, 3)}
    if ours and base:
        out["speedup_vs_baseline"] = round(statistics.median(base) / statistics.median(ours), 2)
    return out


#: Quick: one genuine scene per template (3) and one per attack type; full: 9 genuine and 3 per attack.
QUICK_GENUINE, QUICK_PER_ATTACK = 3, 1
FULL_GENUINE, FULL_PER_ATTACK = 9, 3
#: Scene length, quick and full: the fixtures' default (fixtures.scenes.SceneSpec). The choreography is
#: spread over the scene, so at 5 analysed fps a 6 s scene gives 2 frames per tilt pose; measured on the
#: genuine passport scene (seed 501): face distance 0.691 (fail) at 6 s, 0.424 (pass) at 8 s.
SCENE_SECONDS = 8.0
#: face_recognition's default pipeline costs ~0.5-0.8 s CPU per 720p frame: frames of the first genuine
#: scene it runs on (quick, full).
BASELINE_FRAMES = (10, 40)


def run(quick: bool = True, pairs: bool | None = None, workers: int = 2) -> dict[str, Any]:
    """Quick: :data:`QUICK_GENUINE` genuine scenes and :data:`QUICK_PER_ATTACK` per attack type; full:
    :data:`FULL_GENUINE` and :data:`FULL_PER_ATTACK`; :data:`SCENE_SECONDS` each. ``pairs`` (default: only
    when not quick) adds the real face pairs. Scenes run in ``workers`` processes (each loads its engines
    once); each scene is generated once, in the worker that analyses it."""
    if _module("pipelines.analyzer") is None:
        return {"skipped": "pipelines.analyzer is not part of this build"}
    seconds = SCENE_SECONDS
    genuine_n, attack_n = (QUICK_GENUINE, QUICK_PER_ATTACK) if quick else (FULL_GENUINE, FULL_PER_ATTACK)
    genuine_templates = (Template.DE_ID, Template.PASSPORT, Template.NL_ID)
    baseline_frames = BASELINE_FRAMES[0 if quick else 1]
    jobs: list[tuple[SceneSpec, int, int]] = []
    for i in range(genuine_n):
        spec = SceneSpec(genuine_templates[i % 3], seed=500 + i, fps=CAMERA_FPS, seconds=seconds)
        jobs.append((spec, 1, baseline_frames if i == 0 else 0))
    for a, attack in enumerate(Attack):
        for i in range(attack_n):
            spec = SceneSpec(TEMPLATES[(a + i) % 3], seed=600 + i, attack=attack, fps=CAMERA_FPS,
                             seconds=seconds)
            jobs.append((spec, 0, 0))
    wall0 = time.perf_counter()
    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            rows = list(pool.map(_scene_job, *zip(*jobs, strict=True)))
    else:
        rows = [_scene_job(*job) for job in jobs]
    wall = time.perf_counter() - wall0
    out: dict[str, Any] = {
        "scenes": len(rows),
        "scene_seconds": seconds,
        "scene_fps": SCENE_FPS,
        "camera_fps": CAMERA_FPS,
        "size": "1280x720",
        "workers": workers,
        "scenes_wall_s": round(wall, 1),
        "sections_composed": sorted(rows[0]["verdicts"]) if rows else [],
        "analyzer_cpu_per_session_s": summarise([r["cpu_s"] for r in rows], 3),
        "analyzer_cpu_ms_per_frame": round(
            1000 * sum(r["cpu_s"] for r in rows) / max(1, sum(r["frames"] for r in rows)), 1),
        "stage_cpu_ms_per_frame": {
            name: round(1000 * sum(r["stage_cpu_s"].get(name, 0.0) for r in rows)
                        / max(1, sum(r["frames"] for r in rows)), 1)
            for name in sorted({n for r in rows for n in r["stage_cpu_s"]})
        },
        "mrz": _mrz_rows(rows) if "mrz_exact" in (rows[0] if rows else {}) else {"skipped": "needs mrz.traineddata"},
        "presentation_attacks": attack_rows(rows),
        "face_scenes": _face_scene_rows(rows) | _face_speed(rows),
        "rows": [{k: v for k, v in r.items() if k not in ("per_frame_read_cpu_s", "face_baseline_cpu_s")}
                 for r in rows],
    }
    if pairs if pairs is not None else not quick:
        out["face_pairs"] = face_pairs(None)
    return out
