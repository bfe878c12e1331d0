"""The systemd unit deployers copy: valid for systemd, and every part it names runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "systemd" / "desbumi@.service"
DESBUMI = Path(sys.executable).with_name("desbumi")


def _verify(folder: Path, text: str, part: str) -> subprocess.CompletedProcess[str]:
    (folder / "desbumi@.service").write_text(text)
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze (Debian's systemd package) is needed by this test"
    return subprocess.run(
        [analyze, "verify", f"{folder}/desbumi@{part}.service"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _here(tmp_path: Path) -> str:
    """The unit with this checkout's paths, as a deployer edits it."""
    text = UNIT.read_text().replace("/opt/desbumi/.venv/bin/desbumi", str(DESBUMI))
    text = text.replace("/opt/desbumi", str(REPO)).replace("/var/lib/desbumi", str(tmp_path))
    return re.sub(r"^(User|Group)=desbumi$", r"\1=root", text, flags=re.M)


@pytest.mark.parametrize("part", ["serve", "api", "agi", "worker", "scheduler"])
def test_the_unit_is_valid_and_runs_a_real_part(tmp_path: Path, part: str) -> None:
    result = _verify(tmp_path, _here(tmp_path), part)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    # What the unit starts is a command of the CLI.
    helped = subprocess.run(
        [str(DESBUMI), part, "--help"], capture_output=True, text=True, timeout=60
    )
    assert helped.returncode == 0, helped.stderr


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    # The check above can fail: a unit whose command does not exist is refused.
    broken = _here(tmp_path).replace(str(DESBUMI), str(tmp_path / "no-such-desbumi"))
    result = _verify(tmp_path, broken, "serve")
    assert result.returncode != 0 and "no-such-desbumi" in result.stderr
