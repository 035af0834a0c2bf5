"""The self-test after provisioning: readers, one test tap, the clock, an MQTT round trip.

Each check gives a `Check` with a plain explanation and, when it failed, what to do; the
summary lists them all and provisioning exits non-zero when any essential check failed.
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from protocol.codec import decode, encode
from protocol.messages import StationStatus
from protocol.topics import Topics
from provisioning import readers as rd
from provisioning.central_client import check_clock
from provisioning.errors import ProvisionError
from provisioning.station import (
    CA_FILE,
    CLIENT_CERT_FILE,
    CLIENT_KEY_FILE,
    Enrolment,
    Layout,
    Secrets,
)

CLOCK_WARN_S = 2.0
SOFTWARE = "provision"


@dataclass(frozen=True, slots=True)
class Check:
    """One self-test result."""

    name: str
    ok: bool
    detail: str
    todo: str = ""
    essential: bool = True

    def lines(self) -> list[str]:
        """Report lines: `[ OK ] name: detail`, and what to do when it failed."""
        mark = "  OK  " if self.ok else ("FAILED" if self.essential else " WARN ")
        out = [f"[{mark}] {self.name}: {self.detail}"]
        if not self.ok and self.todo:
            out.append(f"         -> {self.todo}")
        return out


def check_readers(nfc_device: str, *, tap: bool, tap_timeout_s: float, site_key: bytes) -> Check:
    """List nfcpy and PC/SC readers; with `tap`, wait for one test card on the first found."""
    found = [rd.find_nfcpy(nfc_device), *rd.find_pcsc()]
    listing = "; ".join(f"{r.driver} {r.name} {r.detail}".strip() for r in found)
    usable = [r for r in found if r.ok]
    if not usable:
        return Check(
            "card readers",
            False,
            f"no reader found ({listing})",
            "plug the NFC reader in (USB), check `lsusb`, for PC/SC readers start pcscd; "
            "the station still takes simulated taps",
            essential=False,
        )
    if not tap:
        return Check("card readers", True, f"{listing}; test tap skipped")
    first = usable[0]
    print(f"Tap a card on {first.driver} {first.name} within {tap_timeout_s:.0f} s ...")
    if first.driver == "nfcpy":
        uid = rd.run_with_timeout(
            lambda: rd.wait_nfcpy_tap(first.name, tap_timeout_s), tap_timeout_s + 2
        )
    else:
        uid = rd.run_with_timeout(
            lambda: rd.wait_pcsc_tap(first.name, tap_timeout_s), tap_timeout_s + 2
        )
    return Check(
        "card readers",
        uid is not None,
        f"{listing}; test tap: {rd.tap_line(uid, site_key)}",
        "hold the card flat on the reader for a second; try another card",
    )


def check_clock_against(central: str, ca_file: str | None) -> Check:
    """The local clock against central's (warn over 2 s: the Pi has no battery clock)."""
    try:
        c = check_clock(central, ca_file=ca_file)
    except ProvisionError as e:
        return Check("clock", False, e.what, e.todo, essential=False)
    detail = f"local clock is {c.offset_s:+.1f} s from central's"
    if abs(c.offset_s) > CLOCK_WARN_S:
        return Check(
            "clock",
            False,
            detail,
            "enable time sync: sudo timedatectl set-ntp true (and check the NTP server)",
            essential=False,
        )
    return Check("clock", True, detail)


def mqtt_round_trip(
    enrolment: Enrolment,
    secrets: Secrets,
    layout: Layout,
    *,
    timeout_s: float = 10.0,
    retry_refused_s: float = 5.0,
) -> tuple[Check, StationStatus | None]:
    """Log in with the new credentials, publish a retained status to our own status topic and
    read it back through the broker.

    A refused login is retried for a few seconds: central rewrites the broker's password file
    and signals Mosquitto just before it answers the enrolment, and the reload is asynchronous.
    """
    deadline = time.monotonic() + retry_refused_s
    while True:
        check, status, refused = _round_trip_once(enrolment, secrets, layout, timeout_s)
        if not refused or time.monotonic() > deadline:
            return check, status
        time.sleep(0.5)


def _round_trip_once(
    enrolment: Enrolment, secrets: Secrets, layout: Layout, timeout_s: float
) -> tuple[Check, StationStatus | None, bool]:
    topic = Topics(enrolment.topic_root).station(enrolment.station_id, "status")
    status = StationStatus(
        station_id=enrolment.station_id,
        online=False,  # the edge daemon says online once it runs
        sent_at=datetime.now(UTC),
        software_version=SOFTWARE,
        outbox_depth=0,
        alarms=["provisioned_not_started"],
    )
    payload = encode(status)
    connected = threading.Event()
    got = threading.Event()
    result: dict[str, object] = {}

    def on_connect(c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        result["connect"] = rc
        connected.set()
        if not rc.is_failure:
            c.subscribe(topic, qos=1)

    def on_subscribe(
        c: mqtt.Client, _u: object, _mid: int, rcs: list[ReasonCode], _p: object
    ) -> None:
        if rcs and rcs[0].is_failure:
            result["subscribe"] = rcs[0]
            got.set()
            return
        c.publish(topic, payload, qos=1, retain=True)

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.payload == payload:
            result["message"] = msg.payload
            got.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"provision-{enrolment.station_id}",
        protocol=mqtt.MQTTv5,
    )
    client.username_pw_set(enrolment.station_id, secrets.mqtt_password)
    if enrolment.tls:
        client.tls_set(
            ca_certs=str(layout.path(CA_FILE)),
            certfile=str(layout.path(CLIENT_CERT_FILE)) if enrolment.client_cert else None,
            keyfile=str(layout.path(CLIENT_KEY_FILE)) if enrolment.client_cert else None,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    where = f"{enrolment.broker_host}:{enrolment.broker_port}"
    t0 = time.monotonic()
    try:
        client.connect(enrolment.broker_host, enrolment.broker_port, keepalive=15)
    except OSError as e:
        return (
            Check(
                "broker link",
                False,
                f"cannot reach the broker at {where} ({e})",
                "check the network and the broker address central gave; is Mosquitto running?",
            ),
            None,
            False,
        )
    client.loop_start()
    try:
        if not connected.wait(timeout_s):
            return (
                Check("broker link", False, f"no answer from {where}", "check firewall"),
                None,
                False,
            )
        rc = result["connect"]
        assert isinstance(rc, ReasonCode)
        if rc.is_failure:
            return (
                Check(
                    "broker link",
                    False,
                    f"the broker refused the login: {rc}",
                    "the broker may not have reloaded its password file yet: on the broker run "
                    "`sudo systemctl reload mosquitto`, then run provisioning again",
                ),
                None,
                True,
            )
        if not got.wait(timeout_s) or "message" not in result:
            why = result.get("subscribe", "the status did not come back")
            return (
                Check(
                    "broker link",
                    False,
                    f"logged in, but the round trip failed ({why})",
                    "the broker's ACL file may be old: run `nfc-hospital central broker-config` "
                    "and reload Mosquitto",
                ),
                None,
                False,
            )
    finally:
        client.disconnect()
        client.loop_stop()
    ms = (time.monotonic() - t0) * 1000
    message = result["message"]
    assert isinstance(message, bytes)
    back = decode(StationStatus, message)
    ok = Check("broker link", True, f"login and status round trip via {where} in {ms:.0f} ms")
    return ok, back, False
