"""Calls through the real Asterisk whose caller leg the test drives.

AMI ``Originate Channel=Local/s@scripted Context=desbumi-ivr`` makes two legs: ``;1``
runs the hotline's dialplan (and so the menu engine over FastAGI), ``;2`` runs context
``scripted``, whose AGI connects to the same test server as script ``caller``. The
caller's steps wait for what the engine reports it is doing on the other leg (a prompt
starting, a recording starting) before sending DTMF or speech, because DTMF sent while
no AGI command is reading is lost.
"""

from __future__ import annotations

import asyncio
import subprocess
import wave
from array import array
from collections import defaultdict
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.clock import Clock, SystemClock
from core.db import Database
from core.settings import Settings
from ivr.app import build_hotline
from ivr.asterisk_config import render
from ivr.fastagi import AgiChannel, FastAgiServer, RecordEnd
from ivr.prompts import PromptLibrary
from ivr.service import Hotline
from tests.conftest import make_settings
from tests.ivr.conftest import HotlineSite

# Short stand-in texts keep calls quick; the shipped texts are checked on their own.
# Indonesian only: with one language the menu skips the language question.
TEST_TEXTS = {
    key: key.replace("-", " ")
    for key in (
        "choose-language main-menu info-topics embassy-countries invalid-choice report-intro "
        "consent hint-problem hint-country hint-village record-now record-confirm "
        "report-thanks callback-intro quick-exit goodbye no-content report-reference "
        "report-reference-again record-empty record-failed record-playback callback-thanks "
        "callback-no-number transfer-connecting transfer-unavailable latest-intro latest-none "
        "system-error report-kept fallback-apology"
    ).split()
}
TEST_TEXTS.update(
    {
        f"digit-{d}": w
        for d, w in zip(
            "0123456789",
            "nol satu dua tiga empat lima enam tujuh delapan sembilan".split(),
            strict=True,
        )
    }
)


@dataclass(frozen=True)
class Await:
    """Wait until the hotline leg reports ``event`` (with ``detail``, if given)."""

    event: str
    detail: str | None = None
    timeout_s: float = 30.0


@dataclass(frozen=True)
class Press:
    digits: str


@dataclass(frozen=True)
class Say:
    """Play a file into the call (the caller speaking); Asterisk path, no extension."""

    path: str


@dataclass(frozen=True)
class Silence:
    seconds: int


@dataclass(frozen=True)
class Listen:
    """Record what the caller hears for ``seconds`` into ``<data_dir>/heard/<name>.wav``."""

    name: str
    seconds: float


@dataclass(frozen=True)
class HangUp:
    pass


Step = Await | Press | Say | Silence | Listen | HangUp


def up_to_the_beep(problem: str, country: str, village: str) -> list[Step]:
    """Option 2, consent, the three keypad hints, then wait for the recording to start."""
    return [
        Await("play", "main-menu"),
        Press("2"),
        Await("play", "consent"),
        Press("1"),
        Await("play", "hint-problem"),
        Press(problem),
        Await("play", "hint-country"),
        Press(country),
        Await("listen", "digits"),
        Press(village),
        Await("record"),
    ]


