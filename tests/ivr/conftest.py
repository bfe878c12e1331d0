"""A real Asterisk for the hotline tests (tools/asterisk-sandbox.sh), one per session.

Asterisk runs from a Debian unstable chroot with its own ports on 127.0.0.1; its
dialplan sends context ``ivr`` to ``agi://127.0.0.1:<agi_port>/ivr`` and falls back to
a goodbye prompt when no FastAGI server answers. The sandbox needs root to build; a
machine that cannot build it fails these tests with the reason, it never skips them.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.callers import register_caller
from core.db import Database
from core.models import CallbackRequest
from core.security import PhoneVault
from core.settings import Settings
from core.states import CallbackSource, CallbackState
from ivr.service import Hotline
from tests.conftest import REPO
from tests.ivr.fake_asterisk import prompts_only_hotline

SANDBOX = REPO / "tools" / "asterisk-sandbox.sh"
AMI_USER, AMI_SECRET = "desbumi", "desbumi-test-secret"


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sandbox(*args: str) -> None:
    done = subprocess.run(
        ["bash", str(SANDBOX), *args], capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"Asterisk sandbox {args[0]} failed: {done.stderr.strip()[-2000:]}")


@dataclass
class Asterisk:
    directory: Path
    ami_port: int
    sip_port: int
    agi_port: int

    def start(self) -> None:
        _sandbox(
            "start", str(self.directory), str(self.ami_port), str(self.sip_port), str(self.agi_port)
        )

    def stop(self) -> None:
        _sandbox("stop", str(self.directory))

    def ami(self, *actions: dict[str, str], settle_s: float = 0.3, until: str | None = None) -> str:
        """Log in, send ``actions``, return everything AMI said (events included).

        Reads for ``settle_s`` seconds, or with ``until`` (a regular expression) as soon
        as it matches what came (``settle_s`` is then the longest wait).
        """
        with socket.create_connection(("127.0.0.1", self.ami_port), timeout=5) as sock:
            stream = sock.makefile("rwb")
            stream.readline()
            for action in (
                {"Action": "Login", "Username": AMI_USER, "Secret": AMI_SECRET},
                *actions,
            ):
                stream.write("".join(f"{k}: {v}\r\n" for k, v in action.items()).encode() + b"\r\n")
                stream.flush()
            if until is None:
                time.sleep(settle_s)
            deadline = time.monotonic() + settle_s
            sock.settimeout(0.2)
            received = b""
            while True:
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    chunk = b""
                received += chunk
                if until is not None and re.search(until.encode(), received):
                    break
                if (until is None and not chunk) or time.monotonic() > deadline:
                    break
        return received.decode("utf-8", "replace")

    def originate_caller(self) -> str:
        """A call from the test's caller leg (context ``caller``) into context ``ivr``."""
        return self.ami(
            {
                "Action": "Originate",
                "Channel": "Local/s@caller",
                "Context": "ivr",
                "Exten": "s",
                "Priority": "1",
                "Async": "true",
            }
        )


@pytest.fixture(scope="session")
def asterisk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Asterisk]:
    sandbox = Asterisk(
        tmp_path_factory.mktemp("asterisk"),
        ami_port=_free_port(),
        sip_port=_free_port(socket.SOCK_DGRAM),
        agi_port=_free_port(),
    )
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _asterisk_cli(asterisk: Asterisk, command: str) -> str:
    inner = Path((asterisk.directory / "inner").read_text().strip())
    root = Path(subprocess.check_output(["bash", str(SANDBOX), "build"], text=True).strip())
    done = subprocess.run(
        [
            "chroot",
            str(root),
            "/usr/sbin/asterisk",
            "-C",
            f"/{inner.relative_to(root)}/etc/asterisk.conf",
            "-rx",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.stdout + done.stderr


@dataclass
class HotlineSite:
    """A data directory inside the Asterisk chroot: host path and Asterisk's view of it."""

    asterisk: Asterisk
    host_dir: Path
    asterisk_dir: Path

    def cli(self, command: str) -> str:
        return _asterisk_cli(self.asterisk, command)


@pytest.fixture(scope="session")
def hotline_site(asterisk: Asterisk) -> HotlineSite:
    """One data directory for the session's hotline calls (prompts are synthesised once)."""
    inner = Path((asterisk.directory / "inner").read_text().strip())
    root = Path(subprocess.check_output(["bash", str(SANDBOX), "build"], text=True).strip())
    host = inner / "data"
    host.mkdir(parents=True, exist_ok=True)
    return HotlineSite(asterisk, host, Path("/") / host.relative_to(root))


@pytest.fixture
def site_db(
    hotline_site: HotlineSite, database_url: str, tmp_path: Path
) -> Iterator[tuple[Settings, Database]]:
    """Settings for ``hotline_site`` (the default menu), its database, and the dialplan."""
    # Imported here: the harness imports this module (HotlineSite).
    from tests.ivr.harness import install_dialplan, site_settings

    settings = site_settings(hotline_site, database_url, tmp_path)
    database = Database.from_settings(settings)
    install_dialplan(hotline_site, settings)
    yield settings, database
    database.dispose()


def dialing_callback(
    db: Database, vault: PhoneVault, number: str, now: datetime
) -> tuple[int, int]:
    """A missed-call callback to ``number`` that the dialer is ringing (its first attempt):
    (the caller's id, the request's id)."""
    with db.transaction() as session:
        caller = register_caller(session, vault, number, now=now)
        request = CallbackRequest(
            caller_id=caller.id,
            phone_hash=caller.phone_hash,
            source=CallbackSource.missed_call,
            state=CallbackState.dialing,
            attempts=1,
            due_at=now + timedelta(minutes=10),
            created_at=now,
            updated_at=now,
        )
        session.add(request)
        session.flush()
        return caller.id, request.id


@pytest.fixture
def hotline(settings: Settings, db: Database) -> Iterator[Hotline]:
    """The hotline for tests that play Asterisk's side themselves (fake_asterisk.py)."""
    with prompts_only_hotline(settings, db) as built:
        yield built
