"""An Alertmanager silences snapshot (`<storage.path>/silences`), written by hand.

Alertmanager 0.32 stores silences with several matcher sets (OR-ed), which only newer APIs can
create and which `GET /api/v2/silences` of 0.32+ refuses to list ("has multiple matcher sets
which is not supported by this API version": HTTP 500 for the whole list). Such a silence
reaches an Alertmanager by gossip from a newer peer or from a snapshot a newer version wrote;
a test writes the snapshot before starting Alertmanager.

The format is Alertmanager's silence/silencepb protobuf messages (`MeshSilence`), each
preceded by its varint length. The few message types are encoded here directly rather than
adding a protobuf dependency for one test helper.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# silencepb.Matcher.Type
EQUAL, REGEXP, NOT_EQUAL, NOT_REGEXP = 0, 1, 2, 3


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _int_field(number: int, value: int) -> bytes:
    """A varint field (wire type 0); proto3 leaves zero out."""
    return _varint(number << 3) + _varint(value) if value else b""


def _timestamp(when: datetime) -> bytes:
    seconds = int(when.timestamp())
    nanos = round((when.timestamp() - seconds) * 1e9)
    return _int_field(1, seconds) + _int_field(2, nanos)


@dataclass(frozen=True)
class Matcher:
    name: str
    pattern: str
    type: int = EQUAL

    def encode(self) -> bytes:
        return (
            _int_field(1, self.type)
            + _field(2, self.name.encode())
            + _field(3, self.pattern.encode())
        )


@dataclass(frozen=True)
class SnapshotSilence:
    matcher_sets: Sequence[Sequence[Matcher]]
    starts_at: datetime
    ends_at: datetime
    comment: str = "made by a newer Alertmanager"
    created_by: str = "someone"
    id: str = ""

    def encode(self, expires_at: datetime) -> bytes:
        silence = _field(1, (self.id or str(uuid.uuid4())).encode())
        # Like Alertmanager 0.33.1's own snapshots: the first set also in the legacy field,
        # which older versions read (they ignore the sets).
        silence += b"".join(_field(2, m.encode()) for m in self.matcher_sets[0])
        silence += _field(3, _timestamp(self.starts_at))
        silence += _field(4, _timestamp(self.ends_at))
        silence += _field(5, _timestamp(self.starts_at))
        silence += _field(8, self.created_by.encode())
        silence += _field(9, self.comment.encode())
        for matchers in self.matcher_sets:
            silence += _field(11, b"".join(_field(1, m.encode()) for m in matchers))
        mesh = _field(1, silence) + _field(2, _timestamp(expires_at))
        return _varint(len(mesh)) + mesh


def write_silences_snapshot(
    storage_path: Path, silences: Sequence[SnapshotSilence], expires_at: datetime
) -> Path:
    """Write `storage_path/silences`, which Alertmanager loads at start."""
    storage_path.mkdir(parents=True, exist_ok=True)
    path = storage_path / "silences"
    path.write_bytes(b"".join(s.encode(expires_at) for s in silences))
    return path
