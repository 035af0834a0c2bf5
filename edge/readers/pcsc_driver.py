"""PC/SC driver (pyscard): any reader pcscd knows, such as the ACR122U, ACR1252 or HID Omnikey.

A worker thread waits for card insertion with `SCardGetStatusChange` (short timeouts, so a stop
is noticed quickly), connects, sends the PC/SC GET DATA APDU `FF CA 00 00 00` and expects the
UID followed by `90 00`. Anything else is a `ReadFailure`. When pcscd goes away or the reader is
unplugged, the thread drops its context and reconnects with jittered backoff.
"""

from __future__ import annotations

import logging
import threading
import time

from smartcard import scard  # the hardware library: imported here only

from edge.readers.base import (
    Backoff,
    CardRead,
    Clock,
    FailureReason,
    HealthTracker,
    OnRead,
    ReadFailure,
    Technology,
    count_failure,
    parse_uid,
)
from edge.readers.config import PcscReaderConfig
from edge.readers.threaded import Emit, run_worker_thread
from protocol.messages import ReaderHealth

log = logging.getLogger(__name__)

GET_UID = [0xFF, 0xCA, 0x00, 0x00, 0x00]
SW_OK = b"\x90\x00"

# Results that mean the card left between insertion and the end of the read.
_CARD_GONE = {
    scard.SCARD_W_REMOVED_CARD,
    scard.SCARD_E_NO_SMARTCARD,
    scard.SCARD_W_RESET_CARD,
    scard.SCARD_W_UNPOWERED_CARD,
    scard.SCARD_W_UNRESPONSIVE_CARD,
}
_READER_GONE_STATES = (
    scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE | scard.SCARD_STATE_IGNORE
)
# The PC/SC part 3 ATR of a contactless card names its standard after this registered id.
_PCSC_RID = bytes.fromhex("A000000306")
_STANDARDS: dict[int, Technology] = {
    0x03: "iso14443a",
    0x07: "iso14443b",
    0x0B: "iso15693",
    0x11: "felica",
}


def technology_from_atr(atr: bytes) -> Technology:
    """The card technology a contactless reader encodes in the ATR (ISO 14443 A by default)."""
    i = atr.find(_PCSC_RID)
    if i >= 0 and i + len(_PCSC_RID) < len(atr):
        return _STANDARDS.get(atr[i + len(_PCSC_RID)], "iso14443a")
    return "iso14443a"


def _error(hresult: int) -> str:
    return f"{scard.SCardGetErrorMessage(hresult)} (0x{hresult & 0xFFFFFFFF:08X})"


