"""``videoident mask IMAGE --template T --side S [--profile P] [--exported] --out OUT``.

Masks a rectified (flattened) document image by a tenant masking profile: the fields the profile masks
in stored evidence (or, with ``--exported``, in what a bank downloads) and the MRZ characters that repeat
them are overwritten with flat grey. Prints what was masked as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys

#: A rectified image must have the document's aspect ratio to within this fraction (ID-1 1.586, TD3 1.420):
#: 3 % tolerates a rectification a few pixels off but refuses a whole webcam frame (16:9 = 1.778).
ASPECT_TOLERANCE = 0.03


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("mask", help="mask a rectified document image by a tenant masking profile")
    parser.add_argument("image", help="rectified document side (PNG/JPEG), e.g. fixtures' document.png")
    parser.add_argument("--template", required=True, choices=["nl-id", "de-id", "passport"])
    parser.add_argument("--side", choices=["front", "back"],
                        help="which side the image shows (required for two-sided cards)")
    parser.add_argument("--profile", default="default",
                        choices=["default", "gwg_de", "wwft_nl", "crypto_exchange"],
                        help="masking profile (default: default = mask the CAN and national numbers)")
    parser.add_argument("--exported", action="store_true", help="apply the export policy (what a bank downloads)")
    parser.add_argument("-o", "--out", required=True, help="where to write the masked PNG")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import cv2

    from pipelines.frame import DocumentSide
    from pipelines.layouts import layout_for
    from pipelines.masking import mask_document
    from videoident.masking_policy import fields_to_mask, policy_for

    layout = layout_for(args.template)
    if args.side is None:
        if len(layout.sides) > 1:
            print(f"error: {args.template} has two sides; say which one the image shows with --side front|back",
                  file=sys.stderr)
            return 2
        side = layout.sides[0]
    else:
        side = DocumentSide(args.side)
        if side not in layout.sides:
            print(f"error: {args.template} has no {side.value} side", file=sys.stderr)
            return 2
    image = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if image is None:
        print(f"error: {args.image} is not a readable image", file=sys.stderr)
        return 2
    height, width = image.shape[:2]
    expected = layout.size_mm[0] / layout.size_mm[1]
    if abs(width / height - expected) / expected > ASPECT_TOLERANCE:
        print(f"error: {width}x{height} is not a rectified {args.template} (aspect {expected:.3f}); "
              "mask the flattened document, not a camera frame", file=sys.stderr)
        return 2
    policy = policy_for(args.profile)
    fields = fields_to_mask(policy, args.template, exported=args.exported)
    result = mask_document(image, args.template, side, fields)
    if not cv2.imwrite(args.out, result.image):
        print(f"error: could not write {args.out}", file=sys.stderr)
        return 1
    print(json.dumps({
        "out": args.out, "template": args.template, "side": side.value, "profile": policy.profile.value,
        "variant": "exported" if args.exported else "stored", "masked_fields": sorted(result.fields),
        "regions": [{"field": r.field.value, "box_px": list(r.box_px), "mrz": r.mrz} for r in result.regions],
    }, indent=2))
    return 0
