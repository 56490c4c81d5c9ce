"""`alert-bridge digest [--send] [--period 24h]`: the summary of the last period, now.

Prints it by default; `--send` posts it to Slack as the scheduler would. An
on-demand summary claims no slot, so it never stands in for a scheduled one.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from bridge.clock import utcnow
from bridge.config import ConfigError, load_config
from bridge.db.engine import make_engine, read_connection
from bridge.digest.build import as_text, build_digest
from bridge.digest.config import digest_channel
from bridge.digest.facts import read_facts
from bridge.digest.send import send_digest
from bridge.durations import DurationError, parse_duration
from bridge.settings import SettingsError, load_settings

PROG = "alert-bridge digest"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--send", action="store_true", help="post to Slack (default: print to stdout)"
    )
    parser.add_argument(
        "--period", default="24h", help="how far back the summary looks, e.g. 24h or 7d"
    )


def run(args: argparse.Namespace) -> int:
    try:
        period = timedelta(seconds=parse_duration(args.period))
        settings = load_settings()
        config = load_config(settings.config_path)
    except DurationError as exc:
        return _fail(f"--period: {exc}")
    except (SettingsError, ConfigError) as exc:
        return _fail(str(exc))
    now = utcnow()
    engine = make_engine(settings.database_url)
    try:
        with read_connection(engine) as conn:
            facts = read_facts(conn, now - period, now, now)
    except SQLAlchemyError as exc:
        # One line: the driver's message can span many and may echo the URL.
        return _fail(f"cannot read the database ({type(exc).__name__}); is it migrated and up?")
    finally:
        engine.dispose()
    text, blocks = build_digest(facts, settings.timezone)
    if not args.send:
        sys.stdout.write(as_text(blocks))
        return 0
    result = send_digest(settings, text, blocks, digest_channel(config.raw))
    if not result.ok:
        return _fail(result.detail)
    print(f"summary {result.outcome.replace('_', '-')}: {result.detail}")
    return 0


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 1
