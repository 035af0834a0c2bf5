"""Building today's cards directory in a child process.

For a 10,000-visit day the cards directory is a 5 MB document that takes a second or more of
pure-Python work to build (`Engine.directory_cards`). Built in central's own process it holds
the GIL all that time and stalls the bridge's transactions and every other publish; built in
a child process (its own engine on the same database, read-only) it costs a core for that
second and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

log = logging.getLogger("central.cards")

_engine: Any = None  # the child's engine (set by _init in the child process)


def _init(config_json: dict[str, Any], site_key: bytes) -> None:
    global _engine
    from central.config import CentralConfig
    from central.engine import Engine

    config = CentralConfig.model_validate(config_json)
    _engine = Engine.from_config(config, site_key=site_key, migrate=False)


def _build() -> bytes:
    assert _engine is not None, "the cards worker was not initialised"
    return bytes(_engine.directory_cards_json())


class CardsWorker:
    """One child process that builds and encodes the cards directory on request."""

    def __init__(self, config_json: dict[str, Any], site_key: bytes) -> None:
        self._args = (config_json, site_key)
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn: a fresh interpreter, nothing inherited from this multi-threaded process.
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init,
            initargs=self._args,
        )

    async def build(self) -> bytes:
        """The encoded `DirectoryCards` document as of now."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, _build)
        except BrokenProcessPool:
            # The child died (killed, out of memory): start another for the next round.
            log.error("cards.worker_died restarting=true")
            self._pool = self._new_pool()
            raise

    async def close(self) -> None:
        """Stop the child process."""
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
