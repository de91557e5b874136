"""``videoident mrz IMAGE [IMAGE ...] [--json]``: read and validate the MRZ of document images.

One JSON object per image and line with ``--json``: ``{"file", "document_type", "lines", "fields",
"checks", "valid", "verdict", "reason", ...}``, or ``{"file", "error"}`` when no MRZ was found.
Exit status 0 when at least one image had a readable MRZ, 2 when none had (or the model is missing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

#: Exit status when no image had a readable MRZ (the issue's contract).
EXIT_NO_MRZ = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("mrz", help="read and validate the MRZ of document images (photos, scans)")
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files (JPEG, PNG, TIFF...)")
    parser.add_argument("--json", action="store_true", help="one JSON object per image per line")
    parser.add_argument(
        "--date",
        type=dt.date.fromisoformat,
        default=None,
        help="reference date for expiry and century (YYYY-MM-DD; default: today, UTC)",
    )
    parser.add_argument("--tessdata-dir", type=Path, default=None, help="folder with mrz.traineddata")
    parser.set_defaults(handler=run)


def _read_one(engine: Any, path: Path, reference: dt.date) -> dict[str, Any]:
    import cv2

    from pipelines.mrz.read import read_image
    from pipelines.mrz.result import mrz_result

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        return {"file": str(path), "error": "not a readable image"}
    read = read_image(engine, image, reference)
    if read is None or read.document is None:
        return {"file": str(path), "error": "no MRZ found"}
    result = mrz_result(read.document, repairs=read.repairs, confidence=round(read.confidence, 3))
    body = result.to_json()
    return {
        "file": str(path),
        "document_type": body.pop("document_type"),
        "lines": body.pop("lines"),
        "fields": body.pop("fields"),
        "checks": body.pop("checks"),
        "valid": body.pop("valid"),
        **body,
    }


def run(args: argparse.Namespace) -> int:
    from models.ocr import MrzModelMissingError, TesseractEngine
    from videoident.settings import Settings

    reference = args.date or dt.datetime.now(dt.UTC).date()
    engine = TesseractEngine(args.tessdata_dir or Settings().resolved_tessdata_dir)
    try:
        engine.warmup()
    except MrzModelMissingError as exc:
        print(f"videoident mrz: mrz_model_missing: {exc}", file=sys.stderr)
        return EXIT_NO_MRZ
    readable = 0
    for path in args.images:
        out = _read_one(engine, path, reference)
        readable += "error" not in out
        if args.json:
            print(json.dumps(out), flush=True)
        elif "error" in out:
            print(f"{path}: {out['error']}")
        else:
            failed = [name for name, verdict in out["checks"].items() if verdict != "pass"]
            state = "valid" if out["valid"] else "INVALID (" + ", ".join(failed) + ")"
            print(f"{path}: {out['document_type']} {state}")
            for line in out["lines"]:
                print(f"    {line}")
    return 0 if readable else EXIT_NO_MRZ
