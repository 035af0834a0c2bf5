"""The WebSocket change feed (`/api/v1/ws`): streams with sequence numbers and resume.

Streams: `room:{room_id}` (queue snapshots, one per version), `calls` (call announcements) and
`stations` (station status). Each stream numbers its messages 1, 2, 3 ... and keeps the last
`buffer_size` frames in a ring buffer. A client subscribes with the last `seq` it saw per
stream (and the hub `epoch` it saw them under); the hub replays what it missed, or, when the
client is too far behind (or the hub restarted), sends one `reset` frame with the stream's
current state instead.

Every frame is encoded to text once, when published, and the same string goes to every
client: fan-out never rebuilds a snapshot per client.

Client -> server (JSON text): `{"op": "subscribe", "streams": {"room:r1": 12, "calls": null},
"epoch": "..."}` and `{"op": "unsubscribe", "streams": ["room:r1"]}`.
Server -> client: `{"stream", "seq", "epoch", "type", "data"}` with type `snapshot`, `call`,
`station`, `reset` (data = current state) or `error` (stream null).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web
from pydantic import Field, ValidationError

from central.metrics import BAD_INPUT, WS_CLIENTS, WS_SENT
from protocol.base import Model
from protocol.ids import is_valid_id

log = logging.getLogger("central.ws")

StateLoader = Callable[[str], Awaitable[str | None]]
"""Loads a stream's current state as JSON text (None: none) when the hub has none cached."""

ROOM_PREFIX = "room:"
FIXED_STREAMS = ("calls", "stations")


def valid_stream(name: str) -> bool:
    """True for `calls`, `stations` and `room:{valid room id}`."""
    if name in FIXED_STREAMS:
        return True
    return name.startswith(ROOM_PREFIX) and is_valid_id(name[len(ROOM_PREFIX) :])


class SubscribeMessage(Model):
    """Subscribe to streams, resuming each after the last sequence number seen."""

    op: str = Field(pattern="^subscribe$", description="Always `subscribe`.")
    streams: dict[str, int | None] = Field(
        max_length=1000,
        description="Stream name -> last seq seen (null: start with the current state).",
    )
    epoch: str | None = Field(
        default=None, max_length=64, description="The hub epoch the seqs were seen under."
    )


class UnsubscribeMessage(Model):
    """Stop receiving streams."""

    op: str = Field(pattern="^unsubscribe$", description="Always `unsubscribe`.")
    streams: list[str] = Field(max_length=1000, description="Stream names.")


def _frame(stream: str | None, seq: int, epoch: str, type_: str, data: str) -> str:
    # `data` is already JSON: splice it in rather than decoding and re-encoding it.
    return (
        f'{{"stream":{json.dumps(stream)},"seq":{seq},"epoch":"{epoch}",'
        f'"type":"{type_}","data":{data}}}'
    )


@dataclass(slots=True)
class _Stream:
    name: str
    buffer: deque[tuple[int, str]]
    seq: int = 0
    state: str | None = None
    """Current state as JSON (the latest snapshot, or the whole fleet); sent in `reset`."""
    clients: set[Client] = field(default_factory=set)


class Client:
    """One WebSocket connection's outgoing queue and subscriptions."""

    def __init__(self, limit: int) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=limit)
        self.streams: set[str] = set()
        self.overflowed = asyncio.Event()
        """Set when the connection must end: the client fell behind, or central shuts down."""
        self.shutting_down = False

    def offer(self, text: str) -> None:
        """Queue a frame; a client that cannot keep up is dropped (it resumes on reconnect)."""
        if self.overflowed.is_set():
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.overflowed.set()


