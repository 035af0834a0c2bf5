"""`nfc-hospital central`: the runner's options and the admin command dispatch."""

from __future__ import annotations

import pytest

from central import cli


def test_print_config_shows_bridge_and_api_sections(capsys, monkeypatch):
    monkeypatch.setenv("NFCH_CENTRAL__BRIDGE__SHARED_SUBSCRIPTION", "true")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--print-config"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "[bridge]" in out
    assert "shared_subscription = true" in out
    assert "[api]" in out


def test_unknown_admin_command_names_the_known_ones(capsys):
    assert cli.main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "frobnicate" in err
    for command in cli.ADMIN_COMMANDS:
        assert command in err


def test_admin_commands_reach_their_modules(capsys):
    # --help of each admin tool proves the dispatch found its parser (exits 0).
    for command in cli.ADMIN_COMMANDS:
        with pytest.raises(SystemExit) as exit_:
            cli.main([command, "--help"])
        assert exit_.value.code == 0, command
        assert "usage:" in capsys.readouterr().out
