"""Station enrolment over HTTP: the one-time code exchange between a new Pi and central.

`POST /api/v1/enrol` takes an `EnrolRequest` and answers an `EnrolResponse`. The code is the
only credential; it works once and expires within minutes (central/enrolment.py).
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from protocol.base import ID_PATTERN, LocalizedText, Model

ENROL_PATH = "/api/v1/enrol"

# Codes are typed by a technician from a screen or a slip of paper: no 0/O, 1/I/L, 2/Z, 5/S.
CODE_ALPHABET = "ABCDEFGHJKMNPQRTUVWXY346789"
CODE_GROUPS = 3
CODE_GROUP_LEN = 4
_GROUP = f"[{CODE_ALPHABET}]{{{CODE_GROUP_LEN}}}"
CODE_PATTERN = f"^{_GROUP}(-{_GROUP}){{{CODE_GROUPS - 1}}}$"


def normalize_code(text: str) -> str:
    """Upper-case, drop spaces and dashes, and group again: `abcd efgh-jkmn` -> `ABCD-EFGH-JKMN`."""
    raw = re.sub(r"[\s-]", "", text).upper()
    return "-".join(raw[i : i + CODE_GROUP_LEN] for i in range(0, len(raw), CODE_GROUP_LEN))


class EnrolRequest(Model):
    """What a Pi sends to exchange its one-time code."""

    code: str = Field(
        pattern=CODE_PATTERN, description="The one-time enrolment code (XXXX-XXXX-XXXX)."
    )
    hostname: str | None = Field(
        default=None, max_length=253, description="The Pi's host name, recorded for the audit."
    )
    csr_pem: str | None = Field(
        default=None,
        max_length=8000,
        description="A PEM certificate signing request for the station's TLS client "
        "certificate; the private key never leaves the Pi. Central sets the subject itself.",
    )

    @field_validator("code", mode="before")
    @classmethod
    def _normalize(cls, value: object) -> object:
        return normalize_code(value) if isinstance(value, str) else value


class EnrolMqtt(Model):
    """How the new station reaches the broker, with its own credentials."""

    host: str = Field(description="Broker host name or address as seen from stations.")
    port: int = Field(ge=1, le=65535, description="Broker port (8883 for TLS).")
    username: str = Field(pattern=ID_PATTERN, description="MQTT user name (the station id).")
    password: str = Field(
        min_length=16, max_length=256, description="MQTT password, random, shown only once."
    )
    topic_root: str = Field(default="nfch", description="First topic level (nfch/v1/...).")
    ca_pem: str | None = Field(
        default=None, description="The hospital CA certificate (PEM) when the broker uses TLS."
    )
    client_cert_pem: str | None = Field(
        default=None,
        description="The station's client certificate (PEM), signed by the hospital CA from "
        "the request's CSR; absent when no CSR was sent.",
    )


class EnrolResponse(Model):
    """What central gives a newly enrolled station."""

    station_id: str = Field(pattern=ID_PATTERN, description="The station's id.")
    name: LocalizedText = Field(description="The station's display name.")
    location_node: str | None = Field(
        default=None, pattern=ID_PATTERN, description="Map node where the station stands."
    )
    mqtt: EnrolMqtt = Field(description="Broker link and credentials.")
    site_key_hex: str = Field(
        pattern=r"^([0-9a-f]{2}){16,64}$",
        description="The site key for card hashes, hex (the bytes central hashes with).",
    )


LEAVE_PATH = "/api/v1/enrol/leave"


class LeaveRequest(Model):
    """A station decommissioning itself: it proves who it is with its own broker password."""

    station_id: str = Field(pattern=ID_PATTERN, description="The station leaving.")
    password: str = Field(
        min_length=1, max_length=256, description="Its MQTT password (proof of identity)."
    )


class LeaveResponse(Model):
    """Central revoked the station's credentials."""

    station_id: str = Field(pattern=ID_PATTERN, description="The station revoked.")
