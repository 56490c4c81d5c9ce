"""`alert-bridge silence add|list|expire`: talks to a running bridge's `/silences` API."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import requests

from bridge.silences import fields
from bridge.silences.errors import WindowError

TIMEOUT_SECONDS = 15


class CliError(Exception):
    pass


def parse_matcher(text: str) -> dict[str, Any]:
    """`name=value`, `name!=value`, `name=~regex`, `name!~regex` (value may be quoted)."""
    found = fields.parse_matcher_text(text)
    if found is None:
        raise CliError(f'cannot read matcher {text!r}; write e.g. alertname=~"GPU.*"')
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="silence_command", required=True)
    add = sub.add_parser("add", help="create a maintenance window")
    add.add_argument("--node", help="shortcut for the matcher node=NODE")
    add.add_argument(
        "--matcher", action="append", default=[], help='e.g. alertname=~"GPU.*" (repeatable)'
    )
    add.add_argument("--duration", help="e.g. 2h (or use --end)")
    add.add_argument("--start", help="RFC 3339 start time (default now)")
    add.add_argument("--end", help="RFC 3339 end time")
    add.add_argument("--comment", required=True, help="why (shown in Alertmanager)")
    add.add_argument("--created-by", default=os.environ.get("USER", "alert-bridge-cli"))
    add.add_argument("--cron", help="recurring: cron expression, e.g. '0 2 * * SUN'")
    add.add_argument("--timezone", help="recurring: time zone, e.g. Europe/Berlin")
    listing = sub.add_parser("list", help="list maintenance windows")
    listing.add_argument("--state", choices=("pending", "active", "expired"))
    listing.add_argument("--node")
    expire = sub.add_parser("expire", help="end a maintenance window now")
    expire.add_argument("id")


def _base() -> tuple[str, dict[str, str]]:
    url = (os.environ.get("BRIDGE_URL") or "http://127.0.0.1:9095").rstrip("/")
    token = os.environ.get("BRIDGE_API_TOKEN")
    token_file = os.environ.get("BRIDGE_API_TOKEN_FILE")
    if not token and token_file:
        with open(token_file, encoding="utf-8") as handle:
            token = handle.read().strip()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return url, headers


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    url, headers = _base()
    try:
        response = requests.request(
            method, f"{url}{path}", json=body, headers=headers, timeout=TIMEOUT_SECONDS
        )
    except requests.RequestException as exc:
        raise CliError(
            f"cannot reach the bridge at {url} ({type(exc).__name__}); set BRIDGE_URL"
        ) from None
    try:
        data = response.json()
    except ValueError:
        raise CliError(f"{url}{path}: HTTP {response.status_code}, not JSON") from None
    if response.status_code >= 400:
        detail = data.get("detail")
        if isinstance(detail, dict):
            detail = detail.get("message")
        raise CliError(f"{data.get('error', 'error')}" + (f": {detail}" if detail else ""))
    return data


def _check(body: dict[str, Any]) -> None:
    """The bridge's own validation of what needs no settings, before anything is sent:
    the same message as the API's, and no request for a window that can never be made."""
    try:
        given = [
            fields.matcher(m["name"], m["value"], m["isRegex"], m["isEqual"], f"matchers[{i}]")
            for i, m in enumerate(body.get("matchers", []))
        ]
        if "node" in body:
            given.append(fields.node(body["node"]))
        fields.check_matchers(given)
        fields.required_text(body["createdBy"], "createdBy", fields.MAX_CREATED_BY_CHARS)
        fields.required_text(body["comment"], "comment", fields.MAX_COMMENT_CHARS, multiline=True)
    except WindowError as exc:
        raise CliError(f"invalid window: {exc.field} {exc.message}") from None


def _body(args: argparse.Namespace) -> dict[str, Any]:
    body = _request_body(args)
    _check(body)
    return body


def _request_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"comment": args.comment, "createdBy": args.created_by}
    matchers = [parse_matcher(m) for m in args.matcher]
    if matchers:
        body["matchers"] = matchers
    if args.node:
        body["node"] = args.node
    if args.start:
        body["startsAt"] = args.start
    if args.cron:
        if not args.duration:
            raise CliError("--cron needs --duration (how long each occurrence lasts)")
        body["recurrence"] = {"cron": args.cron, "duration": args.duration}
        if args.timezone:
            body["recurrence"]["timezone"] = args.timezone
        return body
    if args.end:
        body["endsAt"] = args.end
    if args.duration:
        body["duration"] = args.duration
    return body


def _table(windows: list[dict[str, Any]]) -> str:
    header = ("ID", "STATE", "SYNC", "STARTS", "ENDS", "MATCHERS", "COMMENT")
    rows = [header]
    for w in windows:
        matchers = ",".join(
            f"{m['name']}{'!' if not m['isEqual'] else ''}{'=~' if m['isRegex'] else '='}"
            f"{m['value']}"
            for m in w["matchers"]
        )
        if w.get("recurrence"):
            matchers += f" (cron {w['recurrence']['cron']} {w['recurrence']['timezone']})"
        rows.append(
            (
                w["id"][:12],
                w["state"],
                w["sync"]["state"],
                (w["startsAt"] or "")[:16],
                (w["endsAt"] or "")[:16],
                matchers,
                w["comment"][:40],
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows
    )


def run(args: argparse.Namespace) -> int:
    try:
        if args.silence_command == "add":
            created = _call("POST", "/silences", _body(args))
            print(_table([created]))
            if created["sync"]["state"] != "synced":
                print(
                    "note: not yet in Alertmanager; the bridge keeps retrying "
                    f"({'; '.join(created['sync']['errors']) or 'pending'})"
                )
        elif args.silence_command == "list":
            params = [f"{k}={v}" for k, v in (("state", args.state), ("node", args.node)) if v]
            query = "?" + "&".join(params) if params else ""
            print(_table(_call("GET", f"/silences{query}")["silences"]))
        else:
            window_id = _resolve_id(args.id)
            expired = _call("DELETE", f"/silences/{window_id}")
            print(_table([expired]))
    except CliError as exc:
        print(f"alert-bridge silence: {exc}", file=sys.stderr)
        return 1
    return 0


def _resolve_id(prefix: str) -> str:
    """Accept the 12-character prefix the table shows."""
    if len(prefix) >= 32:
        return prefix
    matches = [
        str(w["id"]) for w in _call("GET", "/silences")["silences"] if w["id"].startswith(prefix)
    ]
    if len(matches) != 1:
        raise CliError(f"{prefix!r} matches {len(matches)} windows; give more of the id")
    return matches[0]