@dataclass
class Trace:
    events: list[tuple[str, str]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def played(self) -> list[str]:
        return [detail for event, detail in self.events if event == "play"]


class Harness:
    """A FastAGI server for the hotline and the scripted callers of one test.

    Script ``counsellor`` (context ``desk``) answers a transfer: it reports
    ``("counsellor", "answered")`` to the call that dialled it, records what it hears into
    ``<data_dir>/desk/<n>.wav`` for a few seconds (``counsellor_ended`` says how each
    recording ended: a timeout, or a hangup when the caller left first), then hangs up.
    """

    def __init__(
        self, site: HotlineSite, settings: Settings, db: Database, clock: Clock | None = None
    ) -> None:
        self.site = site
        self.settings = settings
        self.db = db
        self.traces: dict[str, Trace] = defaultdict(Trace)
        library = PromptLibrary(
            settings.data_dir, settings.asterisk_data_dir, texts={"id": TEST_TEXTS, "ms": {}}
        )
        self.hotline: Hotline = build_hotline(
            settings, db, clock or SystemClock(), observer=self._observe, library=library
        )
        self.scripts: list[Sequence[Step]] = []
        self.caller_errors: list[str] = []
        self.counsellor_heard: list[Path] = []
        self.counsellor_ended: list[RecordEnd] = []
        # (event, detail prefix): when the hotline leg reports it, its socket is cut as if
        # the FastAGI server process had died.
        self.crash_on: tuple[str, str] | None = None
        self._hotline_legs: dict[str, AgiChannel] = {}
        # Legs whose AGI session ended: the hotline's and the scripted callers'.
        self.ended = {"hotline": 0, "caller": 0}
        self.server = FastAgiServer(self._dispatch, "127.0.0.1", site.asterisk.agi_port, 60)

    def _observe(self, channel: str, event: str, detail: str) -> None:
        base = channel.rsplit(";", 1)[0]
        trace = self.traces[base]
        trace.events.append((event, detail))
        trace.changed.set()
        if self.crash_on and event == self.crash_on[0] and detail.startswith(self.crash_on[1]):
            self.crash_on = None
            trace.events.append(("crash", ""))
            # What the kernel does to the sockets of a process that dies.
            self._hotline_legs[base]._writer.transport.abort()

    async def _dispatch(self, channel: AgiChannel) -> None:
        script = channel.env.get("network_script")
        if script == "counsellor":
            await self._counsellor(channel)
            return
        leg = "caller" if script == "caller" else "hotline"
        try:
            if leg == "caller":
                await self._caller(channel)
            else:
                self._hotline_legs[channel.env.get("channel", "").rsplit(";", 1)[0]] = channel
                await self.hotline(channel)
        finally:
            self.ended[leg] += 1

    async def _counsellor(self, channel: AgiChannel) -> None:
        folder = self.settings.data_dir / "desk"
        folder.mkdir(exist_ok=True)
        name = f"{len(self.counsellor_heard) + 1}"
        self.counsellor_heard.append(folder / f"{name}.wav")
        # The dialled leg carries the call's linkedid, the uniqueid of the hotline leg that
        # dialled it: that call's caller may wait for the counsellor to be on the line.
        linkedid = await channel.get_variable("CHANNEL(linkedid)")
        for base, leg in self._hotline_legs.items():
            if leg.call_id == linkedid:
                self._observe(base, "counsellor", "answered")
        recorded = await channel.record_file(
            str(self.site.asterisk_dir / "desk" / name),
            "wav",
            escape_digits="",
            max_ms=4000,
            beep=False,
        )
        self.counsellor_ended.append(recorded.end)
        await channel.hangup()

    async def _caller(self, channel: AgiChannel) -> None:
        trace = self.traces[channel.env["channel"].rsplit(";", 1)[0]]
        steps = self.scripts.pop(0) if self.scripts else [Await("hangup")]
        seen = 0
        for step in steps:
            match step:
                case Await(event, detail, timeout_s):
                    seen = await _wait(trace, seen, event, detail, timeout_s, self.caller_errors)
                case Press(digits):
                    # The prompt has started on the other leg; give Asterisk a moment.
                    await asyncio.sleep(0.3)
                    await channel.exec("SendDTMF", digits)
                case Say(path):
                    await channel.stream_file(path, "")
                case Silence(seconds):
                    await channel.exec("Playback", f"silence/{seconds}")
                case Listen(name, seconds):
                    (self.settings.data_dir / "heard").mkdir(exist_ok=True)
                    await channel.record_file(
                        str(self.site.asterisk_dir / "heard" / name),
                        "wav",
                        escape_digits="",
                        max_ms=int(seconds * 1000),
                        beep=False,
                    )
                case HangUp():
                    await channel.hangup()
                    return

    async def call(
        self, steps: Sequence[Step], *, context: str = "desbumi-ivr", wait_s: float = 90
    ) -> Trace:
        """Place one call whose caller follows ``steps``; returns the hotline leg's trace."""
        self.scripts.append(steps)
        before = set(self.traces)
        ended = dict(self.ended)
        await asyncio.to_thread(
            self.site.asterisk.ami,
            {
                "Action": "Originate",
                "Channel": "Local/s@scripted",
                "Context": context,
                "Exten": "s",
                "Priority": "1",
                "Async": "true",
                "CallerID": "+62 812-3456-7890",
            },
        )
        # Both legs must finish: the hotline's and the caller's.
        for _ in range(int(wait_s * 10)):
            if all(self.ended[leg] > ended[leg] for leg in ended):
                break
            await asyncio.sleep(0.1)
        new = [name for name in self.traces if name not in before]
        assert new, "the hotline never reported anything for this call"
        return self.traces[new[0]]


async def _wait(
    trace: Trace,
    seen: int,
    event: str,
    detail: str | None,
    timeout_s: float,
    errors: list[str],
) -> int:
    async def reached() -> int:
        index = seen
        while True:
            while index < len(trace.events):
                got_event, got_detail = trace.events[index]
                index += 1
                if got_event == event and (detail is None or got_detail.startswith(detail)):
                    return index
            trace.changed.clear()
            await trace.changed.wait()

    try:
        return await asyncio.wait_for(reached(), timeout_s)
    except TimeoutError:
        errors.append(f"caller waited in vain for {event} {detail or ''}: {trace.events[-5:]}")
        raise


def site_settings(site: HotlineSite, database_url: str, tmp_path: Path, **env: str) -> Settings:
    """Settings whose data directory is inside the Asterisk chroot."""
    settings = make_settings(
        tmp_path,
        database_url,
        DESBUMI_DATA_DIR=str(site.host_dir),
        DESBUMI_HOTLINE__ASTERISK_DATA_DIR=str(site.asterisk_dir),
        DESBUMI_HOTLINE__DIGIT_TIMEOUT_S="2",
        DESBUMI_HOTLINE__VOICEMAIL_SETTLE_S="0",
        DESBUMI_AGI__PORT=str(site.asterisk.agi_port),
        **env,
    )
    return settings


def install_dialplan(site: HotlineSite, settings: Settings) -> None:
    """Render the hotline's Asterisk files into the sandbox and reload its dialplan."""
    etc = Path((site.asterisk.directory / "inner").read_text().strip()) / "etc"
    library = PromptLibrary(
        settings.data_dir, settings.asterisk_data_dir, texts={"id": TEST_TEXTS, "ms": {}}
    )
    render(settings, etc, library)
    agi = f"agi://127.0.0.1:{site.asterisk.agi_port}"
    with (etc / "extensions_desbumi.conf").open("a", encoding="utf-8") as handle:
        # A caller who speaks after the apology and the beep, then hangs up (the fallback
        # voicemail keeps what was recorded when she hangs up).
        handle.write(
            "\n[speaker]\nexten => _[a-z].,1,Answer()\n"
            " same => n,Playback(silence/3)\n"
            f" same => n,Playback({site.asterisk_dir}/speech/${{EXTEN}})\n"
            " same => n,Hangup()\n"
        )
        # The counsellor on duty, for transfers: one who answers, one who is busy, one
        # whose phone rings and rings.
        handle.write(
            f"\n[desk]\nexten => _X.,1,Answer()\n same => n,AGI({agi}/counsellor)\n"
            " same => n,Hangup()\n"
            "\n[desk-busy]\nexten => _X.,1,Busy(2)\n"
            "\n[desk-ringing]\nexten => _X.,1,Ringing()\n same => n,Wait(60)\n"
        )
    output = site.cli("dialplan reload")
    assert "Dialplan reloaded" in output or "reload" in output.lower(), output


def speech(site: HotlineSite, name: str, text: str) -> tuple[str, float]:
    """Real speech (espeak-ng) as an 8 kHz file in the site; (Asterisk path, seconds)."""
    folder = site.host_dir / "speech"
    folder.mkdir(exist_ok=True)
    wav = folder / f"{name}.22k.wav"
    subprocess.run(["espeak-ng", "-v", "id", "-w", str(wav), text], check=True)
    target = folder / f"{name}.sln"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-i",
            str(wav),
            "-ar",
            "8000",
            "-ac",
            "1",
            "-f",
            "s16le",
            str(target),
        ],
        check=True,
    )
    seconds = target.stat().st_size / 16000
    return str(site.asterisk_dir / "speech" / name), seconds


