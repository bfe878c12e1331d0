"""Interface text in Bahasa Indonesia (the default) and English: one message catalogue.

A key maps to its two texts, so a message cannot exist in one language only. The
language of a request is the user's own choice, else a ``desbumi_lang`` cookie (set by
the switch on every page), else the browser's Accept-Language, else the installation's
default (``DESBUMI_WEB__LANGUAGE``).
"""

from __future__ import annotations

from admin_api.messages import CATALOGUE

LANGUAGES = ("id", "en")
LANGUAGE_NAMES = {"id": "Bahasa Indonesia", "en": "English"}
LANGUAGE_COOKIE = "desbumi_lang"


def negotiate(user_choice: str, cookie: str, accept_language: str, default: str) -> str:
    """The interface language for a request (see the module docstring for the order)."""
    for choice in (user_choice, cookie):
        if choice in LANGUAGES:
            return choice
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else default


class Translator:
    """``_("key", name=...)``: the text of ``key`` in one language, formatted."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else LANGUAGES[0]
        self._index = LANGUAGES.index(self.language)

    def __call__(self, key: str, **values: object) -> str:
        texts = CATALOGUE.get(key)
        if texts is None:
            # A missing key shows itself rather than breaking the page.
            return key
        text = texts[self._index]
        return text.format(**values) if values else text
