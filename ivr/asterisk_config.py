"""``desbumi asterisk-config``: the Asterisk files for this installation, from the settings.

The templates live in ``deploy/asterisk/``; the fallback apology (played by the dialplan
when the FastAGI server is down, so it must exist before any call) is synthesised into
``<data_dir>/prompts/system/``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import jinja2

from core.settings import Settings
from ivr.errors import IvrError
from ivr.prompts import PromptLibrary
from ivr.voicemail import VOICEMAIL_DIR

TEMPLATES = Path(__file__).resolve().parents[1] / "deploy" / "asterisk"
OUTPUTS = ("extensions_desbumi.conf", "manager_desbumi.conf", "pjsip_desbumi.conf")
_ANY_ADDRESS = ("0.0.0.0", "::")  # noqa: S104 - compared with, not bound to
FALLBACK_PROMPT = "fallback-apology"
FALLBACK_MAX_S = 180
FALLBACK_SILENCE_S = 5


@dataclass(frozen=True)
class Rendered:
    files: list[Path]
    fallback_prompt: Path | None


def render(settings: Settings, out_dir: Path, library: PromptLibrary | None = None) -> Rendered:
    """Write the Asterisk include files into ``out_dir``; returns what was written."""
    if not TEMPLATES.is_dir():
        raise IvrError(f"the Asterisk templates are missing: {TEMPLATES} (a partial checkout?)")
    data_dir = settings.data_dir.resolve()
    asterisk_dir = settings.asterisk_data_dir
    (data_dir / VOICEMAIL_DIR).mkdir(parents=True, exist_ok=True)
    fallback = _fallback_prompt(settings, library)
    values = {
        # A server listening on every interface is reached on loopback.
        "agi_host": "127.0.0.1" if settings.agi.host in _ANY_ADDRESS else settings.agi.host,
        "agi_port": settings.agi.port,
        "ami_username": settings.ami.username,
        "ami_secret": settings.ami.secret.get_secret_value() or "CHANGE-ME",
        "voicemail_dir": asterisk_dir / VOICEMAIL_DIR,
        "fallback_prompt": asterisk_dir / "prompts" / "system" / FALLBACK_PROMPT,
        "max_s": FALLBACK_MAX_S,
        "silence_s": FALLBACK_SILENCE_S,
        "callback_dial": settings.callback.dial,
    }
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - Asterisk configuration, not HTML
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in OUTPUTS:
        target = out_dir / name
        text = environment.get_template(f"{name}.j2").render(values)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    (out_dir / "manager_desbumi.conf").chmod(0o600)
    return Rendered(written, fallback)


def _fallback_prompt(settings: Settings, library: PromptLibrary | None) -> Path | None:
    """Synthesise the apology into prompts/system/ under a stable name; None if no voice."""
    library = library or PromptLibrary(settings.data_dir, settings.asterisk_data_dir)
    text = library.texts("id").get(FALLBACK_PROMPT)
    if text is None:
        return None
    prompt = library.synthesizer.prompt(text, "id")
    folder = settings.data_dir.resolve() / "prompts" / "system"
    folder.mkdir(parents=True, exist_ok=True)
    for fmt in ("sln", "ulaw", "gsm"):
        shutil.copyfile(prompt.path(fmt), folder / f"{FALLBACK_PROMPT}.{fmt}")
    return folder / FALLBACK_PROMPT