def serve(harness: Harness, body: Coroutine[Any, Any, None], *, missing_prompts: int = 0) -> None:
    """Run ``body`` (which places calls) with the harness's FastAGI server up.

    Then every prompt must have been played by Asterisk (a prompt it could not play is
    counted and skipped by the engine, and would otherwise pass unseen): all but
    ``missing_prompts`` of them.
    """

    async def main() -> None:
        await harness.server.start()
        serving = asyncio.create_task(harness.server.serve_forever())
        try:
            await body
        finally:
            await harness.server.close()
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            harness.hotline.close()

    asyncio.run(main())
    assert harness.hotline.engine.stats.missing_prompts == missing_prompts, (
        "Asterisk could not play a prompt (see the log)"
    )


def telephone_audio(target_base: Path, seconds: float, *, tone_hz: int = 440) -> None:
    """A tone as 8 kHz ``.sln``, ``.ulaw`` and ``.gsm`` files (what Asterisk plays as-is)."""
    target_base.parent.mkdir(parents=True, exist_ok=True)
    source = f"sine=frequency={tone_hz}:sample_rate=8000:duration={seconds}"
    outputs = {
        "sln": ["-f", "s16le", "-c:a", "pcm_s16le"],
        "ulaw": ["-f", "mulaw", "-c:a", "pcm_mulaw"],
        "gsm": ["-f", "gsm", "-c:a", "libgsm"],
    }
    command = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", source]
    for fmt, args in outputs.items():
        command += ["-ar", "8000", "-ac", "1", *args, f"{target_base}.{fmt}"]
    subprocess.run(command, check=True)


def loudness(path: Path) -> float:
    """Mean absolute sample value of a 16-bit WAV (0 for silence)."""
    with wave.open(str(path), "rb") as reader:
        samples = array("h", reader.readframes(reader.getnframes()))
    return sum(abs(s) for s in samples) / max(1, len(samples))
