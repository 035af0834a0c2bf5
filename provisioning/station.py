"""The station's files: its TOML configs, its secrets and its systemd units.

Everything is rendered from the enrolment (what central answered) and the options, then
written with `files.put`, so a second run finds every file `unchanged`. Secrets and configs
are mode 0600, owned by the service user when we run as root on a real system.

Layout (config folder `/etc/nfc-hospital` by default):

    station.toml      the edge daemon's config (EdgeConfig)
    kiosk.toml        the station screen's config (KioskConfig)
    mqtt.password     the station's broker password
    site.key          the site key for card hashes
    ca.pem            the hospital CA certificate (TLS only)
    enrolment.json    who this station is and where central is (no secrets)
"""

from __future__ import annotations

import os
import pwd
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import Field

from protocol.base import ID_PATTERN, LocalizedText, Model
from protocol.enrolment import EnrolResponse
from protocol.ids import format_site_key, parse_site_key
from provisioning.errors import NotEnrolled, ProvisionError
from provisioning.files import FileChange, put

DEFAULT_CONFIG_DIR = Path("/etc/nfc-hospital")
DEFAULT_DATA_DIR = Path("/var/lib/nfc-hospital")
UNIT_DIR = Path("etc/systemd/system")
SERVICE_USER = "nfch"
EDGE_UNIT = "nfc-hospital-edge.service"
KIOSK_UNIT = "nfc-hospital-kiosk.service"
EDGE_HTTP_PORT = 8081

STATION_TOML = "station.toml"
KIOSK_TOML = "kiosk.toml"
PASSWORD_FILE = "mqtt.password"  # noqa: S105 (a file name)
SITE_KEY_FILE = "site.key"
CA_FILE = "ca.pem"
CLIENT_KEY_FILE = "client.key"
CLIENT_CERT_FILE = "client.pem"
ENROLMENT_FILE = "enrolment.json"
SECRET_FILES = (PASSWORD_FILE, SITE_KEY_FILE, CLIENT_KEY_FILE)
ALL_FILES = (
    STATION_TOML,
    KIOSK_TOML,
    PASSWORD_FILE,
    SITE_KEY_FILE,
    CLIENT_KEY_FILE,
    CLIENT_CERT_FILE,
    CA_FILE,
    ENROLMENT_FILE,
)


class Enrolment(Model):
    """What this Pi remembers about its enrolment (enrolment.json; no secrets)."""

    station_id: str = Field(pattern=ID_PATTERN, description="The station's id.")
    name: LocalizedText = Field(description="The station's display name.")
    location_node: str | None = Field(default=None, description="Map node of the station.")
    central: str = Field(description="Central's URL.")
    broker_host: str = Field(description="Broker host.")
    broker_port: int = Field(ge=1, le=65535, description="Broker port.")
    topic_root: str = Field(description="First topic level.")
    tls: bool = Field(description="The broker link uses TLS with ca.pem.")
    client_cert: bool = Field(
        default=False, description="The station logs in with client.pem/client.key too."
    )


@dataclass(frozen=True, slots=True)
class Secrets:
    """The station's secrets as central sent them."""

    mqtt_password: str
    site_key: bytes
    ca_pem: str | None
    client_key_pem: str | None = None
    client_cert_pem: str | None = None


@dataclass(frozen=True, slots=True)
class Layout:
    """Where things go. `root` prefixes the unit folder (tests: a temp folder)."""

    config_dir: Path = DEFAULT_CONFIG_DIR
    data_dir: Path = DEFAULT_DATA_DIR
    root: Path | None = None
    service_user: str = SERVICE_USER
    python: str = sys.executable

    @property
    def unit_dir(self) -> Path:
        return (self.root or Path("/")) / UNIT_DIR

    def path(self, name: str) -> Path:
        return self.config_dir / name


@dataclass(slots=True)
class Options:
    """Choices of the technician."""

    readers: list[dict[str, Any]] = field(default_factory=lambda: [{"type": "simulated"}])
    kiosk: bool = True
    edge_http_port: int = EDGE_HTTP_PORT
    watchdog_s: int = 30


def split_enrolment(
    response: EnrolResponse, central: str, client_key_pem: str | None = None
) -> tuple[Enrolment, Secrets]:
    """Central's answer (and our own client key) as the public part and the secrets."""
    if client_key_pem is not None and not (response.mqtt.client_cert_pem and response.mqtt.ca_pem):
        raise ProvisionError(
            "central did not send a client certificate and the CA certificate",
            "configure central's CA (enrolment ca_file and ca_key_file) and enrol with a "
            "new code, or leave out --client-cert",
        )
    enrolment = Enrolment(
        station_id=response.station_id,
        name=response.name,
        location_node=response.location_node,
        central=central,
        broker_host=response.mqtt.host,
        broker_port=response.mqtt.port,
        topic_root=response.mqtt.topic_root,
        tls=response.mqtt.ca_pem is not None,
        client_cert=client_key_pem is not None,
    )
    secrets = Secrets(
        mqtt_password=response.mqtt.password,
        site_key=bytes.fromhex(response.site_key_hex),
        ca_pem=response.mqtt.ca_pem,
        client_key_pem=client_key_pem,
        client_cert_pem=response.mqtt.client_cert_pem if client_key_pem else None,
    )
    return enrolment, secrets


