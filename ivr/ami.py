"""Asterisk Manager Interface: the reachability probe used by ``desbumi check``.

The long-lived AMI client (originate, events, reconnect) wraps the asterisk-ami library
as ../shared/ENVIRONMENT.md describes; the probe speaks the few lines of the protocol it
needs itself, so a check never leaves a reader thread behind.
"""

from __future__ import annotations

import socket

from ivr.errors import AmiUnavailable


def probe_ami(host: str, port: int, username: str, secret: str, timeout_s: float) -> str:
    """Log in and out once. Returns the AMI banner; raises AmiUnavailable with the reason."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            stream = sock.makefile("rwb")
            banner = stream.readline().decode("utf-8", "replace").strip()
            if not banner.startswith("Asterisk Call Manager"):
                raise AmiUnavailable(f"{host}:{port} is not an Asterisk manager ({banner[:40]!r})")
            stream.write(
                (
                    f"Action: Login\r\nActionID: desbumi-check\r\nUsername: {username}\r\n"
                    f"Secret: {secret}\r\nEvents: off\r\n\r\n"
                ).encode()
            )
            stream.flush()
            reply: dict[str, str] = {}
            while (line := stream.readline().decode("utf-8", "replace").strip()) or not reply:
                if not line:
                    continue
                key, _, value = line.partition(":")
                reply[key.strip().lower()] = value.strip()
            if reply.get("response", "").lower() != "success":
                raise AmiUnavailable(
                    f"AMI login as {username!r} refused: {reply.get('message', 'no reason')}"
                )
            stream.write(b"Action: Logoff\r\n\r\n")
            stream.flush()
            return banner
    except (TimeoutError, OSError) as exc:
        raise AmiUnavailable(f"cannot reach AMI at {host}:{port}: {exc}") from None
