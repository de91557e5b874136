"""``videoident housekeeping [--rotate-keys] [--json]``: the periodic jobs of the core (run it from cron).

Expires sessions past their deadline, crypto-shreds sessions past their tenant's retention period,
removes interrupted vault writes older than an hour, and with ``--rotate-keys`` re-wraps every data key
under the current master key (run after deploying a new ``VIDEOIDENT_MASTER_KEY`` with the old one in
``VIDEOIDENT_PREVIOUS_MASTER_KEYS``).
"""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("housekeeping", help="expire sessions, enforce retention, clean the vault")
    parser.add_argument("--rotate-keys", action="store_true", help="re-wrap data keys under the current master key")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from videoident.notify import MemoryNotifier
    from videoident.service import IdentService
    from videoident.settings import Settings

    # No TAN is sent by these jobs, so no transport is needed.
    service = IdentService.from_settings(Settings(), notifier=MemoryNotifier())
    report = {"expired": service.expire_due(), "shredded": service.shred_past_retention()}
    recovered = service.recover()
    report["removed_temp_files"] = recovered.removed_temp_files
    report["removed_orphans"] = recovered.removed_orphans
    if args.rotate_keys:
        report["rewrapped_keys"] = service.rotate_master_key()
    print(json.dumps(report) if args.json else ", ".join(f"{k}: {v}" for k, v in report.items()))
    return 0
