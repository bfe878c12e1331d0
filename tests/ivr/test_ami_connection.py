"""The supervised AMI connection against a real Asterisk, restarts included."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from ivr.ami import AmiConnection, AmiEvent
from ivr.errors import AmiActionFailed, AmiUnavailable
from tests.ivr.conftest import AMI_SECRET, AMI_USER, Asterisk

pytestmark = pytest.mark.slow


class Events:
    def __init__(self) -> None:
        self.seen: list[AmiEvent] = []
        self.changed = threading.Condition()

    def __call__(self, event: AmiEvent) -> None:
        with self.changed:
            self.seen.append(event)
            self.changed.notify_all()

    def wait_for(self, name: str, timeout_s: float = 10, **fields: str) -> AmiEvent:
        deadline = time.monotonic() + timeout_s
        with self.changed:
            while True:
                for event in self.seen:
                    if event.name == name and all(
                        event.fields.get(k) == v for k, v in fields.items()
                    ):
                        return event
                left = deadline - time.monotonic()
                assert left > 0, f"no {name} {fields} event; saw {[e.name for e in self.seen]}"
                self.changed.wait(left)


@pytest.fixture
def connection(asterisk: Asterisk) -> Iterator[tuple[AmiConnection, Events]]:
    events = Events()
    ami = AmiConnection(
        "127.0.0.1",
        asterisk.ami_port,
        AMI_USER,
        AMI_SECRET,
        on_event=events,
        ping_interval_s=0.5,
        max_backoff_s=0.5,
    )
    ami.start()
    assert ami.wait_connected(10)
    yield ami, events
    ami.close()
    # No thread is left behind (the library's reader used to block close() for good).
    assert ami._thread is not None and not ami._thread.is_alive()


def test_actions_and_events(connection: tuple[AmiConnection, Events]) -> None:
    ami, events = connection
    assert ami.action("Ping")["Response"] == "Success"
    with pytest.raises(AmiActionFailed):
        ami.action("Originate", Channel="Nonsense/x", Context="ivr", Exten="s", Priority="1")
    ami.originate("Local/s@caller", context="ivr", variables={"DESBUMI_CALLBACK": "1"})
    events.wait_for("OriginateResponse", Response="Success")
    events.wait_for("Hangup")
    with pytest.raises(ValueError, match="line breaks"):
        ami.action("Ping\r\nAction: Logoff")
    with pytest.raises(ValueError, match="commas"):
        ami.originate("Local/s@caller", context="ivr", variables={"A": "1,2"})


def test_every_subscriber_gets_the_events_even_beside_one_that_fails(
    connection: tuple[AmiConnection, Events],
) -> None:
    ami, events = connection
    later = Events()

    def broken(event: AmiEvent) -> None:
        raise RuntimeError("a subscriber's bug")

    ami.subscribe(broken)
    ami.subscribe(later)
    ami.originate("Local/s@caller", context="ivr", action_id="desbumi-test-7")
    # The first sink, the broken one and the one after it: the reader thread lives on.
    for sink in (events, later):
        sink.wait_for("OriginateResponse", Response="Success", ActionID="desbumi-test-7")
    assert ami.action("Ping")["Response"] == "Success"


def test_an_idle_connection_stays_alive(connection: tuple[AmiConnection, Events]) -> None:
    ami, _ = connection
    time.sleep(4)  # longer than the library's default 3 s read timeout that kills it
    assert ami.action("Ping")["Response"] == "Success"
    assert ami.connections == 1


def test_reconnects_after_asterisk_restarts(
    connection: tuple[AmiConnection, Events], asterisk: Asterisk
) -> None:
    ami, events = connection
    asterisk.stop()
    deadline = time.monotonic() + 10
    while ami.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not ami.connected, "the connection should notice Asterisk is gone"
    with pytest.raises(AmiUnavailable):
        ami.action("Ping")
    asterisk.start()
    assert ami.wait_connected(20), "no reconnection after Asterisk came back"
    assert ami.connections == 2
    ami.originate("Local/s@caller", context="ivr")
    events.wait_for("OriginateResponse", Response="Success")


def test_wrong_secret_keeps_retrying_without_crashing(asterisk: Asterisk) -> None:
    ami = AmiConnection("127.0.0.1", asterisk.ami_port, AMI_USER, "wrong", max_backoff_s=0.2)
    ami.start()
    assert not ami.wait_connected(1.5)
    ami.close()
