"""``videoident fixtures``: synthetic ID documents and webcam scenes (genuine and attacks) with ground truth.

    videoident fixtures document --template nl-id --seed 7 --out out/doc
        -> document.png (front), document-back.png (ID cards), truth.json
    videoident fixtures scene --template de-id --attack screen-replay --size 640x480 --fps 15 --seconds 8 \\
        --seed 7 --out out/scene
        -> scene.y4m (Chromium's fake webcam format), truth.json (scene and per-frame truth), preview.png
    videoident fixtures bench [--quick]
        -> seconds to generate an 8-second scene at 720p and 480p (the target: 720p in under 10 s)

Everything is invented from the seed except the face photos, read from ../shared/data/faces (or the
public-domain astronaut in a clone without it). The documents say SPECIMEN; nothing here is customer data.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

_TEMPLATES = ("nl-id", "de-id", "passport")
_ATTACKS = (
    "photocopy",
    "screen-replay",
    "portrait-swap",
    "tampered-mrz",
    "mrz-mismatch",
    "injected-static",
    "injected-loop",
    "no-tilt",
)


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 1280x720, got {text!r}") from exc
    return width, height


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("fixtures", help="generate synthetic ID documents and webcam scenes with truth")
    sub = parser.add_subparsers(dest="fixtures_command", metavar="KIND", required=True)

    doc = sub.add_parser("document", help="render a document: document.png (+ document-back.png) and truth.json")
    doc.add_argument("--template", choices=_TEMPLATES, default="nl-id")
    doc.add_argument("--attack", choices=("photocopy", "portrait-swap", "tampered-mrz", "mrz-mismatch"))
    doc.add_argument("--seed", type=int, required=True)
    doc.add_argument("--out", type=Path, required=True, help="output folder (created)")
    doc.set_defaults(handler=run_document)

    scene = sub.add_parser("scene", help="render a webcam scene: scene.y4m, truth.json, preview.png")
    scene.add_argument("--template", choices=_TEMPLATES, default="nl-id")
    scene.add_argument("--attack", choices=_ATTACKS)
    scene.add_argument("--size", type=_size, default=(640, 480), help="WIDTHxHEIGHT (default 640x480)")
    scene.add_argument("--fps", type=float, default=15.0, help="frames per second (default 15)")
    scene.add_argument("--seconds", type=float, default=8.0, help="duration (default 8)")
    scene.add_argument("--tilt", type=float, default=30.0, help="tilt amplitude in degrees (default 30)")
    scene.add_argument("--card-width", type=float, default=None, metavar="FRACTION",
                       help="document width / frame width when held flat (default 0.50 card, 0.52 passport)")
    scene.add_argument("--seed", type=int, required=True)
    scene.add_argument("--out", type=Path, required=True, help="output folder (created)")
    scene.add_argument("--faces", type=Path, default=None,
                       help="face photos folder (default ../shared/data/faces; a missing folder = the astronaut)")
    scene.add_argument("--still", type=int, action="append", default=[], metavar="N",
                       help="also write frame N as still-N.png (repeatable)")
    scene.set_defaults(handler=run_scene)

    bench = sub.add_parser("bench", help="time scene generation (target: 8 s of 720p in under 10 s)")
    bench.add_argument("--quick", action="store_true", help="2-second scenes instead of 8")
    bench.set_defaults(handler=run_bench)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def run_document(args: argparse.Namespace) -> int:
    import cv2

    from fixtures.attacks import Attack
    from fixtures.documents import render_document

    document = render_document(args.template, args.seed, attack=Attack(args.attack) if args.attack else None)
    args.out.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out / "document.png"), document.front)
    written = ["document.png"]
    if document.back is not None:
        cv2.imwrite(str(args.out / "document-back.png"), document.back)
        written.append("document-back.png")
    truth = document.truth.to_json()
    truth["images"] = {"front": "document.png", "back": "document-back.png" if document.back is not None else None,
                       "px_per_mm": 10.0, "format": "BGRA PNG, transparent outside the rounded corners"}
    _write_json(args.out / "truth.json", truth)
    print(f"wrote {', '.join(written)}, truth.json to {args.out}")
    return 0


def run_scene(args: argparse.Namespace) -> int:
    import cv2

    from fixtures.scenes import SceneSpec, generate_scene
    from fixtures.y4m import write_y4m

    spec = SceneSpec(args.template, args.seed, args.attack, args.size, args.fps, args.seconds, args.tilt,
                     faces_root=args.faces, card_width_fraction=args.card_width)
    scene = generate_scene(spec)
    args.out.mkdir(parents=True, exist_ok=True)
    truths: list[dict[str, Any]] = []
    preview_at = len(scene) // 6

    def images() -> Any:
        for frame, truth in scene.frames():
            truths.append(truth.to_json())
            if frame.index == preview_at:
                cv2.imwrite(str(args.out / "preview.png"), frame.image)
            if frame.index in args.still:
                cv2.imwrite(str(args.out / f"still-{frame.index}.png"), frame.image)
            yield frame.image

    count = write_y4m(args.out / "scene.y4m", images(), spec.fps)
    data = scene.truth_json()
    data["frames"] = truths
    _write_json(args.out / "truth.json", data)
    print(f"wrote scene.y4m ({count} frames, {spec.size[0]}x{spec.size[1]} at {spec.fps:g} fps), truth.json, "
          f"preview.png to {args.out}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from fixtures.benchmark import run

    print(json.dumps(run(quick=args.quick), indent=1))
    return 0
