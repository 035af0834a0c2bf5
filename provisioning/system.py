"""The system side: the service user and systemctl, run for real, printed, or skipped.

`--dry-run` prints every command instead of running it; `--root DIR` (tests) writes the
units under DIR and never touches the machine's systemd or users.
"""

from __future__ import annotations

import pwd
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from provisioning.errors import ProvisionError

Mode = Literal["run", "dry-run", "skip"]


@dataclass(slots=True)
class System:
    """Runs (or prints) the commands that change the machine; keeps a log for the summary."""

    mode: Mode
    log: list[str] = field(default_factory=list)

    def run(self, argv: Sequence[str], *, check: bool = True) -> int:
        """Run `argv` (or print it); raises ProvisionError when it fails and `check`."""
        line = shlex.join(argv)
        if self.mode == "dry-run":
            self.log.append(f"  would run          {line}")
            return 0
        if self.mode == "skip":
            self.log.append(f"  skipped (--root)   {line}")
            return 0
        if shutil.which(argv[0]) is None:
            raise ProvisionError(
                f"{argv[0]} is not installed on this machine",
                "provision a Raspberry Pi OS / Debian system with systemd, or use --dry-run",
            )
        proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
        self.log.append(f"  ran                {line} (exit {proc.returncode})")
        if proc.returncode != 0 and check:
            raise ProvisionError(
                f"`{line}` failed: {proc.stderr.strip() or proc.stdout.strip()}",
                "fix the problem it names and run provisioning again (it is safe to repeat)",
            )
        return proc.returncode

    def ensure_user(self, name: str) -> None:
        """Create the service user (system account, no login, reader and screen groups)."""
        try:
            pwd.getpwnam(name)
            if self.mode != "run":
                self.log.append(f"  exists             user {name}")
            return
        except KeyError:
            pass
        self.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ]
        )

    def enable(self, units: Sequence[str], *, units_changed: bool, config_changed: bool) -> None:
        """daemon-reload when unit files changed; enable and start, or restart on a change."""
        if units_changed:
            self.run(["systemctl", "daemon-reload"])
        if units_changed or config_changed:
            self.run(["systemctl", "enable", *units])
            self.run(["systemctl", "restart", *units])
        else:
            self.run(["systemctl", "enable", "--now", *units])

    def disable(self, units: Sequence[str]) -> None:
        """Stop and disable the units (missing units are not an error)."""
        self.run(["systemctl", "disable", "--now", *units], check=False)
        self.run(["systemctl", "daemon-reload"], check=False)
