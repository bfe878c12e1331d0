"""The README's "Connecting Asterisk" and "Placing a test call", as a newcomer runs them.

``desbumi init``, ``desbumi asterisk-config --out`` into Asterisk's configuration, a
dialplan reload, ``desbumi serve``, then ``channel originate Local/s@desbumi-ivr
application Wait 120`` on Asterisk's console: a caller who presses nothing, whom the
default menu (the shipped prompts) must take to its fallback and a goodbye.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET
from tests.desbumi.conftest import DESBUMI, Running, clean_env, free_port
from tests.ivr.conftest import AMI_SECRET, AMI_USER, HotlineSite

pytestmark = pytest.mark.slow

README_CALL = "channel originate Local/s@desbumi-ivr application Wait 120"


@pytest.fixture
def asterisk_etc(hotline_site: HotlineSite) -> Iterator[Path]:
    """Asterisk's configuration directory; the hotline's file is put back afterwards."""
    etc = Path((hotline_site.asterisk.directory / "inner").read_text().strip()) / "etc"
    dialplan = etc / "extensions_desbumi.conf"
    kept = dialplan.read_bytes()
    yield etc
    dialplan.write_bytes(kept)
    hotline_site.cli("dialplan reload")


def test_the_readme_test_call_reaches_the_fallback_and_ends(
    hotline_site: HotlineSite, asterisk_etc: Path, tmp_path: Path
) -> None:
    data = hotline_site.host_dir.parent / f"readme-{tmp_path.name}"
    env = clean_env(
        DESBUMI_DATA_DIR=str(data),
        DESBUMI_SECRET_KEY=TEST_SECRET,
        DESBUMI_HOTLINE__ASTERISK_DATA_DIR=str(
            hotline_site.asterisk_dir.parent / f"readme-{tmp_path.name}"
        ),
        DESBUMI_AGI__PORT=str(hotline_site.asterisk.agi_port),
        DESBUMI_API__PORT=str(free_port()),
        DESBUMI_AMI__PORT=str(hotline_site.asterisk.ami_port),
        DESBUMI_AMI__USERNAME=AMI_USER,
        DESBUMI_AMI__SECRET=AMI_SECRET,
    )
    try:
        for command in (["init"], ["asterisk-config", "--out", str(asterisk_etc)]):
            done = subprocess.run(
                [str(DESBUMI), *command],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
        dialplan = (asterisk_etc / "extensions_desbumi.conf").read_text()
        assert f"agi://127.0.0.1:{hotline_site.asterisk.agi_port}/" in dialplan
        assert "reload" in hotline_site.cli("dialplan reload").lower()

        serve = Running("serve", env, tmp_path)
        try:
            serve.wait_for_log("FastAGI listening", seconds=120)
            serve.wait_for_log("prompts ready in", seconds=300)
            serve.wait_for_log("AMI connected", seconds=30)
            hotline_site.cli(README_CALL)
            serve.wait_for_log("started request=ivr", seconds=30)
            # About 80 s of the shipped prompts and their repeats, as the README says.
            serve.wait_for_log("no valid key at main; fallback", seconds=240)
            serve.wait_for_log("ended: hung_up", seconds=60)
            assert serve.stop() == 0
        finally:
            serve.stop()
        log = serve.output()
        assert "Traceback" not in log, log
    finally:
        shutil.rmtree(data, ignore_errors=True)
