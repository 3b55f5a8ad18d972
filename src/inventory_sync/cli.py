"""``inventory-sync``: flags, logging set-up and exit codes.

Exit codes: 0 every profile succeeded; 1 some profile failed; 2 configuration or
usage error (nothing was written).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import anyio

from inventory_sync import logging as sync_logging
from inventory_sync.checks import run_checks, table
from inventory_sync.errors import ConfigError, InventorySyncError
from inventory_sync.metrics import exposition
from inventory_sync.model import Change, RunStatus, parse_timestamp
from inventory_sync.report import Report
from inventory_sync.runner import Reporting, RunOptions, reset_state, run, show_state, totals
from inventory_sync.settings import Settings, load_settings, unknown_variables

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
log = sync_logging.get_logger()


def _timestamp(text: str) -> datetime:
    try:
        return parse_timestamp(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit()) or int(count) < 1 or int(index) >= int(count):
        raise argparse.ArgumentTypeError(f"{text!r} is not I/N with 0 <= I < N")
    return int(index), int(count)


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
        "--fail-if-locked",
        action="store_true",
        help="a profile locked by another live run counts as failed (default: skipped, exit 0)",
    )
    run_cmd.add_argument(
        "--shard",
        type=_shard,
        metavar="I/N",
        help="take only the profiles whose list position modulo N is I "
        "(default: JOB_COMPLETION_INDEX and INVENTORY_SYNC_SHARDS)",
    )
    run_cmd.add_argument(
        "--metrics-file",
        type=Path,
        metavar="PATH",
        help="also write the run's metrics in the Prometheus text format to PATH",
    )
    run_cmd.add_argument(
        "--zero-missing",
        action="store_true",
        help="with --full: also set to 0 the channel's entries whose SKU the master no longer has",
    )
    run_cmd.add_argument(
        "--report",
        type=Path,
        metavar="PATH",
        help="write one line per planned or performed change (CSV for .csv, else JSON lines)",
    )
    run_cmd.add_argument(
        "--dry-run",
        action="store_true",
        help="read both sides and log what would change; write nothing (nor the state)",
    )
    commands.add_parser(
        "check",
        help="check credentials, channels, catalogues, the state backend and the Pushgateway; "
        "write nothing",
    )
    state_cmd = commands.add_parser("state", help="show or reset the stored run state")
    state_actions = state_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = state_actions.add_parser("show", help="print the stored records as JSON")
    show.add_argument("--profile", action="append", default=[], metavar="NAME")
    reset = state_actions.add_parser(
        "reset", help="clear previousEndDate (next run: full sync) or set it with --to"
    )
    reset.add_argument("--profile", required=True, metavar="NAME")
    reset.add_argument("--to", dest="reset_to", type=_timestamp, metavar="ISO")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _tune_gc()
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as e:
        sync_logging.configure()
        return _config_error(e)
    # `state show` prints a JSON document on stdout (for jq): its log lines go to stderr
    logs = sys.stderr if args.command == "state" else None
    sync_logging.configure(settings.log_level, settings.log_format, stream=logs)
    for name in unknown_variables():
        log.warning("inventory_sync.unknown_setting", variable=name, hint="a typo? it is ignored")
    if args.command == "state":
        return _state(settings, args)
    if args.command == "check":
        return _check(settings)
    try:
        options = RunOptions(
            profiles=tuple(args.profile),
            full=args.full,
            window_from=args.window_from,
            window_to=args.window_to,
            dry_run=args.dry_run,
            zero_missing=args.zero_missing,
            fail_if_locked=args.fail_if_locked,
            shard=args.shard,
        )
        shard_index, shard_count = args.shard or (settings.shard_index or 0, settings.shards)
        reporting = Reporting(
            pushgateway_url=settings.pushgateway_url,
            job=settings.metrics_job,
            grouping=(("shard", str(shard_index)),) if shard_count > 1 else (),
            timeout_seconds=settings.pushgateway_timeout_seconds,
        )
        if settings.pushgateway_url is None:
            log.info(
                "inventory_sync.metrics_push_disabled", reason="no INVENTORY_SYNC_PUSHGATEWAY_URL"
            )
        with contextlib.ExitStack() as stack:
            report = None if args.report is None else stack.enter_context(Report(args.report))

            def on_change(change: Change) -> None:
                if change.result == "planned":
                    _log_planned(change)
                if report is not None:
                    report(change)

            hook = on_change if options.dry_run or report is not None else None
            summaries = anyio.run(
                lambda: run(settings, options, on_change=hook, reporting=reporting)
            )
    except ConfigError as e:
        return _config_error(e)
    if args.metrics_file is not None:
        write_metrics_file(args.metrics_file, reporting)
    failed = [s.profile for s in summaries if s.status is RunStatus.FAILED]
    code = EXIT_FAILED if failed else EXIT_OK
    log.info(
        "inventory_sync.run_finished",
        profiles=len(summaries),
        failed_profiles=failed,
        skipped_profiles=[s.profile for s in summaries if s.status is RunStatus.SKIPPED],
        exit_code=code,
        dry_run=options.dry_run,
        **totals(summaries).as_dict(),
    )
    return code


def _check(settings: Settings) -> int:
    results = anyio.run(run_checks, settings)
    print(table(results))
    failed = [r.name for r in results if r.ok is False]
    log.info("inventory_sync.check_finished", failed=failed, checks=len(results))
    return EXIT_FAILED if failed else EXIT_OK


def _state(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if args.action == "show":
            records = anyio.run(show_state, settings, tuple(args.profile))
            print(json.dumps(records, indent=2, ensure_ascii=False))
        else:
            anyio.run(reset_state, settings, args.profile, args.reset_to)
    except ConfigError as e:
        return _config_error(e)
    except InventorySyncError as e:
        log.error("inventory_sync.state_command_failed", error=str(e))
        print(f"inventory-sync: {e}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def write_metrics_file(path: Path, reporting: Reporting) -> None:
    """Atomically, so a textfile collector never reads half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(exposition(reporting.registries))
        tmp.replace(path)
    except OSError as e:
        log.error("inventory_sync.metrics_file_failed", path=str(path), error=e.strerror)


def _log_planned(change: Change) -> None:
    log.info(
        "inventory_sync.planned",
        profile=change.profile,
        action=change.action,
        sku=change.sku,
        old_quantity=change.old_quantity,
        quantity=change.quantity,
    )


def _tune_gc() -> None:
    """Keep the cyclic garbage collector off what lives as long as the process (the
    modules and their objects, frozen here) and let it run less often: a sync
    allocates many short-lived objects per position, and the collector's passes over
    a large young generation cost more than the little garbage they find (measured
    with ``make bench``: about 15 % of the job's CPU at the default thresholds)."""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def _config_error(error: ConfigError) -> int:
    log.error("inventory_sync.config_error", error=str(error))
    print(f"inventory-sync: configuration error: {error}", file=sys.stderr)
    return EXIT_CONFIG
