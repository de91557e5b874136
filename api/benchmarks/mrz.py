"""MRZ benchmark: exact reads and time per image, ours side by side with ``passporteye.read_mrz``.

``run(quick)`` returns a JSON-able dict. Run it with::

    .venv/bin/python -c "from api.benchmarks.mrz import run; import json; print(json.dumps(run(True), indent=1))"

What it measures (one core: tesseract's OpenMP is limited to one thread for every engine):

- ``specimens``: the real specimen scans/photos in ../shared/data/documents/passporteye: share whose
  check digits all hold, exact reads of the ICAO specimens (known text), seconds per image;
- ``frames``: synthetic 1280x720 frames per condition (flat, tilted 10 and 20 degrees, blurred, JPEG q30,
  far): exact reads on the located document (the live path: corners known, rectified) and on the raw
  frame (no corners), and passporteye on the same frames;
- ``sessions``: consensus over the frames of a session (tilt 0-20 degrees, blur 0-1.2);
- ``tampered``: documents with one date digit changed and the check digits left: share reported invalid;
- ``fixtures``: the fixtures/ documents (NL, DE cards, TD3 passport), rectified: genuine MRZ exact and
  genuine visual zone agreeing, ``tampered-mrz`` reported invalid, ``mrz-mismatch`` flagged;
- ``timing``: p50 / p90 seconds of one read attempt at 720p.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from api.benchmarks.mrz_scenes import SyntheticMrz, degrade, place_in_frame, random_mrz, render_document
from models.mrz_locator import passporteye_read_mrz, passporteye_version
from models.ocr import VISUAL_WHITELIST, TesseractEngine
from pipelines.frame import DocumentKind
from pipelines.layouts import rectified_size_px
from pipelines.mrz.checkdigit import check_digit
from pipelines.mrz.consensus import MrzConsensus
from pipelines.mrz.read import read_image, read_rectified

__all__ = ["run"]

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
TODAY = dt.date(2026, 11, 25)
ICAO_TD3 = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
ICAO_TD2 = ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6")
#: Specimens whose text is known (SOURCES.md: the ICAO specimens).
KNOWN = {
    "passport-td3.png": ICAO_TD3,
    "passport-td3.jpg": ICAO_TD3,
    "100_pass-uto.jpg": ICAO_TD3,
    "passport-td2.png": ICAO_TD2,
    "passport-td2.jpg": ICAO_TD2,
    "100_pass2-uto.jpg": ICAO_TD2,
}
#: passporteye as documented (stock eng model, several OCR passes per image) takes seconds per image on one
#: core: it runs on this many images per frame condition and this many specimens (plus the ICAO ones).
STOCK_PER_CELL, STOCK_SPECIMENS = 3, 8
#: name: (tilt_deg range, blur sigma, JPEG quality, card width px in the 1280x720 frame)
CONDITIONS: dict[str, tuple[tuple[float, float], float, int, int]] = {
    "flat": ((0, 3), 0.6, 85, 720),
    "tilt_10": ((8, 10), 0.6, 85, 720),
    "tilt_20": ((18, 20), 0.6, 85, 720),
    "blur_1.5": ((0, 5), 1.5, 85, 720),
    "jpeg_q30": ((0, 5), 0.6, 30, 720),
    "far_480px": ((0, 5), 0.6, 85, 480),
}


def _pct(hits: int, total: int) -> float:
    return round(100.0 * hits / total, 1) if total else 0.0


def _times(values: list[tuple[float, float]]) -> dict[str, float]:
    """p50/p90 of wall time and of CPU time (ours in-process + tesseract child processes)."""
    if not values:
        return {}
    out = {}
    for label, column in (("wall", 0), ("cpu", 1)):
        ordered = sorted(v[column] for v in values)
        out[f"{label}_p50_s"] = round(statistics.median(ordered), 3)
        out[f"{label}_p90_s"] = round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 3)
    return out


def _cpu_s() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _timed(fn: Callable[[], Any]) -> tuple[Any, tuple[float, float]]:
    """(result, (wall seconds, CPU seconds)). CPU time is what one core spends, whatever the machine load."""
    start, cpu = time.perf_counter(), _cpu_s()
    out = fn()
    return out, (time.perf_counter() - start, _cpu_s() - cpu)


def _rectify(frame: np.ndarray, corners: np.ndarray, kind: DocumentKind) -> np.ndarray:
    width, height = rectified_size_px(kind)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    return cv2.warpPerspective(frame, cv2.getPerspectiveTransform(corners, target), (width, height))


def _located_read(engine: TesseractEngine, frame: np.ndarray, corners: np.ndarray, kind: DocumentKind) -> Any:
    """The live path: the document's corners are known (the detector's job), rectify, read."""
    return read_rectified(engine, _rectify(frame, corners, kind), kind, TODAY)


def _frame(mrz: SyntheticMrz, rng: random.Random, condition: str) -> tuple[np.ndarray, np.ndarray]:
    (t0, t1), blur, quality, width = CONDITIONS[condition]
    document = render_document(mrz, rng)
    frame, corners = place_in_frame(document, rng, rng.uniform(t0, t1), width_px=width)
    return degrade(frame, rng, blur, 3.0, quality), corners


def _specimens(engine: TesseractEngine, tessdata: Path, baseline: bool, quick: bool) -> dict[str, Any]:
    folder = SHARED / "documents" / "passporteye"
    paths = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".png"))
    if quick:
        paths = [p for p in paths if p.name in KNOWN] + [p for p in paths if p.name.startswith("100_p")][:6]
    ours_valid = ours_exact = pe_valid = pe_exact = known = stock_valid = stock_exact = 0
    stock_t: list[tuple[float, float]] = []
    ours_t: list[tuple[float, float]] = []
    pe_t: list[tuple[float, float]] = []
    for path in paths:
        image = cv2.imread(str(path))
        if image is None:
            continue
        read, seconds = _timed(partial(read_image, engine, image, TODAY))
        ours_t.append(seconds)
        ours_valid += read is not None and read.check_digits_hold
        truth = KNOWN.get(path.name)
        known += truth is not None
        ours_exact += truth is not None and read is not None and read.lines == truth
        if baseline:
            base, seconds = _timed(partial(passporteye_read_mrz, path, tessdata))
            pe_t.append(seconds)
            pe_valid += base.valid_score == 100
            pe_exact += truth is not None and base.lines == truth
            if truth is not None or len(stock_t) < STOCK_SPECIMENS:
                base, seconds = _timed(partial(passporteye_read_mrz, path, None))
                stock_t.append(seconds)
                stock_valid += base.valid_score == 100
                stock_exact += truth is not None and base.lines == truth
    out: dict[str, Any] = {
        "images": len(paths),
        "ours": {"check_digits_hold_pct": _pct(ours_valid, len(paths)), "icao_exact": f"{ours_exact}/{known}"}
        | _times(ours_t),
    }
    if baseline:
        out["passporteye_mrz_model"] = {
            "valid_score_100_pct": _pct(pe_valid, len(paths)),
            "icao_exact": f"{pe_exact}/{known}",
        } | _times(pe_t)
        out["passporteye_documented"] = {
            "images": len(stock_t),
            "valid_score_100_pct": _pct(stock_valid, len(stock_t)),
            "icao_exact": f"{stock_exact}/{known}",
        } | _times(stock_t)
    return out


def _frames(engine: TesseractEngine, tessdata: Path, per_cell: int, baseline: bool) -> dict[str, Any]:
    rng = random.Random(20261125)
    out: dict[str, Any] = {}
    located_t: list[tuple[float, float]] = []
    raw_t: list[tuple[float, float]] = []
    all_pe_t: list[tuple[float, float]] = []
    all_stock_t: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="mrz-bench-") as tmp:
        for condition in CONDITIONS:
            cell: dict[str, Any] = {}
            for kind in (DocumentKind.ID1, DocumentKind.TD3):
                located = raw = pe = stock = 0
                pe_t: list[tuple[float, float]] = []
                stock_t: list[tuple[float, float]] = []
                for i in range(per_cell):
                    mrz = random_mrz(rng, kind)
                    frame, corners = _frame(mrz, rng, condition)

                    read, seconds = _timed(partial(_located_read, engine, frame, corners, kind))
                    located_t.append(seconds)
                    located += read is not None and read.lines == mrz.lines
                    read, seconds = _timed(partial(read_image, engine, frame, TODAY))
                    raw_t.append(seconds)
                    raw += read is not None and read.lines == mrz.lines
                    if baseline:
                        path = Path(tmp) / f"{condition}-{kind}-{i}.png"  # synthetic: no personal data
                        cv2.imwrite(str(path), frame)
                        base, seconds = _timed(partial(passporteye_read_mrz, path, tessdata))
                        pe_t.append(seconds)
                        pe += base.lines == mrz.lines
                        if i < STOCK_PER_CELL:
                            base, seconds = _timed(partial(passporteye_read_mrz, path, None))
                            stock_t.append(seconds)
                            stock += base.lines == mrz.lines
                name = "TD1" if kind is DocumentKind.ID1 else "TD3"
                cell[name] = {"located_exact_pct": _pct(located, per_cell), "raw_frame_exact_pct": _pct(raw, per_cell)}
                if baseline:
                    cell[name]["passporteye_exact_pct"] = _pct(pe, per_cell)
                    cell[name]["passporteye_time"] = _times(pe_t)
                    cell[name]["passporteye_documented_exact_pct"] = _pct(stock, len(stock_t))
                    cell[name]["passporteye_documented_time"] = _times(stock_t)
                    all_pe_t.extend(pe_t)
                    all_stock_t.extend(stock_t)
            out[condition] = cell
    out["n_per_cell"] = per_cell
    out["timing_located_720p"] = _times(located_t)
    out["timing_raw_frame_720p"] = _times(raw_t)
    out["timing_passporteye_mrz_model_720p"] = _times(all_pe_t)
    out["timing_passporteye_documented_720p"] = _times(all_stock_t)
    return out


def _sessions(engine: TesseractEngine, sessions: int, frames: int) -> dict[str, Any]:
    rng = random.Random(77)
    reached = exact = 0
    reads_used: list[int] = []
    for s in range(sessions):
        kind = DocumentKind.ID1 if s % 2 else DocumentKind.TD3
        mrz = random_mrz(rng, kind)
        document = render_document(mrz, rng)
        consensus = MrzConsensus(TODAY)
        for _ in range(frames):
            frame, corners = place_in_frame(document, rng, rng.uniform(0, 20))
            frame = degrade(frame, rng, rng.uniform(0.0, 1.2), 3.0, rng.choice((50, 70, 85)))
            read = read_rectified(engine, _rectify(frame, corners, kind), kind, TODAY)
            if read is not None:
                consensus.add(read)
            if consensus.state().reached:
                break
        state = consensus.state()
        reached += state.reached
        exact += state.document is not None and state.document.lines == mrz.lines and state.reached
        reads_used.append(consensus.attempts)
    return {
        "sessions": sessions,
        "max_frames_read": frames,
        "consensus_exact_pct": _pct(exact, sessions),
        "consensus_reached_pct": _pct(reached, sessions),
        "median_reads_to_consensus": statistics.median(reads_used) if reads_used else None,
    }


def _tampered(engine: TesseractEngine, n: int) -> dict[str, Any]:
    rng = random.Random(99)
    invalid = 0
    for i in range(n):
        kind = DocumentKind.ID1 if i % 2 else DocumentKind.TD3
        mrz = random_mrz(rng, kind)
        row, start = (1, 0) if kind is DocumentKind.ID1 else (1, 13)
        line = mrz.lines[row]
        birth = line[start : start + 6]
        year = (int(birth[:2]) + rng.randint(1, 9)) % 100
        forged = f"{year:02d}{birth[2:]}"
        if check_digit(forged) == line[start + 6]:
            forged = f"{(year + 1) % 100:02d}{birth[2:]}"
        lines = list(mrz.lines)
        lines[row] = line[:start] + forged + line[start + 6 :]
        frame, corners = _frame(SyntheticMrz(kind, tuple(lines)), rng, "tilt_10")
        read = read_rectified(engine, _rectify(frame, corners, kind), kind, TODAY)
        invalid += read is None or not read.valid
    return {"documents": n, "reported_invalid_pct": _pct(invalid, n)}


def _fixtures(engine: TesseractEngine, seeds: int) -> dict[str, Any]:
    """fixtures/ documents, rectified (as the document detector hands them over)."""
    from fixtures.attacks import Attack
    from fixtures.documents import render_document as render_fixture
    from pipelines.frame import DocumentSide
    from pipelines.layouts import Template
    from pipelines.mrz.result import mrz_result
    from pipelines.mrz.visual import compare_to_visual, read_visual_zone

    visual = TesseractEngine(language="eng", whitelist=VISUAL_WHITELIST)
    counts = {"genuine_mrz_exact": 0, "genuine_pass": 0, "tampered_invalid": 0, "mismatch_flagged": 0}
    total = 0
    for template in Template:
        for seed in range(seeds):
            total += 1
            for attack in (None, Attack.TAMPERED_MRZ, Attack.MRZ_MISMATCH):
                doc = render_fixture(template, seed, attack=attack)
                kind = doc.layout.kind
                read = read_rectified(engine, doc.side_image(doc.layout.mrz_side)[:, :, :3].copy(), kind, TODAY)
                if read is None or read.document is None:
                    continue
                viz = read_visual_zone(visual, doc.side_image(DocumentSide.FRONT)[:, :, :3].copy(), kind)
                checks, _, _ = compare_to_visual(read.document, viz)
                result = mrz_result(read.document, extra_checks=checks, repairs=read.repairs)
                if attack is None:
                    counts["genuine_mrz_exact"] += read.literal == doc.truth.mrz_lines
                    counts["genuine_pass"] += result.verdict.value == "pass"
                elif attack is Attack.TAMPERED_MRZ:
                    counts["tampered_invalid"] += not result.measurements["valid"]
                else:
                    counts["mismatch_flagged"] += not result.measurements["valid"]
    return {"documents_per_kind": total} | {f"{k}_pct": _pct(v, total) for k, v in counts.items()}


def single_core_mrz_engine() -> TesseractEngine | str:
    """The warmed-up MRZ engine of ../shared/data/tessdata, with every tesseract (ours and passporteye's) on
    one core; or why it cannot be had (the benchmark then reports itself skipped)."""
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    tessdata = SHARED / "tessdata"
    if not (tessdata / "mrz.traineddata").is_file():
        return f"needs {tessdata}/mrz.traineddata (../shared/data)"
    engine = TesseractEngine(tessdata)
    engine.warmup()
    return engine


def run(quick: bool) -> dict[str, Any]:
    """Run the MRZ benchmark. ``quick``: a few images per cell (about 2-3 minutes on 2 busy cores)."""
    engine = single_core_mrz_engine()
    if isinstance(engine, str):
        return {"skipped": engine}
    tessdata = SHARED / "tessdata"  # passporteye is pointed at the same model
    per_cell = 3 if quick else 10
    return {
        "engine": engine.version,
        "baseline": passporteye_version() + ": read_mrz(path) as documented, and with the MRZ model"
        " (extra_cmdline_params='--tessdata-dir DIR -l mrz')",
        "quick": quick,
        "specimens": _specimens(engine, tessdata, baseline=True, quick=quick),
        "frames": _frames(engine, tessdata, per_cell, baseline=True),
        "sessions": _sessions(engine, 6 if quick else 40, 12),
        "tampered": _tampered(engine, 6 if quick else 30),
        "fixtures": _fixtures(engine, 2 if quick else 10),
    }
