"""`nfc-hospital central`: the central server, and its admin tools.

- `nfc-hospital central [--config FILE]` runs the HTTP API and the MQTT bridge.
- `nfc-hospital central seed --sample`, `nfc-hospital central import FILE` ... are handed to
  `central.admin_cli` (the storage and import tools); `nfc-hospital central map check FILE` and
  `map route ...` to `central.wayfinding.cli`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import signal
import sys

from central.config import ENV_PREFIX, CentralConfig
from protocol.config import add_config_arguments, config_from_args
from protocol.errors import ConfigError
from protocol.logs import setup_logging

log = logging.getLogger("central")

# admin command -> (module, whether its entry point takes the command word itself).
# Entry points: `main(argv, prog=...)`, or `run(argv)` for central.auth's account tool.
ADMIN_COMMANDS: dict[str, tuple[str, bool]] = {
    "seed": ("central.admin_cli", True),
    "import": ("central.admin_cli", True),
    "migrate": ("central.admin_cli", True),
    "station": ("central.enrolment", False),
    "broker-config": ("central.broker_config", False),
    "map": ("central.wayfinding.cli", False),
    "add-user": ("central.auth.__main__", True),
    "disable-user": ("central.auth.__main__", True),
}


def _admin(argv: list[str], prog: str) -> int:
    command = argv[0]
    if command not in ADMIN_COMMANDS:
        known = ", ".join(sorted(ADMIN_COMMANDS))
        print(f"{prog}: unknown command {command!r}; commands: {known}", file=sys.stderr)
        return 2
    module_name, whole = ADMIN_COMMANDS[command]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            print(f"{prog}: the admin tool {command!r} is not built yet.", file=sys.stderr)
            return 2
        raise
    if not hasattr(module, "main"):
        result: int = module.run(argv)
    elif whole:
        result = module.main(argv, prog=prog)
    else:
        result = module.main(argv[1:], prog=f"{prog} {command}")
    return result


def main(argv: list[str], prog: str = "nfc-hospital central") -> int:
    if argv and not argv[0].startswith("-"):
        return _admin(argv, prog)
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run the central server: HTTP API, WebSocket feed, MQTT bridge, queue "
        "engine. Admin tools: %(prog)s {" + ",".join(ADMIN_COMMANDS) + "} ... --help",
    )
    add_config_arguments(parser, ENV_PREFIX)
    args = parser.parse_args(argv)
    config = config_from_args(CentralConfig, args, ENV_PREFIX, prog)
    setup_logging(config.log.level, config.log.format)
    return asyncio.run(serve(config))


async def serve(config: CentralConfig) -> int:
    """Run central until SIGTERM/SIGINT (exit 0) or an essential task crashes (exit 1)."""
    from central.app import Central  # imports aiohttp and SQLAlchemy only when serving

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, sig, stop)
    central = Central(config)
    try:
        await central.run(stop)
    except ConfigError as e:
        # A secret file missing or open to other users, a key that is not a key: the
        # operator's to fix, said in one line (exit 2: systemd does not restart in a loop).
        log.critical("central.config_error error=%s", e)
        print(f"nfc-hospital central: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        log.critical("central.crashed error=%r", e, exc_info=e)
        return 1
    log.info("central.stopped")
    return 0


def _on_signal(sig: signal.Signals, stop: asyncio.Event) -> None:
    log.info("central.signal name=%s", sig.name)
    stop.set()
