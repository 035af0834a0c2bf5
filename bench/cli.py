"""`nfc-hospital bench NAME`: run one benchmark."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import bench


def available() -> list[str]:
    """Benchmark module names under bench/ (every module with a `run(argv)` function)."""
    names = []
    for info in pkgutil.iter_modules(bench.__path__):
        if info.name != "cli" and not info.name.startswith("_"):
            names.append(info.name.replace("_", "-"))
    return sorted(names)


def main(argv: list[str], prog: str = "nfc-hospital bench") -> int:
    names = available()
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a benchmark and print its figures (see docs/benchmarks.md).",
        epilog="Benchmarks: " + (", ".join(names) if names else "none yet"),
    )
    parser.add_argument("name", choices=names or None, metavar="NAME", nargs="?")
    args, rest = parser.parse_known_args(argv)
    if args.name is None:
        if not names:
            print(f"{prog}: no benchmark is built yet.", file=sys.stderr)
            return 2
        parser.print_help()
        return 2
    module = importlib.import_module(f"bench.{args.name.replace('-', '_')}")
    result: int = module.run(rest)
    return result
