"""Keyboard-wedge driver (evdev): a reader that types the UID as keystrokes and Enter.

The device is opened by path or found by a substring of its name, grabbed (so the UID is not
also typed into the kiosk or console), and read with evdev's asyncio support. An unplugged
device raises OSError; the driver then reports `disconnected` and looks for it again with
jittered backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import evdev  # the hardware library: imported here only
from evdev import ecodes

from edge.readers.base import (
    Backoff,
    CardRead,
    Clock,
    HealthTracker,
    OnRead,
    ReadFailure,
    ReadResult,
)
from edge.readers.config import KeyboardReaderConfig
from edge.readers.keyboard_decode import KeyAssembler, Typed, typed_to_uid
from protocol.messages import ReaderHealth

log = logging.getLogger(__name__)


def find_device(spec: str) -> str | None:
    """The evdev path for `spec`: a path as given, or the first device whose name contains it."""
    if spec.startswith("/"):
        return spec
    for path in evdev.list_devices():
        try:
            device = evdev.InputDevice(path)
        except OSError:
            continue
        try:
            if spec.lower() in device.name.lower():
                return str(path)
        finally:
            device.close()
    return None


class KeyboardReader:
    """Reads UIDs typed by a keyboard-wedge reader."""

    driver = "keyboard"

    def __init__(self, config: KeyboardReaderConfig, clock: Clock = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._health = HealthTracker.for_reader(config, self.driver)

    @property
    def name(self) -> str:
        return self.config.name

    def health(self) -> ReaderHealth:
        return self._health.snapshot()

    async def run(self, on_read: OnRead) -> None:
        """Read typed UIDs until cancelled, reopening the device when it disappears."""
        backoff = Backoff(maximum_s=self.config.reconnect_max_s)
        try:
            while True:
                path = find_device(self.config.device)
                try:
                    if path is None:
                        raise FileNotFoundError(
                            f"no input device named like {self.config.device!r}"
                        )
                    device = evdev.InputDevice(path)
                except OSError as e:
                    self._health.set("disconnected", str(e))
                    await asyncio.sleep(backoff.next_delay())
                    continue
                opened_at = time.monotonic()
                try:
                    if self.config.grab:
                        device.grab()  # fails when another program grabbed it
                    self._health.set("ok", f"{path}: {device.name}")
                    await self._read(device, on_read)
                except OSError as e:
                    self._health.set("disconnected", f"{path}: {e}")
                finally:
                    backoff.reset_if_stable(time.monotonic() - opened_at)
                    with contextlib.suppress(OSError):  # already gone with an unplugged device
                        device.close()
                await asyncio.sleep(backoff.next_delay())
        finally:
            self._health.set("disconnected", "stopped")

    async def _read(self, device: evdev.InputDevice[str], on_read: OnRead) -> None:
        assembler = KeyAssembler()
        async for event in device.async_read_loop():
            if event.type != ecodes.EV_KEY or event.value != 1:  # key down only, no repeats
                continue
            line = assembler.key_down(event.code, self._clock())
            if line is not None:
                await on_read(self._result(line))

    def _result(self, line: Typed) -> ReadResult:
        now = self._clock()
        try:
            if line.garbage:
                raise ValueError(f"{len(line.text)} typed characters and keys that are not hex")
            uid = typed_to_uid(
                line.text, self.config.uid_format, self.config.byte_order, self.config.uid_bytes
            )
        except ValueError as e:
            return self._health.failed(
                ReadFailure(
                    reader=self.name, reason="bad_uid", detail=str(e), read_at_monotonic=now
                )
            )
        return CardRead(uid=uid, reader=self.name, technology="keyboard", read_at_monotonic=now)
