"""Helpers for running the real ``desbumi`` command in a controlled environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
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