class PcscReader:
    """Reads card UIDs from one PC/SC reader through pcscd."""

    driver = "pcsc"

    def __init__(self, config: PcscReaderConfig, clock: Clock = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._health = HealthTracker(config.name, self.driver)
        self._ctx: int | None = None  # the worker's PC/SC context, for SCardCancel on stop

    @property
    def name(self) -> str:
        return self.config.name

    def health(self) -> ReaderHealth:
        return self._health.snapshot()

    async def run(self, on_read: OnRead) -> None:
        """Watch the reader in a worker thread and deliver reads, until cancelled."""
        await run_worker_thread(self.name, self._worker, on_read, wake=self._wake)

    def _wake(self) -> None:
        ctx = self._ctx
        if ctx is not None:
            # SCardCancel is the PC/SC way to end another thread's SCardGetStatusChange.
            scard.SCardCancel(ctx)

    def _worker(self, stop: threading.Event, emit: Emit) -> None:
        backoff = Backoff(maximum_s=self.config.reconnect_max_s)
        while not stop.is_set():
            hresult, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if hresult != scard.SCARD_S_SUCCESS:
                self._health.set("disconnected", f"pcscd not reachable: {_error(hresult)}")
                stop.wait(backoff.next_delay())
                continue
            self._ctx = ctx
            try:
                reader = self._choose(ctx)
                if reader is not None:
                    self._health.set("ok", reader)
                    opened_at = time.monotonic()
                    self._watch(ctx, reader, stop, emit)
                    backoff.reset_if_stable(time.monotonic() - opened_at)
            finally:
                self._ctx = None
                scard.SCardReleaseContext(ctx)
            if not stop.is_set():
                stop.wait(backoff.next_delay())
        self._health.set("disconnected", "stopped")

    def _choose(self, ctx: int) -> str | None:
        """The configured reader's PC/SC name, or None (health says why)."""
        hresult, readers = scard.SCardListReaders(ctx, [])
        if hresult != scard.SCARD_S_SUCCESS or not readers:
            self._health.set("disconnected", "no PC/SC reader connected")
            return None
        wanted = self.config.reader
        if isinstance(wanted, int):
            if wanted < len(readers):
                return str(readers[wanted])
        else:
            for name in readers:
                if wanted.lower() in str(name).lower():
                    return str(name)
        self._health.set(
            "disconnected", f"no PC/SC reader matches {wanted!r} (found: {', '.join(readers)})"
        )
        return None

    def _watch(self, ctx: int, reader: str, stop: threading.Event, emit: Emit) -> None:
        """Read each inserted card until stopped or the reader or pcscd goes away."""
        timeout_ms = int(self.config.poll_interval_s * 1000)
        state = scard.SCARD_STATE_UNAWARE
        while not stop.is_set():
            hresult, states = scard.SCardGetStatusChange(ctx, timeout_ms, [(reader, state)])
            if hresult == scard.SCARD_E_TIMEOUT:
                continue
            if hresult == scard.SCARD_E_CANCELLED and stop.is_set():
                return
            if hresult != scard.SCARD_S_SUCCESS:
                self._health.set("disconnected", f"{reader}: {_error(hresult)}")
                return
            _, event, atr = states[0]
            if event & _READER_GONE_STATES:
                self._health.set("disconnected", f"{reader}: reader removed")
                return
            was_present = state & scard.SCARD_STATE_PRESENT
            state = event & ~scard.SCARD_STATE_CHANGED
            if event & scard.SCARD_STATE_PRESENT and not was_present:
                emit(self._read_uid(ctx, reader, bytes(atr), event))

    def _read_uid(self, ctx: int, reader: str, atr: bytes, event: int) -> CardRead | ReadFailure:
        technology = technology_from_atr(atr)
        if event & scard.SCARD_STATE_MUTE:
            return self._failure("reader_error", "the card does not answer (mute)")
        hresult, hcard, protocol = scard.SCardConnect(
            ctx, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
        )
        if hresult != scard.SCARD_S_SUCCESS:
            return self._failure(self._reason(hresult), f"connect: {_error(hresult)}")
        try:
            hresult, response = scard.SCardTransmit(hcard, protocol, GET_UID)
        finally:
            scard.SCardDisconnect(hcard, scard.SCARD_LEAVE_CARD)
        if hresult != scard.SCARD_S_SUCCESS:
            return self._failure(self._reason(hresult), f"GET DATA: {_error(hresult)}")
        data = bytes(response)
        if len(data) < 2:
            # No status word at all: the card stopped answering (vpcd and some readers report
            # a card that left mid-APDU this way rather than with SCARD_W_REMOVED_CARD).
            return self._failure("card_removed", "GET DATA got no answer from the card")
        if data[-2:] != SW_OK:
            return self._failure("bad_status", f"GET DATA answered status {data[-2:].hex()}")
        uid = parse_uid(data[:-2].hex())
        if uid is None:
            return self._failure("bad_uid", f"{technology} UID of {len(data) - 2} bytes")
        return CardRead(
            uid=uid, reader=self.name, technology=technology, read_at_monotonic=self._clock()
        )

    @staticmethod
    def _reason(hresult: int) -> FailureReason:
        return "card_removed" if hresult in _CARD_GONE else "reader_error"

    def _failure(self, reason: FailureReason, detail: str) -> ReadFailure:
        return count_failure(
            ReadFailure(
                reader=self.name, reason=reason, detail=detail, read_at_monotonic=self._clock()
            )
        )
