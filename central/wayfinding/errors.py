"""Errors of the wayfinding part. Each says what was wrong, where, and what to do."""

from __future__ import annotations


class WayfindingError(Exception):
    """Base class for every error raised by `central.wayfinding`."""


class MapFileError(WayfindingError):
    """A map file could not be read or is not a valid map; `problems` lists every finding."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        shown = "\n  ".join(problems)
        super().__init__(f"{path}: {len(problems)} problem(s):\n  {shown}")


class NoRouteError(WayfindingError):
    """No open route joins two nodes (of the kind asked for: shortest or step-free)."""

    def __init__(self, from_node: str, to_node: str, step_free: bool, detail: str) -> None:
        self.from_node = from_node
        self.to_node = to_node
        self.step_free = step_free
        what = "step-free route" if step_free else "route"
        super().__init__(f"no {what} from {from_node!r} to {to_node!r}: {detail}")