def site_key_file_bytes(key: bytes) -> bytes:
    """The site key file as central and the edge daemon both read it (hex text)."""
    return format_site_key(key).encode("ascii")


def load_existing(layout: Layout) -> tuple[Enrolment, Secrets]:
    """The enrolment and secrets already in the config folder; raises NotEnrolled."""
    try:
        enrolment = Enrolment.model_validate_json(layout.path(ENROLMENT_FILE).read_bytes())
        password = layout.path(PASSWORD_FILE).read_text(encoding="utf-8").strip()
        key_path = layout.path(SITE_KEY_FILE)
        key = parse_site_key(key_path.read_text(encoding="ascii"), str(key_path))
        ca_path = layout.path(CA_FILE)
        ca = ca_path.read_text(encoding="ascii") if enrolment.tls else None
    except FileNotFoundError as e:
        raise NotEnrolled(
            f"this machine is not enrolled ({e.filename} is missing)",
            "run: nfc-hospital provision --central URL --code CODE",
        ) from None
    except ValueError as e:
        raise NotEnrolled(
            f"{layout.path(ENROLMENT_FILE)} is damaged: {e}",
            "enrol again with a new code: nfc-hospital provision --re-enrol --code CODE",
        ) from None
    try:
        client_key = client_cert = None
        if enrolment.client_cert:
            client_key = layout.path(CLIENT_KEY_FILE).read_text(encoding="ascii")
            client_cert = layout.path(CLIENT_CERT_FILE).read_text(encoding="ascii")
    except FileNotFoundError as e:
        raise NotEnrolled(
            f"the enrolment is incomplete ({e.filename} is missing)",
            "enrol again with a new code: nfc-hospital provision --re-enrol --code CODE",
        ) from None
    return enrolment, Secrets(password, key, ca, client_key, client_cert)


def _tls_settings(enrolment: Enrolment, layout: Layout) -> dict[str, str]:
    out: dict[str, str] = {}
    if enrolment.tls:
        out["tls_ca_file"] = str(layout.path(CA_FILE))
    if enrolment.client_cert:
        out["tls_cert_file"] = str(layout.path(CLIENT_CERT_FILE))
        out["tls_key_file"] = str(layout.path(CLIENT_KEY_FILE))
    return out


def render_station_toml(enrolment: Enrolment, layout: Layout, options: Options) -> str:
    """The edge daemon's config (validated by `nfc-hospital edge --print-config`)."""
    mqtt: dict[str, Any] = {
        "host": enrolment.broker_host,
        "port": enrolment.broker_port,
        "username": enrolment.station_id,
        "password_file": str(layout.path(PASSWORD_FILE)),
        "topic_root": enrolment.topic_root,
    }
    mqtt.update(_tls_settings(enrolment, layout))
    doc: dict[str, Any] = {
        "station_id": enrolment.station_id,
        "data_dir": str(layout.data_dir / "station"),
        "site_key_file": str(layout.path(SITE_KEY_FILE)),
        "watchdog": True,
        "mqtt": mqtt,
        "http": {"host": "127.0.0.1", "port": options.edge_http_port},
        "readers": options.readers,
    }
    if enrolment.location_node:
        doc["location_node"] = enrolment.location_node
    return "# Written by `nfc-hospital provision`; run it again rather than editing.\n" + (
        tomli_w.dumps(doc)
    )


def render_kiosk_toml(enrolment: Enrolment, layout: Layout, options: Options) -> str:
    """The station screen's config: it follows the local edge daemon's screen feed."""
    doc: dict[str, Any] = {
        "station_id": enrolment.station_id,
        "edge_screen_url": f"ws://127.0.0.1:{options.edge_http_port}/api/v1/screen",
        "fullscreen": True,
        "cache_dir": str(layout.data_dir / "kiosk"),
        "mqtt": {
            "host": enrolment.broker_host,
            "port": enrolment.broker_port,
            "username": enrolment.station_id,
            "password_file": str(layout.path(PASSWORD_FILE)),
            "topic_root": enrolment.topic_root,
            "client_id": f"kiosk-{enrolment.station_id}",
            **_tls_settings(enrolment, layout),
        },
        "http": {"host": "127.0.0.1", "port": 0},
    }
    return "# Written by `nfc-hospital provision`; run it again rather than editing.\n" + (
        tomli_w.dumps(doc)
    )


