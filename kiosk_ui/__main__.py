"""`python -m kiosk_ui`: the same as `nfc-hospital kiosk`."""

import sys

from kiosk_ui.cli import main

raise SystemExit(main(sys.argv[1:], prog="python -m kiosk_ui"))
