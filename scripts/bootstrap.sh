#!/usr/bin/env bash
# Sourced by scripts/demo.sh and scripts/test.sh: installs what nfc-hospital needs on a fresh
# Debian 12 / Raspberry Pi OS (bookworm) machine. Safe to run again: it installs only what is
# missing.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${NFCH_VENV:-$REPO_ROOT/.venv}"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages: the broker, PC/SC stack and virtual reader, build deps of pyscard, Korean
# fonts, the browser for browser tests, a QR decoder and speech for the kiosk.
APT_PACKAGES=(
  python3 python3-venv python3-dev gcc
  mosquitto
  pcscd libpcsclite-dev swig vsmartcard-vpcd
  fonts-noto-cjk
  chromium
  zbar-tools
  espeak-ng
  libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3
)

install_apt_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}"
  fi
}

# The machine's own mosquitto service is not needed: every test and the demo start a private
# broker on a free port.
install_apt_packages "${APT_PACKAGES[@]}"

PYTHON="${NFCH_PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi

# Reinstall only when pyproject.toml changed since the last install.
STAMP="$VENV/.nfch-installed"
if [ ! -f "$STAMP" ] || [ "$REPO_ROOT/pyproject.toml" -nt "$STAMP" ]; then
  echo "bootstrap: installing nfc-hospital and its dependencies into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e "$REPO_ROOT[dev]"
  touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