class Hub:
    """Streams, their ring buffers and the connected clients."""

    def __init__(
        self,
        *,
        buffer_size: int = 256,
        client_queue: int = 1024,
        loader: StateLoader | None = None,
    ) -> None:
        self.epoch = secrets.token_hex(8)
        self.buffer_size = buffer_size
        self.client_queue = client_queue
        self._loader = loader
        self._streams: dict[str, _Stream] = {}
        self._clients: set[Client] = set()
        self._room_versions: dict[str, int] = {}

    def set_loader(self, loader: StateLoader) -> None:
        self._loader = loader

    def _stream(self, name: str) -> _Stream:
        s = self._streams.get(name)
        if s is None:
            s = self._streams[name] = _Stream(name, deque(maxlen=self.buffer_size))
        return s

    def seq(self, name: str) -> int:
        """The stream's last sequence number (0 when nothing was published)."""
        s = self._streams.get(name)
        return s.seq if s else 0

    # ------------------------------------------------------------------ publishing

    def publish(self, name: str, type_: str, data: str, *, state: str | None = None) -> int:
        """Append a frame (`data` is JSON text) to a stream and offer it to its clients.

        `state`, when given, becomes the stream's current state for `reset` frames.
        Returns the frame's sequence number.
        """
        s = self._stream(name)
        s.seq += 1
        text = _frame(name, s.seq, self.epoch, type_, data)
        s.buffer.append((s.seq, text))
        if state is not None:
            s.state = state
        for client in s.clients:
            client.offer(text)
        WS_SENT.labels(type=type_).inc(len(s.clients))
        return s.seq

    def publish_room(self, room_id: str, version: int, snapshot_json: str) -> bool:
        """Publish a room snapshot unless this version (or a newer one) was already sent."""
        if self._room_versions.get(room_id, 0) >= version:
            return False
        self._room_versions[room_id] = version
        self.publish(ROOM_PREFIX + room_id, "snapshot", snapshot_json, state=snapshot_json)
        return True

    # ------------------------------------------------------------------ clients

    def connect(self) -> Client:
        client = Client(self.client_queue)
        self._clients.add(client)
        WS_CLIENTS.set(len(self._clients))
        return client

    def disconnect(self, client: Client) -> None:
        for name in client.streams:
            s = self._streams.get(name)
            if s is not None:
                s.clients.discard(client)
        client.streams.clear()
        self._clients.discard(client)
        WS_CLIENTS.set(len(self._clients))

    async def subscribe(
        self, client: Client, streams: dict[str, int | None], epoch: str | None
    ) -> None:
        """Attach `client` to streams, replaying or resetting each from its last seq."""
        for name in streams:
            s = self._streams.get(name)
            if (s is None or s.state is None) and name.startswith(ROOM_PREFIX) and self._loader:
                state = await self._loader(name)
                s = self._stream(name)
                if s.state is None and state is not None:
                    s.state = state
        # From here on no await: replay and registration happen with no frame in between.
        for name, after in streams.items():
            s = self._stream(name)
            if client in s.clients:
                continue
            s.clients.add(client)
            client.streams.add(name)
            oldest = s.buffer[0][0] if s.buffer else s.seq + 1
            if after is not None and epoch == self.epoch and oldest - 1 <= after <= s.seq:
                for seq, text in s.buffer:
                    if seq > after:
                        client.offer(text)
                WS_SENT.labels(type="replay").inc()
            else:
                client.offer(_frame(name, s.seq, self.epoch, "reset", s.state or "null"))
                WS_SENT.labels(type="reset").inc()

    def unsubscribe(self, client: Client, streams: list[str]) -> None:
        for name in streams:
            s = self._streams.get(name)
            if s is not None:
                s.clients.discard(client)
            client.streams.discard(name)

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def close_all(self) -> None:
        """Ask every connection to end (shutdown)."""
        for client in list(self._clients):
            client.shutting_down = True
            client.overflowed.set()


def _error_frame(epoch: str, reason: str, detail: str, where: str = "$") -> str:
    body = {
        "reason": reason,
        "message_ko": "요청 형식이 올바르지 않습니다.",
        "message_en": "The WebSocket message is not valid.",
        "detail": detail,
        "where": where,
    }
    return _frame(None, 0, epoch, "error", json.dumps(body, ensure_ascii=False))


def _parse(raw: str) -> SubscribeMessage | UnsubscribeMessage:
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON: {e.msg}") from None
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    if obj.get("op") == "subscribe":
        sub = SubscribeMessage.model_validate(obj)
        bad = [n for n in sub.streams if not valid_stream(n)]
        msg: SubscribeMessage | UnsubscribeMessage = sub
    elif obj.get("op") == "unsubscribe":
        unsub = UnsubscribeMessage.model_validate(obj)
        bad = [n for n in unsub.streams if not valid_stream(n)]
        msg = unsub
    else:
        raise ValueError('"op" must be "subscribe" or "unsubscribe"')
    if bad:
        raise ValueError(f"unknown stream {bad[0]!r}: use calls, stations or room:ROOM_ID")
    return msg


async def websocket_handler(hub: Hub, request: web.Request) -> web.WebSocketResponse:
    """Serve one WebSocket client until it leaves, falls behind, or central shuts down."""
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=64 * 1024)
    await ws.prepare(request)
    client = hub.connect()
    log.info("ws.connected remote=%s clients=%d", request.remote, hub.client_count)

    async def reader() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                parsed = _parse(msg.data)
            except ValidationError as e:
                first = e.errors(include_url=False)[0]
                where = ".".join(str(p) for p in first["loc"]) or "$"
                BAD_INPUT.labels(source="ws", reason="invalid").inc()
                client.offer(_error_frame(hub.epoch, "invalid_input", first["msg"], where))
                continue
            except ValueError as e:
                BAD_INPUT.labels(source="ws", reason="invalid").inc()
                client.offer(_error_frame(hub.epoch, "invalid_input", str(e)))
                continue
            if isinstance(parsed, SubscribeMessage):
                await hub.subscribe(client, parsed.streams, parsed.epoch)
            elif isinstance(parsed, UnsubscribeMessage):
                hub.unsubscribe(client, parsed.streams)

    async def writer() -> None:
        while True:
            text = await client.queue.get()
            await ws.send_str(text)

    async def overflow() -> None:
        await client.overflowed.wait()

    # Owned here and always cancelled in `finally`: whichever ends first (client left, send
    # failed, too slow, shutdown) ends the others.
    tasks = [
        asyncio.create_task(reader(), name="ws-reader"),
        asyncio.create_task(writer(), name="ws-writer"),
        asyncio.create_task(overflow(), name="ws-overflow"),
    ]
    try:
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                log.info("ws.ended_with_error error=%r", t.exception())
        if client.shutting_down and not ws.closed:
            await ws.close(code=1001, message=b"central is shutting down; resume later")
        elif client.overflowed.is_set() and not ws.closed:
            await ws.close(code=1013, message=b"behind; reconnect and resume")
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        hub.disconnect(client)
        if not ws.closed:
            await ws.close()
        log.info("ws.disconnected remote=%s clients=%d", request.remote, hub.client_count)
    return ws
