"""Helpers for running the real ``desbumi`` command in a controlled environment."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET

DESBUMI = Path(sys.executable).parent / "desbumi"


@dataclass
class Result:
    code: int
    out: str
    err: str


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("DESBUMI_")}
    env.update(values)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Run = Callable[..., Result]


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """A data directory under tmp_path, SQLite, free ports."""
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
        env = clean_env(**{**base_env, **overrides})
        done = subprocess.run(
            [str(DESBUMI), *args],
            env=env,
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
    return TEST_SECRET


class Running:
    """A long-running ``desbumi COMMAND`` with its output in a log file."""

    def __init__(self, command: str, env: dict[str, str], cwd: Path, name: str = "") -> None:
        self.log = cwd / f"{name or command}.log"
        self._log_handle = self.log.open("w")
        self.proc = subprocess.Popen(
            [str(DESBUMI), command],
            env=env,
            cwd=cwd,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
        )

    def wait_for_log(self, text: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if text in self.log.read_text():
                return
            assert self.proc.poll() is None, f"exited early:\n{self.log.read_text()}"
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} within {seconds} s:\n{self.log.read_text()}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log_handle.close()
