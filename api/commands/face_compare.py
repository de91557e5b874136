"""``videoident face-compare``: compare the faces in two images, or in every pair of a CSV file.

``videoident face-compare A.jpg B.jpg --json`` prints the faces found on each side, the distance, the
thresholds and the decision; exit code 2 with a message when a side has no usable face.
``videoident face-compare --pairs pairs.csv --json`` reads ``file_a,file_b`` rows (extra columns ignored;
relative paths are relative to the CSV's folder) and prints one JSON object per pair per line, loading the
model once. Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("face-compare", help="compare the faces in two images (or in pairs from a CSV)")
    parser.add_argument("image_a", nargs="?", type=Path, help="first image (e.g. the ID photo)")
    parser.add_argument("image_b", nargs="?", type=Path, help="second image (e.g. a selfie)")
    parser.add_argument("--pairs", type=Path, help="CSV with file_a,file_b columns: one JSON line per pair")
    parser.add_argument("--json", action="store_true", help="print JSON (the default output is one line of words)")
    parser.set_defaults(handler=run)


def _side(engine: Any, path: Path) -> tuple[dict[str, Any], Any]:
    import cv2

    from pipelines.face.still import analyze_still

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        return {"file": str(path), "faces_found": 0, "problem": "unreadable"}, None
    still = analyze_still(engine, image)
    return {"file": str(path), **still.summary()}, still


def compare(engine: Any, path_a: Path, path_b: Path) -> tuple[dict[str, Any], bool]:
    """The JSON object for one pair and whether both sides had a usable face."""
    from pipelines.face import match

    side_a, still_a = _side(engine, path_a)
    side_b, still_b = _side(engine, path_b)
    out: dict[str, Any] = {"a": side_a, "b": side_b, "threshold": match.MATCH_THRESHOLD,
                           "fail_threshold": match.NON_MATCH_THRESHOLD, "model": engine.version}
    if still_a is None or still_b is None or still_a.encoding is None or still_b.encoding is None:
        problems = [s["problem"] for s in (side_a, side_b) if s.get("problem")]
        out.update(distance=None, decision="inconclusive", reason=problems[0] if problems else "no_face")
        return out, False
    result = match.decide(match.face_distance(still_a.encoding, still_b.encoding), engine.version)
    reason = result.reason.code
    verdict = result.verdict.value
    several = [s for s in (still_a, still_b) if s.problem is not None and s.problem.code == "several_faces"]
    if several and verdict == "pass":
        verdict, reason = "inconclusive", "several_faces"
    score = round(result.score or 0.0, 4)
    out.update(distance=result.measurements["distance"], score=score, decision=verdict, reason=reason)
    return out, True


def _read_pairs(path: Path) -> list[tuple[Path, Path]]:
    pairs: list[tuple[Path, Path]] = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if "file_a" not in row or "file_b" not in row:
                raise ValueError("the CSV needs file_a and file_b columns")
            a, b = Path(row["file_a"].strip()), Path(row["file_b"].strip())
            pairs.append((a if a.is_absolute() else path.parent / a, b if b.is_absolute() else path.parent / b))
    return pairs


def _words(out: dict[str, Any]) -> str:
    distance = "n/a" if out["distance"] is None else f"{out['distance']:.3f}"
    return (f"{out['decision']} ({out['reason']}): distance {distance}, pass <= {out['threshold']}, "
            f"fail > {out['fail_threshold']}; faces {out['a']['faces_found']} / {out['b']['faces_found']}")


def run(args: argparse.Namespace) -> int:
    from models.face import FaceEngine

    if args.pairs is None and (args.image_a is None or args.image_b is None):
        print("face-compare: give two images, or --pairs FILE.csv", file=sys.stderr)
        return 2
    if args.pairs is not None and args.image_a is not None:
        print("face-compare: give either two images or --pairs, not both", file=sys.stderr)
        return 2
    engine = FaceEngine()
    if args.pairs is not None:
        try:
            pairs = _read_pairs(args.pairs)
        except (OSError, ValueError) as exc:
            print(f"face-compare: cannot read {args.pairs}: {exc}", file=sys.stderr)
            return 2
        for path_a, path_b in pairs:
            out, _ = compare(engine, path_a, path_b)
            print(json.dumps(out) if args.json else _words(out), flush=True)
        return 0
    for path in (args.image_a, args.image_b):
        if not path.is_file():
            print(f"face-compare: no such file: {path}", file=sys.stderr)
            return 2
    out, usable = compare(engine, args.image_a, args.image_b)
    print(json.dumps(out, indent=2) if args.json else _words(out))
    if not usable:
        bad = [s for s in (out["a"], out["b"]) if s.get("problem") in {"no_face", "face_too_small", "unreadable"}]
        what = ", ".join(f"{s['file']}: {s['problem']}" for s in bad) or "no usable face"
        print(f"face-compare: {what}", file=sys.stderr)
        return 2
    return 0