def _command(layout: Layout, *args: str) -> str:
    return shlex.join([layout.python, "-m", "nfc_hospital", *args])


def render_edge_unit(enrolment: Enrolment, layout: Layout, options: Options) -> str:
    """systemd unit of the edge daemon: notify + watchdog, restart on failure, own user."""
    data = layout.data_dir
    return f"""\
# Written by `nfc-hospital provision`.
[Unit]
Description=nfc-hospital station daemon ({enrolment.station_id})
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=0

[Service]
Type=notify
NotifyAccess=main
User={layout.service_user}
Group={layout.service_user}
SupplementaryGroups=plugdev dialout input
ExecStart={_command(layout, "edge", "--config", str(layout.path(STATION_TOML)))}
Restart=on-failure
RestartSec=2
WatchdogSec={options.watchdog_s}
TimeoutStopSec=20
Environment=PYTHONUNBUFFERED=1
ReadWritePaths=-{data}
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
"""


def render_kiosk_unit(enrolment: Enrolment, layout: Layout, options: Options) -> str:
    """systemd unit of the station screen (Qt full screen on the Pi's display via eglfs)."""
    kiosk_args = ["kiosk", "--station", "--config", str(layout.path(KIOSK_TOML))]
    return f"""\
# Written by `nfc-hospital provision`.
[Unit]
Description=nfc-hospital station screen ({enrolment.station_id})
Wants=network-online.target {EDGE_UNIT}
After=network-online.target {EDGE_UNIT}
StartLimitIntervalSec=0

[Service]
Type=simple
User={layout.service_user}
Group={layout.service_user}
SupplementaryGroups=video render input audio
ExecStart={_command(layout, *kiosk_args)}
Restart=on-failure
RestartSec=2
WatchdogSec=30
Environment=PYTHONUNBUFFERED=1 QT_QPA_PLATFORM=eglfs
ReadWritePaths=-{layout.data_dir}
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes

[Install]
WantedBy=graphical.target
"""


def service_owner(layout: Layout) -> tuple[int, int] | None:
    """uid/gid of the service user when we run as root on a real system (not under --root)."""
    if layout.root is not None:
        return None
    try:
        pw = pwd.getpwnam(layout.service_user)
    except KeyError:
        return None
    return (pw.pw_uid, pw.pw_gid) if os.geteuid() == 0 else None


def write_station(
    enrolment: Enrolment,
    secrets: Secrets,
    layout: Layout,
    options: Options,
    *,
    dry_run: bool = False,
) -> list[FileChange]:
    """Write configs, secrets and units; returns what changed (or would, in a dry run)."""
    owner = service_owner(layout)
    if not dry_run:
        # The folder holds secrets: only root and the service user may look inside.
        layout.config_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(layout.config_dir, 0o750)  # noqa: S103 (root + the service group only)
        # The daemons write only here (ProtectSystem=strict).
        layout.data_dir.mkdir(parents=True, exist_ok=True)
        if owner is not None:
            os.chown(layout.config_dir, 0, owner[1])
            os.chown(layout.data_dir, *owner)
    cfg: list[tuple[str, bytes, int]] = [
        (STATION_TOML, render_station_toml(enrolment, layout, options).encode(), 0o600),
        (PASSWORD_FILE, (secrets.mqtt_password + "\n").encode(), 0o600),
        (SITE_KEY_FILE, site_key_file_bytes(secrets.site_key), 0o600),
        (ENROLMENT_FILE, (enrolment.model_dump_json(indent=2) + "\n").encode(), 0o600),
    ]
    if secrets.ca_pem is not None:
        cfg.append((CA_FILE, secrets.ca_pem.encode("ascii"), 0o644))
    if secrets.client_key_pem is not None and secrets.client_cert_pem is not None:
        cfg.append((CLIENT_KEY_FILE, secrets.client_key_pem.encode("ascii"), 0o600))
        cfg.append((CLIENT_CERT_FILE, secrets.client_cert_pem.encode("ascii"), 0o644))
    if options.kiosk:
        cfg.append((KIOSK_TOML, render_kiosk_toml(enrolment, layout, options).encode(), 0o600))
    changes = [
        put(layout.path(name), content, mode, owner=owner, dry_run=dry_run)
        for name, content, mode in cfg
    ]
    units = [(EDGE_UNIT, render_edge_unit(enrolment, layout, options))]
    if options.kiosk:
        units.append((KIOSK_UNIT, render_kiosk_unit(enrolment, layout, options)))
    changes += [
        put(layout.unit_dir / name, text.encode(), 0o644, dry_run=dry_run) for name, text in units
    ]
    return changes
