"""``inventory-sync``: flags, logging set-up and exit codes.

Exit codes: 0 every profile succeeded; 1 some profile failed; 2 configuration or
usage error (nothing was written).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime

import anyio

from inventory_sync import logging as sync_logging
from inventory_sync.errors import ConfigError
from inventory_sync.model import RunStatus, parse_timestamp
from inventory_sync.plan import Create, Write
from inventory_sync.profiles import Profile
from inventory_sync.runner import RunOptions, run, totals
from inventory_sync.settings import load_settings

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _timestamp(text: str) -> datetime:
    try:
        return parse_timestamp(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inventory-sync",
        description="Make commercetools inventory entries equal to Fluent aggregate stock.",
        epilog="Settings come from INVENTORY_SYNC_* environment variables (see README).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run_cmd = commands.add_parser("run", help="sync the profiles once")
    run_cmd.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="NAME",
        help="sync only this profile (repeatable; default: every enabled profile)",
    )
    run_cmd.add_argument(
        "--full", action="store_true", help="ignore the saved window: read every position"
    )
    run_cmd.add_argument(
        "--from",
        dest="window_from",
        type=_timestamp,
        metavar="ISO",
        help="window start (inclusive)",
    )
    run_cmd.add_argument(
        "--to", dest="window_to", type=_timestamp, metavar="ISO", help="window end (inclusive)"
    )
    run_cmd.add_argument(
        "--dry-run",
        action="store_true",
        help="read both sides and log what would change; write nothing (nor the state)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as e:
        sync_logging.configure()
        return _config_error(e)
    sync_logging.configure(settings.log_level, settings.log_format)
    try:
        options = RunOptions(
            profiles=tuple(args.profile),
            full=args.full,
            window_from=args.window_from,
            window_to=args.window_to,
            dry_run=args.dry_run,
        )
        summaries = anyio.run(lambda: run(settings, options, on_planned=_log_planned))
    except ConfigError as e:
        return _config_error(e)
    failed = [s.profile for s in summaries if s.status is RunStatus.FAILED]
    code = EXIT_FAILED if failed else EXIT_OK
    sync_logging.get_logger().info(
        "inventory_sync.run_finished",
        profiles=len(summaries),
        failed_profiles=failed,
        exit_code=code,
        dry_run=options.dry_run,
        **totals(summaries).as_dict(),
    )
    return code


def _log_planned(profile: Profile, write: Write) -> None:
    action = "create" if isinstance(write, Create) else "update"
    old = None if isinstance(write, Create) else write.old_quantity
    sync_logging.get_logger().info(
        "inventory_sync.planned",
        profile=profile.name,
        action=action,
        sku=write.sku,
        old_quantity=old,
        quantity=write.quantity,
    )


def _config_error(error: ConfigError) -> int:
    sync_logging.get_logger().error("inventory_sync.config_error", error=str(error))
    print(f"inventory-sync: configuration error: {error}", file=sys.stderr)
    return EXIT_CONFIG
