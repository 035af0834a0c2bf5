"""Hostile config files (issue #10): every part's loader given broken files.

For central, the station daemon (edge), the kiosk and the station files provisioning writes
(station.toml, kiosk.toml, mqtt.password, site.key): truncated and invalid TOML, wrong types,
unknown keys, out-of-range values, wrong encodings, huge files, missing files, secrets files
that are missing, damaged or readable by everyone. What must hold:

- the loader raises `ConfigError` (nothing else), its message names the file and the key path
  and stays short (a 10 MB value is not echoed back);
- the command line exits 2 with that message on stderr and no Python traceback;
- hypothesis-generated TOML documents and random text never raise anything but ConfigError.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from central.config import CentralConfig
from edge.config import EdgeConfig
from kiosk_ui.config import KioskConfig
from protocol.base import LocalizedText
from protocol.config import load_config, render_config
from protocol.enrolment import EnrolMqtt, EnrolResponse
from protocol.errors import ConfigError
from protocol.ids import format_site_key
from provisioning.station import Layout, Options, split_enrolment, write_station
from tests.support.ports import free_port

pytestmark = pytest.mark.fault

# part -> (config model, environment prefix, `nfc-hospital` subcommand)
PARTS: dict[str, tuple[type[BaseModel], str, str]] = {
    "central": (CentralConfig, "NFCH_CENTRAL", "central"),
    "edge": (EdgeConfig, "NFCH_EDGE", "edge"),
    "kiosk": (KioskConfig, "NFCH_KIOSK", "kiosk"),
}


def valid_text(part: str) -> str:
    model = PARTS[part][0]
    return render_config(model.model_validate({}))


def _cut_in_a_table_header(text: str) -> str:
    i = text.index("[mqtt]")
    return text[: i + 3]  # "... [mq": a table header that never closes


# case -> (file bytes from a part's valid text, fragments the error must contain)
CASES: dict[str, tuple[Callable[[str], bytes], list[str]]] = {
    "truncated": (lambda t: _cut_in_a_table_header(t).encode(), ["not valid TOML"]),
    "invalid_toml": (lambda t: (t + "\nport = = 1\n").encode(), ["not valid TOML"]),
    "duplicate_key": (lambda t: (t + "\n[mqtt]\nport = 1\n").encode(), ["not valid TOML"]),
    "wrong_type": (
        lambda t: t.replace("port = 1883", 'port = "eighty"').encode(),
        ["mqtt.port", "integer"],
    ),
    "table_expected": (
        lambda t: ("mqtt = 5\n" + t.split("[mqtt]")[0]).encode(),
        ["mqtt", "dictionary"],
    ),
    "unknown_key": (
        lambda t: t.replace("[mqtt]\n", "[mqtt]\nprot = 1884\n").encode(),
        ["mqtt.prot", "Extra inputs are not permitted"],
    ),
    "out_of_range": (
        lambda t: t.replace("port = 1883", "port = 70000").encode(),
        ["mqtt.port", "less than or equal to 65535"],
    ),
    "too_small": (
        lambda t: t.replace("keepalive_s = 15", "keepalive_s = 0").encode(),
        ["mqtt.keepalive_s", "greater than or equal to 5"],
    ),
    "cp949": (
        lambda t: ("# 설정 파일 (병원)\n" + t).encode("cp949"),
        ["not UTF-8"],
    ),
    "utf16_bom": (lambda t: t.encode("utf-16"), ["not UTF-8"]),
    "binary": (lambda t: bytes(range(256)) * 4, ["not UTF-8"]),
    "nul_bytes": (lambda t: t.replace("[mqtt]", "[mqtt]\0").encode(), ["not valid TOML"]),
    "deep_nesting": (lambda t: (t + "\nx = " + "[" * 5000).encode(), ["not valid TOML"]),
    "long_int": (
        lambda t: t.replace("port = 1883", "port = " + "9" * 5000).encode(),
        ["not valid TOML"],
    ),
}


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def load(part: str, path: Path | None, environ: dict[str, str] | None = None) -> BaseModel:
    model, prefix, _ = PARTS[part]
    return load_config(model, path, prefix, environ or {})


def refused(part: str, path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load(part, path)
    message = str(info.value)
    assert str(path) in message, message
    assert len(message) < 2000, f"error message of {len(message)} characters"
    return message


@pytest.mark.parametrize("part", sorted(PARTS))
def test_the_valid_file_loads(tmp_path: Path, part: str) -> None:
    path = write(tmp_path, f"{part}.toml", valid_text(part).encode())
    assert load(part, path) == PARTS[part][0].model_validate({})


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("part", sorted(PARTS))
def test_broken_file_is_named_with_its_key_path(tmp_path: Path, part: str, case: str) -> None:
    make, fragments = CASES[case]
    path = write(tmp_path, f"{part}.toml", make(valid_text(part)))
    message = refused(part, path)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


@pytest.mark.parametrize("part", sorted(PARTS))
def test_missing_file_and_a_folder_instead_of_a_file(tmp_path: Path, part: str) -> None:
    assert "cannot read config file" in refused(part, tmp_path / "nope.toml")
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    assert "cannot read config file" in refused(part, folder)


@pytest.mark.parametrize("part", sorted(PARTS))
def test_huge_files_are_refused_promptly_without_echoing_them(tmp_path: Path, part: str) -> None:
    text = valid_text(part)
    # 10 MB of comments, then a bad value: the error names the key, in bounded time.
    padded = ("# " + "x" * 98 + "\n") * 100_000 + text.replace("port = 1883", 'port = "x"')
    path = write(tmp_path, f"{part}.toml", padded.encode())
    start = time.monotonic()
    assert "mqtt.port" in refused(part, path)
    # A 10 MB value where a short one belongs: refused, and not copied into the message.
    huge = text.replace("port = 1883", "port = " + "9" * 10_000_000)
    path2 = write(tmp_path, f"{part}-value.toml", huge.encode())
    refused(part, path2)  # named, short (an integer beyond Python's 4,300-digit limit)
    huge_str = text.replace("[mqtt]\n", '[mqtt]\nusername = "' + "u" * 10_000_000 + '"\n')
    path3 = write(tmp_path, f"{part}-string.toml", huge_str.encode())
    # A long user name is allowed by the model: loaded, or refused briefly; never a crash.
    with contextlib.suppress(ConfigError):
        load(part, path3)
    assert time.monotonic() - start < 60


# ------------------------------------------------------------------ the command lines


def run_cli(args: list[str], limit_s: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NFCH_")}
    return subprocess.run(
        [sys.executable, "-m", "nfc_hospital", *args],
        capture_output=True,
        text=True,
        timeout=limit_s,
        env=env,
        check=False,
    )


def assert_exit_2(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode == 2, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, f"{fragment!r} not in {done.stderr!r}"


@pytest.mark.parametrize("part", sorted(PARTS))
def test_cli_exits_2_with_file_and_key_and_no_traceback(tmp_path: Path, part: str) -> None:
    sub = PARTS[part][2]
    text = valid_text(part)
    for case in ("truncated", "wrong_type", "unknown_key", "cp949"):
        make, fragments = CASES[case]
        path = write(tmp_path, f"{part}-{case}.toml", make(text))
        done = run_cli([sub, "--config", str(path), "--print-config"])
        assert_exit_2(done, str(path), *fragments)
    done = run_cli([sub, "--config", str(tmp_path / "missing.toml")])
    assert_exit_2(done, str(tmp_path / "missing.toml"), "cannot read config file")
    # An environment override with a bad value names the variable.
    ok = write(tmp_path, f"{part}-ok.toml", text.encode())
    env_var = f"{PARTS[part][1]}__MQTT__PORT"
    done = subprocess.run(
        [sys.executable, "-m", "nfc_hospital", sub, "--config", str(ok), "--print-config"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, env_var: "eighty"},
        check=False,
    )
    assert_exit_2(done, env_var, "mqtt.port")


# ------------------------------------------------------------------ a provisioned station


def response() -> EnrolResponse:
    """What central answers an enrolment with (as in tests/unit/test_provision_station.py)."""
    return EnrolResponse(
        station_id="st-lobby-1",
        name=LocalizedText(ko="접수", en="Lobby"),
        location_node="lobby",
        mqtt=EnrolMqtt(host="127.0.0.1", port=1, username="st-lobby-1", password="p" * 32),
        site_key_hex=(b"0123456789abcdef0123456789abcdef").hex(),
    )


@pytest.fixture
def provisioned(tmp_path: Path) -> Layout:
    """The station's files exactly as `nfc-hospital provision` writes them."""
    enrolment, secrets = split_enrolment(response(), "http://central.invalid")
    lay = Layout(config_dir=tmp_path / "etc", data_dir=tmp_path / "var", root=tmp_path / "root")
    write_station(
        enrolment,
        secrets,
        lay,
        Options(readers=[{"type": "simulated"}], edge_http_port=free_port()),
    )
    return lay


