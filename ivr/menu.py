"""The voice menu as data: a YAML file of nodes, validated when it is loaded.

The menu is not code, so a centre can change it without a programmer; a mistake in it
must never reach a caller, so :func:`load_menu` refuses a menu whose nodes point nowhere,
and every error names the node. Reserved keys work on every menu node: ``*`` goes back,
``0`` repeats, ``#`` skips the prompt; options therefore use the digits 1 to 9.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.clock import parse_daily_window
from ivr.errors import IvrError

RESERVED_KEYS = frozenset("*0#")
OPTION_KEYS = frozenset("123456789")
PROBLEM_HINTS = (
    "unpaid_wages",
    "passport_held",
    "violence",
    "no_family_contact",
    "debt_fees",
    "other",
)


class MenuError(IvrError):
    """The menu file is unusable; the message names the node and what is wrong."""


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # A system prompt key (see prompts_<lang>.yaml); played when the node starts.
    prompt: str | None = None


class PlayNode(_Node):
    """Play a system prompt, then go on."""

    type: Literal["play"]
    next: str


class MenuNode(_Node):
    """Ask for one key; invalid keys and silence repeat the prompt up to ``retries`` times."""

    type: Literal["menu"]
    options: dict[str, str]
    # Seconds to wait for a key; empty: DESBUMI_HOTLINE__DIGIT_TIMEOUT_S.
    timeout_s: float | None = Field(default=None, gt=0, le=60)
    retries: int = Field(default=3, ge=1, le=10)
    # Where a caller goes who never presses a valid key.
    fallback: str
    invalid_prompt: str = "invalid-choice"

    @field_validator("options")
    @classmethod
    def _keys(cls, options: dict[str, str]) -> dict[str, str]:
        if not options:
            raise ValueError("a menu needs at least one option")
        bad = [key for key in options if key not in OPTION_KEYS]
        if bad:
            raise ValueError(f"option keys must be digits 1-9 (* 0 # are reserved), got {bad}")
        return options


class LanguageNode(_Node):
    """Choose the language; silence keeps the default (the first entry)."""

    type: Literal["language"]
    languages: dict[str, str]
    next: str
    # Seconds to wait for a key; empty: DESBUMI_HOTLINE__DIGIT_TIMEOUT_S.
    timeout_s: float | None = Field(default=None, gt=0, le=60)


class ContentNode(_Node):
    """Play the newest approved content items of ``topic`` in the caller's language."""

    type: Literal["content"]
    topic: str
    next: str


class RecordNode(_Node):
    """Report a problem: consent, keypad hints, recording, listen / re-record / confirm."""

    type: Literal["record"]
    consent_prompt: str = "consent"
    hints: tuple[Literal["problem", "country", "village"], ...] = ("problem", "country", "village")
    max_s: int = Field(default=180, ge=10, le=900)
    silence_s: int = Field(default=6, ge=2, le=30)
    next: str
    # Where a caller goes who does not consent.
    declined: str


class CallbackNode(_Node):
    """Ask a case worker to call back, with a preferred time of day."""

    type: Literal["callback"]
    next: str


class SegmentNode(_Node):
    """Play the latest radio segment and announcements."""

    type: Literal["latest_segment"]
    next: str


