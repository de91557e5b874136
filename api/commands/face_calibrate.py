"""``videoident face-calibrate``: reproduce the face-match threshold calibration and its ROC plot.

Reads a pairs CSV (``file_a,file_b,same_person``; default ../shared/data/faces/deepface/pairs.csv),
encodes each photo once, then measures three conditions: photo vs photo; "document photo" (one side shrunk
to a 64 px face and JPEG 60, each side in turn); and a 40 px face (an ID card seen whole in a 720p frame).
Prints FMR/FNMR at the configured thresholds, the EER, the threshold for FMR <= 1% and 0.1%, and writes
the ROC plot. Encodings stay in memory: biometric templates are never written to disk here.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_PAIRS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "faces" / "deepface" / "pairs.csv"
#: The condition the live threshold is calibrated on (name in the report).
CALIBRATION_CONDITION = "document_64px_jpeg60"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "face-calibrate", help="measure FMR/FNMR/EER of the face threshold on labelled pairs; plot the ROC"
    )
    parser.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS, help="CSV file_a,file_b,same_person")
    parser.add_argument("--plot", type=Path, default=None, help="write the ROC plot (PNG), e.g. docs/img/face-roc.png")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N pairs (a quick look)")
    parser.set_defaults(handler=run)


def _read_pairs(path: Path, limit: int | None) -> list[tuple[Path, Path, bool]]:
    rows: list[tuple[Path, Path, bool]] = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            a, b = Path(row["file_a"]), Path(row["file_b"])
            rows.append((a if a.is_absolute() else path.parent / a, b if b.is_absolute() else path.parent / b,
                         row["same_person"].strip() == "1"))
    return rows[:limit] if limit else rows


def calibrate(pairs_csv: Path, limit: int | None = None) -> tuple[dict[str, Any], dict[str, tuple[list, list]]]:
    """The report and, per condition, the (genuine, impostor) distance lists (None = no face)."""
    import cv2
    import numpy as np

    from models.face import FaceEngine
    from pipelines.face import match
    from pipelines.face.calibration import (
        degrade_to_document_photo,
        equal_error_rate,
        error_rates,
        threshold_for_fmr,
    )
    from pipelines.face.still import analyze_still

    pairs = _read_pairs(pairs_csv, limit)
    engine = FaceEngine()
    files = sorted({p for a, b, _ in pairs for p in (a, b)})
    encodings: dict[tuple[Path, int], np.ndarray | None] = {}
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"cannot read {path}")
        still = analyze_still(engine, image, min_face_px=1)
        encodings[(path, 0)] = still.encoding
        for face_px in (64, 40):
            if still.face_width_px is None:
                encodings[(path, face_px)] = None
                continue
            small = degrade_to_document_photo(image, still.face_width_px, face_px)
            encodings[(path, face_px)] = analyze_still(engine, small, min_face_px=1).encoding

    def dist(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
        return None if a is None or b is None else float(np.linalg.norm(a - b))

    conditions: dict[str, tuple[list, list]] = {}
    for name, face_px in (("photo_vs_photo", 0), (CALIBRATION_CONDITION, 64), ("document_40px_jpeg60", 40)):
        genuine: list[float | None] = []
        impostor: list[float | None] = []
        for a, b, same in pairs:
            sides = [(a, 0, b, 0)] if face_px == 0 else [(a, face_px, b, 0), (b, face_px, a, 0)]
            for x, xs, y, ys in sides:
                (genuine if same else impostor).append(dist(encodings[(x, xs)], encodings[(y, ys)]))
        conditions[name] = (genuine, impostor)

    report: dict[str, Any] = {"pairs_file": str(pairs_csv), "pairs": len(pairs), "model": engine.version,
                              "pass_threshold": match.MATCH_THRESHOLD, "fail_threshold": match.NON_MATCH_THRESHOLD,
                              "conditions": {}}
    for name, (genuine, impostor) in conditions.items():
        g = np.array([d for d in genuine if d is not None])
        i = np.array([d for d in impostor if d is not None])
        eer, eer_t = equal_error_rate(genuine, impostor)
        at_pass = error_rates(genuine, impostor, match.MATCH_THRESHOLD)
        at_fail = error_rates(genuine, impostor, match.NON_MATCH_THRESHOLD)
        report["conditions"][name] = {
            "genuine_pairs": len(genuine),
            "impostor_pairs": len(impostor),
            "no_face": sum(d is None for d in genuine + impostor),
            "genuine_median_p95": [round(float(np.median(g)), 3), round(float(np.percentile(g, 95)), 3)],
            "impostor_min_p5": [round(float(i.min()), 3), round(float(np.percentile(i, 5)), 3)],
            "at_pass_threshold": {"fmr": round(at_pass.fmr, 4), "fnmr": round(at_pass.fnmr, 4)},
            "fnmr_at_fail_threshold": round(at_fail.fnmr, 4),
            "fmr_at_fail_threshold": round(at_fail.fmr, 4),
            "eer": round(eer, 4),
            "eer_threshold": round(eer_t, 3),
            "threshold_fmr_1pct": round(threshold_for_fmr(impostor, 0.01), 3),
            "threshold_fmr_0_1pct": round(threshold_for_fmr(impostor, 0.001), 3),
        }
    return report, conditions


def plot_roc(conditions: dict[str, tuple[list, list]], pass_threshold: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from pipelines.face.calibration import error_rates, roc_curve

    fig, (ax_roc, ax_rates) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, (genuine, impostor) in conditions.items():
        _, fmr, fnmr = roc_curve(genuine, impostor)
        line = ax_roc.plot(np.maximum(fmr, 1e-4), 1 - fnmr, label=name)[0]
        at = error_rates(genuine, impostor, pass_threshold)
        ax_roc.plot([max(at.fmr, 1e-4)], [1 - at.fnmr], "o", color=line.get_color())
        thresholds, fmr, fnmr = roc_curve(genuine, impostor)
        ax_rates.plot(thresholds, fmr, "--", color=line.get_color())
        ax_rates.plot(thresholds, fnmr, "-", color=line.get_color(), label=name)
    ax_roc.set_xscale("log")
    ax_roc.set_xlabel("false match rate (log; 0 drawn at 1e-4)")
    ax_roc.set_ylabel("true match rate (1 - FNMR)")
    ax_roc.set_title("ROC, dots = pass threshold")
    ax_roc.grid(True, which="both", alpha=0.3)
    ax_roc.legend(fontsize=8, loc="lower right")
    ax_rates.axvline(pass_threshold, color="k", lw=0.8)
    ax_rates.set_xlim(0.2, 1.0)
    ax_rates.set_xlabel("distance threshold")
    ax_rates.set_ylabel("rate (dashed FMR, solid FNMR)")
    ax_rates.set_title("error rates vs threshold")
    ax_rates.grid(True, alpha=0.3)
    ax_rates.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    if not args.pairs.is_file():
        print(f"face-calibrate: no pairs file at {args.pairs}", file=sys.stderr)
        return 2
    report, conditions = calibrate(args.pairs, args.limit)
    if args.plot:
        from pipelines.face import match

        plot_roc(conditions, match.MATCH_THRESHOLD, args.plot)
        report["plot"] = str(args.plot)
    print(json.dumps(report, indent=2))
    return 0
