"""Bad settings: one line naming the setting and the fix, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.desbumi.conftest import Result, Run


def _one_clear_line(result: Result, setting: str) -> str:
    assert result.code == 2, (result.out, result.err)
    assert "Traceback" not in result.err + result.out
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("desbumi: error: ")
    assert setting in lines[0]
    return lines[0]


@pytest.mark.parametrize("command", [("init",), ("user", "list"), ("serve",)])
@pytest.mark.parametrize("url", ["nonsense://x", "postgresql://nobody@127.0.0.1:1/none"])
def test_bad_database_url(desbumi: Run, secret: str, command: tuple[str, ...], url: str) -> None:
    result = desbumi(*command, DESBUMI_DATABASE__URL=url, DESBUMI_SECRET_KEY=secret)
    _one_clear_line(result, "DESBUMI_DATABASE__URL")


def test_unwritable_data_directory(desbumi: Run) -> None:
    line = _one_clear_line(
        desbumi("init", DESBUMI_DATA_DIR="/proc/desbumi-test"), "DESBUMI_DATA_DIR"
    )
    assert "writable" in line


def test_placeholder_secret(desbumi: Run) -> None:
    placeholder = "dev-insecure-placeholder-secret"
    line = _one_clear_line(desbumi("init", DESBUMI_SECRET_KEY=placeholder), "DESBUMI_SECRET_KEY")
    assert "placeholder" in line
    accepted = desbumi("init", DESBUMI_SECRET_KEY=placeholder, DESBUMI_MODE="dev")
    assert accepted.code == 0, accepted.err


def test_short_secret(desbumi: Run) -> None:
    assert "too short" in _one_clear_line(
        desbumi("init", DESBUMI_SECRET_KEY="abc"), "DESBUMI_SECRET_KEY"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DESBUMI_DATABSE__URL", "sqlite://"),
        ("DESBUMI_TIMEZONE", "Mars/Olympus"),
        ("DESBUMI_API__PORT", "99999"),
        ("DESBUMI_WORKER__LEASE_S", "-1"),
    ],
)
def test_bad_setting_values(desbumi: Run, name: str, value: str) -> None:
    _one_clear_line(desbumi("check", **{name: value}), name)


def test_time_zone_alias_is_accepted(desbumi: Run) -> None:
    assert desbumi("init", DESBUMI_TIMEZONE="WITA").code == 0


@pytest.mark.parametrize("command", [("serve",), ("worker",), ("user", "list"), ("jobs",)])
def test_commands_before_init(
    desbumi: Run, secret: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    _one_clear_line(desbumi(*command, DESBUMI_SECRET_KEY=secret), "run `desbumi init` first")
    assert not (tmp_path / "var" / "desbumi.db").exists(), "no empty database left behind"


def test_serve_on_an_unmigrated_database(desbumi: Run, secret: str, tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "desbumi.db").touch()
    line = _one_clear_line(desbumi("serve", DESBUMI_SECRET_KEY=secret), "desbumi init")
    assert "not migrated" in line


def test_help_works_even_with_a_bad_setting(desbumi: Run) -> None:
    result = desbumi("init", "--help", DESBUMI_TIMEZONE="Mars/Olympus")
    assert result.code == 0
    assert "safe to run again" in result.out
