"""A reader whose driver cannot run here (its library is missing): it reads nothing, says why."""

from __future__ import annotations

import asyncio

from edge.readers.base import OnRead
from protocol.messages import ReaderHealth


class DisabledReader:
    """Stands in for a driver that failed to load, so the rest of the station keeps working."""

    def __init__(self, name: str, driver: str, detail: str) -> None:
        self._name = name
        self._driver = driver
        self.detail = detail

    @property
    def name(self) -> str:
        return self._name

    @property
    def driver(self) -> str:
        return self._driver

    async def run(self, on_read: OnRead) -> None:
        """Wait until cancelled: there is nothing to read."""
        await asyncio.Event().wait()

    def health(self) -> ReaderHealth:
        return ReaderHealth(
            name=self._name, driver=self._driver, status="error", detail=self.detail
        )
