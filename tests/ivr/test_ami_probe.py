"""The AMI reachability probe behind ``desbumi check``.

No Asterisk runs in the foundation's tests yet, so a scripted TCP peer answers the login;
the hotline's end-to-end tests use a real Asterisk.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from ivr.ami import probe_ami
from ivr.errors import AmiUnavailable


class ScriptedPeer:
    def __init__(self, banner: bytes, reply: bytes) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self._thread = threading.Thread(target=self._serve, args=(banner, reply), daemon=True)
        self._thread.start()

    def _serve(self, banner: bytes, reply: bytes) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.sendall(banner)
            while b"\r\n\r\n" not in self.received:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                self.received += chunk
            conn.sendall(reply)
            conn.recv(4096)

    def close(self) -> None:
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def peer() -> Iterator[list[ScriptedPeer]]:
    made: list[ScriptedPeer] = []
    yield made
    for p in made:
        p.close()


BANNER = b"Asterisk Call Manager/9.0.0\r\n"


def test_successful_login(peer: list[ScriptedPeer]) -> None:
    peer.append(
        ScriptedPeer(BANNER, b"Response: Success\r\nMessage: Authentication accepted\r\n\r\n")
    )
    assert probe_ami("127.0.0.1", peer[0].port, "desbumi", "s3cret", 2) == BANNER.decode().strip()
    assert b"Username: desbumi\r\n" in peer[0].received
    assert b"Secret: s3cret\r\n" in peer[0].received


def test_refused_login(peer: list[ScriptedPeer]) -> None:
    peer.append(ScriptedPeer(BANNER, b"Response: Error\r\nMessage: Authentication failed\r\n\r\n"))
    with pytest.raises(AmiUnavailable, match="refused: Authentication failed"):
        probe_ami("127.0.0.1", peer[0].port, "desbumi", "wrong", 2)


def test_not_an_ami_server(peer: list[ScriptedPeer]) -> None:
    peer.append(ScriptedPeer(b"SSH-2.0-OpenSSH_9.2\r\n", b""))
    with pytest.raises(AmiUnavailable, match="is not an Asterisk manager"):
        probe_ami("127.0.0.1", peer[0].port, "u", "s", 2)


def test_nothing_listening() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(AmiUnavailable, match="cannot reach AMI"):
        probe_ami("127.0.0.1", port, "u", "s", 2)


def test_silent_server_times_out() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(AmiUnavailable, match="cannot reach AMI"):
            probe_ami("127.0.0.1", sock.getsockname()[1], "u", "s", 0.3)
