"""The Asterisk Manager Interface adapter: a reachability probe and the long-lived connection.

The probe (for ``desbumi check``) speaks the few lines of the protocol it needs itself, so
a check never leaves a thread behind. The connection wraps the asterisk-ami library and
works around what ../shared/ENVIRONMENT.md measured: the library's ``timeout`` is also
its socket read timeout (an idle connection's reader thread dies silently after it), so
the socket gets no timeout here and every action has its own; an exception inside a
library callback kills the reader thread, so callbacks here never raise; and a
connection that dies (Asterisk restarts) is noticed by the library's disconnect callback
or a failed ping, then re-established with backoff. Library types never leave this module.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from asterisk.ami import AMIClient, SimpleAction

from ivr.errors import AmiActionFailed, AmiUnavailable

logger = logging.getLogger(__name__)

# AMI values must not carry a line break: it would start a new header (an injection).
_FORBIDDEN = ("\r", "\n")


@dataclass(frozen=True)
class AmiEvent:
    name: str
    fields: Mapping[str, str] = field(default_factory=dict)


EventSink = Callable[[AmiEvent], None]


def _clean(value: str) -> str:
    if any(c in value for c in _FORBIDDEN):
        raise ValueError("AMI values may not contain line breaks")
    return value


class AmiConnection:
    """One supervised AMI session. ``start()`` returns at once; the connection follows."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        on_event: EventSink | None = None,
        action_timeout_s: float = 5.0,
        ping_interval_s: float = 5.0,
        max_backoff_s: float = 10.0,
    ) -> None:
        self._address = (host, port)
        self._credentials = (username, secret)
        self._sinks: list[EventSink] = [on_event] if on_event is not None else []
        self.action_timeout_s = action_timeout_s
        self.ping_interval_s = ping_interval_s
        self.max_backoff_s = max_backoff_s
        self._client: Any = None
        self._connected = threading.Event()
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.connections = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._supervise, name="ami", daemon=True)
        self._thread.start()

    def subscribe(self, sink: EventSink) -> None:
        """Also hand every event to ``sink`` (on the reader thread: it must be quick)."""
        with self._lock:
            self._sinks = [*self._sinks, sink]

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def close(self) -> None:
        self._stop.set()
        self._lost.set()
        if self._thread is not None:
            self._thread.join(10)
        self._drop()

    def action(
        self, name: str, variables: Mapping[str, str] | None = None, **fields: str
    ) -> dict[str, str]:
        """Send one action and wait for its response (not its events).

        Raises AmiUnavailable when not connected or no answer came in time, and
        AmiActionFailed when Asterisk answers ``Response: Error``.
        """
        with self._lock:
            client = self._client
        if client is None or not self._connected.is_set():
            raise AmiUnavailable("AMI not connected")
        action = SimpleAction(_clean(name), **{k: _clean(str(v)) for k, v in fields.items()})
        for key, value in (variables or {}).items():
            # Originate splits one Variable: value on commas, so each gets its own line.
            if "," in value:
                raise ValueError("AMI variable values may not contain commas")
            action[_clean(key)] = _clean(value)
        done = threading.Event()
        holder: list[Any] = []

        def received(response: Any) -> None:
            holder.append(response)
            done.set()

        try:
            client.send_action(action, callback=received)
        except OSError as exc:
            self._lost.set()
            raise AmiUnavailable(f"AMI connection lost: {exc}") from None
        if not done.wait(self.action_timeout_s):
            raise AmiUnavailable(f"no answer to {name} within {self.action_timeout_s} s")
        response = holder[0]
        result = {"Response": str(response.status), **{k: str(v) for k, v in response.keys.items()}}
        if response.is_error():
            raise AmiActionFailed(f"{name}: {result.get('Message', 'error')}")
        return result

    def originate(
        self,
        channel: str,
        *,
        context: str,
        exten: str = "s",
        priority: int = 1,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
        timeout_ms: int = 30_000,
        action_id: str | None = None,
    ) -> dict[str, str]:
        """Start a call in the background (Async); its progress arrives as events, its
        outcome as an ``OriginateResponse`` event that carries ``action_id``."""
        fields = {
            "Channel": channel,
            "Context": context,
            "Exten": exten,
            "Priority": str(priority),
            "Async": "true",
            "Timeout": str(timeout_ms),
        }
        if caller_id:
            fields["CallerID"] = caller_id
        if action_id:
            fields["ActionID"] = action_id
        return self.action("Originate", variables=variables, **fields)

    # --- supervision -------------------------------------------------------------------

    def _supervise(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._connect()
            except (AmiUnavailable, OSError) as exc:
                logger.warning(
                    "AMI %s:%s unavailable: %s; retrying in %.1f s", *self._address, exc, backoff
                )
                self._drop()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            backoff = 0.5
            self.connections += 1
            logger.info("AMI connected to %s:%s", *self._address)
            while not self._stop.is_set() and not self._lost.wait(self.ping_interval_s):
                try:
                    self.action("Ping")
                except (AmiUnavailable, AmiActionFailed):
                    logger.warning("AMI ping failed; reconnecting")
                    break
            self._drop()

    def _connect(self) -> None:
        self._lost.clear()
        client = AMIClient(address=self._address[0], port=self._address[1], timeout=None)
        client.add_listener(on_event=self._event, on_disconnect=self._disconnected)
        with self._lock:
            self._client = client
        future = client.login(*self._credentials)
        future._timeout = self.action_timeout_s  # the library waits forever otherwise
        response = future.response
        if response is None:
            raise AmiUnavailable("no answer to Login")
        if response.is_error():
            raise AmiUnavailable(f"login refused: {response.keys.get('Message', '')}")
        self._connected.set()

    def _drop(self) -> None:
        self._connected.clear()
        with self._lock:
            client, self._client = self._client, None
        if client is None:
            return
        sock = getattr(client, "_socket", None)
        if sock is not None:
            # close() alone does not wake the library's reader thread from its recv(), and
            # its disconnect() joins that thread without a timeout: shut the socket first.
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        try:
            client.disconnect()
        except Exception:  # noqa: S110 - a dead socket may fail to close; it is gone anyway
            pass
        # disconnect() skips the socket when connect() failed before its reader started.
        if sock is not None:
            sock.close()

    # Library callbacks run on its reader thread: they must never raise.
    def _event(self, source: Any, event: Any) -> None:
        sinks = self._sinks
        if not sinks:
            return
        try:
            received = AmiEvent(str(event.name), {str(k): str(v) for k, v in event.keys.items()})
        except Exception:
            logger.exception("AMI event could not be read")
            return
        for sink in sinks:
            try:
                sink(received)
            except Exception:
                logger.exception("AMI event handler failed")

    def _disconnected(self, source: Any, error: Any = None) -> None:
        try:
            self._connected.clear()
            self._lost.set()
        except Exception:  # noqa: S110 - never raise into the library's thread
            pass


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