class TransferNode(_Node):
    """Dial the counsellor on duty in office hours; otherwise go to ``after_hours``."""

    type: Literal["transfer"]
    # An Asterisk dial string, e.g. PJSIP/counsellor or Local/100@desk.
    dial: str
    office_hours: str = "08:00-16:00"
    # Seconds the counsellor's phone rings before the caller goes to ``after_hours``.
    ring_s: int = Field(default=30, ge=5, le=120)
    after_hours: str

    @field_validator("office_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        message = "office_hours is HH:MM-HH:MM, start before end"
        try:
            start, end = parse_daily_window(value)
        except ValueError:
            raise ValueError(message) from None
        if start >= end:
            raise ValueError(message)
        return value


class QuickExitNode(_Node):
    """For a caller who is overheard: a harmless message at once, then hang up."""

    type: Literal["quick_exit"]


class HangupNode(_Node):
    """Say goodbye and hang up."""

    type: Literal["hangup"]


Node = Annotated[
    PlayNode
    | MenuNode
    | LanguageNode
    | ContentNode
    | RecordNode
    | CallbackNode
    | SegmentNode
    | TransferNode
    | QuickExitNode
    | HangupNode,
    Field(discriminator="type"),
]


class Menu(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Literal[1]
    start: str
    # The key that leaves at once from anywhere (quick exit); it must not be an option.
    quick_exit_key: str = "9"
    nodes: dict[str, Node]

    def targets(self, name: str) -> Iterator[tuple[str, str]]:
        """(field, target node) for every edge leaving node ``name``."""
        node = self.nodes[name]
        for field_name in ("next", "fallback", "declined", "after_hours"):
            target = getattr(node, field_name, None)
            if target is not None:
                yield field_name, target
        if isinstance(node, MenuNode):
            for key, target in node.options.items():
                yield f"option {key}", target


def _check_graph(menu: Menu) -> None:
    if menu.start not in menu.nodes:
        raise MenuError(f"start: no node named {menu.start!r}")
    for name in menu.nodes:
        for field_name, target in menu.targets(name):
            if target not in menu.nodes:
                raise MenuError(f"node {name!r}: {field_name} points to missing node {target!r}")
    exits = [name for name, node in menu.nodes.items() if isinstance(node, QuickExitNode)]
    if not exits:
        raise MenuError("the menu needs a quick_exit node (for callers who are overheard)")
    for name, node in menu.nodes.items():
        if (
            isinstance(node, MenuNode)
            and menu.quick_exit_key in node.options
            and (node.options[menu.quick_exit_key] not in exits)
        ):
            raise MenuError(
                f"node {name!r}: key {menu.quick_exit_key} is the quick exit key "
                "and must lead to the quick_exit node"
            )
    reachable, todo = {menu.start}, [menu.start]
    while todo:
        for _field, target in menu.targets(todo.pop()):
            if target not in reachable:
                reachable.add(target)
                todo.append(target)
    unreachable = sorted(set(menu.nodes) - reachable - set(exits))
    if unreachable:
        raise MenuError(f"node {unreachable[0]!r}: no path from {menu.start!r} reaches it")


def parse_menu(data: Any) -> Menu:
    """Validate a parsed YAML document; raise MenuError naming the node."""
    if not isinstance(data, Mapping):
        raise MenuError("the menu file must be a mapping with version, start and nodes")
    try:
        menu = Menu.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = [str(part) for part in error["loc"]]
        where = (
            f"node {location[1]!r}"
            if len(location) > 1 and location[0] == "nodes"
            else location[0]
            if location
            else "menu"
        )
        detail = ".".join(location[3:]) if len(location) > 3 else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        raise MenuError(f"{where}: {detail + ': ' if detail else ''}{message}") from None
    _check_graph(menu)
    return menu


def prompt_keys(menu: Menu) -> set[str]:
    """Every system prompt key the menu can play."""
    keys: set[str] = set()
    for node in menu.nodes.values():
        for field_name in ("prompt", "invalid_prompt", "consent_prompt"):
            value = getattr(node, field_name, None)
            if value:
                keys.add(value)
        if isinstance(node, RecordNode):
            keys.update(f"hint-{hint}" for hint in node.hints)
            keys.update({"record-now", "record-confirm"})
    return keys


def load_menu(path: Path | None = None) -> Menu:
    """The menu at ``path``, or the default Bahasa Indonesia menu shipped with desbumi."""
    if path is None:
        text = resources.files("ivr").joinpath("default_menu.yaml").read_text(encoding="utf-8")
        source = "the default menu"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise MenuError(f"cannot read menu file {path}: {exc.strerror}") from None
        source = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise MenuError(f"{source}:{line} is not valid YAML") from None
    return parse_menu(data)
