"""Bad settings and bad starts: one line naming the setting and the fix, exit 2, no traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from core.settings import PLACEHOLDER_SECRET
from tests.desbumi.conftest import Result, Run


def _one_clear_line(result: Result, setting: str) -> str:
    assert result.code == 2, (result.out, result.err)
    assert "Traceback" not in result.out + result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("desbumi: error: ")
    assert setting in lines[0]
    return lines[0]


@pytest.mark.parametrize("command", [("init",), ("user", "list"), ("serve",)])
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("nonsense://x", "unsupported database"),
        ("postgresql://nobody@127.0.0.1:1/none", "cannot connect"),
    ],
)
def test_bad_database_url(
    desbumi: Run, secret: str, command: tuple[str, ...], url: str, reason: str
) -> None:
    result = desbumi(*command, DESBUMI_DATABASE__URL=url, DESBUMI_SECRET_KEY=secret)
    assert reason in _one_clear_line(result, "DESBUMI_DATABASE__URL")


def test_unwritable_data_directory(desbumi: Run) -> None:
    # The tests run as root, for whom chmod changes nothing; /proc refuses mkdir to everyone.
    line = _one_clear_line(
        desbumi("init", DESBUMI_DATA_DIR="/proc/desbumi-test"), "DESBUMI_DATA_DIR"
    )
    assert "/proc/desbumi-test" in line and "writable" in line


def test_placeholder_secret_is_refused_outside_dev_mode(desbumi: Run, tmp_path: Path) -> None:
    line = _one_clear_line(
        desbumi("init", DESBUMI_SECRET_KEY=PLACEHOLDER_SECRET), "DESBUMI_SECRET_KEY"
    )
    assert "placeholder" in line
    accepted = desbumi("init", DESBUMI_SECRET_KEY=PLACEHOLDER_SECRET, DESBUMI_MODE="dev")
    assert accepted.code == 0, accepted.err
    assert not (tmp_path / "var" / "secret_key").exists(), "the key from the environment rules"


@pytest.mark.parametrize("command", ["serve", "api", "worker"])
def test_placeholder_secret_is_refused_by_the_processes(
    desbumi: Run, secret: str, command: str
) -> None:
    assert desbumi("init", DESBUMI_SECRET_KEY=secret).code == 0
    result = desbumi(command, DESBUMI_SECRET_KEY=PLACEHOLDER_SECRET, timeout=30)
    assert "placeholder" in _one_clear_line(result, "DESBUMI_SECRET_KEY")


def test_short_secret(desbumi: Run) -> None:
    line = _one_clear_line(desbumi("init", DESBUMI_SECRET_KEY="abc"), "DESBUMI_SECRET_KEY")
    assert "too short" in line
    assert "abc" not in line.removeprefix("desbumi: error: "), "a secret is never echoed"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DESBUMI_DATABSE__URL", "sqlite://", "unknown setting"),
        ("DESBUMI_API__PROT", "8000", "unknown setting"),
        ("DESBUMI_TIMEZONE", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("DESBUMI_API__PORT", "99999", "65535"),
        ("DESBUMI_WORKER__LEASE_S", "-1", "greater than 0"),
    ],
)
@pytest.mark.parametrize("command", ["check", "init"])
def test_bad_setting_values(desbumi: Run, command: str, name: str, value: str, says: str) -> None:
    assert says in _one_clear_line(desbumi(command, **{name: value}), name)


def test_time_zone_alias_is_accepted(desbumi: Run) -> None:
    result = desbumi("init", DESBUMI_TIMEZONE="WITA")
    assert result.code == 0, result.err
    assert result.err.strip() == ""


@pytest.mark.parametrize("command", [("serve",), ("worker",), ("user", "list"), ("jobs",)])
def test_commands_before_init(desbumi: Run, tmp_path: Path, command: tuple[str, ...]) -> None:
    result = desbumi(*command, DESBUMI_SECRET_KEY="s" * 40)
    _one_clear_line(result, "run `desbumi init` first")
    assert not (tmp_path / "var" / "desbumi.db").exists(), "no empty database left behind"


def test_serve_on_an_unmigrated_database(desbumi: Run, secret: str, tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "desbumi.db").touch()
    line = _one_clear_line(desbumi("serve", DESBUMI_SECRET_KEY=secret), "`desbumi init`")
    assert "not migrated" in line


@pytest.mark.parametrize(
    ("command", "port_setting"),
    [
        ("serve", "DESBUMI_API__PORT"),
        ("api", "DESBUMI_API__PORT"),
        ("serve", "DESBUMI_AGI__PORT"),
        ("agi", "DESBUMI_AGI__PORT"),
    ],
)
def test_port_in_use(desbumi: Run, command: str, port_setting: str) -> None:
    assert desbumi("init").code == 0
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = str(holder.getsockname()[1])
        result = desbumi(command, timeout=30, **{port_setting: port})
    line = _one_clear_line(result, port_setting)
    assert f"127.0.0.1:{port}" in line and "in use" in line


@pytest.mark.parametrize(("command", "part"), [("api", "API"), ("agi", "AGI")])
def test_address_not_on_this_machine(desbumi: Run, command: str, part: str) -> None:
    assert desbumi("init").code == 0
    # 192.0.2.0/24 is reserved for documentation: no interface here has it.
    result = desbumi(command, timeout=30, **{f"DESBUMI_{part}__HOST": "192.0.2.1"})
    line = _one_clear_line(result, f"DESBUMI_{part}__HOST/PORT")
    assert "cannot listen on 192.0.2.1:" in line and "Cannot assign requested address" in line


def test_help_works_even_with_a_bad_setting(desbumi: Run) -> None:
    result = desbumi("init", "--help", DESBUMI_TIMEZONE="Mars/Olympus")
    assert result.code == 0
    assert "safe to run again" in result.out
