"""The words the bridge's Slack messages and its interaction handlers share (pure).

Messages (bridge/notify/) put buttons in; the handlers (bridge/interact/) read clicks
back: both import this module, and it imports neither, so neither package depends on
the other. A button carries only `<choice>:<id>.<episode>`: the id of an alert (or, for
the storm choices, of a storm) and when its episode (or storm) started, in Unix seconds;
the handler looks the rest up itself. Limits:
https://api.slack.com/reference/block-kit/block-elements (a value ≤ 2000 characters).
"""

from __future__ import annotations

import re
from datetime import datetime

# An alert's choices.
ACK = "ack"
SILENCE_1H = "silence-1h"
SILENCE_4H = "silence-4h"
SILENCE_MONDAY = "silence-monday"
SILENCE_NODE_2H = "silence-node-2h"
SILENCES = (SILENCE_1H, SILENCE_4H, SILENCE_MONDAY, SILENCE_NODE_2H)
# A storm's choices: its incident, its alert name everywhere, or only on its nodes.
STORM_ACK = "storm-ack"
STORM_SILENCE_1H = "storm-1h"
STORM_SILENCE_4H = "storm-4h"
STORM_NODES_1H = "storm-nodes-1h"
STORM_NODES_4H = "storm-nodes-4h"
STORM_SILENCES = (STORM_SILENCE_1H, STORM_SILENCE_4H, STORM_NODES_1H, STORM_NODES_4H)
STORM_CHOICES = (STORM_ACK, *STORM_SILENCES)
CHOICES = (ACK, *SILENCES, *STORM_CHOICES)
# The choices as the messages show them.
CHOICE_LABELS = {
    ACK: "Acknowledge",
    SILENCE_1H: "This alert on this node, 1 h",
    SILENCE_4H: "This alert on this node, 4 h",
    SILENCE_MONDAY: "This alert on this node, until Monday 09:00",
    SILENCE_NODE_2H: "The whole node, 2 h",
    STORM_ACK: "Acknowledge",
    STORM_SILENCE_1H: "This alert name everywhere, 1 h",
    STORM_SILENCE_4H: "This alert name everywhere, 4 h",
    STORM_NODES_1H: "This alert name on the storm's nodes only, 1 h",
    STORM_NODES_4H: "This alert name on the storm's nodes only, 4 h",
}
# action_ids the messages use: the Acknowledge button, the Silence menu of a single
# alert or a storm, one menu per alert in a group message (`act-<n>`).
ACTION_ACK = "ack"
ACTION_SILENCE = "silence"
ACTION_ID = re.compile(r"^(ack|silence|act-\d{1,3})$")
_VALUE = re.compile(r"^(?P<choice>[a-z0-9-]{1,32}):(?P<id>\d{1,18})\.(?P<episode>\d{1,12})$")


def episode_of(starts_at: datetime) -> int:
    return int(starts_at.timestamp())


def button_value(choice: str, target_id: int, starts_at: datetime) -> str:
    """The opaque reference a button carries (`read_value` reads it back)."""
    return f"{choice}:{target_id}.{episode_of(starts_at)}"


def read_value(value: object) -> tuple[str, int, int] | None:
    """(choice, id, episode) of a value one of our buttons carries; None otherwise."""
    match = _VALUE.match(value) if isinstance(value, str) else None
    if match is None or match["choice"] not in CHOICES:
        return None
    return match["choice"], int(match["id"]), int(match["episode"])
