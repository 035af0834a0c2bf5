"""A virtual contactless card for vsmartcard's vpcd: the card side of a real pcscd + pyscard stack.

vpcd (a pcscd reader driver) listens on TCP 127.0.0.1:35963 for reader `Virtual PCD 00 00`
(35964 for `... 00 01`). A card is any program that connects there: connecting is "card
inserted", closing is "card removed". Every message either way is a 2-byte big-endian length and
a payload; a 1-byte payload from vpcd is a control (0 power off, 1 power on, 2 reset, 4 send the
ATR), anything longer is a command APDU to answer with a response APDU.

This card answers the PC/SC GET DATA (UID) APDU `FF CA 00 00 00` like an ACR122U does for a
MIFARE card. `uid_status` makes it answer with an error status instead; `vanish_on_get_uid`
makes it close the connection instead of answering (a card pulled away mid-read).

Every command APDU received is recorded in `apdus` (with its arrival time in `apdu_times`), so
a test can assert the exact bytes the station sent. The ACR122U's LED/buzzer pseudo-APDU
(`FF 00 40 ...`) goes to the reader's firmware on a real ACR122U; over vpcd there is no reader
firmware and the card itself receives it: this card answers it with `led_status` (90 00 by
default, as the ACR122U answers 90 LL), or another status to play a reader that refuses it.

Run as a program: `python -m tests.support.vpcd_card 04A1B2C3D4E5F6 [--port 35963]`.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable

VPCD_PORT = 35963
"""vpcd's port in the packaged config (/etc/reader.conf.d/vpcd): a system pcscd's."""
OWN_VPCD_PORT = 31963
"""vpcd's port when the tests start pcscd themselves: outside Linux's ephemeral range
(32768-60999), where any client socket of the machine may hold 35963 at the moment pcscd
binds it ("Address already in use", seen once in a CI run)."""
# PC/SC part 3 ATR of a contactless ISO 14443 A part 3 card (MIFARE Classic 1K), as an ACR122U
# reports it: the standard byte 0x03 after the PC/SC RID A0 00 00 03 06.
ATR_ISO14443A = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
GET_UID = bytes.fromhex("FFCA000000")
SW_OK = b"\x90\x00"
SW_INS_NOT_SUPPORTED = b"\x6d\x00"
LED_BUZZER_PREFIX = bytes.fromhex("FF0040")


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class VirtualCard:
    """One card on a vpcd slot, in a thread: `insert()` connects, `remove()` disconnects."""

    def __init__(
        self,
        uid: bytes,
        port: int = VPCD_PORT,
        atr: bytes = ATR_ISO14443A,
        uid_status: bytes = SW_OK,
        vanish_on_get_uid: bool = False,
        led_status: bytes = SW_OK,
        on_apdu: Callable[[bytes], None] | None = None,
    ) -> None:
        self.uid = uid
        self.port = port
        self.atr = atr
        self.uid_status = uid_status
        self.vanish_on_get_uid = vanish_on_get_uid
        self.led_status = led_status
        # Called in the card's thread with each command APDU, before it is answered.
        self.on_apdu = on_apdu
        self.apdus: list[bytes] = []
        self.apdu_times: list[float] = []
        self.inserted_at: float | None = None
        self.uid_requests = 0
        self.atr_sent_at: float | None = None
        self.last_uid_request_at: float | None = None
        self.last_uid_answer_at: float | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def insert(self, timeout: float = 10.0) -> None:
        """Put the card on the reader (connect to vpcd, retrying until it listens)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self.inserted_at = time.monotonic()
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
        self._thread.start()

    def remove(self) -> None:
        """Take the card away (close the connection) and wait for the card thread to end."""
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def inserted(self) -> bool:
        return self._sock is not None

    def answer(self, apdu: bytes) -> bytes | None:
        """The response APDU to `apdu`, or None to vanish without answering."""
        self.apdu_times.append(time.monotonic())
        if self.on_apdu is not None:
            self.on_apdu(apdu)
        self.apdus.append(apdu)
        if apdu.startswith(LED_BUZZER_PREFIX):
            return self.led_status
        if apdu == GET_UID:
            self.uid_requests += 1
            self.last_uid_request_at = time.monotonic()
            if self.vanish_on_get_uid:
                return None
            return (self.uid if self.uid_status == SW_OK else b"") + self.uid_status
        return SW_INS_NOT_SUPPORTED

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                header = _recv_exact(sock, 2)
                if header is None:
                    return
                (length,) = struct.unpack(">H", header)
                payload = _recv_exact(sock, length)
                if payload is None:
                    return
                if len(payload) == 1:
                    if payload[0] == 4:
                        sock.sendall(struct.pack(">H", len(self.atr)) + self.atr)
                        self.atr_sent_at = time.monotonic()
                    continue  # power on/off and reset need no answer
                response = self.answer(payload)
                if response is None:
                    self._sock = None
                    sock.close()
                    return
                sock.sendall(struct.pack(">H", len(response)) + response)
                if payload == GET_UID:
                    self.last_uid_answer_at = time.monotonic()
        except OSError as e:
            if self._sock is sock:  # not an error when remove() closed it
                self.error = e


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A virtual card on vpcd that answers FF CA.")
    parser.add_argument("uid", help="card UID in hex, e.g. 04A1B2C3D4E5F6")
    parser.add_argument("--port", type=int, default=VPCD_PORT, help="vpcd port (35963)")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long the card stays")
    args = parser.parse_args(argv)
    card = VirtualCard(bytes.fromhex(args.uid), args.port)
    card.insert()
    time.sleep(args.seconds)
    card.remove()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
