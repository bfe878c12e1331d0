"""Loads the demo data into the database; runs again without duplicating anything."""

from __future__ import annotations

from datetime import datetime
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import ContentItem, District, Programme, Slot, Station, Village
from core.security import generate_api_key
from core.settings import Settings, resolve_timezone
from core.states import ContentStatus
from desbumi.bootstrap import Seeded, StationKey
from desbumi.demo_cases import seed_demo_cases


def _load(name: str) -> dict[str, Any]:
    text = resources.files("desbumi.demo").joinpath(name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"demo file {name} is not a mapping")
    return data


def seed_demo(session: Session, now: datetime, settings: Settings | None = None) -> Seeded:
    """Insert what is missing; returns how many of each kind were added and the key of
    each station made now (a station that existed already keeps its key, unseen).

    With ``settings`` (the CLI's ``init --demo``) demo case reports with recordings are
    added too (:mod:`desbumi.demo_cases`).
    """
    added = {"districts": 0, "villages": 0, "content_items": 0, "programmes": 0, "stations": 0}
    station_keys: list[StationKey] = []
    regions = _load("regions.yaml")
    districts: dict[str, District] = {}
    for d in regions["districts"]:
        district = session.scalar(select(District).where(District.code == d["code"]))
        if district is None:
            district = District(
                code=d["code"],
                name=d["name"],
                province=d["province"],
                timezone=resolve_timezone(d["timezone"]),
            )
            session.add(district)
            added["districts"] += 1
        districts[d["code"]] = district
        session.flush()
        for v in d["villages"]:
            if session.scalar(select(Village.id).where(Village.code == v["code"])) is None:
                session.add(
                    Village(
                        code=v["code"],
                        name=v["name"],
                        district_id=district.id,
                        timezone=district.timezone,
                    )
                )
                added["villages"] += 1

    for item in _load("content_id.yaml")["items"]:
        if session.scalar(select(ContentItem.id).where(ContentItem.slug == item["slug"])):
            continue
        session.add(
            ContentItem(
                slug=item["slug"],
                version=1,
                topic=item["topic"],
                language=item["language"],
                title=item["title"],
                body_text=item["text"].strip(),
                priority=bool(item.get("priority", False)),
                # Demo content is approved so the hotline and radio have something to play;
                # a real centre's editors approve their own texts.
                status=ContentStatus.approved,
                approved_at=now,
                valid_from=now,
                created_at=now,
                updated_at=now,
            )
        )
        added["content_items"] += 1

    programmes: dict[str, Programme] = {}
    for p in regions["programmes"]:
        programme = session.scalar(select(Programme).where(Programme.slug == p["slug"]))
        if programme is None:
            programme = Programme(
                slug=p["slug"],
                name=p["name"],
                language=p["language"],
                target_duration_s=p["target_duration_s"],
                description=p.get("description", ""),
                intro_text=p.get("intro_text", ""),
                outro_text=p.get("outro_text", ""),
                repeat_window_days=p.get("repeat_window_days", 7),
                created_at=now,
            )
            programme.slots = [
                Slot(
                    rrule=s["rrule"],
                    dtstart_local=s["dtstart_local"],
                    timezone=resolve_timezone(s["timezone"]),
                )
                for s in p["slots"]
            ]
            session.add(programme)
            added["programmes"] += 1
        programmes[p["slug"]] = programme

    for s in regions["stations"]:
        if session.scalar(select(Station.id).where(Station.slug == s["slug"])) is not None:
            continue
        # Returned to be shown once (like the first admin's password), so that a newcomer
        # can try the station's feeds; an admin issues keys to real stations.
        key, prefix, key_hash = generate_api_key()
        station = Station(
            slug=s["slug"],
            name=s["name"],
            timezone=resolve_timezone(s["timezone"]),
            district_id=districts[s["district"]].id,
            api_key_hash=key_hash,
            api_key_prefix=prefix,
            created_at=now,
        )
        session.add(station)
        for slug in s["programmes"]:
            programmes[slug].stations.append(station)
        added["stations"] += 1
        station_keys.append(StationKey(s["slug"], key, tuple(s["programmes"])))
    session.flush()
    if settings is not None:
        added.update(seed_demo_cases(session, now, settings))
    return Seeded(added, station_keys)
