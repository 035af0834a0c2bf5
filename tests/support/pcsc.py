"""pcscd for tests: started by the fixture (`pcscd -f -a`) and ended by its PID, or reused.

pcscd listens on a fixed socket (/run/pcscd/pcscd.comm), so only one can run on a machine. When
one is already running (a system service), tests reuse it and never stop it; tests that need to
stop pcscd (reader-loss recovery) then skip. With vsmartcard-vpcd installed, pcscd exposes the
readers `Virtual PCD 00 00` and `Virtual PCD 00 01`, whose cards connect to `Pcscd.port` and the
port after it: 35963 for a system pcscd (the packaged config), 31963 for one the tests start
with a reader config of their own (`-c`), outside the ephemeral port range.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support.ports import wait_for_port
from tests.support.vpcd_card import OWN_VPCD_PORT, VPCD_PORT

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VPCD_READER = "Virtual PCD 00 00"


def running_pcscd_pids() -> list[int]:
    """PIDs of pcscd processes on this machine (read from /proc, nothing is signalled)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "pcscd":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def pcsc_problem() -> str | None:
    """Why pcscd + vpcd tests cannot run here, or None."""
    if shutil.which("pcscd") is None and not Path("/usr/sbin/pcscd").exists():
        return "pcscd is not installed (apt-get install pcscd)"
    if not VPCD_DRIVER.exists():
        return "vsmartcard-vpcd is not installed (apt-get install vsmartcard-vpcd)"
    try:
        import smartcard.scard  # noqa: F401
    except ImportError:
        return "pyscard is not installed (pip install 'nfc-hospital[pcsc]')"
    return None


def vpcd_readers() -> list[str]:
    """The PC/SC readers pcscd lists right now (empty when it is not answering)."""
    from smartcard import scard

    hresult, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return []
    try:
        hresult, readers = scard.SCardListReaders(ctx, [])
        return list(readers) if hresult == scard.SCARD_S_SUCCESS else []
    finally:
        scard.SCardReleaseContext(ctx)


def _wait_port_free(port: int, timeout: float) -> None:
    """Wait until nothing accepts connections on 127.0.0.1:`port` (or the time is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.1)


class Pcscd:
    """The pcscd the tests talk to: our own child process, or a system one we only reuse."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.owned = False
        self.port = VPCD_PORT
        """Where a `VirtualCard` connects for reader `Virtual PCD 00 00`."""

    def start(self, timeout: float = 15.0) -> None:
        """Start pcscd (unless one runs already) and wait for the vpcd reader to be listed.

        A pcscd we started that does not come up is stopped again (never left running), and
        one retry is made when vpcd's port was still held by a pcscd that just exited.
        """
        try:
            self._start(timeout)
        except RuntimeError as e:
            self.stop()
            if "Address already in use" not in str(e):
                raise
            _wait_port_free(self.port, 10.0)
            try:
                self._start(timeout)
            except RuntimeError:
                self.stop()
                raise

    def _start(self, timeout: float) -> None:
        if running_pcscd_pids() and self.process is None:
            self.owned = False
            self.port = VPCD_PORT
        else:
            binary = shutil.which("pcscd") or "/usr/sbin/pcscd"
            conf = self._reader_conf(OWN_VPCD_PORT)
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [binary, "-f", "-a", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
                )
            self.owned = True
            self.port = OWN_VPCD_PORT
        deadline = time.monotonic() + timeout
        wait_for_port(self.port, timeout)
        while VPCD_READER not in vpcd_readers():
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"pcscd exited with {self.process.returncode}: {self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"pcscd does not list {VPCD_READER!r}: {self.log()}")
            time.sleep(0.05)

    def _reader_conf(self, port: int) -> Path:
        """A reader.conf.d folder with vpcd alone, on `port` (the packaged one says 35963)."""
        folder = self.log_path.parent / "reader.conf.d"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "vpcd").write_text(
            'FRIENDLYNAME "Virtual PCD"\n'
            f"DEVICENAME   /dev/null:0x{port:04X}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    0x{port:04X}\n",
            encoding="utf-8",
        )
        return folder

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        """End our pcscd by its PID (SIGTERM, then SIGKILL); a reused one is never touched."""
        if not self.owned or self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        # Wait for the socket to go, so a restart does not race the old process's cleanup.
        deadline = time.monotonic() + 5
        while os.path.exists("/run/pcscd/pcscd.comm") and time.monotonic() < deadline:
            time.sleep(0.05)


def wait_for_card(present: bool, reader: str = VPCD_READER, timeout: float = 10.0) -> None:
    """Block until pcscd itself sees a card on `reader` (or sees none), or raise TimeoutError.

    pcscd polls vpcd a few times a second; a card swapped faster than that looks to PC/SC like
    one card that never left, so tests wait for pcscd between removing and inserting.
    """
    from smartcard import scard

    hresult, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        raise RuntimeError("pcscd is not answering")
    try:
        deadline = time.monotonic() + timeout
        state = scard.SCARD_STATE_UNAWARE
        while time.monotonic() < deadline:
            hresult, states = scard.SCardGetStatusChange(ctx, 100, [(reader, state)])
            if hresult == scard.SCARD_S_SUCCESS:
                state = states[0][1] & ~scard.SCARD_STATE_CHANGED
                if bool(state & scard.SCARD_STATE_PRESENT) == present:
                    return
        raise TimeoutError(f"pcscd did not see the card {'arrive' if present else 'leave'}")
    finally:
        scard.SCardReleaseContext(ctx)
