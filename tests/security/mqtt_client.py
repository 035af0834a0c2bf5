"""A small synchronous MQTT 5 client for security assertions: CONNACK, SUBACK and PUBACK
reason codes, and the messages it got (paho in its own network thread)."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode


class Client:
    def __init__(
        self, port: int, username: str | None, password: str | None, name: str = ""
    ) -> None:
        self.name = name or (username or "anonymous")
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"sec-{self.name}-{time.monotonic_ns()}",
            protocol=mqtt.MQTTv5,
        )
        if username is not None:
            self.c.username_pw_set(username, password)
        self._lock = threading.Condition()
        self.rc: ReasonCode | None = None
        self.messages: list[mqtt.MQTTMessage] = []
        self.subacks: dict[int, list[ReasonCode]] = {}
        self.pubacks: dict[int, ReasonCode] = {}
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_publish = self._on_publish
        self.c.connect("127.0.0.1", port, keepalive=10)
        self.c.loop_start()
        self._wait(lambda: self.rc is not None, "no CONNACK")

    def _wait(self, ready: object, what: str, limit_s: float = 10) -> None:
        assert callable(ready)
        with self._lock:
            if not self._lock.wait_for(ready, limit_s):
                raise AssertionError(f"{self.name}: {what}")

    def _on_connect(self, _c: object, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        with self._lock:
            self.rc = rc
            self._lock.notify_all()

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(msg)
            self._lock.notify_all()

    def _on_subscribe(
        self, _c: object, _u: object, mid: int, codes: list[ReasonCode], _p: object
    ) -> None:
        with self._lock:
            self.subacks[mid] = list(codes)
            self._lock.notify_all()

    def _on_publish(self, _c: object, _u: object, mid: int, rc: ReasonCode, _p: object) -> None:
        with self._lock:
            self.pubacks[mid] = rc
            self._lock.notify_all()

    @property
    def refused(self) -> bool:
        assert self.rc is not None
        return bool(self.rc.is_failure)

    def subscribe(self, topic: str) -> ReasonCode:
        """Subscribe at QoS 1; the SUBACK's reason code (a failure when the ACL denies it)."""
        _rc, mid = self.c.subscribe(topic, qos=1)
        assert mid is not None
        self._wait(lambda: mid in self.subacks, f"no SUBACK for {topic}")
        return self.subacks[mid][0]

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> ReasonCode:
        """QoS 1 publish; the PUBACK's reason code."""
        info = self.c.publish(topic, payload, qos=1, retain=retain)
        self._wait(lambda: info.mid in self.pubacks, f"no PUBACK for {topic}")
        return self.pubacks[info.mid]

    def wait_for(self, topic: str, payload: bytes, limit_s: float = 10) -> None:
        self._wait(
            lambda: any(m.topic == topic and m.payload == payload for m in self.messages),
            f"never got {payload!r} on {topic}",
            limit_s,
        )

    def topics(self) -> set[str]:
        with self._lock:
            return {m.topic for m in self.messages}

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()
