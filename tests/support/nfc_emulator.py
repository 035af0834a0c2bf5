"""Emulated NFC cards on nfcpy's `udp` device, for testing the nfcpy reader driver for real.

`TagEmulator` runs an nfcpy ContactlessFrontend in card mode in a thread, bound to a UDP port;
a reader frontend opened as `udp:127.0.0.1:PORT` polls it exactly as it would a real card over
the air. Type 3 (FeliCa) uses nfcpy's own card emulation; Type 2 (NTAG, 7-byte UID) is a small
emulator written here on `clf.listen`, answering the anti-collision and GET_VERSION (0x60).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import nfc
import nfc.clf
import nfc.tag

log = logging.getLogger(__name__)

# Bound at import so a test that stages failures in the reader's frontend leaves the card's alone.
_FRONTEND = nfc.ContactlessFrontend
# PMm of a FeliCa Lite-S: the reader only uses it for timeouts.
PMM = bytes.fromhex("03014B024F4993FF")
SYSTEM_CODE = bytes.fromhex("12FC")  # NDEF system code


class TagEmulator:
    """An emulated card on `udp:127.0.0.1:PORT`, present while `present` is set."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.present = threading.Event()
        # Monotonic time of the card's first answer to the reader since `place()`.
        self.first_answer_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._body, name="nfc-emulator", daemon=True)
        self._thread.start()

    def _body(self) -> None:
        try:
            clf = _FRONTEND(f"udp:127.0.0.1:{self.port}")
            send = clf.device._send_data

            def timed_send(brty: str, data: bytes, addr: Any) -> None:
                if self.first_answer_at is None:
                    self.first_answer_at = time.monotonic()
                send(brty, data, addr)

            clf.device._send_data = timed_send
            try:
                while not self._stop.is_set():
                    if not self.present.wait(0.05):
                        continue
                    self.serve_once(clf)
            finally:
                clf.close()
        except BaseException as e:  # reported by close(), so a broken emulator fails the test
            self._error = e
            raise

    def serve_once(self, clf: Any) -> None:
        """Be the card for one reader activation (or until removed)."""
        raise NotImplementedError

    def place(self) -> None:
        """Put the card on the reader."""
        self.first_answer_at = None
        self.present.set()

    def remove(self) -> None:
        """Take the card away from the reader."""
        self.present.clear()

    def close(self) -> None:
        self._stop.set()
        self.present.clear()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._error is not None:
            raise RuntimeError(f"the tag emulator failed: {self._error!r}") from self._error


class FelicaEmulator(TagEmulator):
    """A Type 3 (FeliCa) tag with an 8-byte IDm, on nfcpy's card emulation."""

    def __init__(self, port: int, idm: bytes) -> None:
        super().__init__(port)
        if len(idm) != 8:
            raise ValueError("a FeliCa IDm is 8 bytes")
        self.idm = idm

    def serve_once(self, clf: Any) -> None:
        def on_startup(target: Any) -> Any:
            target.brty = "212F"
            target.sensf_res = b"\x01" + self.idm + PMM + SYSTEM_CODE
            return target

        def on_connect(tag: Any) -> bool:
            # Without the read-only service 0x000B the reader sees no NDEF data.
            tag.add_service(0x0009, lambda *a: None, lambda *a: False)
            tag.add_service(0x000B, lambda *a: None, lambda *a: False)
            return True

        clf.connect(
            card={"on-startup": on_startup, "on-connect": on_connect, "timeout": 0.2},
            terminate=lambda: self._stop.is_set() or not self.present.is_set(),
        )


NTAG215_VERSION = bytes.fromhex("0004040201001103")


def _bcc(data: bytes) -> int:
    out = 0
    for b in data:
        out ^= b
    return out


class Type2Emulator:
    """An NXP NTAG215 (Type 2, 7-byte UID) speaking nfcpy's udp framing directly.

    nfcpy has no Type 2 card emulation, so this answers the reader's frames itself: ISO 14443-3
    anti-collision over two cascade levels, GET_VERSION (0x60) and READ (0x30). With
    `vanish_after_select` it leaves the field right after anti-collision, like a card pulled
    away in the middle of a read.
    """

    def __init__(self, port: int, uid: bytes, vanish_after_select: bool = False) -> None:
        if len(uid) != 7 or uid[0] != 0x04:
            raise ValueError("an NXP 7-byte UID starts with 04")
        self.port = port
        self.uid = uid
        self.vanish_after_select = vanish_after_select
        self.present = threading.Event()
        self.selections = 0
        self.first_answer_at: float | None = None
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", port))
        self._sock.settimeout(0.05)
        self._thread = threading.Thread(target=self._body, name="nfc-type2", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def place(self) -> None:
        """Put the card on the reader."""
        self.first_answer_at = None
        self.present.set()

    def remove(self) -> None:
        """Take the card away from the reader."""
        self.present.clear()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._sock.close()

    def _answer(self, frame: bytes) -> bytes | None:
        cl1 = bytes([0x88]) + self.uid[0:3]
        cl2 = self.uid[3:7]
        if frame in (b"\x26", b"\x52"):  # SENS_REQ / ALL_REQ
            return bytes.fromhex("4400")
        if frame == b"\x93\x20":
            return cl1 + bytes([_bcc(cl1)])
        if frame[:2] == b"\x93\x70" and frame[2:6] == cl1:
            return b"\x04"  # cascade bit: the UID goes on at level 2
        if frame == b"\x95\x20":
            return cl2 + bytes([_bcc(cl2)])
        if frame[:2] == b"\x95\x70" and frame[2:6] == cl2:
            self.selections += 1
            if self.vanish_after_select:
                self.present.clear()  # pulled away: silent from now on
            return b"\x00"  # selected, Type 2
        if frame == b"\x60":
            return NTAG215_VERSION
        if frame[:1] == b"\x30" and len(frame) == 2:  # READ 4 pages: UID pages, then zeros
            page = frame[1]
            memory = self.uid[0:3] + bytes([_bcc(cl1)]) + cl2 + bytes([_bcc(cl2)]) + bytes(120)
            return (memory[page * 4 : page * 4 + 16] + bytes(16))[:16]
        return None  # unsupported (e.g. AUTHENTICATE 1A): a Type 2 tag goes mute

    def _body(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self._sock.recvfrom(1024)
            except TimeoutError:
                continue
            except OSError:
                return
            if not self.present.is_set() or data.startswith(b"RFOFF"):
                continue
            try:
                brty, payload = data.split()
            except ValueError:
                continue
            if brty != b"106A":
                continue
            answer = self._answer(bytes.fromhex(payload.decode("ascii")))
            if answer is not None:
                if self.first_answer_at is None:
                    self.first_answer_at = time.monotonic()
                self._sock.sendto(b"106A " + answer.hex().encode("ascii"), addr)
