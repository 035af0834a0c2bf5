"""docs/configuration.md is generated from the config models and must match them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from nfc_hospital import config_doc
from nfc_hospital.protocol_cli import main as protocol_main
from protocol.base import Model

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "configuration.md"


def test_docs_configuration_md_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == config_doc.render(), (
        "docs/configuration.md is stale: run 'nfc-hospital protocol config-doc'"
    )


def _leaf_keys(model: type[BaseModel]) -> set[str]:
    keys = set()
    for name, info in model.model_fields.items():
        if config_doc._models_in(info.annotation):
            continue
        keys.add(name)
    return keys


def test_every_key_of_every_daemon_is_documented() -> None:
    text = config_doc.render()
    assert str(REPO) not in text  # the same document from any checkout
    for daemon in config_doc.daemons():
        assert f"`{daemon.command}`" in text
        for name in _leaf_keys(daemon.model):
            assert f"| `{name}` |" in text, f"{daemon.model.__name__}.{name}"


def test_section_defaults_are_the_daemons_real_defaults() -> None:
    text = config_doc.render()
    central = text.split("## Central server")[1].split("## Station daemon")[0]
    edge = text.split("## Station daemon")[1].split("## Kiosk")[0]
    # HttpSettings alone says port 0; central and the edge daemon start on 8080 and 8081.
    assert "| `port` | integer | `8080` |" in central
    assert "| `port` | integer | `8081` |" in edge
    assert "env `NFCH_EDGE__MQTT__PORT`" in edge
    assert '### `[[readers]]` `type = "pcsc"`' in edge


def test_check_mode_reports_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "configuration.md"
    assert protocol_main(["config-doc", "--output", str(out)]) == 0
    assert protocol_main(["config-doc", "--output", str(out), "--check"]) == 0
    out.write_text(out.read_text().replace("Address to listen on.", "Old text."))
    assert protocol_main(["config-doc", "--output", str(out), "--check"]) == 1
    assert "out of date" in capsys.readouterr().err


class _Inner(Model):
    """A switchable feature."""

    host: str = Field(description="Where it is.")
    port: int = Field(default=1883, description="Its port.")


class _Outer(Model):
    """A daemon's config."""

    name: str = Field(default="x", description="A name.")
    shipped: Path = Field(
        default=Path(config_doc.__file__).resolve(), description="A file in the package."
    )
    feature: _Inner | None = Field(default=None, description="Off unless set.")


def test_an_optional_section_lists_its_keys() -> None:
    out: list[str] = []
    config_doc._section(out, _Outer, (), "Demo", 2, "NFCH_T", defaults=_Outer())
    text = "\n".join(out)
    assert "### `[feature]` (optional section)" in text
    assert "| `host` | string | *required* | Where it is. <br>env `NFCH_T__FEATURE__HOST` |" in text
    assert "| `port` | integer | `1883` |" in text
    # No checkout's absolute path in the document.
    assert '`"nfc_hospital/config_doc.py"` (shipped with nfc-hospital)' in text
    assert str(REPO) not in text
