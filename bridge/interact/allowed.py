"""Who may act from Slack: members of the bridge's own workspace, and among them
`BRIDGE_SLACK_ALLOWED_USERS` (user ids and Slack user groups) when it is set.

The workspace is the one the bot token belongs to (`auth.test`'s `team_id`): in a channel
shared with another organisation (Slack Connect) its guests see the buttons too, and
"everyone" must mean everyone of this workspace. A click is accepted only when every team
id its payload carries (`team.id`, `user.team_id`) is that one. The team id is asked for
once at start and kept; while Slack cannot be asked, clicks are refused (fail closed).

A user group's members come from `usergroups.users.list` (bot scope `usergroups:read`),
cached for a few minutes so that a click costs no Slack call most of the time, with a
short timeout because Slack wants the click answered within 3 seconds. When a group
cannot be read, the click is refused (fail closed) and the user is told to retry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from bridge.notify.tls import client_ssl_context

log = logging.getLogger(__name__)

# https://api.slack.com/methods/usergroups.users.list
GROUP_CACHE_SECONDS = 300.0
TIMEOUT_SECONDS = 2
USER_GROUP_PREFIX = "S"


def _client(token: str, api_url: str, ca_bundle: str | None) -> WebClient:
    return WebClient(
        token=token, base_url=api_url, timeout=TIMEOUT_SECONDS, ssl=client_ssl_context(ca_bundle)
    )


def is_user_group(entry: str) -> bool:
    return entry.startswith(USER_GROUP_PREFIX)


class AllowList:
    def __init__(
        self,
        entries: Sequence[str],
        *,
        token: str | None,
        api_url: str,
        ca_bundle: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.users = frozenset(e for e in entries if not is_user_group(e))
        self.groups = tuple(e for e in entries if is_user_group(e))
        self._client = _client(token, api_url, ca_bundle) if self.groups and token else None
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def allows(self, user_id: str) -> bool | None:
        """True / False, or None when a user group could not be read (refuse, retry later)."""
        if not self.users and not self.groups:
            return True
        if user_id in self.users:
            return True
        unknown = False
        for group in self.groups:
            members = self._members(group)
            if members is None:
                unknown = True
            elif user_id in members:
                return True
        return None if unknown else False

    def _members(self, group: str) -> frozenset[str] | None:
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(group)
        if cached is not None and now - cached[0] < GROUP_CACHE_SECONDS:
            return cached[1]
        if self._client is None:
            return None
        try:
            answer = self._client.usergroups_users_list(usergroup=group)
        except (SlackApiError, SlackRequestError, OSError, TimeoutError) as exc:
            log.warning("cannot read Slack user group %s: %s", group, type(exc).__name__)
            return None
        users = answer.get("users")
        members = (
            frozenset(u for u in users if isinstance(u, str))
            if isinstance(users, list)
            else frozenset()
        )
        with self._lock:
            self._cache[group] = (now, members)
        return members


class Workspace:
    """The team id of the workspace the bot token belongs to (`auth.test`), asked once."""

    def __init__(self, *, token: str | None, api_url: str, ca_bundle: str | None = None) -> None:
        self._client = _client(token, api_url, ca_bundle) if token else None
        self._team_id: str | None = None
        self._lock = threading.Lock()

    def team_id(self) -> str | None:
        """The team id, or None while Slack cannot say (no bot token: never)."""
        with self._lock:
            if self._team_id is not None or self._client is None:
                return self._team_id
        try:
            answer = self._client.auth_test()
        except (SlackApiError, SlackRequestError, OSError, TimeoutError) as exc:
            log.warning("cannot ask Slack which workspace the bot is in: %s", type(exc).__name__)
            return None
        team = answer.get("team_id")
        if not isinstance(team, str) or not team:
            log.warning("Slack's auth.test named no team_id")
            return None
        with self._lock:
            self._team_id = team
        return team

    def admits(self, team_ids: Sequence[str]) -> bool | None:
        """True: the click came from this workspace; False: from another (or none said);
        None: this workspace's id is not known yet (refuse, retry later)."""
        if not team_ids:
            return False
        own = self.team_id()
        if own is None:
            return None
        return all(t == own for t in team_ids)
