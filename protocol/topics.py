"""MQTT topic names: builders and a strict parser.

The root defaults to `nfch`; tests pass a unique root so parallel tests never share topics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from protocol.errors import TopicError
from protocol.ids import is_valid_id
from protocol.messages import DIRECTORY_KINDS

VERSION = "v1"
StationTopic = Literal["events", "ack", "lease", "status", "screen"]
RoomTopic = Literal["queue", "call"]
STATION_TOPICS: tuple[StationTopic, ...] = ("events", "ack", "lease", "status", "screen")
ROOM_TOPICS: tuple[RoomTopic, ...] = ("queue", "call")


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """A parsed topic: `scope` is station, room or directory; `name` the id or directory kind."""

    scope: Literal["station", "room", "directory"]
    name: str
    leaf: str


class Topics:
    """Builds and parses the `ROOT/v1/...` topics of DESIGN §4."""

    def __init__(self, root: str = "nfch") -> None:
        parts = root.split("/")
        if not root or any(not p or "+" in p or "#" in p for p in parts):
            raise TopicError(f"topic root {root!r} must be non-empty levels without + or #")
        self.root = root
        self.prefix = f"{root}/{VERSION}"

    def _id(self, kind: str, value: str) -> str:
        if not is_valid_id(value):
            raise TopicError(f"{kind} id {value!r} is not a valid id ([a-z0-9][a-z0-9_-]*)")
        return value

    def station(self, station_id: str, leaf: StationTopic) -> str:
        """`ROOT/v1/station/{id}/{leaf}`."""
        if leaf not in STATION_TOPICS:
            raise TopicError(f"unknown station topic {leaf!r}")
        return f"{self.prefix}/station/{self._id('station', station_id)}/{leaf}"

    def room(self, room_id: str, leaf: RoomTopic) -> str:
        """`ROOT/v1/room/{id}/{leaf}`."""
        if leaf not in ROOM_TOPICS:
            raise TopicError(f"unknown room topic {leaf!r}")
        return f"{self.prefix}/room/{self._id('room', room_id)}/{leaf}"

    def directory(self, kind: str) -> str:
        """`ROOT/v1/directory/{kind}`."""
        if kind not in DIRECTORY_KINDS:
            raise TopicError(f"unknown directory kind {kind!r}")
        return f"{self.prefix}/directory/{kind}"

    def station_filter(self, leaf: StationTopic) -> str:
        """Subscription filter for one leaf of every station (`ROOT/v1/station/+/events`)."""
        return f"{self.prefix}/station/+/{leaf}"

    def room_filter(self, leaf: RoomTopic) -> str:
        """Subscription filter for one leaf of every room."""
        return f"{self.prefix}/room/+/{leaf}"

    def directory_filter(self) -> str:
        """Subscription filter for every directory document."""
        return f"{self.prefix}/directory/+"

    def parse(self, topic: str) -> ParsedTopic:
        """Parse a concrete topic; raises TopicError for anything not built by this class."""
        if not topic.startswith(self.prefix + "/"):
            raise TopicError(f"topic {topic!r} is not under {self.prefix}/")
        rest = topic[len(self.prefix) + 1 :].split("/")
        if len(rest) == 3 and rest[0] == "station" and rest[2] in STATION_TOPICS:
            return ParsedTopic("station", self._id("station", rest[1]), rest[2])
        if len(rest) == 3 and rest[0] == "room" and rest[2] in ROOM_TOPICS:
            return ParsedTopic("room", self._id("room", rest[1]), rest[2])
        if len(rest) == 2 and rest[0] == "directory" and rest[1] in DIRECTORY_KINDS:
            return ParsedTopic("directory", rest[1], rest[1])
        raise TopicError(f"topic {topic!r} is not a known {self.prefix} topic")
