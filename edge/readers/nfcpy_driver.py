"""nfcpy driver: USB readers such as the Sony RC-S380 and ACR122U, or nfcpy's `udp` device.

nfcpy is blocking, so the frontend lives in a worker thread (`edge.readers.threaded`). The
thread opens the device, polls with `clf.connect(rdwr=...)` for the configured targets, and
reopens the device with jittered backoff when it disappears (nfcpy's `connect` returns False
after an I/O error such as an unplug).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import nfc  # the hardware library: imported here only
import nfc.clf

from edge.readers.base import (
    Backoff,
    CardRead,
    Clock,
    HealthTracker,
    OnRead,
    ReadFailure,
    Technology,
    parse_uid,
)
from edge.readers.config import NfcpyReaderConfig
from edge.readers.threaded import Emit, run_worker_thread
from protocol.messages import ReaderHealth

log = logging.getLogger(__name__)
# nfcpy logs every discovered target, UID included, at debug level; it keeps its "nfc" logger
# at INFO itself, and a station must not lower it (tests check no UID reaches the log).

_TECHNOLOGY: dict[str, Technology] = {
    "106A": "iso14443a",
    "106B": "iso14443b",
    "212F": "felica",
    "424F": "felica",
}


class NfcpyReader:
    """Reads card UIDs through an nfcpy ContactlessFrontend."""

    driver = "nfcpy"

    def __init__(self, config: NfcpyReaderConfig, clock: Clock = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._health = HealthTracker.for_reader(config, self.driver)

    @property
    def name(self) -> str:
        return self.config.name

    def health(self) -> ReaderHealth:
        return self._health.snapshot()

    async def run(self, on_read: OnRead) -> None:
        """Poll for cards in a worker thread and deliver reads, until cancelled."""
        await run_worker_thread(self.name, self._worker, on_read)

    def _worker(self, stop: threading.Event, emit: Emit) -> None:
        backoff = Backoff(maximum_s=self.config.reconnect_max_s)
        while not stop.is_set():
            try:
                clf = nfc.ContactlessFrontend(self.config.device)
            except (OSError, nfc.clf.Error) as e:
                self._health.set("disconnected", f"{self.config.device}: {e}")
                stop.wait(backoff.next_delay())
                continue
            opened_at = time.monotonic()
            try:
                self._health.set("ok", f"{self.config.device}: {clf.device}")
                self._poll(clf, stop, emit)
            except Exception as e:
                # A library bug must not kill the station's reading for good: report, retry.
                log.exception("reader.unexpected_error reader=%s", self.name)
                self._health.set("error", f"{type(e).__name__}: {e}")
            finally:
                try:
                    clf.close()
                except Exception as e:  # closing a device that vanished can fail: it is gone anyway
                    log.info("reader.close_failed reader=%s error=%s", self.name, e)
            backoff.reset_if_stable(time.monotonic() - opened_at)
            if not stop.is_set():
                stop.wait(backoff.next_delay())
        self._health.set("disconnected", "stopped")

    def _poll(self, clf: Any, stop: threading.Event, emit: Emit) -> None:
        """Read cards until stopped or the device fails."""
        # A target sensed but never connected means activation failed: the card left too soon.
        pending: dict[str, Any] = {}

        def on_discover(target: Any) -> bool:
            # As nfcpy's default: leave peer-to-peer devices (phones in P2P mode) alone.
            if target.sel_res and target.sel_res[0] & 0x40:
                return False
            if target.sensf_res and target.sensf_res[1:3] == b"\x01\xfe":
                return False
            pending["target"] = target
            return True

        def on_connect(tag: Any) -> bool:
            target = pending.pop("target", None) or tag.target
            emit(self._result(bytes(tag.identifier), target.brty))
            return True  # hold the tag until it leaves: a card left on the reader is one read

        def terminate() -> bool:
            if pending.pop("target", None) is not None:
                emit(
                    self._health.failed(
                        ReadFailure(
                            reader=self.name,
                            reason="card_removed",
                            detail="the card left the field before it could be read",
                            read_at_monotonic=self._clock(),
                        )
                    )
                )
            return stop.is_set()

        rdwr = {
            "targets": list(self.config.targets),
            "on-discover": on_discover,
            "on-connect": on_connect,
            "beep-on-connect": False,
            "iterations": 1,
            "interval": self.config.poll_interval_s,
        }
        while not stop.is_set():
            result = clf.connect(rdwr=rdwr, terminate=terminate)
            if result is False:
                # nfcpy logs and swallows the I/O error (an unplugged reader) and returns False.
                self._health.set("disconnected", f"{self.config.device}: device error")
                return

    def _result(self, identifier: bytes, brty: str) -> CardRead | ReadFailure:
        now = self._clock()
        technology = _TECHNOLOGY.get(brty, "iso14443a")
        uid = parse_uid(identifier.hex())
        if uid is None:
            return self._health.failed(
                ReadFailure(
                    reader=self.name,
                    reason="bad_uid",
                    detail=f"{technology} identifier of {len(identifier)} bytes",
                    read_at_monotonic=now,
                )
            )
        return CardRead(uid=uid, reader=self.name, technology=technology, read_at_monotonic=now)
