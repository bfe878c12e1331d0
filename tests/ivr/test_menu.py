"""The menu file: the default loads; every mistake is refused with the node's name."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from ivr.menu import MenuError, MenuNode, QuickExitNode, load_menu, parse_menu

DEFAULT = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "ivr" / "default_menu.yaml").read_text()
)


def _with(change: dict[str, Any], drop: str | None = None) -> dict[str, Any]:
    data = copy.deepcopy(DEFAULT)
    for path, value in change.items():
        target = data
        *parents, last = path.split(".")
        for part in parents:
            target = target[part]
        target[last] = value
    if drop:
        del data["nodes"][drop]
    return data


def test_default_menu() -> None:
    menu = load_menu()
    assert menu.start == "language"
    main = menu.nodes["main"]
    assert isinstance(main, MenuNode)
    assert main.options["2"] == "report" and main.options["9"] == "quick_exit"
    assert isinstance(menu.nodes["quick_exit"], QuickExitNode)
    topics = {getattr(n, "topic", None) for n in menu.nodes.values()} - {None}
    assert {"documents", "fees", "embassy_taiwan"} <= topics


@pytest.mark.parametrize(
    ("change", "drop", "message"),
    [
        (
            {"nodes.main.options": {"1": "info", "5": "nowhere", "9": "quick_exit"}},
            None,
            "node 'main': option 5 points to missing node 'nowhere'",
        ),
        (
            {"nodes.main.options": {"0": "info", "9": "quick_exit"}},
            None,
            "node 'main': options: option keys must be digits 1-9",
        ),
        ({"nodes.main.options": {"*": "info"}}, None, "node 'main'"),
        ({"nodes.main.options": {}}, None, "node 'main': options: a menu needs at least one"),
        (
            {"nodes.main.options": {"1": "info", "9": "goodbye"}},
            None,
            "node 'main': key 9 is the quick exit key",
        ),
        ({"nodes.report.next": "gone"}, None, "node 'report': next points to missing node 'gone'"),
        ({"nodes.report.max_s": 5}, None, "node 'report': max_s"),
        ({"nodes.latest.type": "jukebox"}, None, "node 'latest'"),
        ({"nodes.goodbye.colour": "red"}, None, "node 'goodbye': colour"),
        ({"nodes.orphan": {"type": "hangup"}}, None, "node 'orphan': no path from 'language'"),
        ({"start": "welcome"}, None, "start: no node named 'welcome'"),
        ({}, "quick_exit", "points to missing node 'quick_exit'"),
        (
            {
                "nodes.main.fallback": "transfer",
                "nodes.transfer": {
                    "type": "transfer",
                    "dial": "PJSIP/counsellor",
                    "office_hours": "17:00-08:00",
                    "after_hours": "goodbye",
                },
            },
            None,
            "node 'transfer': office_hours",
        ),
        ({"version": 2}, None, "version"),
    ],
)
def test_mistakes_name_the_node(change: dict[str, Any], drop: str | None, message: str) -> None:
    with pytest.raises(MenuError) as raised:
        parse_menu(_with(change, drop))
    assert message in str(raised.value)


def test_menu_without_any_quick_exit() -> None:
    data = _with(
        {"nodes.main.options": {"1": "info"}, "nodes.info.options": {"1": "main"}},
        drop="quick_exit",
    )
    for node in data["nodes"].values():
        if node.get("options"):
            node["options"] = {k: v for k, v in node["options"].items() if v != "quick_exit"}
    with pytest.raises(MenuError, match="needs a quick_exit node"):
        parse_menu(data)


def test_files(tmp_path: Path) -> None:
    good = tmp_path / "menu.yaml"
    good.write_text(yaml.safe_dump(DEFAULT))
    assert load_menu(good).start == "language"
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nnodes:\n  main: [unclosed\n")
    with pytest.raises(MenuError, match=r"broken.yaml: line \d+ is not valid YAML"):
        load_menu(broken)
    with pytest.raises(MenuError, match="cannot read menu file"):
        load_menu(tmp_path / "absent.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(MenuError, match="must be a mapping"):
        load_menu(tmp_path / "list.yaml")


def test_every_prompt_of_the_default_menu_has_a_text() -> None:
    from audio.normalise import normalise_id
    from ivr.menu import prompt_keys
    from ivr.prompts import shipped_prompt_texts

    menu, texts = load_menu(), shipped_prompt_texts("id")
    assert sorted(prompt_keys(menu) - set(texts)) == []
    assert {"consent", "quick-exit", "hint-problem", "record-now"} <= prompt_keys(menu)
    for key, text in texts.items():
        assert text.strip(), key
        assert not any(c.isdigit() for c in normalise_id(text)), key
