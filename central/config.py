"""Central server config (`nfc-hospital central --config central.toml`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from central.assistant.config import AssistantConfig
from central.auth.config import AuthConfig
from central.web.config import WebConfig
from protocol.base import Model
from protocol.settings import HttpSettings, LogSettings, MqttSettings

ENV_PREFIX = "NFCH_CENTRAL"
SAMPLE_MAP = Path(__file__).parent / "data" / "sample_map.json"


class DatabaseSettings(Model):
    """Where central keeps its state."""

    url: str = Field(
        default="sqlite:///nfc-hospital.db",
        description="SQLAlchemy URL: sqlite:///PATH (default) or postgresql+psycopg://...",
    )


class SiteSettings(Model):
    """The hospital."""

    name_ko: str = Field(default="한빛병원", description="Hospital name in Korean.")
    name_en: str = Field(default="Hanbit Hospital", description="Hospital name in English.")
    timezone: str = Field(default="Asia/Seoul", description="IANA time zone of the service day.")
    day_starts_at: str = Field(
        default="04:00", pattern=r"^\d{2}:\d{2}$", description="Local time the service day turns."
    )
    site_key_file: Path = Field(
        default=Path("site.key"), description="Secret key for card hashes (created when missing)."
    )
    map_file: Path | None = Field(
        default=None,
        description="Hospital map (JSON; check it with `nfc-hospital central map check FILE`) "
        "for stations' offline routes, the assistant and the phone page. Unset: the packaged "
        "sample map (central/data/sample_map.json).",
    )


class QueueSettings(Model):
    """Queue rules and ticket-number leases (read by `central.engine`)."""

    missed_requeue_after: int = Field(
        default=3,
        ge=0,
        le=100,
        description="A missed call puts the patient back in line after this many others.",
    )
    no_show_after_calls: int = Field(
        default=3,
        ge=1,
        le=20,
        description="Marking a patient missed after this many calls makes them a no-show.",
    )
    lease_block_size: int = Field(
        default=20, ge=1, le=1000, description="Ticket numbers per leased block."
    )
    lease_low_water: int = Field(
        default=5,
        ge=0,
        le=1000,
        description="Lease a station a new block when fewer numbers than this are left.",
    )
    lease_days_ahead: int = Field(
        default=1,
        ge=0,
        le=3,
        description="Also lease blocks for this many coming service days (offline across the "
        "day boundary).",
    )
    max_hlc_drift_s: int = Field(
        default=300,
        ge=1,
        description="A station HLC further ahead of central than this is not trusted for "
        "queue order; central's own clock is used instead.",
    )
    node_id: str = Field(
        default="central",
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="This worker's HLC node id (give each central worker its own).",
    )


class BridgeSettings(Model):
    """The MQTT bridge (read by `central.bridge`)."""

    shared_subscription: bool = Field(
        default=False,
        description="Subscribe to station events through $share/GROUP/... so several central "
        "workers split the load (each batch goes to one worker).",
    )
    share_group: str = Field(
        default="central",
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="Shared-subscription group name.",
    )
    phone_page_url: str = Field(
        default="http://127.0.0.1:8080/p",
        max_length=300,
        description="Base URL of the patients' phone page, published in directory/config.",
    )
    day_check_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How often to check whether the service day turned (publishes the empty "
        "morning snapshots on time).",
    )
    cards_interval_s: float = Field(
        default=10.0,
        ge=0,
        le=600,
        description="Publish today's cards directory at most this often: it holds every card "
        "of the day (about 5 MB and 1 s to build for 11,000 visits) and changes with nearly "
        "every check-in. Stations only need it for new visits and offline decisions.",
    )
    cards_in_worker: bool = Field(
        default=True,
        description="Build the cards directory in a child process, so its second of work "
        "never stalls the bridge (off: in a thread of central's process).",
    )
    drain_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="On shutdown, how long to wait for the batch in flight and its ack.",
    )
    snapshot_heartbeat_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Publish every room's current snapshot again this often (same version): "
        "room kiosks show 'offline' after 90 s without one, and a quiet room changes nothing.",
    )
    map_check_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How often to look at the map file and the closures in force, and publish "
        "new directory/map and directory/routes documents when they changed.",
    )
    estimator_feed_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the wait estimator reads the audit rows committed since its "
        "last look (it learns service times from calls and completions).",
    )


class ApiSettings(Model):
    """The HTTP API and WebSocket feed (read by `central.api`)."""

    ws_buffer: int = Field(
        default=256,
        ge=1,
        le=100000,
        description="Frames each WebSocket stream keeps for clients resuming after a reconnect.",
    )
    ws_client_queue: int = Field(
        default=1024,
        ge=1,
        le=100000,
        description="Frames queued for one slow WebSocket client before it is dropped "
        "(it reconnects and resumes).",
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, le=16 * 1024 * 1024, description="Largest request body."
    )


class ProcessSettings(Model):
    """How central's one Python process shares its interpreter between its threads."""

    gil_switch_interval_ms: float = Field(
        default=0.5,
        gt=0,
        le=100,
        description="sys.setswitchinterval for central, in milliseconds. Every SQL statement "
        "releases the interpreter lock; a thread coming back from one waits up to this long "
        "while another thread (a 1,000-row snapshot build) holds it. Python's 5 ms default made "
        "a 20-statement transaction wait up to ~100 ms (docs/benchmarks/central.md).",
    )