def start_edge(config: Path, limit_s: float = 30) -> tuple[int | None, str]:
    """Run the daemon; its exit code and output (None: still running after `limit_s`, then
    stopped: it did not refuse the config)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NFCH_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nfc_hospital", "edge", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        out, _ = proc.communicate(timeout=limit_s)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=10)
        return None, out


def test_provisioned_files_load(provisioned: Layout) -> None:
    edge = load("edge", provisioned.path("station.toml"))
    assert isinstance(edge, EdgeConfig)
    assert edge.mqtt.password_file == provisioned.path("mqtt.password")
    assert isinstance(load("kiosk", provisioned.path("kiosk.toml")), KioskConfig)


@pytest.mark.parametrize("name", ["station.toml", "kiosk.toml"])
def test_provisioned_config_damaged(provisioned: Layout, name: str) -> None:
    part = "edge" if name == "station.toml" else "kiosk"
    path = provisioned.path(name)
    good = path.read_text(encoding="utf-8")
    path.write_text(good[: len(good) // 2].rsplit("\n", 1)[0] + "\n[mqtt\n", encoding="utf-8")
    assert "not valid TOML" in refused(part, path)
    path.write_text(good.replace('station_id = "st-lobby-1"', "station_id = 7"), encoding="utf-8")
    assert "station_id" in refused(part, path)


def test_missing_site_key_stops_the_daemon_with_exit_2(provisioned: Layout) -> None:
    key = provisioned.path("site.key")
    key.unlink()
    code, out = start_edge(provisioned.path("station.toml"))
    assert code == 2, out
    assert str(key) in out
    assert "Traceback" not in out


def test_damaged_site_key_stops_the_daemon_with_exit_2(provisioned: Layout) -> None:
    key = provisioned.path("site.key")
    key.write_text("not hex at all\n", encoding="ascii")
    code, out = start_edge(provisioned.path("station.toml"))
    assert code == 2, out
    assert str(key) in out
    assert "Traceback" not in out


def test_world_readable_site_key_is_refused(provisioned: Layout) -> None:
    key = provisioned.path("site.key")
    key.chmod(0o644)
    assert stat.S_IMODE(key.stat().st_mode) & stat.S_IROTH
    code, out = start_edge(provisioned.path("station.toml"), limit_s=10)
    assert code == 2, out
    assert str(key) in out
    assert "permission" in out.lower()


def test_missing_mqtt_password_file_stops_the_daemon_with_exit_2(provisioned: Layout) -> None:
    password = provisioned.path("mqtt.password")
    password.unlink()
    code, out = start_edge(provisioned.path("station.toml"), limit_s=10)
    assert code == 2, out
    assert str(password) in out
    assert "Traceback" not in out


# ------------------------------------------------------------------ generated documents

_KEYS = st.sampled_from(
    [
        "station_id",
        "data_dir",
        "site_key_file",
        "mqtt",
        "http",
        "log",
        "sync",
        "readers",
        "port",
        "host",
        "level",
        "room_id",
        "database",
        "url",
        "site",
        "auth",
        "bridge",
        "keepalive_s",
        "password_file",
        "x",
        "키",
    ]
)
_SCALARS = (
    st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.text(max_size=40)
    | st.dates()
    | st.datetimes()
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=20,
)
_DOCS = st.dictionaries(_KEYS, _VALUES, max_size=8)


@pytest.mark.parametrize("part", sorted(PARTS))
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(doc=_DOCS)
def test_generated_toml_loads_or_is_a_config_error(
    tmp_path: Path, part: str, doc: dict[str, Any]
) -> None:
    path = tmp_path / f"{part}-gen.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    message = None
    try:
        load(part, path)
    except ConfigError as e:
        message = str(e)
    if message is not None:
        assert str(path) in message
        # Every problem line names where: the file, then a key path.
        for line in message.splitlines()[1:]:
            assert line.strip().startswith(f"{path}: "), line


@pytest.mark.parametrize("part", sorted(PARTS))
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_random_bytes_load_or_are_a_config_error(tmp_path: Path, part: str, data: bytes) -> None:
    path = tmp_path / f"{part}-bytes.toml"
    path.write_bytes(data)
    problem = None
    try:
        load(part, path)
    except ConfigError as e:
        problem = str(e)
    assert problem is None or str(path) in problem


def test_site_key_written_by_central_and_provisioning_is_private(
    tmp_path: Path, provisioned: Layout
) -> None:
    """The other side of the permissions check: what our tools write is 0600."""
    from central.site_key import load_site_key

    created = tmp_path / "central" / "site.key"
    load_site_key(created)
    assert stat.S_IMODE(created.stat().st_mode) == 0o600
    assert stat.S_IMODE(provisioned.path("site.key").stat().st_mode) == 0o600
    assert format_site_key(b"\0" * 32)  # the format both read
