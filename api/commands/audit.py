"""``videoident audit verify [--expect-head HASH] [--json]``: check the hash-chained audit trail.

Exit code 0 when every entry verifies (and the chain ends at ``--expect-head`` if given), 1 otherwise.
Keep the printed head hash somewhere else (a ticket, a second system) to detect a truncated tail later.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("audit", help="audit trail: verify the hash chain")
    sub = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = sub.add_parser("verify", help="recompute every hash; report the first edited or missing entry")
    verify.add_argument("--expect-head", help="the head hash recorded earlier (detects a truncated tail)")
    verify.add_argument("--json", action="store_true", help="print JSON")
    verify.set_defaults(handler=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from sqlalchemy.orm import Session

    from videoident.audit import verify_chain
    from videoident.db import make_engine
    from videoident.migrations import migrate
    from videoident.settings import Settings

    engine = make_engine(Settings().resolved_database_url)
    migrate(engine)
    with Session(engine) as db:
        report = verify_chain(db, args.expect_head)
    engine.dispose()
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    elif report.ok:
        print(f"audit trail OK: {report.entries} entries, head {report.head_hash}")
    else:
        print(f"audit trail BROKEN at entry {report.bad_seq}: {report.problem} "
              f"({report.entries} entries verified before it)")
    return 0 if report.ok else 1
