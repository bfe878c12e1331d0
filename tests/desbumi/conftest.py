"""Helpers for running the real ``desbumi`` command in a controlled environment.

Every test runs the installed console script as a subprocess, with every ``DESBUMI_*``
variable of the outer environment removed, a data directory under ``tmp_path`` and
``cwd=tmp_path``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from core.db import Database
from tests.conftest import TEST_SECRET, make_settings

DESBUMI = Path(sys.executable).parent / "desbumi"
VOSK_TEST_MODEL = Path(__file__).resolve().parent.parent / "data" / "vosk-test-model"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


def clean_env(**values: str) -> dict[str, str]:
    """The process environment without any ``DESBUMI_*`` variable, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("DESBUMI_")}
    env.update(values)
    return env


def process_tree(pid: int) -> set[int]:
    """``pid`` and every live process below it (its database helper, the helper's
    forkserver...); zombies, which run nothing, are left out."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    tree = {pid}
    while grown := {c for c, p in parents.items() if p in tree and c not in tree}:
        tree |= grown
    return tree


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """A data directory under tmp_path, SQLite, free ports, no Asterisk (AMI port closed)."""
    return {
        "DESBUMI_DATA_DIR": str(tmp_path / "var"),
        "DESBUMI_API__PORT": str(free_port()),
        "DESBUMI_AGI__PORT": str(free_port()),
        "DESBUMI_AMI__PORT": str(free_port()),
        "DESBUMI_AMI__TIMEOUT_S": "1",
    }


@pytest.fixture
def desbumi(tmp_path: Path, base_env: dict[str, str]) -> Run:
    """Run ``desbumi ARGS`` with base_env plus keyword overrides; returns the Result."""

    def run(*args: str, timeout: float = 120, **overrides: str) -> Result:
        done = subprocess.run(
            [str(DESBUMI), *args],
            env=clean_env(**{**base_env, **overrides}),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def secret() -> str:
    """A valid secret key (the data directory may not have one yet)."""
    return TEST_SECRET


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """The SQLite database that ``desbumi init`` creates under tmp_path (opened lazily)."""
    db = Database.from_settings(make_settings(tmp_path))
    yield db
    db.dispose()


class Running:
    """A long-running ``desbumi COMMAND``; its stdout and stderr go to ``self.log``."""

    def __init__(
        self,
        command: str,
        env: dict[str, str],
        cwd: Path,
        name: str = "",
        wrapper: Sequence[str] = (),
    ) -> None:
        self.log = cwd / f"{name or command}.log"
        self._log_handle = self.log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [*wrapper, str(DESBUMI), command],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8")

    def _alive(self, waiting_for: str) -> None:
        code = self.proc.poll()
        assert code is None, f"exited with {code} waiting for {waiting_for}:\n{self.output()}"

    def wait_for_log(self, text: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while text not in self.output():
            self._alive(repr(text))
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} within {seconds} s:\n{self.output()}")
            time.sleep(0.05)

    def wait_for_http(self, url: str, seconds: float = 30) -> httpx.Response:
        """The first answer from ``url``; fails with the log if none comes in time."""
        deadline = time.monotonic() + seconds
        while True:
            self._alive(url)
            try:
                return httpx.get(url, timeout=5)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"{url} did not answer within {seconds} s:\n{self.output()}"
                    ) from None
            time.sleep(0.05)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, seconds: float = 20) -> int:
        """SIGTERM, then the exit status; a process still running after ``seconds`` is
        killed and the wait's TimeoutExpired fails the test."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=seconds)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log_handle.close()


Start = Callable[..., Running]


@pytest.fixture
def start(tmp_path: Path, base_env: dict[str, str]) -> Iterator[Start]:
    """Start ``desbumi COMMAND`` in the background; every one is stopped at teardown."""
    started: list[Running] = []

    def run(command: str, wrapper: Sequence[str] = (), **overrides: str) -> Running:
        """``wrapper``: a command that runs desbumi (e.g. setpriv with fewer privileges)."""
        env = clean_env(**{**base_env, "DESBUMI_WORKER__POLL_INTERVAL_S": "0.2", **overrides})
        name = f"{command}-{len(started)}"
        started.append(Running(command, env, tmp_path, name=name, wrapper=wrapper))
        return started[-1]

    yield run
    for process in started:
        process.stop()
