"""systemd's sd_notify protocol, without a dependency: one datagram to $NOTIFY_SOCKET.

Shared by the station daemon and the kiosk (both run as systemd services with a watchdog).
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def sd_notify(message: str) -> bool:
    """Send `message` (e.g. "READY=1", "WATCHDOG=1") when systemd gave us a socket.

    Returns True if it was sent; False when there is no $NOTIFY_SOCKET or sending failed
    (logged: a missed ping must not take the service down by itself).
    """
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(addr)
            sock.sendall(message.encode())
    except OSError as e:
        log.warning("systemd.sd_notify_failed message=%s error=%s", message, e)
        return False
    return True


def watchdog_interval_s() -> float | None:
    """Half of $WATCHDOG_USEC in seconds, when systemd expects pings from this process.

    None when there is no watchdog, or it is meant for another process ($WATCHDOG_PID).
    """
    if not os.environ.get("NOTIFY_SOCKET"):
        return None
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        pid = int(os.environ.get("WATCHDOG_PID", "0") or 0)
    except ValueError:
        log.warning("systemd.watchdog_env_invalid")
        return None
    if usec <= 0 or (pid and pid != os.getpid()):
        return None
    return usec / 2_000_000
