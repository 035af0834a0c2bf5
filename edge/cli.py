"""`nfc-hospital edge`: run the station daemon, or `edge tap UID` to feed its simulated reader."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request

from edge.config import ENV_PREFIX, EdgeConfig
from edge.errors import EdgeError
from protocol.config import add_config_arguments, config_from_args
from protocol.errors import ConfigError
from protocol.logs import setup_logging


def _tap_url(config: EdgeConfig) -> str:
    port = config.http.port
    if port == 0:
        from edge.daemon import PORT_FILE

        port_file = config.data_dir / PORT_FILE
        try:
            port = int(port_file.read_text().strip())
        except (OSError, ValueError):
            raise SystemExit(
                f"the daemon's HTTP port is 0 (automatic) and {port_file} is missing; "
                "is the daemon running?"
            ) from None
    host = config.http.host if config.http.host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
    return f"http://{host}:{port}/api/v1/tap"


def tap_main(argv: list[str], prog: str) -> int:
    """`edge tap UID`: post a tap to the running daemon and print the screen it showed."""
    parser = argparse.ArgumentParser(
        prog=f"{prog} tap", description="Tap a card on the running daemon's simulated reader."
    )
    parser.add_argument("uid", help="card UID in hex (04A1B2C3D4E5F6, 04:a1:b2:c3 ...)")
    parser.add_argument("--reader", help="simulated reader name (default: the first one)")
    parser.add_argument("--url", help="tap endpoint (default: from the config's [http] section)")
    add_config_arguments(parser, ENV_PREFIX)
    args = parser.parse_args(argv)
    config = config_from_args(EdgeConfig, args, ENV_PREFIX, prog)
    url = args.url or _tap_url(config)
    body: dict[str, str] = {"uid": args.uid}
    if args.reader:
        body["reader"] = args.reader
    request = urllib.request.Request(  # noqa: S310 - the URL is our own loopback daemon
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
            text = resp.read().decode()
            code = resp.status
    except urllib.error.HTTPError as e:
        text, code = e.read().decode(errors="replace"), e.code
    except urllib.error.URLError as e:
        print(f"{prog} tap: cannot reach the daemon at {url}: {e.reason}", file=sys.stderr)
        return 1
    print(text)
    return 0 if code in (200, 202) else 1


def main(argv: list[str], prog: str = "nfc-hospital edge") -> int:
    if argv and argv[0] == "tap":
        return tap_main(argv[1:], prog)
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a station daemon: read cards, check patients in offline-first, sync. "
        f"'{prog} tap UID' taps a card on a running daemon's simulated reader.",
    )
    add_config_arguments(parser, ENV_PREFIX)
    args = parser.parse_args(argv)
    config = config_from_args(EdgeConfig, args, ENV_PREFIX, prog)
    setup_logging(config.log.level, config.log.format)
    return run(config, prog)


def run(config: EdgeConfig, prog: str = "nfc-hospital edge") -> int:
    """Run the daemon in the foreground until SIGTERM; the exit code for systemd."""
    from edge.daemon import Daemon
    from edge.memory import keep_large_blocks_mmapped

    # Before anything is allocated: directory payloads of several MB then go back to the OS
    # when freed instead of staying in the heap (edge.memory; ~4 MB of RSS a day).
    keep_large_blocks_mmapped()

    async def _main() -> int:
        daemon = Daemon(config)
        return await daemon.run()

    try:
        return asyncio.run(_main())
    except (EdgeError, ConfigError) as e:
        # A bad site key or MQTT password file (also found while building the MQTT link):
        # one line naming the key and the file, no traceback, exit 2 (a config error).
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
