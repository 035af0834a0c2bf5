"""Process supervision for the demo: children in their own process groups, stopped in order.

Each child runs in a new session (its own process group), so a Ctrl-C in the terminal reaches
only the supervisor, which then stops the children itself, last started first: SIGTERM to the
child's whole group, a wait, and SIGKILL to the group if it did not go. On Linux each child
also gets SIGTERM from the kernel if the supervisor dies without cleaning up (PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("nfc_hospital.orchestra")

_PR_SET_PDEATHSIG = 1


class OrchestraError(Exception):
    """A child could not be started or did not become ready."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    what: str, check: Callable[[], bool], timeout_s: float, *, alive: Callable[[], None]
) -> None:
    """Poll `check` until true; `alive()` raises when the process being waited for died."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive()
        if check():
            return
        if time.monotonic() > deadline:
            raise OrchestraError(f"{what}: not ready after {timeout_s:.0f} s")
        time.sleep(0.05)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_json(
    url: str, *, body: dict[str, Any] | None = None, timeout_s: float = 10.0
) -> tuple[int, Any]:
    """GET (or POST `body` as JSON) a loopback URL; returns (status, decoded JSON or None)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(  # noqa: S310 - loopback URLs built by the demo only
        url,
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"} if body is not None else {},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310
            raw = resp.read()
            status = int(resp.status)
    except urllib.error.HTTPError as e:
        raw, status = e.read(), int(e.code)
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def _pdeathsig() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """One supervised process with its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        stop_timeout_s: float = 20.0,
        tier: int = 0,
    ) -> None:
        """`tier`: children of one tier started one after the other are stopped together
        (e.g. every station); tiers are stopped last started first."""
        self.name = name
        self.tier = tier
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.stop_timeout_s = stop_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                preexec_fn=_pdeathsig if sys.platform.startswith("linux") else None,
            )
        log.info("orchestra.started name=%s pid=%d", self.name, self.process.pid)

    def running(self) -> bool:
        return self.process is not None and not self._exited()

    def check_alive(self) -> None:
        """Raise OrchestraError naming the child and the end of its log when it has exited.

        The child is not reaped here (see `stop`)."""
        status = self._exit_status()
        if status is not None:
            raise OrchestraError(
                f"{self.name} exited with status {status}; "
                f"last lines of {self.log_path}:\n{self.tail()}"
            )

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> int | None:
        """SIGTERM the child's process group, wait, SIGKILL the group if needed; exit code.

        The child is reaped only after its group got a last SIGKILL for anything it left
        behind: until then its PID (the group id) cannot be reused by another process, so no
        stranger's group is ever signalled.
        """
        proc = self.process
        if proc is None:
            return None
        if proc.returncode is None:  # not reaped yet: the group id is still ours
            if not self._exited():
                self._signal_group(signal.SIGTERM)
                if not self._wait_exited(self.stop_timeout_s):
                    log.warning(
                        "orchestra.kill name=%s pid=%d reason=stop_timeout", self.name, proc.pid
                    )
                    self._signal_group(signal.SIGKILL)
                    self._wait_exited(10.0)
            self._signal_group(signal.SIGKILL)  # leftovers of the group, if any
            proc.wait(timeout=10)
        self.exit_code = proc.returncode
        log.info("orchestra.stopped name=%s pid=%d status=%s", self.name, proc.pid, proc.returncode)
        return self.exit_code

    def _exit_status(self) -> int | None:
        """None while the child runs; else its status as Popen reports it (-N: signal N).
        Leaves an exited child unreaped (a zombie) until `stop` waits for it."""
        proc = self.process
        if proc is None:
            return None
        if proc.returncode is not None:
            return proc.returncode
        try:
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return proc.poll()
        if info is None:
            return None
        if info.si_code == os.CLD_EXITED:
            return int(info.si_status)
        return -int(info.si_status)

    def _exited(self) -> bool:
        """True once the child has exited (it stays unreaped, a zombie, until `wait`)."""
        return self._exit_status() is not None

    def _wait_exited(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self._exited():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)


class Orchestra:
    """Children started in order and stopped in reverse order (a tier at a time)."""

    def __init__(self) -> None:
        self.children: list[Child] = []

    def add(self, child: Child) -> Child:
        self.children.append(child)
        child.start()
        return child

    def check_alive(self) -> None:
        for child in self.children:
            child.check_alive()

    def pids(self) -> list[int]:
        return [c.pid for c in self.children if c.pid is not None]

    def stop_all(self, on_stop: Callable[[Child, int | None], None] | None = None) -> None:
        """Stop every child, last started first; the children of a tier at the same time."""
        groups: list[list[Child]] = []
        for child in reversed(self.children):
            if groups and groups[-1][0].tier == child.tier:
                groups[-1].append(child)
            else:
                groups.append([child])
        for group in groups:
            threads = [threading.Thread(target=c.stop, name=f"stop-{c.name}") for c in group]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if on_stop is not None:
                for child in group:
                    on_stop(child, child.exit_code)


# ---------------------------------------------------------------------------------------------
# brokers


def mosquitto_binary() -> str | None:
    """The mosquitto executable, when installed."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None


def mosquitto_child(workdir: Path, port: int) -> Child:
    """A private Mosquitto on 127.0.0.1:`port`, anonymous, persistence in `workdir`."""
    binary = mosquitto_binary()
    if binary is None:
        raise OrchestraError("mosquitto is not installed")
    persistence = workdir / "persistence"
    persistence.mkdir(parents=True, exist_ok=True)
    conf = workdir / "mosquitto.conf"
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "persistence true",
        f"persistence_location {persistence}/",
        "autosave_interval 5",
        # As root mosquitto drops to its own user and could not write the persistence folder.
        "user root" if os.geteuid() == 0 else "",
        "max_queued_messages 100000",
        "set_tcp_nodelay true",  # as `central broker-config` writes it: no Nagle delay
        "log_type error",
        "log_type warning",
        "log_type notice",
        f"log_dest file {workdir / 'mosquitto.log'}",
    ]
    conf.write_text("\n".join(line for line in lines if line) + "\n", encoding="utf-8")
    return Child("mosquitto", [binary, "-c", str(conf)], workdir / "mosquitto.out")
