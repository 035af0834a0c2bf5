"""PC/SC driver (pyscard): any reader pcscd knows, such as the ACR122U, ACR1252 or HID Omnikey.

A worker thread waits for card insertion with `SCardGetStatusChange` (short timeouts, so a stop
is noticed quickly), connects, sends the PC/SC GET DATA APDU `FF CA 00 00 00` and expects the
UID followed by `90 00`. Anything else is a `ReadFailure`. When pcscd goes away or the reader is
unplugged, the thread drops its context and reconnects with jittered backoff.

LED/buzzer feedback (`signal_outcome`, config `[readers.led_buzzer]`): the ACR122U's "LED and
buzzer control" pseudo-APDU (`edge.feedback.acr122`) is queued and sent by a second thread with
its own PC/SC context, so it never delays a read, the durable write or the screen. It is sent
with `SCardTransmit` on a shared connection while the card is still on the reader (the usual
case: the station decides in milliseconds), where the ACR122U firmware takes it for itself;
when the card has already left, with `SCardControl` and the CCID escape code on a direct
connection (libccid accepts that only with `ifdDriverOptions` 0x0001). Over vsmartcard's vpcd
there is no reader firmware: the virtual card receives the pseudo-APDU, which is what the tests
check. A reader or card that refuses it is counted (`nfch_edge_reader_feedback_total`), logged
once until it works again, and reported as `degraded` health; nothing else changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sys
import threading
import time

from smartcard import scard  # the hardware library: imported here only

from edge.feedback.acr122 import Outcome
from edge.readers.base import (
    READER_FEEDBACK,
    Backoff,
    CardRead,
    Clock,
    FailureReason,
    HealthTracker,
    OnRead,
    ReadFailure,
    Technology,
    parse_uid,
)
from edge.readers.config import PcscReaderConfig
from edge.readers.threaded import STOP_TIMEOUT_S, Emit, run_worker_thread
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


# The CCID escape control code pcsc-lite's libccid maps to PC_to_RDR_Escape (Windows: 3500).
CCID_ESCAPE = scard.SCARD_CTL_CODE(3500 if sys.platform == "win32" else 1)
# Signals waiting for the reader; more than this while it plays one are dropped (and counted).
_SIGNAL_QUEUE = 4

FeedbackResult = tuple[str, str]  # (result label, detail)


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
        self._health = HealthTracker.for_reader(config, self.driver)
        self._ctx: int | None = None  # the worker's PC/SC context, for SCardCancel on stop
        # The PC/SC name of the reader while it is open (set by the worker thread).
        self._reader_name: str | None = None
        self._signals: queue.Queue[tuple[Outcome, bytes] | None] = queue.Queue(_SIGNAL_QUEUE)
        self._feedback_failing = False

    @property
    def name(self) -> str:
        return self.config.name

    def health(self) -> ReaderHealth:
        return self._health.snapshot()

    async def run(self, on_read: OnRead) -> None:
        """Watch the reader in a worker thread and deliver reads, until cancelled."""
        stop = threading.Event()
        signals: queue.Queue[tuple[Outcome, bytes] | None] = queue.Queue(_SIGNAL_QUEUE)
        self._signals = signals  # a fresh queue: nothing left over from an earlier run
        feedback = threading.Thread(
            target=self._feedback_worker,
            args=(stop, signals),
            name=f"reader-{self.name}-led",
            daemon=True,
        )
        feedback.start()
        try:
            await run_worker_thread(self.name, self._worker, on_read, wake=self._wake)
        finally:
            stop.set()
            with contextlib.suppress(queue.Full):
                signals.put_nowait(None)
            await asyncio.to_thread(feedback.join, STOP_TIMEOUT_S)

    # --- LED/buzzer feedback ----------------------------------------------------------------

    def feedback_enabled(self) -> bool:
        """Whether signals are sent to the reader open now (config `led_buzzer.mode`)."""
        name = self._reader_name
        return name is not None and self.config.led_buzzer.enabled_for(name)

    def signal_outcome(self, outcome: Outcome) -> None:
        """Play the pattern for `outcome` on the reader's LED/buzzer; returns at once."""
        if not self.feedback_enabled():
            return
        apdu = self.config.led_buzzer.pattern(outcome).apdu()
        try:
            self._signals.put_nowait((outcome, apdu))
        except queue.Full:
            READER_FEEDBACK.labels(reader=self.name, result="dropped").inc()

    def _feedback_worker(
        self, stop: threading.Event, signals: queue.Queue[tuple[Outcome, bytes] | None]
    ) -> None:
        while not stop.is_set():
            try:
                item = signals.get(timeout=0.5)
            except queue.Empty:
                continue
            if item is None:
                return
            outcome, apdu = item
            try:
                result, detail = self._send_signal(apdu)
            except Exception as e:  # a pyscard surprise must not end the feedback thread
                result, detail = "failed", f"{type(e).__name__}: {e}"
            self._signal_done(outcome, result, detail)

    def _send_signal(self, apdu: bytes) -> FeedbackResult:
        reader = self._reader_name
        if reader is None:
            return "failed", "the reader is not open"
        # A context per signal: one that outlived a pcscd restart would fail every signal.
        hresult, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            return "failed", f"pcscd not reachable: {_error(hresult)}"
        try:
            hresult, hcard, protocol = scard.SCardConnect(
                ctx,
                reader,
                scard.SCARD_SHARE_SHARED,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
            )
            if hresult == scard.SCARD_S_SUCCESS:
                try:
                    hresult, response = scard.SCardTransmit(hcard, protocol, list(apdu))
                finally:
                    scard.SCardDisconnect(hcard, scard.SCARD_LEAVE_CARD)
                if hresult == scard.SCARD_S_SUCCESS:
                    return _judge(bytes(response))
                if hresult not in _CARD_GONE:
                    return "failed", f"transmit: {_error(hresult)}"
            elif hresult not in _CARD_GONE:
                return "failed", f"connect: {_error(hresult)}"
            return self._send_escape(ctx, reader, apdu)
        finally:
            scard.SCardReleaseContext(ctx)

    @staticmethod
    def _send_escape(ctx: int, reader: str, apdu: bytes) -> FeedbackResult:
        """The card has left: the same pseudo-APDU as a CCID escape to the reader itself."""
        hresult, hcard, _ = scard.SCardConnect(ctx, reader, scard.SCARD_SHARE_DIRECT, 0)
        if hresult != scard.SCARD_S_SUCCESS:
            return "card_gone", f"card gone, direct connection refused: {_error(hresult)}"
        try:
            hresult, response = scard.SCardControl(hcard, CCID_ESCAPE, list(apdu))
        finally:
            scard.SCardDisconnect(hcard, scard.SCARD_LEAVE_CARD)
        if hresult != scard.SCARD_S_SUCCESS:
            return "card_gone", f"card gone, escape command refused: {_error(hresult)}"
        return _judge(bytes(response))

    def _signal_done(self, outcome: Outcome, result: str, detail: str) -> None:
        READER_FEEDBACK.labels(reader=self.name, result=result).inc()
        if result == "ok":
            self._health.feedback_result(None)
            if self._feedback_failing:
                self._feedback_failing = False
                log.info("reader.feedback_recovered reader=%s", self.name)
        elif result in ("rejected", "failed"):
            self._health.feedback_result(detail)
            if not self._feedback_failing:
                # Logged once: a reader that refuses every signal must not flood the log.
                self._feedback_failing = True
                log.warning(
                    "reader.feedback_failed reader=%s outcome=%s result=%s detail=%s "
                    "(not logged again until a signal is played)",
                    self.name,
                    outcome,
                    result,
                    detail,
                )
        else:
            # The patient took the card away before the signal: not the reader's fault.
            log.debug(
                "reader.feedback_skipped reader=%s outcome=%s detail=%s", self.name, outcome, detail
            )

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
                    self._reader_name = reader
                    self._health.set("ok", reader)
                    opened_at = time.monotonic()
                    self._watch(ctx, reader, stop, emit)
                    backoff.reset_if_stable(time.monotonic() - opened_at)
            finally:
                self._ctx = None
                self._reader_name = None
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
        return self._health.failed(
            ReadFailure(
                reader=self.name, reason=reason, detail=detail, read_at_monotonic=self._clock()
            )
        )


def _judge(response: bytes) -> FeedbackResult:
    """The ACR122U answers `90 LL` (LL: its LED state) once it has played the pattern."""
    if len(response) >= 2 and response[-2] == 0x90:
        return "ok", ""
    return "rejected", f"answered {response.hex() or 'nothing'} (not 90 xx)"
