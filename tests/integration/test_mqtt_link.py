"""The shared MQTT link against a real Mosquitto: delivery, reconnect, session, will."""

from __future__ import annotations

import asyncio
import socket

import pytest

from protocol.mqtt import Incoming, MqttLink, MqttNotConnected, Will
from protocol.settings import MqttSettings

pytestmark = pytest.mark.integration


def settings(port: int) -> MqttSettings:
    return MqttSettings(port=port, reconnect_min_s=0.2, reconnect_max_s=1, keepalive_s=5)


class Receiver:
    def __init__(self) -> None:
        self.got: asyncio.Queue[Incoming] = asyncio.Queue()

    async def __call__(self, msg: Incoming) -> None:
        await self.got.put(msg)


async def test_publish_and_receive_in_order(broker, topics):
    topic = topics.room("r1", "call")
    rx = Receiver()
    sub = MqttLink(settings(broker.port), "sub", subscriptions=[(topic, 1)], on_message=rx)
    pub = MqttLink(settings(broker.port), "pub")
    async with asyncio.TaskGroup() as tg:
        t1 = tg.create_task(sub.run(), name="sub")
        t2 = tg.create_task(pub.run(), name="pub")
        await asyncio.wait_for(sub.connected.wait(), 10)
        await asyncio.wait_for(pub.connected.wait(), 10)
        await asyncio.wait_for(sub.subscribed.wait(), 10)
        for i in range(50):
            await pub.publish(topic, f"{i}".encode())
        got = [(await asyncio.wait_for(rx.got.get(), 10)).payload for _ in range(50)]
        assert got == [f"{i}".encode() for i in range(50)]
        t1.cancel()
        t2.cancel()


async def test_reconnects_after_broker_restart_with_session_and_queued_messages(broker, topics):
    topic = topics.station("s1", "ack")
    rx = Receiver()
    sub = MqttLink(settings(broker.port), "station-s1", subscriptions=[(topic, 1)], on_message=rx)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(sub.run(), name="sub")
        await asyncio.wait_for(sub.connected.wait(), 10)
        await asyncio.to_thread(broker.restart)
        await asyncio.wait_for(sub.disconnected.wait(), 10)
        await asyncio.wait_for(sub.connected.wait(), 15)
        assert sub.connect_count == 2
        await asyncio.wait_for(sub.subscribed.wait(), 10)
        pub = MqttLink(settings(broker.port), "central")
        ptask = tg.create_task(pub.run(), name="pub")
        await asyncio.wait_for(pub.connected.wait(), 10)
        await pub.publish(topic, b"acked-through-7")
        msg = await asyncio.wait_for(rx.got.get(), 10)
        assert msg.payload == b"acked-through-7"
        task.cancel()
        ptask.cancel()


async def test_publish_while_down_raises_instead_of_pretending(broker, topics):
    link = MqttLink(settings(broker.port), "lonely")
    broker.stop()
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(link.run(), name="link")
        with pytest.raises(MqttNotConnected):
            await link.publish(topics.station("s1", "events"), b"x")
        task.cancel()


async def test_last_will_is_published_when_a_client_vanishes(broker, topics):
    status = topics.station("s9", "status")
    rx = Receiver()
    watcher = MqttLink(settings(broker.port), "watcher", subscriptions=[(status, 1)], on_message=rx)
    dying = MqttLink(settings(broker.port), "s9", will=Will(status, b"offline"))
    async with asyncio.TaskGroup() as tg:
        wtask = tg.create_task(watcher.run(), name="watcher")
        dtask = tg.create_task(dying.run(), name="dying")
        await asyncio.wait_for(watcher.subscribed.wait(), 10)
        await asyncio.wait_for(dying.connected.wait(), 10)
        # Vanish without DISCONNECT: close the socket under paho's feet.
        dying._client.loop_stop()
        sock = dying._client.socket()
        assert sock is not None
        sock.close()
        msg = await asyncio.wait_for(rx.got.get(), 30)
        assert (msg.topic, msg.payload) == (status, b"offline")
        dtask.cancel()
        wtask.cancel()


async def test_every_broker_connection_sends_small_messages_at_once(broker):
    """TCP_NODELAY on the link's socket, after a reconnect too: with Nagle's algorithm a
    small write waited for the broker's (delayed, up to 40 ms) ACK of the one before."""
    link = MqttLink(settings(broker.port), "no-delay")
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(link.run(), name="link")
        for _ in range(2):
            await asyncio.wait_for(link.connected.wait(), 10)
            sock = link._client.socket()
            assert sock is not None
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            broker.stop()
            await asyncio.wait_for(link.disconnected.wait(), 10)
            broker.start()
        task.cancel()
