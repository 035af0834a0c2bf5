"""docs/configuration.md is generated from the config models and must match them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from nfc_hospital import config_doc
from nfc_hospital.protocol_cli import main as protocol_main

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
