"""A replica of the Slack Web API (the methods the bridge uses) and of an incoming webhook.

``slack_sdk.WebClient(token, base_url=f"{fake.url}/api/", ssl=ca.client_ssl_context())``
works against it unmodified, including ``files_upload_v2`` (the upload URL it hands out
points back at the replica).

Interactivity: ``click_payload`` builds the ``block_actions`` payload Slack would send for a
click on a button or menu of a posted message (sign it with ``tests/fakes/signing.py``); its
``response_url`` points back here and ``responses`` records the (ephemeral) answers.
``usergroups.users.list`` answers from ``user_groups``.

Slack reports most errors as HTTP 200 with ``{"ok": false, "error": ...}``; only rate
limiting (429 + integer ``Retry-After``) and outages use HTTP status codes. The replica
does the same. Contract: https://docs.slack.dev/reference/methods/chat.postMessage,
https://docs.slack.dev/reference/block-kit/blocks, https://docs.slack.dev/apis/web-api/rate-limits
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from tests.fakes.base import (
    ANY_SCOPE,
    DEFAULT_HANG_S,
    DEFAULT_WAIT_S,
    FakeService,
    Fault,
    RecordedRequest,
    json_response,
    monotonic_and_wall,
    run_standalone,
    sliding_window_full,
)
from tests.fakes.slack_blocks import MAX_TEXT_CHARS, parse_blocks, validate_blocks
from tests.fakes.tls import TestCA

DEFAULT_TOKEN = "xoxb-test-token"
DEFAULT_CHANNELS: Mapping[str, str] = {"#alerts": "C0ALERTS", "#alerts-info": "C0ALERTSINFO"}
DEFAULT_WEBHOOK_PATH = "/services/T000/B000/XXXX"
BOT_USER_ID = "U0FAKEBOT"
BOT_ID = "B0FAKEBOT"
RATE_LIMIT_PERIOD_S = 1.0
# Slack's documented limits, on by default (https://docs.slack.dev/apis/web-api/rate-limits):
# chat.postMessage "1 message per second per channel" with "generous burst behavior",
# modelled as 60 a minute per channel (bursts allowed, 1/s sustained); chat.update is a
# Tier 3 method, 50+ a minute: 50 a minute.
POSTS_PER_MINUTE_PER_CHANNEL = 60
UPDATES_PER_MINUTE = 50
MINUTE_S = 60.0

# Fault scopes besides API method names.
UPLOAD_SCOPE = "upload"
WEBHOOK_SCOPE = "webhook"
RESPONSE_URL_SCOPE = "response_url"
TEAM_ID = "T000"

_OUTAGE_ERRORS = {500: "internal_error", 502: "bad_gateway", 503: "service_unavailable"}


class SlackError(Exception):
    """An ``ok: false`` answer (HTTP 200 unless ``status`` says otherwise)."""

    def __init__(
        self, error: str, status: int = 200, retry_after: int | None = None, **extra: Any
    ) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.retry_after = retry_after  # seconds, sent as a header with status 429
        self.extra = extra  # more fields of the JSON answer


@dataclass
class SlackMessage:
    """A posted message as the channel shows it now, with its thread and edit history."""

    channel: str  # channel id
    ts: str
    text: str | None
    blocks: list[dict[str, Any]] | None
    posted_at: float  # monotonic
    thread_ts: str | None = None
    reply_broadcast: bool = False
    files: list[str] = field(default_factory=list)  # file ids shared with this message
    replies: list[SlackMessage] = field(default_factory=list)
    #: One entry per chat.update, oldest first: the new ``text``/``blocks`` and ``received_at``.
    updates: list[dict[str, Any]] = field(default_factory=list)

    def as_api(self) -> dict[str, Any]:
        """The ``message`` object Slack returns."""
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "ts": self.ts,
            "text": self.text or "",
        }
        if self.blocks is not None:
            message["blocks"] = self.blocks
        if self.thread_ts is not None:
            message["thread_ts"] = self.thread_ts
        if self.files:
            message["files"] = [{"id": file_id} for file_id in self.files]
        return message


@dataclass
class SlackFile:
    """A file from files.getUploadURLExternal, its uploaded bytes and where it was shared."""

    id: str
    filename: str
    length: int  # as declared to getUploadURLExternal
    alt_txt: str | None = None
    data: bytes | None = None  # None until the raw upload arrives
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    completed: bool = False


@dataclass
class SlackCall(RecordedRequest):
    """One request with the Slack method name and its parameters, however they were encoded."""

    api_method: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return isinstance(self.response, dict) and self.response.get("ok") is True

    @property
    def error(self) -> str | None:
        return self.response.get("error") if isinstance(self.response, dict) else None


def _truthy(value: Any) -> bool:
    """Form posts carry booleans as "1"/"true" (slack_sdk sends "1"), JSON as true."""
    return value is True or (isinstance(value, str) and value.lower() in ("1", "true"))


class FakeSlack(FakeService):
    """HTTPS replica of the Slack Web API under ``/api/`` and an incoming webhook.

    ``channels``: name (``#alerts``) -> id (``C0ALERTS``); either can be used as ``channel``.
    ``rate_limit_per_second``: a strict chat.postMessage limit per channel per second
    (None: none beyond the default ones) and incoming-webhook posts per second.
    ``posts_per_minute`` (per channel) and ``updates_per_minute``: Slack's documented
    limits, on by default; a test that must exceed them passes None and says why.
    """

    def __init__(
        self,
        ca: TestCA,
        token: str = DEFAULT_TOKEN,
        channels: Mapping[str, str] = DEFAULT_CHANNELS,
        rate_limit_per_second: int | None = None,
        webhook_path: str = DEFAULT_WEBHOOK_PATH,
        posts_per_minute: int | None = POSTS_PER_MINUTE_PER_CHANNEL,
        updates_per_minute: int | None = UPDATES_PER_MINUTE,
        host: str = "127.0.0.1",
        port: int = 0,
        user_groups: Mapping[str, list[str]] | None = None,
    ) -> None:
        super().__init__(ca, host, port)
        #: User group id (``S…``) -> member user ids, for ``usergroups.users.list``.
        self.user_groups = dict(user_groups or {})
        self.token = token
        self.channels = dict(channels)
        self.rate_limit_per_second = rate_limit_per_second
        self.posts_per_minute = posts_per_minute
        self.updates_per_minute = updates_per_minute
        self.webhook_path = webhook_path
        #: Top-level messages in posting order; replies hang off ``.replies``.
        self.messages: list[SlackMessage] = []
        #: Every request (API calls, uploads, webhook posts), rejected ones included.
        self.calls: list[SlackCall] = []
        #: Files by id, in the order upload URLs were handed out.
        self.files: dict[str, SlackFile] = {}
        #: Accepted incoming-webhook payloads, plus ``received_at``.
        self.webhook_posts: list[dict[str, Any]] = []
        #: Answers posted to a click's ``response_url`` (ephemeral messages), plus
        #: ``received_at`` and the ``action`` (token of the click) they answered.
        self.responses: list[dict[str, Any]] = []
        self._clicks = 0
        self._by_ts: dict[tuple[str, str], SlackMessage] = {}
        self._last_ts_us = 0
        self._post_times: dict[str, deque[float]] = {}
        self._routes = Map(
            [
                Rule("/api/<api_method>", endpoint="api", methods=["GET", "POST"]),
                Rule("/upload/v1/<file_id>", endpoint="upload", methods=["POST"]),
                Rule("/services/<path:rest>", endpoint="webhook", methods=["POST"]),
                Rule("/actions/<token>", endpoint="actions", methods=["POST"]),
            ]
        )
        self._methods: dict[str, Callable[[dict[str, Any], float], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "usergroups.users.list": self._usergroups_users_list,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }

    @property
    def api_url(self) -> str:
        """``base_url`` for slack_sdk's WebClient (trailing slash included)."""
        return f"{self.url}/api/"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}{self.webhook_path}"

    # -- queries -------------------------------------------------------------------------

    def top_level(self, channel: str | None = None) -> list[SlackMessage]:
        """Top-level messages, optionally of one channel (name or id)."""
        with self._cond:
            if channel is None:
                return list(self.messages)
            channel_id = self._find_channel(channel)
            return [m for m in self.messages if m.channel == channel_id]

    def message(self, ts: str) -> SlackMessage | None:
        """Any message (top-level or reply) by ts."""
        with self._cond:
            return next((m for (_, t), m in self._by_ts.items() if t == ts), None)

    def replies(self, ts: str) -> list[SlackMessage]:
        """Thread replies to the top-level message ``ts`` (file shares included)."""
        parent = self.message(ts)
        with self._cond:
            return list(parent.replies) if parent else []

    def updates(self, ts: str) -> list[dict[str, Any]]:
        """chat.update history of message ``ts``."""
        target = self.message(ts)
        with self._cond:
            return list(target.updates) if target else []

    def posts(self) -> list[SlackMessage]:
        """Every message accepted by chat.postMessage, top-level and replies, in order."""
        with self._cond:
            # _by_ts keeps insertion order, which is posting order.
            return [m for m in self._by_ts.values() if not m.files]

    def calls_to(self, api_method: str) -> list[SlackCall]:
        with self._cond:
            return [c for c in self.calls if c.api_method == api_method]

    def wait_for_messages(self, n: int, timeout: float = DEFAULT_WAIT_S) -> list[SlackMessage]:
        """Block until ``n`` messages were posted (top-level and replies); return them."""
        self.wait_for(lambda: len(self.posts()) >= n, timeout, what=f"{n} posted messages")
        return self.posts()

    def _describe(self) -> str:
        recent = [(c.api_method, c.status, c.error or c.fault) for c in self.calls[-5:]]
        return f"{len(self.messages)} top-level messages, last calls {recent}"

    # -- faults --------------------------------------------------------------------------

    def fail_next(
        self,
        method: str = ANY_SCOPE,
        status: int | None = None,
        times: int = 1,
        retry_after: int | None = 1,
        error: str | None = None,
        body: Any = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail without effect.

        ``method`` is an API method (``chat.postMessage``), ``"upload"`` (the raw file
        POST), ``"webhook"`` or ``"*"``. With ``error`` the answer is HTTP 200
        ``{"ok": false, "error": error}``; otherwise HTTP ``status`` (default 429, which
        carries ``Retry-After: retry_after`` and ``error: ratelimited``).
        """
        if status is None:
            status = 200 if error is not None else 429
        fault = Fault("status", status=status, retry_after=retry_after, error=error, body=body)
        self._queue_fault(method, fault, times)

    def hang_next(
        self, method: str = ANY_SCOPE, times: int = 1, seconds: float = DEFAULT_HANG_S
    ) -> None:
        """Hold the next calls unanswered for ``seconds`` (or until stop()), then cut."""
        self._queue_fault(method, Fault("hang", hang_s=seconds), times)

    def drop_connection_next(self, method: str = ANY_SCOPE, times: int = 1) -> None:
        """Close the connection of the next calls without any response.

        Note: slack_sdk's default ConnectionErrorRetryHandler retries such a call once.
        """
        self._queue_fault(method, Fault("drop"), times)

    def reset(self) -> None:
        super().reset()
        with self._cond:
            self.messages.clear()
            self.calls.clear()
            self.files.clear()
            self.webhook_posts.clear()
            self.responses.clear()
            self._by_ts.clear()
            self._post_times.clear()
            self._changed()

    def _fault_response(self, fault: Fault, scope: str) -> Response:
        assert fault.status is not None
        headers = {}
        if fault.status == 429 and fault.retry_after is not None:
            headers["Retry-After"] = str(int(fault.retry_after))
        if fault.body is not None:
            if isinstance(fault.body, str):
                return Response(fault.body, fault.status, headers, content_type="text/plain")
            return json_response(fault.body, fault.status, headers)
        if fault.error is not None:
            error = fault.error
        elif fault.status == 429:
            error = "ratelimited"
        else:
            error = _OUTAGE_ERRORS.get(fault.status, "fatal_error")
        if scope in (UPLOAD_SCOPE, WEBHOOK_SCOPE):  # these answer in plain text
            return Response(error, fault.status, headers, content_type="text/plain")
        return json_response({"ok": False, "error": error}, fault.status, headers)

    # -- serving -------------------------------------------------------------------------

    def _views(self) -> dict[str, Callable[[], Any]]:
        def calls() -> list[dict[str, Any]]:
            return [
                {
                    "method": c.api_method,
                    "params": c.params,
                    "status": c.status,
                    "fault": c.fault,
                    "received_at": c.received_at,
                    "received_wall": c.received_wall,
                    "response": c.response,
                }
                for c in self.calls
            ]

        return {
            "messages": lambda: self.messages,
            "calls": calls,
            "files": lambda: list(self.files.values()),
            "webhook_posts": lambda: self.webhook_posts,
            "responses": lambda: self.responses,
        }

    def _serve(self, request: Request) -> Response:
        received_at, received_wall = monotonic_and_wall()
        # Read the raw body before anything parses it: uploads arrive with urllib's default
        # form content type, and form parsing would consume the stream.
        body = request.get_data(cache=True)
        try:
            endpoint, values = self._routes.bind_to_environ(request.environ).match()
        except HTTPException as exc:
            return Response(exc.description, status=exc.code or 404)
        scope: str = {
            "api": values.get("api_method", ""),
            "upload": UPLOAD_SCOPE,
            "actions": RESPONSE_URL_SCOPE,
        }.get(endpoint, WEBHOOK_SCOPE)
        call = SlackCall(
            request.method,
            request.path,
            dict(request.headers),
            body,
            received_at,
            received_wall,
            api_method=scope,
        )
        with self._cond:
            self.calls.append(call)
            self._changed()
        self._delay()
        fault = self._take_fault(scope)
        if fault is not None:
            with self._cond:
                call.fault = fault.kind
                self._changed()
            if fault.kind != "status":
                self._misbehave(fault, request)
            response = self._fault_response(fault, scope)
        elif endpoint == "api":
            response = self._api(request, call)
        elif endpoint == "upload":
            response = self._upload(values["file_id"], body)
        elif endpoint == "actions":
            response = self._response_url(request, values["token"], body, received_at)
        else:
            response = self._webhook(request, body, received_at)
        with self._cond:
            call.status = response.status_code
            call.response = response.get_json(silent=True) or response.get_data(as_text=True)
            self._changed()
        return response

    # -- Web API -------------------------------------------------------------------------

    def _api(self, request: Request, call: SlackCall) -> Response:
        headers = {}
        try:
            params = self._params(request)
            call.params = params
            self._authenticate(request, params)
            handler = self._methods.get(call.api_method)
            if handler is None:
                raise SlackError("unknown_method", status=404, req_method=call.api_method)
            result = {"ok": True, **handler(params, call.received_at)}
            status = 200
        except SlackError as exc:
            result = {"ok": False, "error": exc.error, **exc.extra}
            status = exc.status
            if exc.retry_after is not None:
                headers["Retry-After"] = str(exc.retry_after)
        return json_response(result, status, headers)

    @staticmethod
    def _params(request: Request) -> dict[str, Any]:
        """Arguments from the query string and the body: JSON, form or multipart."""
        params: dict[str, Any] = request.args.to_dict()
        if request.mimetype == "application/json":
            try:
                body = json.loads(request.get_data() or b"{}")
            except ValueError:
                raise SlackError("invalid_json") from None
            if not isinstance(body, dict):
                raise SlackError("json_not_object")
            params.update(body)
        else:
            params.update(request.form.to_dict())
        return params

    def _authenticate(self, request: Request, params: dict[str, Any]) -> None:
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer":
                raise SlackError("invalid_auth")
        elif request.mimetype != "application/json" and "token" in params:
            token = params["token"]  # Slack accepts a form field, never a JSON one
        else:
            raise SlackError("not_authed")
        if not token:
            raise SlackError("not_authed")
        if token != self.token:
            raise SlackError("invalid_auth")

    def _find_channel(self, value: Any) -> str | None:
        """Channel id from an id, ``#name`` or ``name``."""
        if not isinstance(value, str) or not value:
            return None
        if value in self.channels.values():
            return value
        return self.channels.get(value) or self.channels.get(f"#{value}")

    def _channel_id(self, value: Any) -> str:
        channel = self._find_channel(value)
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    @staticmethod
    def _content(params: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]] | None]:
        """Validated ``text`` and ``blocks`` (a JSON string in forms, a list in JSON)."""
        text = params.get("text")
        if text is not None and not isinstance(text, str):
            text = str(text)
        blocks = None
        if params.get("blocks") not in (None, "", []):
            blocks = parse_blocks(params["blocks"])
            if blocks is None:
                raise SlackError("invalid_blocks_format")
        if not text and not blocks:
            raise SlackError("no_text")
        if text is not None and len(text) > MAX_TEXT_CHARS:
            raise SlackError("msg_too_long")
        if blocks:
            errors = validate_blocks(blocks)
            if errors:
                raise SlackError(
                    "invalid_blocks", errors=errors, response_metadata={"messages": errors}
                )
        return text, blocks

    def _next_ts(self) -> str:
        """Unique, increasing "<epoch>.<6 digits>" (Slack's message id)."""
        now_us = int(time.time() * 1_000_000)
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        seconds, micros = divmod(self._last_ts_us, 1_000_000)
        return f"{seconds}.{micros:06d}"

    def _thread_parent(self, channel: str, thread_ts: Any) -> SlackMessage:
        parent = self._by_ts.get((channel, str(thread_ts)))
        if parent is None:
            raise SlackError("thread_not_found")
        if parent.thread_ts is not None:  # a reply to a reply joins the same thread
            parent = self._by_ts[(channel, parent.thread_ts)]
        return parent

    def _rate_limit(self, key: str, now: float) -> None:
        if self.rate_limit_per_second is not None:
            self._limit(key, now, self.rate_limit_per_second, RATE_LIMIT_PERIOD_S)
        if self.posts_per_minute is not None and not key.startswith("webhook:"):
            self._limit(f"minute:{key}", now, self.posts_per_minute, MINUTE_S)

    def _limit(self, key: str, now: float, limit: int, period_s: float) -> None:
        window = self._post_times.setdefault(key, deque())
        wait = sliding_window_full(window, now, limit, period_s)
        if wait is not None:
            raise SlackError("ratelimited", status=429, retry_after=max(1, math.ceil(wait)))
        window.append(now)

    def _store(
        self,
        channel: str,
        text: str | None,
        blocks: list[dict[str, Any]] | None,
        now: float,
        parent: SlackMessage | None,
        reply_broadcast: bool = False,
        files: list[str] | None = None,
    ) -> SlackMessage:
        message = SlackMessage(
            channel,
            self._next_ts(),
            text,
            blocks,
            posted_at=now,
            thread_ts=parent.ts if parent else None,
            reply_broadcast=reply_broadcast,
            files=files or [],
        )
        self._by_ts[(channel, message.ts)] = message
        if parent is None:
            self.messages.append(message)
        else:
            parent.replies.append(message)
        return message

    def _auth_test(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        return {
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "alert-bridge",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
        }

    def _chat_post_message(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        with self._cond:
            channel = self._channel_id(params.get("channel"))
            text, blocks = self._content(params)
            parent = None
            if params.get("thread_ts"):
                parent = self._thread_parent(channel, params["thread_ts"])
            self._rate_limit(channel, now)
            broadcast = parent is not None and _truthy(params.get("reply_broadcast"))
            message = self._store(channel, text, blocks, now, parent, broadcast)
            return {"channel": channel, "ts": message.ts, "message": message.as_api()}

    def _chat_update(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        with self._cond:
            channel = self._channel_id(params.get("channel"))
            message = self._by_ts.get((channel, str(params.get("ts"))))
            if message is None:
                raise SlackError("message_not_found")
            text, blocks = self._content(params)
            if self.updates_per_minute is not None:
                self._limit("chat.update", now, self.updates_per_minute, MINUTE_S)
            # Slack keeps what an update leaves out (an empty blocks list removes them).
            if "text" in params:
                message.text = text
            if "blocks" in params:
                message.blocks = blocks
            message.updates.append({"text": text, "blocks": blocks, "received_at": now})
            return {
                "channel": channel,
                "ts": message.ts,
                "text": text or "",
                "message": message.as_api(),
            }

    def _usergroups_users_list(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        """https://docs.slack.dev/reference/methods/usergroups.users.list"""
        group = params.get("usergroup")
        if not group:
            raise SlackError("invalid_arguments")
        with self._cond:
            if group not in self.user_groups:
                raise SlackError("no_such_subteam")
            return {"users": list(self.user_groups[group])}

    def _files_get_upload_url(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        filename = params.get("filename")
        try:
            length = int(params.get("length", ""))
        except ValueError:
            raise SlackError("invalid_arguments") from None
        if not filename or length < 1:
            raise SlackError("invalid_arguments")
        with self._cond:
            file_id = f"F{len(self.files) + 1:010d}"
            self.files[file_id] = SlackFile(file_id, filename, length, params.get("alt_txt"))
        return {"upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    def _upload(self, file_id: str, body: bytes) -> Response:
        with self._cond:
            upload = self.files.get(file_id)
            if upload is None:
                return Response("file not found", status=404, content_type="text/plain")
            upload.data = body
        # What files.slack.com answers.
        return Response(f"OK - {len(body)}", status=200, content_type="text/plain")

    def _files_complete_upload(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        entries = params.get("files")
        if isinstance(entries, str):
            try:
                entries = json.loads(entries)
            except ValueError:
                raise SlackError("invalid_arguments") from None
        if not isinstance(entries, list) or not entries:
            raise SlackError("invalid_arguments")
        with self._cond:
            channel = parent = None
            if params.get("channel_id"):
                channel = self._channel_id(params["channel_id"])
                if params.get("thread_ts"):
                    parent = self._thread_parent(channel, params["thread_ts"])
            uploads = []
            for entry in entries:
                upload = self.files.get(str(entry.get("id"))) if isinstance(entry, dict) else None
                if upload is None or upload.data is None:
                    raise SlackError("file_not_found")
                upload.title = entry.get("title") or upload.filename
                uploads.append(upload)
            for upload in uploads:
                upload.completed = True
                upload.channel = channel
                upload.thread_ts = parent.ts if parent else None
                upload.initial_comment = params.get("initial_comment")
            if channel is not None:
                # Sharing a file posts a message (in the thread, if any), as in Slack.
                comment = params.get("initial_comment")
                self._store(channel, comment, None, now, parent, files=[u.id for u in uploads])
            return {
                "files": [
                    {"id": u.id, "name": u.filename, "title": u.title, "size": len(u.data or b"")}
                    for u in uploads
                ]
            }

    # -- interactivity -------------------------------------------------------------------

    def click_payload(
        self,
        ts: str,
        action_id: str,
        *,
        option: str | None = None,
        user_id: str = "U0ONCALL1",
        user_name: str = "jane.oncall",
        team_id: str = TEAM_ID,
    ) -> dict[str, Any]:
        """The ``block_actions`` payload Slack sends when a user clicks in message ``ts``.

        ``team_id``: the clicking user's workspace; another than this replica's (which
        ``auth.test`` names) is a guest from another workspace in a shared channel.

        ``action_id`` names a button or a static_select of the message as posted (or last
        updated); for a select, ``option`` is the chosen option's text or value. The
        ``response_url`` points back at this replica (``responses`` records what it gets).
        Shape: https://docs.slack.dev/reference/interaction-payloads/block_actions-payload
        """
        with self._cond:
            message = self.message(ts)
            if message is None:
                raise KeyError(f"no message {ts}")
            element, block_id = self._element(message, action_id)
            self._clicks += 1
            token = f"click{self._clicks:06d}"
            action_ts = f"{time.time():.6f}"
            action: dict[str, Any] = {
                "type": element["type"],
                "action_id": action_id,
                "block_id": block_id,
                "action_ts": action_ts,
            }
            if element["type"] == "button":
                action["text"] = element["text"]
                action["value"] = element.get("value", "")
            else:
                chosen = next(
                    (
                        o
                        for o in element.get("options", [])
                        if option in (o.get("value"), o["text"].get("text"))
                    ),
                    None,
                )
                if chosen is None:
                    raise KeyError(f"no option {option!r} in {action_id}")
                action["selected_option"] = chosen
            user = {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id}
            return {
                "type": "block_actions",
                "user": user,
                "api_app_id": "A0FAKEAPP",
                "token": "legacy-verification-token",
                "container": {
                    "type": "message",
                    "message_ts": message.ts,
                    "channel_id": message.channel,
                    "is_ephemeral": False,
                },
                "trigger_id": f"{self._clicks}.{action_ts}",
                "team": {"id": team_id, "domain": "fake-workspace"},
                "channel": {"id": message.channel, "name": "alerts"},
                "message": message.as_api(),
                "response_url": f"{self.url}/actions/{token}",
                "actions": [action],
            }

    @staticmethod
    def _element(message: SlackMessage, action_id: str) -> tuple[dict[str, Any], str]:
        for block in message.blocks or []:
            if block.get("type") != "actions":
                continue
            for element in block.get("elements", []):
                if element.get("action_id") == action_id:
                    return element, str(block.get("block_id", ""))
        raise KeyError(f"no element {action_id!r} in message {message.ts}")

    def _response_url(self, request: Request, token: str, body: bytes, now: float) -> Response:
        """What Slack's response_url accepts: JSON with ``text`` or ``blocks``."""
        try:
            payload = json.loads(body)
        except ValueError:
            return json_response({"ok": False, "error": "invalid_payload"}, 400)
        if request.mimetype != "application/json" or not isinstance(payload, dict):
            return json_response({"ok": False, "error": "invalid_payload"}, 400)
        if not payload.get("text") and not payload.get("blocks"):
            return json_response({"ok": False, "error": "no_text"}, 400)
        with self._cond:
            self.responses.append({**payload, "action": token, "received_at": now})
        return json_response({"ok": True})

    # -- incoming webhook ----------------------------------------------------------------

    def _webhook(self, request: Request, body: bytes, now: float) -> Response:
        def text(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
            return Response(message, status, headers, content_type="text/plain")

        if request.path != self.webhook_path:
            return text("no_service", 404)
        raw: Any = body
        if request.mimetype == "application/x-www-form-urlencoded":
            raw = request.form.get("payload", "")
        try:
            payload = json.loads(raw)
        except ValueError:
            return text("invalid_payload", 400)
        if not isinstance(payload, dict):
            return text("invalid_payload", 400)
        try:
            self._content(payload)
            with self._cond:
                self._rate_limit(f"webhook:{self.webhook_path}", now)
                self.webhook_posts.append({**payload, "received_at": now})
        except SlackError as exc:
            if exc.status == 429:
                return text("rate_limited", 429, {"Retry-After": str(exc.retry_after)})
            return text(exc.error, 400)
        return text("ok", 200)


def main(argv: list[str] | None = None) -> int:
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--token", default=DEFAULT_TOKEN)
        parser.add_argument(
            "--channel",
            action="append",
            metavar="NAME=ID",
            help="e.g. '#alerts=C0ALERTS' (repeatable; default: the built-in channels)",
        )
        parser.add_argument("--rate-limit-per-second", type=int, default=None)
        parser.add_argument(
            "--posts-per-minute",
            type=int,
            default=POSTS_PER_MINUTE_PER_CHANNEL,
            help="chat.postMessage per channel per minute (0: no limit)",
        )

    def build(ca: TestCA, args: argparse.Namespace) -> FakeSlack:
        channels = (
            dict(pair.split("=", 1) for pair in args.channel) if args.channel else DEFAULT_CHANNELS
        )
        return FakeSlack(
            ca,
            token=args.token,
            channels=channels,
            rate_limit_per_second=args.rate_limit_per_second,
            posts_per_minute=args.posts_per_minute or None,
            host=args.host,
            port=args.port,
        )

    return run_standalone(argv, "Slack Web API replica", build, add_arguments)


__all__ = ["FakeSlack", "SlackCall", "SlackFile", "SlackMessage"]

if __name__ == "__main__":
    sys.exit(main())
