"""``videoident analyze VIDEO --json``: the whole session analysis over a recorded video.

VIDEO is a .y4m file, a video file PyAV reads (.mp4, .webm, ...), or a folder of images. Prints one
report (see "The session report" in docs/document.md). Exit status 0 with a report even when checks
fail; 2 with a message on stderr when the input cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="analyse a recorded session video (.y4m, .mp4, folder of images) and print the report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("video", type=Path, help=".y4m, .mp4 (any format PyAV reads) or a folder of images")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (default: a summary)")
    parser.add_argument("--fps", type=float, help="frame rate for frame times (folders, rate-less files)")
    parser.add_argument("--max-frames", type=int, help="analyse at most this many frames")
    parser.add_argument("--every", type=int, default=1, help="analyse every n-th frame (default 1: all)")
    parser.add_argument("--frames", action="store_true", help="add a per-frame list (corners, angles, guidance)")
    parser.add_argument(
        "--required-tilt-deg", type=float, help="tilt each way on each axis needed to pass (default 15)"
    )
    parser.add_argument("--no-mrz", action="store_true", help="skip the MRZ check (tesseract)")
    parser.add_argument("--no-face", action="store_true", help="skip the face and liveness checks (dlib)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import datetime as dt

    from pipelines.analyzer import build_analyzer
    from pipelines.tilt import DEFAULT_REQUIRED_TILT_DEG
    from videoident.settings import Settings
    from videoident.video_input import VideoInputError, open_video

    if args.every < 1 or (args.max_frames is not None and args.max_frames < 1):
        print("videoident analyze: --every and --max-frames must be at least 1", file=sys.stderr)
        return 2
    try:
        source = open_video(args.video, fps=args.fps)
    except VideoInputError as exc:
        print(f"videoident analyze: {exc}", file=sys.stderr)
        return 2
    # The engines exactly as a live session's analysis process loads them (MRZ model, the stock `eng` model
    # for the printed zone, dlib), so the offline report reaches the same verdicts as the live one.
    from api.media.pool_worker import EngineSpec, load_engines

    engines = load_engines(EngineSpec(Settings().resolved_tessdata_dir, mrz=not args.no_mrz, face=not args.no_face))
    analyzer = build_analyzer(
        mrz_engine=engines.mrz,  # without the MRZ model: the MRZ check says inconclusive
        visual_engine=engines.visual,
        face_engine=engines.face,
        reference_date=dt.datetime.now(dt.UTC).date(),
        required_tilt_deg=args.required_tilt_deg or DEFAULT_REQUIRED_TILT_DEG,
    )
    per_frame = []
    started = time.perf_counter()
    analysed = 0
    for frame in source:
        if frame.index % args.every:
            continue
        observation = analyzer.process(frame)
        analysed += 1
        if args.frames:
            per_frame.append(observation.to_json())
        if args.max_frames is not None and analysed >= args.max_frames:
            break
    elapsed = time.perf_counter() - started
    if analysed == 0:
        print(f"videoident analyze: {args.video}: no decodable frame", file=sys.stderr)
        return 2
    report = analyzer.report()
    report["input"] = {
        "format": source.format,
        "fps": round(source.fps, 3),
        "size_px": [source.width, source.height],
        "frames_analysed": analysed,
        "frames_skipped_undecodable": source.skipped,
        "analysis_s": round(elapsed, 2),
    }
    if args.frames:
        report["per_frame"] = per_frame
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"verdict: {report['verdict']}  ({analysed} frames, {elapsed:.1f} s)")
        for name in ("quality", "document", "tilt", "hologram", "mrz", "face", "liveness", "injection"):
            section = report[name]
            score = "" if section["score"] is None else f" score {section['score']:.2f}"
            print(f"  {name:<10} {section['verdict']:<13}{score}  {section['reason']['text']}")
    return 0
