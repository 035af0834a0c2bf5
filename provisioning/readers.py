"""Finding card readers for the self-test: nfcpy (USB) and PC/SC.

The hardware libraries are imported only here, inside the functions, so a missing library
becomes one line of the report ("nfcpy is not installed"), never a crash.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from protocol.ids import card_hash

Driver = Literal["nfcpy", "pcsc"]


@dataclass(frozen=True, slots=True)
class ReaderFound:
    """A reader the self-test found (or a line saying why none was)."""

    driver: Driver
    name: str
    ok: bool
    detail: str = ""

    def line(self) -> str:
        """A report line."""
        mark = "found" if self.ok else "none"
        return f"  {self.driver:<6} {mark:<6} {self.name} {self.detail}".rstrip()


def find_nfcpy(device: str = "usb") -> ReaderFound:
    """Open `device` with nfcpy (e.g. `usb`, `udp:localhost:PORT`) and close it again."""
    try:
        import nfc
    except ImportError:
        return ReaderFound("nfcpy", device, False, "(nfcpy is not installed: pip install nfcpy)")
    try:
        clf = nfc.ContactlessFrontend(device)
    except Exception as e:  # nfcpy raises OSError or its own errors
        return ReaderFound("nfcpy", device, False, f"(no reader: {e or type(e).__name__})")
    try:
        return ReaderFound("nfcpy", device, True, f"({clf.device})")
    finally:
        clf.close()


def find_pcsc() -> list[ReaderFound]:
    """Every PC/SC reader pcscd knows."""
    try:
        from smartcard.System import readers
    except ImportError:
        return [ReaderFound("pcsc", "-", False, "(pyscard is not installed)")]
    try:
        found = [str(r) for r in readers()]
    except Exception as e:  # EstablishContextException when pcscd is not running
        return [ReaderFound("pcsc", "-", False, f"(pcscd is not running: {type(e).__name__})")]
    if not found:
        return [ReaderFound("pcsc", "-", False, "(pcscd runs but sees no reader)")]
    return [ReaderFound("pcsc", name, True) for name in found]


def wait_nfcpy_tap(device: str, timeout_s: float) -> str | None:
    """Wait for one card on an nfcpy reader; the card's UID in hex, or None on timeout."""
    import nfc

    seen: list[str] = []
    deadline = time.monotonic() + timeout_s

    def on_connect(tag: Any) -> bool:
        seen.append(bytes(tag.identifier).hex())
        return False

    clf = nfc.ContactlessFrontend(device)
    try:
        clf.connect(
            rdwr={"targets": ["106A", "212F"], "on-connect": on_connect, "beep-on-connect": True},
            terminate=lambda: bool(seen) or time.monotonic() > deadline,
        )
    finally:
        clf.close()
    return seen[0] if seen else None


def wait_pcsc_tap(reader: str, timeout_s: float) -> str | None:
    """Wait for one card on a PC/SC reader; its UID (GET DATA FF CA) in hex, or None."""
    from smartcard.CardRequest import CardRequest
    from smartcard.Exceptions import CardRequestTimeoutException
    from smartcard.System import readers

    target = [r for r in readers() if str(r) == reader]
    try:
        service = CardRequest(timeout=timeout_s, readers=target, newcardonly=True).waitforcard()
    except CardRequestTimeoutException:
        return None
    conn = service.connection
    conn.connect()
    try:
        data, sw1, sw2 = conn.transmit([0xFF, 0xCA, 0x00, 0x00, 0x00])
    finally:
        conn.disconnect()
    return bytes(data).hex() if (sw1, sw2) == (0x90, 0x00) else None


def tap_line(uid: str | None, site_key: bytes) -> str:
    """What the report says about a test tap: never the UID, only its keyed-hash prefix."""
    if uid is None:
        return "no card was tapped in time"
    return f"card read (hash {card_hash(site_key, uid)[:12]}...)"


def run_with_timeout(fn: Any, timeout_s: float) -> Any:
    """Run a blocking driver call in a daemon thread; None when it does not return in time."""
    box: list[Any] = []
    t = threading.Thread(target=lambda: box.append(fn()), name="provision-reader", daemon=True)
    t.start()
    t.join(timeout_s)
    return box[0] if box else None
