"""`python -m edge`: the station daemon (same as `nfc-hospital edge`)."""

from __future__ import annotations

import sys

from edge.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python -m edge"))