class EnrolmentSettings(Model):
    """What central tells new stations and how long codes live (`[enrolment]`; kept here, not
    in central.enrolment, so the config has no import cycle)."""

    broker_host: str = Field(description="Broker host name or address as seen from stations.")
    broker_port: int = Field(default=1883, ge=1, le=65535, description="Broker port for them.")
    topic_root: str = Field(
        default="nfch",
        description="First topic level (the running server sends its own mqtt.topic_root).",
    )
    ca_file: Path | None = Field(
        default=None, description="Hospital CA certificate (PEM) sent to stations: TLS on."
    )
    code_ttl_s: int = Field(
        default=900, ge=60, le=7 * 24 * 3600, description="How long a code stays valid."
    )
    broker_dir: Path | None = Field(
        default=None, description="Rewrite the broker's passwd/acl here after each change."
    )
    broker_pid_file: Path | None = Field(
        default=None, description="Mosquitto's PID file: SIGHUP it after rewriting the files."
    )
    central_password_file: Path | None = Field(
        default=None, description="Central's own broker password (needed with broker_dir)."
    )
    ca_key_file: Path | None = Field(
        default=None,
        description="The hospital CA's private key: central signs stations' client "
        "certificates from their CSRs when set (with ca_file).",
    )


class CentralConfig(Model):
    """Everything `nfc-hospital central` reads."""

    def map_path(self) -> Path:
        """The hospital map file: `site.map_file`, else the packaged sample map."""
        return self.site.map_file or SAMPLE_MAP

    http: HttpSettings = Field(
        default_factory=lambda: HttpSettings(port=8080), description="HTTP API and pages."
    )
    database: DatabaseSettings = Field(default_factory=DatabaseSettings, description="Storage.")
    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="Broker link.")
    site: SiteSettings = Field(default_factory=SiteSettings, description="The hospital.")
    log: LogSettings = Field(default_factory=LogSettings, description="Logging.")
    queue: QueueSettings = Field(
        default_factory=QueueSettings, description="Queue rules and ticket leases."
    )
    bridge: BridgeSettings = Field(default_factory=BridgeSettings, description="MQTT bridge.")
    api: ApiSettings = Field(default_factory=ApiSettings, description="HTTP API and WebSocket.")
    process: ProcessSettings = Field(
        default_factory=ProcessSettings, description="The server process itself."
    )
    auth: AuthConfig = Field(
        default_factory=AuthConfig, description="Staff login, tokens and throttles (issue #7)."
    )
    web: WebConfig = Field(
        default_factory=WebConfig, description="Staff dashboard and patients' phone page."
    )
    assistant: AssistantConfig = Field(
        default_factory=AssistantConfig,
        description="The patients' help assistant (POST /api/v1/assistant/ask, the phone "
        "page's chat box, the station Help screen).",
    )
    enrolment: EnrolmentSettings | None = Field(
        default=None,
        description="Station enrolment over the API (POST /api/v1/enrol); its routes answer 503 "
        "`enrolment_off` until this section is set (it names the broker stations use).",
    )
