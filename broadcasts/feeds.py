"""What stations' playout systems read: RSS 2.0 podcast feeds, M3U, PLS, schedule JSON.

Pure text rendering from plain values; the HTTP layer supplies absolute URLs. The RSS
feed is what LibreTime subscribes to (it takes the newest episode); each item has an
enclosure (url, length, type), a guid that changes when the audio changes (the segment id
and the start of its sha256), pubDate (the air time) and itunes:duration.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from xml.etree import ElementTree as ET  # noqa: S405 - we write XML, never parse it

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
ATOM = "http://www.w3.org/2005/Atom"
ET.register_namespace("itunes", ITUNES)
ET.register_namespace("atom", ATOM)


@dataclass(frozen=True)
class Episode:
    segment_id: int
    title: str
    description: str
    url: str
    length: int
    mime_type: str
    air_at: datetime
    duration_s: float
    sha256: str

    @property
    def guid(self) -> str:
        return f"desbumi-segment-{self.segment_id}-{self.sha256[:12]}"


@dataclass(frozen=True)
class Channel:
    title: str
    description: str
    language: str
    link: str
    feed_url: str
    updated_at: datetime


def hms(seconds: float) -> str:
    """``itunes:duration`` as HH:MM:SS."""
    total = round(seconds)
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def rss(channel: Channel, episodes: Sequence[Episode]) -> str:
    """An RSS 2.0 document with the iTunes podcast elements."""
    root = ET.Element("rss", {"version": "2.0"})
    ch = ET.SubElement(root, "channel")
    _text(ch, "title", channel.title)
    _text(ch, "link", channel.link)
    _text(ch, "description", channel.description or channel.title)
    _text(ch, "language", channel.language)
    _text(ch, "lastBuildDate", format_datetime(channel.updated_at))
    _text(ch, "generator", "desbumi")
    ET.SubElement(
        ch,
        f"{{{ATOM}}}link",
        {"href": channel.feed_url, "rel": "self", "type": "application/rss+xml"},
    )
    _text(ch, f"{{{ITUNES}}}author", "DESBUMI")
    _text(ch, f"{{{ITUNES}}}explicit", "false")
    _text(ch, f"{{{ITUNES}}}summary", channel.description or channel.title)
    for episode in episodes:
        item = ET.SubElement(ch, "item")
        _text(item, "title", episode.title)
        _text(item, "description", episode.description)
        ET.SubElement(
            item,
            "enclosure",
            {"url": episode.url, "length": str(episode.length), "type": episode.mime_type},
        )
        _text(item, "guid", episode.guid, {"isPermaLink": "false"})
        _text(item, "pubDate", format_datetime(episode.air_at))
        _text(item, f"{{{ITUNES}}}duration", hms(episode.duration_s))
    body = ET.tostring(root, encoding="unicode", xml_declaration=False)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def m3u(episodes: Sequence[Episode]) -> str:
    """An extended M3U playlist, newest first."""
    lines = ["#EXTM3U"]
    for episode in episodes:
        lines.append(f"#EXTINF:{round(episode.duration_s)},{_one_line(episode.title)}")
        lines.append(episode.url)
    return "\n".join(lines) + "\n"


def pls(episodes: Sequence[Episode]) -> str:
    """A PLS playlist (version 2), newest first."""
    lines = ["[playlist]"]
    for number, episode in enumerate(episodes, start=1):
        lines.append(f"File{number}={episode.url}")
        lines.append(f"Title{number}={_one_line(episode.title)}")
        lines.append(f"Length{number}={round(episode.duration_s)}")
    lines += [f"NumberOfEntries={len(episodes)}", "Version=2"]
    return "\n".join(lines) + "\n"


def schedule_json(entries: Sequence[dict[str, object]], station_timezone: str) -> str:
    return json.dumps(
        {"timezone": station_timezone, "air_times": list(entries)}, ensure_ascii=False, indent=2
    )


def _text(parent: ET.Element, tag: str, text: str, attrib: dict[str, str] | None = None) -> None:
    ET.SubElement(parent, tag, attrib or {}).text = text


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace(",", " ")
