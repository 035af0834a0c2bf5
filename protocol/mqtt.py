"""The MQTT link every daemon uses: paho-mqtt 2 (MQTT 5) driven from asyncio.

One persistent session per daemon (clean_start=False and a session expiry, so the broker
keeps subscriptions and queued QoS 1 messages while we are away), automatic reconnect with
exponential backoff, a last will, TLS and credentials from `MqttSettings`.

paho runs its network loop in its own thread; every callback is handed to the asyncio loop
with `call_soon_threadsafe`, and incoming messages are processed one at a time, in order, by
the owner's handler inside `run()`.

Delivery is at-least-once end to end only because the station outbox resends until central's
application-level ack: the broker is never the buffer of record.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from protocol.settings import MqttSettings

log = logging.getLogger("nfch.mqtt")


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message received from the broker."""

    topic: str
    payload: bytes
    retain: bool
    qos: int


@dataclass(frozen=True, slots=True)
class Will:
    """The last will the broker publishes if we vanish."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class MqttNotConnected(Exception):
    """A publish could not be handed to the broker because the link is down."""


MessageHandler = Callable[[Incoming], Awaitable[None]]
ConnectHandler = Callable[[bool], Awaitable[None]]


def _no_delay(_client: Any, _userdata: Any, sock: Any) -> None:
    """TCP_NODELAY on the broker connection (paho leaves Nagle's algorithm on). An ack, a
    PUBACK or a snapshot written right after another small write was otherwise held back
    until the broker acknowledged the first, and Linux delays that ACK up to 40 ms: the
    event-to-board tail of bench central-ingest sat at 40-45 ms steps."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError) as e:  # not a TCP socket (a websocket wrapper)
        log.debug("mqtt.no_delay_unavailable error=%r", e)


class MqttLink:
    """An MQTT 5 client with a persistent session, owned by one asyncio task (`run`)."""

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        *,
        subscriptions: list[tuple[str, int]] | None = None,
        on_message: MessageHandler | None = None,
        on_connect: ConnectHandler | None = None,
        will: Will | None = None,
        clean_start: bool = False,
    ) -> None:
        self.settings = settings
        self.client_id = settings.client_id or client_id
        self.subscriptions = list(subscriptions or [])
        self._on_message = on_message
        self._on_connect = on_connect
        self._clean_start = clean_start
        self._loop: asyncio.AbstractEventLoop | None = None
        self._incoming: asyncio.Queue[Incoming | tuple[str, bool]] = asyncio.Queue()
        self._pending: dict[int, asyncio.Future[None]] = {}
        self.connected = asyncio.Event()
        self.subscribed = asyncio.Event()  # SUBACK of this connection's subscriptions
        self.disconnected = asyncio.Event()
        self.disconnected.set()
        self.connect_count = 0
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5
        )
        self._client.max_inflight_messages_set(100)
        self._client.reconnect_delay_set(
            min_delay=max(1, int(settings.reconnect_min_s)),
            max_delay=max(1, int(settings.reconnect_max_s)),
        )
        if settings.username:
            self._client.username_pw_set(settings.username, settings.resolved_password())
        if settings.tls_ca_file:
            self._client.tls_set(
                ca_certs=str(settings.tls_ca_file),
                certfile=str(settings.tls_cert_file) if settings.tls_cert_file else None,
                keyfile=str(settings.tls_key_file) if settings.tls_key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        if will is not None:
            self._client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        self._client.on_connect = self._paho_connect
        self._client.on_disconnect = self._paho_disconnect
        self._client.on_message = self._paho_message
        self._client.on_publish = self._paho_publish
        self._client.on_subscribe = self._paho_subscribe
        self._client.on_socket_open = _no_delay

    # --- paho thread -> asyncio -------------------------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    def _paho_connect(self, _c: Any, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("mqtt.connect_refused client=%s reason=%s", self.client_id, reason)
            return
        # Subscribe from the paho thread at once so nothing published meanwhile is missed.
        if self.subscriptions:
            self._client.subscribe([(t, q) for t, q in self.subscriptions])
        else:
            self._call(self.subscribed.set)
        self._call(self._incoming.put_nowait, ("connect", bool(flags.session_present)))

    def _paho_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._call(self._incoming.put_nowait, ("disconnect", False))

    def _paho_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        item = Incoming(msg.topic, bytes(msg.payload), bool(msg.retain), int(msg.qos))
        self._call(self._incoming.put_nowait, item)

    def _paho_subscribe(self, _c: Any, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        failed = [c for c in codes if c.is_failure]
        if failed:
            log.error("mqtt.subscribe_refused client=%s codes=%s", self.client_id, failed)
        self._call(self.subscribed.set)

    def _paho_publish(self, _c: Any, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        self._call(self._resolve, mid)

    def _resolve(self, mid: int) -> None:
        fut = self._pending.pop(mid, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    # --- asyncio side -----------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, keep reconnecting, and feed messages to the handler until cancelled."""
        self._loop = asyncio.get_running_loop()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.session_expiry_s
        self._client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive_s,
            clean_start=self._clean_start,
            properties=props,
        )
        self._client.loop_start()
        log.info(
            "mqtt.starting client=%s broker=%s:%d",
            self.client_id,
            self.settings.host,
            self.settings.port,
        )
        try:
            while True:
                item = await self._incoming.get()
                await self._dispatch(item)
                # Not held while waiting for the next one: a message may be a document of
                # several MB (a day's cards), and its decoded copies are gone by now.
                del item
        finally:
            await asyncio.to_thread(self._stop)

    async def _dispatch(self, item: Incoming | tuple[str, bool]) -> None:
        if isinstance(item, Incoming):
            if self._on_message is not None:
                await self._on_message(item)
            return
        kind, session_present = item
        if kind == "connect":
            self.connect_count += 1
            self.disconnected.clear()
            self.connected.set()
            log.info(
                "mqtt.connected client=%s session_present=%s",
                self.client_id,
                session_present,
            )
            if self._on_connect is not None:
                await self._on_connect(session_present)
        else:
            if self.connected.is_set():
                log.warning("mqtt.disconnected client=%s", self.client_id)
            self.connected.clear()
            self.subscribed.clear()
            self.disconnected.set()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(MqttNotConnected("link lost before PUBACK"))
            self._pending.clear()

    def _stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    async def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        puback_timeout: float | None = 10.0,
    ) -> None:
        """Publish and, for QoS 1, wait for the broker's PUBACK.

        Raises MqttNotConnected when the link is down (nothing is queued for later: callers
        keep their own outbox) and TimeoutError when no PUBACK comes within `puback_timeout`.
        """
        if not self.connected.is_set():
            raise MqttNotConnected(f"not connected; {topic} not published")
        loop = asyncio.get_running_loop()
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise MqttNotConnected(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        if qos == 0:
            return
        fut: asyncio.Future[None] = loop.create_future()
        self._pending[info.mid] = fut
        if info.is_published():  # PUBACK raced ahead of us
            self._resolve(info.mid)
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that races
        # with the PUBACK, and the caller (e.g. a `run` loop being stopped) never ends.
        async with asyncio.timeout(puback_timeout):
            await fut
