"""A real podcast client subscribes to a programme's feed by its URL and downloads it.

Playout systems such as LibreTime take a station's programme as a podcast: the feed URL is
all they are given. podget (Debian's command-line podcast aggregator, wget underneath)
plays that part here against the app served by uvicorn on a real port.
"""

from __future__ import annotations

import hashlib
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn

from admin_api.app import create_app
from broadcasts import schedule, stations
from core.db import Database
from core.settings import Settings
from tests.admin_api.test_browser import _free_port
from tests.admin_api.test_stations import NOW, FixedClock, _segment


@pytest.fixture
def served(settings: Settings, db: Database) -> Iterator[tuple[str, str, dict[int, str]]]:
    """The feed URL of a programme with two ready segments, and each segment's sha256."""
    with db.transaction() as s:
        programme = schedule.create_programme(s, slug="kabar-migran", name="Kabar Migran", now=NOW)
        _station, key = stations.create_station(
            s, slug="lotim", name="Radio Lotim", timezone="WITA", now=NOW
        )
        schedule.attach_station(s, programme.slug, "lotim")
        programme_id = programme.id
    digests = {}
    for n, air_at in enumerate([datetime(2026, 11, 30, 11, 0), datetime(2026, 12, 3, 11, 0)], 1):
        segment_id = _segment(db, settings, programme_id, air_at.replace(tzinfo=UTC), n)
        mp3 = next((settings.data_dir / "segments" / f"p{programme_id}" / str(n)).glob("*.mp3"))
        digests[segment_id] = hashlib.sha256(mp3.read_bytes()).hexdigest()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, db, "podcast", clock=FixedClock(NOW)),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}/radio/{key}/kabar-migran.xml", key, digests
    finally:
        server.should_exit = True
        thread.join(10)


def _podget(tmp_path: Path, feed_url: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    conf, library = tmp_path / "podget", tmp_path / "library"
    library.mkdir(parents=True)
    # podget refuses a configuration it did not write (a version line): let it write one.
    subprocess.run(
        ["podget", "-d", str(conf), "--create-config", "podgetrc"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    settings = {"DIR_LIBRARY": str(library), "NO_PLAYLIST": "1", "MIN_SPACE": "1000"}
    lines = [
        f"{line.split('=', 1)[0]}={settings[line.split('=', 1)[0]]}"
        if line.split("=", 1)[0] in settings
        else line
        for line in (conf / "podgetrc").read_text().splitlines()
    ]
    (conf / "podgetrc").write_text("\n".join(lines) + "\n")
    (conf / "serverlist").write_text(f"{feed_url} radio Kabar_Migran\n")
    done = subprocess.run(
        ["podget", "-d", str(conf), "--verbosity", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done, library


def test_podget_subscribes_by_url_and_downloads_every_episode(
    served: tuple[str, str, dict[int, str]], tmp_path: Path
) -> None:
    feed_url, key, digests = served
    done, library = _podget(tmp_path, feed_url)
    downloaded = {
        hashlib.sha256(path.read_bytes()).hexdigest(): path
        for path in library.rglob("*.mp3")
        if path.is_file()
    }
    assert set(downloaded) == set(digests.values()), done.stdout + done.stderr
    # The station's key is the only secret in the URL; a wrong one gets nothing.
    _wrong, wrong_library = _podget(tmp_path / "wrong", feed_url.replace(key, "dsbr_wrong"))
    assert list(wrong_library.rglob("*.mp3")) == []
