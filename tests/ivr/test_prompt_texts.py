"""Every prompt the default menu and the engine can play has a text in each menu language."""

from __future__ import annotations

import pytest

from ivr.app import ENGINE_PROMPTS, menu_languages
from ivr.asterisk_config import FALLBACK_PROMPT
from ivr.menu import load_menu, prompt_keys
from ivr.prompts import shipped_prompt_texts


@pytest.mark.parametrize("language", ["id", "ms"])
def test_every_prompt_has_a_text(language: str) -> None:
    menu = load_menu()
    assert language in menu_languages(menu)
    texts = shipped_prompt_texts(language)
    needed = prompt_keys(menu) | set(ENGINE_PROMPTS) | {FALLBACK_PROMPT}
    assert sorted(needed - set(texts)) == []
    assert all(text.strip() for text in texts.values())


def test_a_language_without_prompts_has_no_texts() -> None:
    assert shipped_prompt_texts("jv") == {}
