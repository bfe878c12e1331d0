"""The radio commands, run as the real ``desbumi`` program: stations and keys, programmes
and slots, synthesis, export-usb with a manifest that sha256sum verifies."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from core.db import Database
from tests.broadcasts.conftest import add_editors, approved_item
from tests.desbumi.conftest import Run


def test_station_programme_and_export_usb(desbumi: Run, database: Database, tmp_path: Path) -> None:
    assert desbumi("init").code == 0
    editors = add_editors(database)
    approved_item(
        database, editors, "biaya", text="Jangan bayar calo. Pekerja tidak boleh dibebani biaya."
    )
    approved_item(
        database, editors, "dokumen", text="Siapkan KTP dan kartu keluarga.", topic="documents"
    )

    added = desbumi(
        "programme",
        "add",
        "kabar",
        "--name",
        "Kabar Migran",
        "--minutes",
        "0.5",
        "--repeat-days",
        "0",
        "--intro",
        "Kabar Migran.",
    )
    assert added.code == 0, added.err
    slot = desbumi(
        "programme",
        "slot-add",
        "kabar",
        "--rrule",
        "FREQ=DAILY",
        "--start",
        "2026-01-01T19:00:00",
        "--timezone",
        "WITA",
    )
    assert slot.code == 0 and "slot 1 added" in slot.out
    bad = desbumi(
        "programme",
        "slot-add",
        "kabar",
        "--rrule",
        "FREQ=SOMETIMES",
        "--start",
        "2026-01-01T19:00:00",
    )
    assert bad.code == 2
    assert bad.err.startswith("desbumi: error: rrule:") and len(bad.err.splitlines()) == 1

    station = desbumi(
        "station",
        "add",
        "lotim",
        "--name",
        "Radio Lotim",
        "--timezone",
        "WITA",
        "--programme",
        "kabar",
    )
    assert station.code == 0, station.err
    key = re.search(r"^key: (dsb_\S+)$", station.out, re.MULTILINE)
    assert key is not None
    assert f"/radio/{key.group(1)}/kabar.xml" in station.out
    listing = desbumi("station", "list")
    assert f"key={key.group(1)[:12]}..." in listing.out and "programmes=kabar" in listing.out
    assert key.group(1) not in listing.out

    rendered = desbumi("radio", "render")
    assert rendered.code == 0 and "2 item(s) synthesised" in rendered.out, rendered.err

    usb = tmp_path / "usb"
    export = desbumi("export-usb", str(usb), "--days", "2", "--station", "lotim", timeout=300)
    assert export.code == 0, export.err
    assert "2 segment(s) written" in export.out
    manifest = json.loads((usb / "manifest.json").read_text())
    assert [s["programme"] for s in manifest["segments"]] == ["kabar", "kabar"]
    first = manifest["segments"][0]
    assert first["local_time"].endswith("T19:00:00+08:00") and first["timezone"] == "Asia/Makassar"
    assert {i["slug"] for i in first["items"]} <= {"biaya", "dokumen"}
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=usb, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == 4
    assert (usb / "playlist.m3u").read_text().splitlines()[2] == first["file"]

    segments = desbumi("radio", "segments")
    assert segments.out.count(" ready ") == 2, segments.out
    programmes = desbumi("programme", "list")
    assert "FREQ=DAILY" in programmes.out and "stations=lotim" in programmes.out
    renewed = desbumi("station", "new-key", "lotim")
    new_key = re.search(r"new key for lotim: (dsb_\S+)", renewed.out)
    assert new_key is not None and new_key.group(1) != key.group(1)
    missing = desbumi("station", "attach", "nowhere", "kabar")
    assert missing.code == 2 and "no station 'nowhere'" in missing.err
    removed = desbumi("programme", "slot-remove", "1")
    assert removed.code == 0 and "removed" in removed.out
