"""`alert-bridge` (also `python -m bridge`): the command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from bridge import __version__
from bridge.config import ConfigError, load_config
from bridge.logsetup import configure_logging
from bridge.settings import Settings, SettingsError, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise SystemExit(f"alert-bridge: {exc}") from None


def cmd_serve(args: argparse.Namespace) -> int:
    from bridge.serve import serve

    settings = _settings()
    try:
        load_config(settings.config_path)
    except ConfigError as exc:
        raise SystemExit(f"alert-bridge: {exc}") from None
    configure_logging(settings.log_level)
    return serve(settings, migrate=not args.no_migrate, single_process=args.single_process)


def cmd_db(args: argparse.Namespace) -> int:
    from bridge.db.engine import make_engine
    from bridge.db.migrate import current_revision, head_revision, upgrade

    settings = _settings()
    engine = make_engine(settings.database_url)
    if args.db_command == "upgrade":
        upgrade(engine)
        print(f"schema at {current_revision(engine)} (head {head_revision()})")
    else:
        current = current_revision(engine)
        head = head_revision()
        state = "at head" if current == head else f"behind head {head}"
        print(f"{current or 'empty'} ({state})")
    return 0


def cmd_check_config(_args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        config = load_config(settings.config_path)
    except ConfigError as exc:
        raise SystemExit(f"alert-bridge: {exc}") from None
    print(json.dumps(settings.redacted(), indent=2, default=str))
    print(f"routes: {len(config.routing.routes)}")
    for warning in settings.link_warnings():
        print(f"warning: {warning}", file=sys.stderr)
    print("configuration ok")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from bridge.sim.cli import run

    code: int = run(args)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alert-bridge",
        description="Alertmanager webhook receiver for DGX Spark clusters.",
    )
    parser.add_argument("--version", action="version", version=f"alert-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the bridge (WSGI server and delivery worker)")
    serve.add_argument("--no-migrate", action="store_true", help="do not apply migrations at start")
    serve.add_argument(
        "--single-process",
        action="store_true",
        help="run deliveries and jobs in the web process (default: a child process)",
    )
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply all migrations")
    db_sub.add_parser("current", help="print the schema revision")
    db.set_defaults(func=cmd_db)

    check = sub.add_parser("check-config", help="validate settings and BRIDGE_CONFIG")
    check.set_defaults(func=cmd_check_config)

    simulate = sub.add_parser("simulate", help="synthetic DGX Spark exporters with faults")
    from bridge.sim.cli import add_arguments

    add_arguments(simulate)
    simulate.set_defaults(func=cmd_simulate)

    from bridge.silences import cli as silence_cli

    silence = sub.add_parser("silence", help="maintenance windows (talks to a running bridge)")
    silence_cli.add_arguments(silence)
    silence.set_defaults(func=silence_cli.run)

    from bridge.digest import cli as digest_cli

    digest = sub.add_parser("digest", help="print or send the Slack summary of the last period")
    digest_cli.add_arguments(digest)
    digest.set_defaults(func=digest_cli.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
