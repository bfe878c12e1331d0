"""``desbumi asterisk-config`` and the hotline menu as ``desbumi check`` sees it."""

from __future__ import annotations

from pathlib import Path

from tests.desbumi.conftest import Run


def test_asterisk_config_renders_the_dialplan_from_the_settings(
    desbumi: Run, tmp_path: Path
) -> None:
    out = tmp_path / "asterisk"
    result = desbumi(
        "asterisk-config",
        "--out",
        str(out),
        DESBUMI_AGI__PORT="4599",
        DESBUMI_AMI__SECRET="ami-secret-for-test",
        DESBUMI_HOTLINE__ASTERISK_DATA_DIR="/srv/desbumi",
    )
    assert result.code == 0, result.err
    dialplan = (out / "extensions_desbumi.conf").read_text()
    assert "AGI(agi://127.0.0.1:4599/ivr)" in dialplan
    assert "AGI(agi://127.0.0.1:4599/missed)" in dialplan
    assert "Record(/srv/desbumi/voicemail/${UNIQUEID}.wav" in dialplan
    assert "Playback(/srv/desbumi/prompts/system/fallback-apology)" in dialplan
    manager = out / "manager_desbumi.conf"
    assert "secret = ami-secret-for-test" in manager.read_text()
    assert manager.stat().st_mode & 0o077 == 0, "the AMI secret must not be world-readable"
    assert "Local/" not in (out / "pjsip_desbumi.conf").read_text()
    # The apology exists before any call: the dialplan plays it when desbumi is down.
    apology = tmp_path / "var" / "prompts" / "system" / "fallback-apology.sln"
    assert apology.stat().st_size > 8000


def test_a_broken_menu_file_is_named_by_check_and_stops_the_hotline(
    desbumi: Run, tmp_path: Path
) -> None:
    assert desbumi("init").code == 0
    menu = tmp_path / "var" / "menu.yaml"
    menu.write_text(
        "version: 1\nstart: main\nnodes:\n"
        "  main: {type: menu, options: {'1': nowhere}, fallback: bye}\n"
        "  bye: {type: hangup}\n"
        "  out: {type: quick_exit}\n"
    )
    check = desbumi("check")
    assert check.code != 0
    assert "FAIL  hotline menu" in check.out or "FAIL hotline menu" in check.out, check.out
    assert "node 'main': option 1 points to missing node 'nowhere'" in check.out
    started = desbumi("agi", timeout=60)
    assert started.code == 2
    assert started.err.strip().splitlines() == [
        "desbumi: error: node 'main': option 1 points to missing node 'nowhere'"
    ]
