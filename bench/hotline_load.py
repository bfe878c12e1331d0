"""Benchmark: simultaneous hotline calls on a real Asterisk, against a pure-dialplan IVR.

Each call is a caller reporting a problem: the language, option 2, consent, two keypad
hints, a village code, about four seconds of real speech (espeak-ng) after the beep,
``#``, then 3 to send; she hangs up when the thanks start. The same calls run, in the
same run, through two IVRs on the same Asterisk:

* ``fastagi``: the real ``desbumi agi`` process (the shipped menu and prompts, SQLite or
  PostgreSQL; every report written as Case + Recording + Job in one transaction);
* ``dialplan``: the baseline, the same flow and the same prompt files as plain dialplan
  (Background / WaitExten / Read / Record), which stores nothing in any database;
* ``bare`` (with ``--floor``): the floor of any FastAGI server, ``bench/bare_fastagi.py``,
  a process that sends the dialplan's flow as AGI commands and does nothing else. Between
  the dialplan and it lies what the protocol costs here; between it and ``fastagi``, what
  desbumi adds.

Latency is measured the same way for both, from Asterisk's own timestamped AMI events on
the IVR's channel: from ``DTMFEnd`` (a key received) to the start of the next prompt
(``AGIExecStart`` of STREAM FILE / GET DATA for FastAGI, ``Newexten`` of Background /
Playback / Read for the dialplan). The callers are driven from this process (FastAGI on
their own legs, reacting to those events), so their cost is not the server's.

AMI stamps an event when Asterisk's manager thread writes it out, not when it happened;
when that thread falls behind it stamps a burst of events together and a step looks
shorter than it was. So every step is also timed on a second clock without that lag, the
"channel clock" (``--no-channel-clock`` leaves it out): Asterisk's own log, written by the
IVR channel's thread with microseconds, from "DTMF end received" to "Playing" the next
prompt. Turning that logging on costs Asterisk a little, in both IVRs alike.

Before the rounds the script measures what one wake-up between two processes costs on this
machine (a socket ping-pong every 20 ms, across the two cores and on one): a FastAGI step
has two such wake-ups that a dialplan step has not.

    sudo .venv/bin/python bench/hotline_load.py [--calls 20,100,200] [--rate 20] [--repeat N]
        [--database-url postgresql://...] [--profile DIR] [--server-nice N]
        [--asterisk-highpriority] [--server-realtime N] [--cpu-latency US]
        [--no-channel-clock] [--pin-asterisk CPUS] [--pin-server CPUS] [--floor]
        [--loop-stalls]

Debian's asterisk.service runs ``asterisk -p`` (real-time threads); the deployed unit runs
desbumi agi at DESBUMI_AGI__REALTIME_PRIORITY=11: ``--asterisk-highpriority
--server-realtime 11`` measures that pair. ``--cpu-latency 0`` holds the kernel's CPU latency
request (/dev/cpu_dma_latency) at 0 for the whole run: idle cores poll instead of halting,
for both IVRs alike; the wake-up ping-pong is then measured again with it in force.
``--loop-stalls`` counts the server's event-loop callbacks that run longer than 0.3 ms
(each holds up every other caller's step) by where their task stopped next
(bench/loop_stalls/sitecustomize.py) and prints the places with the most time.

Needs root (the Asterisk sandbox is a chroot). Prints one table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402

from core.db import Database  # noqa: E402
from core.models import Case, Job, Recording  # noqa: E402
from core.settings import Settings, load_settings  # noqa: E402
from ivr.app import ENGINE_PROMPTS  # noqa: E402
from ivr.fastagi import AgiChannel, FastAgiServer  # noqa: E402
from ivr.menu import load_menu, prompt_keys  # noqa: E402
from ivr.prompts import PromptLibrary  # noqa: E402

SANDBOX = REPO / "tools" / "asterisk-sandbox.sh"
DESBUMI = REPO / ".venv" / "bin" / "desbumi"
BENCH_USER, BENCH_SECRET = "bench", "bench-secret"
STEPS_LOG = "bench-steps"
SPEECH = (
    "Saya bekerja di Malaysia. Paspor saya ditahan majikan dan gaji saya belum dibayar "
    "selama tiga bulan."
)
# (prompt the caller waits for, what she does). "speak": talk after the beep, then #.
SCRIPT = (
    ("choose-language", "1"),
    ("main-menu", "2"),
    ("consent", "1"),
    ("hint-problem", "2"),
    ("hint-country", "1"),
    ("hint-village", "1234#"),
    ("record", "speak"),
    ("record-confirm", "3"),
    ("report-thanks", "hangup"),
)
# How long an AMI action may wait for Asterisk's reply before the run stops.
AMI_REPLY_S = 30.0
# Each size's rounds: the baseline first, then the same calls through desbumi agi.
VARIANTS = ("dialplan", "fastagi")
# With --floor, the bare FastAGI server's rounds go between the two.
FLOOR_VARIANTS = ("dialplan", "bare", "fastagi")
BARE = REPO / "bench" / "bare_fastagi.py"
LOOP_STALLS = REPO / "bench" / "loop_stalls"
# Asterisk names them BackGround, Playback, Read, Record in its events.
PLAY_APPS = {"background", "playback", "read"}
# The channel clock's two lines, on the IVR's leg (;1) of a bench call.
KEY_LINE = re.compile(
    r"^\[(?P<t>\d+\.\d+)\] DTMF\[.* DTMF end '.' received on "
    r"Local/(?P<exten>\w+)@bench-caller-\w+;1\b"
)
PLAY_LINE = re.compile(
    r"^\[(?P<t>\d+\.\d+)\] VERBOSE\[.* <Local/(?P<exten>\w+)@bench-caller-\w+;1> "
    r"Playing '(?P<path>[^']+)'"
)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- Asterisk: the sandbox, a benchmark AMI user, the baseline dialplan -----------------


@dataclass
class Sandbox:
    directory: Path
    ami_port: int
    agi_port: int
    driver_port: int
    root: Path = Path()
    inner: Path = Path()
    # Set by configure(): whether Asterisk writes the channel clock's log.
    channel_clock: bool = False
    log_read: int = 0

    def start(self, realtime: bool = False) -> None:
        sip = free_port(socket.SOCK_DGRAM)
        run = [str(SANDBOX), "start", str(self.directory), str(self.ami_port), str(sip)]
        env = {**os.environ, "ASTERISK_HIGHPRIORITY": "1" if realtime else "0"}
        subprocess.run([*run, str(self.agi_port)], check=True, env=env)
        self.root = Path(subprocess.check_output([str(SANDBOX), "build"], text=True).strip())
        self.inner = Path((self.directory / "inner").read_text().strip())

    def stop(self) -> None:
        subprocess.run([str(SANDBOX), "stop", str(self.directory)], check=False)

    @property
    def pid(self) -> int:
        return int((self.directory / "pid").read_text())

    def cli(self, command: str) -> str:
        conf = f"/{(self.inner / 'etc' / 'asterisk.conf').relative_to(self.root)}"
        done = subprocess.run(
            ["chroot", str(self.root), "/usr/sbin/asterisk", "-C", conf, "-rx", command],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout + done.stderr

    def seen_by_asterisk(self, host_path: Path) -> Path:
        return Path("/") / host_path.relative_to(self.root)

    def configure(self, dialplan: str, channel_clock: bool) -> None:
        """Timestamped events for a benchmark AMI user; the two IVRs' dialplan; with
        ``channel_clock``, a log of keys received and prompts started (epoch, microseconds).
        """
        etc = self.inner / "etc"
        self.channel_clock = channel_clock
        if channel_clock:
            (etc / "logger.conf").write_text(
                "[general]\ndateformat = %s.%6q\n[logfiles]\n"
                f"messages => notice,warning,error\n{STEPS_LOG} => dtmf,verbose(3)\n"
            )
        (etc / "manager.conf").write_text(
            "[general]\nenabled = yes\nbindaddr = 127.0.0.1\n"
            f"port = {self.ami_port}\ntimestampevents = yes\n"
            f"[{BENCH_USER}]\nsecret = {BENCH_SECRET}\n"
            "read = system,call,agi,dtmf,dialplan,user\nwrite = all\n"
            # Only what the benchmark reads: VarSet alone would flood the socket.
            "eventfilter = Event: (DTMFEnd|AGIExecStart|AGIExecEnd|Newexten|UserEvent|Hangup)\n"
        )
        with (etc / "extensions_desbumi.conf").open("a", encoding="utf-8") as handle:
            handle.write(dialplan)
        self.cli("manager reload")
        self.cli("dialplan reload")
        if channel_clock:
            self.cli("logger reload")

    def new_log_lines(self) -> str:
        """What the channel-clock log gained since the last call ("" without one)."""
        log = self.inner / "log" / STEPS_LOG
        if not log.exists():
            return ""
        with log.open("rb") as handle:
            handle.seek(self.log_read)
            text = handle.read()
        # Only whole lines: Asterisk's logger thread may be writing the next one.
        text = text[: text.rfind(b"\n") + 1]
        self.log_read += len(text)
        return text.decode("utf-8", "replace")


def baseline_dialplan(
    prompt: dict[str, str], record_dir: Path, driver_port: int, bare_port: int
) -> str:
    """The same flow as plain dialplan, playing the same files as the menu engine."""
    digits = "&".join(prompt[f"digit-{d}"] for d in "482913")
    return f"""
[bench-caller]
exten => _c.,1,Answer()
 same => n,AGI(agi://127.0.0.1:{driver_port}/caller)
 same => n,Hangup()

[bench-bare]
exten => s,1,AGI(agi://127.0.0.1:{bare_port}/bare)
 same => n,Hangup()

[bench-dp]
exten => s,1,Answer()
 same => n,Background({prompt["choose-language"]})
 same => n,WaitExten(5)
exten => _[12t],1,Goto(bench-dp-main,s,1)

[bench-dp-main]
exten => s,1,Background({prompt["main-menu"]})
 same => n,WaitExten(6)
exten => 2,1,Goto(bench-dp-consent,s,1)
exten => _[i],1,Playback({prompt["invalid-choice"]})
 same => n,Goto(bench-dp-main,s,1)
exten => t,1,Playback({prompt["goodbye"]})
 same => n,Hangup()

[bench-dp-consent]
exten => s,1,Background({prompt["report-intro"]})
 same => n,Background({prompt["consent"]})
 same => n,WaitExten(6)
exten => 1,1,Goto(bench-dp-problem,s,1)
exten => _[2it],1,Goto(bench-dp-main,s,1)

[bench-dp-problem]
exten => s,1,Background({prompt["hint-problem"]})
 same => n,WaitExten(6)
exten => _[1-6t],1,Goto(bench-dp-country,s,1)

[bench-dp-country]
exten => s,1,Background({prompt["hint-country"]})
 same => n,WaitExten(6)
exten => _[1-6t],1,Goto(bench-dp-village,s,1)

[bench-dp-village]
exten => s,1,Read(VILLAGE,{prompt["hint-village"]},10,,1,6)
 same => n,Playback({prompt["record-now"]})
 same => n,Record({record_dir}/${{UNIQUEID}}.wav,6,180,k)
 same => n,Goto(bench-dp-confirm,s,1)

[bench-dp-confirm]
exten => s,1,Background({prompt["record-confirm"]})
 same => n,WaitExten(6)
exten => _[3t],1,Playback({prompt["report-reference"]}&{digits})
 same => n,Playback({prompt["report-reference-again"]}&{digits})
 same => n,Background({prompt["report-thanks"]})
 same => n,Goto(bench-dp-main,s,1)
"""


# --- AMI: a small asyncio client for timestamped events ---------------------------------


class Ami:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.listeners: list[Calls] = []
        self._counter = 0
        self._replies: dict[str, asyncio.Future[dict[str, str]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", self.port, limit=1 << 20
        )
        await self.reader.readline()
        self._task = asyncio.create_task(self._read())
        reply = await self.action("Login", Username=BENCH_USER, Secret=BENCH_SECRET)
        if reply.get("Response") != "Success":
            raise RuntimeError(f"AMI login failed: {reply}")

    async def action(self, name: str, **fields: str) -> dict[str, str]:
        if self.writer is None:
            raise RuntimeError("AMI not connected")
        self._counter += 1
        action_id = f"b{self._counter}"
        future: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
        self._replies[action_id] = future
        text = f"Action: {name}\r\nActionID: {action_id}\r\n"
        text += "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        self.writer.write(text.encode() + b"\r\n")
        await self.writer.drain()
        try:
            return await asyncio.wait_for(future, AMI_REPLY_S)
        except TimeoutError:
            raise TimeoutError(f"Asterisk did not answer AMI {name} in {AMI_REPLY_S:g} s") from None

    async def _read(self) -> None:
        if self.reader is None:
            raise RuntimeError("AMI not connected")
        message: dict[str, str] = {}
        while line := await self.reader.readline():
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if text:
                key, _, value = text.partition(":")
                message[key] = value.strip()
                continue
            if "Event" in message:
                for listener in self.listeners:
                    listener.event(message)
            elif (future := self._replies.pop(message.get("ActionID", ""), None)) is not None:
                future.set_result(message)
            message = {}

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


# --- the calls ------------------------------------------------------------------------


@dataclass
class Call:
    exten: str
    prompts: list[tuple[float, str]] = field(default_factory=list)
    keys: list[tuple[float, str]] = field(default_factory=list)
    # (DTMF received -> next prompt starting, in seconds; the prompt)
    latencies: list[tuple[float, str]] = field(default_factory=list)
    # FastAGI only: Asterisk answered the command the key ended -> it received the next
    # one, i.e. the share of the latency spent in the server (and the socket both ways).
    server_share: list[float] = field(default_factory=list)
    last_agi_end: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    fallback: bool = False
    ended_at: float | None = None
    finished: bool = False
    error: str = ""


class Calls:
    """Routes AMI events to the calls of one round; keeps what the measurement needs."""

    def __init__(self, prefix: str, path_keys: dict[str, str]) -> None:
        self.prefix = prefix
        self.path_keys = path_keys
        self.calls: dict[str, Call] = {}
        self.active = 0
        self.peak = 0
        self.originated = False
        self.all_ended = asyncio.Event()

    def add(self, exten: str) -> Call:
        call = self.calls[exten] = Call(exten)
        return call

    def _call(self, channel: str) -> Call | None:
        # Local/c0300007@bench-caller-0000001a;1 -> c0300007; only the IVR leg (;1).
        if not channel.endswith(";1") or not channel.startswith(f"Local/{self.prefix}"):
            return None
        return self.calls.get(channel[len("Local/") :].split("@", 1)[0])

    def event(self, event: dict[str, str]) -> None:
        call = self._call(event.get("Channel", ""))
        if call is None:
            return
        stamp = float(event.get("Timestamp", "0") or 0)
        name = event["Event"]
        prompt = None
        if name == "AGIExecStart":
            words = event.get("Command", "").split()
            if words[:2] in (["STREAM", "FILE"], ["GET", "DATA"]) and len(words) > 2:
                prompt = self.path_keys.get(words[2], words[2])
            elif words[:2] == ["RECORD", "FILE"]:
                prompt = "record"
        elif name == "Newexten":
            app, data = event.get("Application", "").lower(), event.get("AppData", "")
            if app in PLAY_APPS:
                path = data.split(",")[1] if app == "read" else data.split("&")[0]
                prompt = self.path_keys.get(path, path)
            elif app == "record":
                prompt = "record"
        elif name == "AGIExecEnd":
            call.last_agi_end = stamp
        elif name == "DTMFEnd" and event.get("Direction") == "Received":
            call.keys.append((stamp, event.get("Digit", "")))
        elif name == "UserEvent" and event.get("UserEvent") == "DesbumiFallback":
            call.fallback = True
        elif name == "Hangup":
            call.ended_at = time.monotonic()
            self.active -= 1
            if self.originated and all(c.ended_at for c in self.calls.values()):
                self.all_ended.set()
        if prompt is not None:
            last_prompt = call.prompts[-1][0] if call.prompts else 0.0
            pressed = [t for t, _ in call.keys if t >= last_prompt]
            if pressed and prompt != "record":
                call.latencies.append((stamp - pressed[-1], prompt))
                if name == "AGIExecStart" and call.last_agi_end >= pressed[-1]:
                    call.server_share.append(stamp - call.last_agi_end)
            call.prompts.append((stamp, prompt))
        call.changed.set()

    async def wait_prompt(self, call: Call, key: str, seen: int, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while True:
            for index in range(seen, len(call.prompts)):
                if call.prompts[index][1] == key:
                    return index + 1
            call.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0 or call.ended_at is not None:
                raise TimeoutError(f"waited in vain for {key}; heard {call.prompts[-3:]}")
            try:
                await asyncio.wait_for(call.changed.wait(), left)
            except TimeoutError:
                pass


def channel_clock(log: str, prefix: str, path_keys: dict[str, str]) -> list[tuple[float, str]]:
    """(key received -> next prompt playing, in seconds; the prompt) from Asterisk's log.

    Counted as the AMI clock counts: the last key since the previous prompt, to a prompt of
    the menu (the beep before a recording starts nothing and is not counted).
    """
    pressed: dict[str, float] = {}
    steps: list[tuple[float, str]] = []
    for line in log.splitlines():
        if (key := KEY_LINE.match(line)) is not None:
            if key["exten"].startswith(prefix):
                pressed[key["exten"]] = float(key["t"])
        elif (play := PLAY_LINE.match(line)) is not None:
            # Only this round's calls have keys in ``pressed``.
            at = pressed.pop(play["exten"], None)
            prompt = path_keys.get(os.path.splitext(play["path"])[0])
            if at is not None and prompt is not None:
                steps.append((float(play["t"]) - at, prompt))
    return steps


class Driver:
    """The callers' legs (FastAGI script ``caller``): they press keys and speak."""

    def __init__(self, speech: str, seed: int) -> None:
        self.speech = speech
        self.rng = random.Random(seed)
        self.round: Calls | None = None

    async def __call__(self, channel: AgiChannel) -> None:
        calls = self.round
        call = calls.calls.get(channel.env.get("extension", "")) if calls else None
        if calls is None or call is None:
            await channel.hangup()
            return
        seen = 0
        try:
            for key, action in SCRIPT:
                seen = await calls.wait_prompt(call, key, seen, 90)
                # A caller's reaction time; keys come while the prompt plays (barge-in).
                await asyncio.sleep(self.rng.uniform(0.4, 1.2))
                if action == "hangup":
                    call.finished = True
                    await channel.hangup()
                    return
                if action == "speak":
                    await channel.stream_file(self.speech, "")
                    action = "#"
                await channel.exec("SendDTMF", action)
        except TimeoutError as exc:
            call.error = str(exc)
            await channel.hangup()


@dataclass
class Round:
    variant: str
    calls: int
    completed: int
    failed: int
    peak: int
    latencies: list[tuple[float, str]]
    wall_s: float
    server_cpu_s: float | None
    asterisk_cpu_s: float
    machine_busy: float
    # The part of machine_busy the host gave to others (steal time).
    machine_steal: float
    loadavg: str
    errors: list[str]
    server_share: list[float]
    stored: int | None = None
    # The same steps on the channel clock; None with --no-channel-clock.
    channel: list[tuple[float, str]] | None = None

    @property
    def latency_ms(self) -> list[float]:
        return [v * 1000 for v, _ in self.latencies]

    @property
    def channel_ms(self) -> list[float]:
        return [v * 1000 for v, _ in self.channel or ()]


def cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and its descendants (the server's database helper process)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        ticks[child] = int(fields[11]) + int(fields[12])
    tree, todo = {pid}, [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                todo.append(child)
    return sum(ticks.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine_ticks() -> tuple[int, int, int]:
    """Both cores' ticks since boot: (busy, stolen, all). Stolen time is the host running
    something else while this virtual machine had work: it counts as busy here."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, values[7], sum(values)


async def run_round(
    ami: Ami,
    driver: Driver,
    sandbox: Sandbox,
    path_keys: dict[str, str],
    *,
    variant: str,
    number: int,
    calls: int,
    rate: float,
    server_pid: int | None,
    db: Database | None,
) -> Round:
    prefix = f"c{number:02d}"
    round_ = Calls(prefix, path_keys)
    ami.listeners = [round_]
    driver.round = round_
    stored_before = _stored_reports(db) if db is not None else 0
    server_before = cpu_seconds(server_pid) if server_pid else 0.0
    asterisk_before = cpu_seconds(sandbox.pid)
    busy_before = machine_ticks()
    started = time.monotonic()
    context = {"fastagi": "desbumi-ivr", "bare": "bench-bare"}.get(variant, "bench-dp")
    for index in range(calls):
        exten = f"{prefix}{index:05d}"
        round_.add(exten)
        round_.active += 1
        round_.peak = max(round_.peak, round_.active)
        await ami.action(
            "Originate",
            Channel=f"Local/{exten}@bench-caller",
            Context=context,
            Exten="s",
            Priority="1",
            CallerID=f"+62812{number:02d}{index:05d}",
            Async="true",
            Timeout="30000",
        )
        await asyncio.sleep(1 / rate)
    round_.originated = True
    if all(c.ended_at for c in round_.calls.values()):
        round_.all_ended.set()
    try:
        await asyncio.wait_for(round_.all_ended.wait(), 240)
    except TimeoutError:
        pass  # the calls still up count as failed
    wall = time.monotonic() - started
    busy_after = machine_ticks()
    load = loadavg()
    await asyncio.sleep(1.0)  # the last reports' transactions
    ok = [c for c in round_.calls.values() if c.finished and not c.fallback and not c.error]
    stored = _stored_reports(db) - stored_before if db is not None else None
    if stored is not None:
        completed = min(len(ok), stored)
    else:
        completed = _recorded(sandbox, ok, "bare" if variant == "bare" else "baseline")
    errors = [f"{c.exten}: {c.error or 'fallback'}" for c in round_.calls.values() if c not in ok]
    channel = None
    if sandbox.channel_clock:
        channel = channel_clock(sandbox.new_log_lines(), prefix, path_keys)
    return Round(
        variant=variant,
        calls=calls,
        completed=completed,
        failed=calls - completed,
        peak=round_.peak,
        latencies=[pair for c in round_.calls.values() for pair in c.latencies],
        wall_s=wall,
        server_cpu_s=(cpu_seconds(server_pid) - server_before) if server_pid else None,
        asterisk_cpu_s=cpu_seconds(sandbox.pid) - asterisk_before,
        machine_busy=(busy_after[0] - busy_before[0]) / max(1, busy_after[2] - busy_before[2]),
        machine_steal=(busy_after[1] - busy_before[1]) / max(1, busy_after[2] - busy_before[2]),
        loadavg=load,
        errors=errors,
        server_share=[v for c in round_.calls.values() for v in c.server_share],
        stored=stored,
        channel=channel,
    )


def _stored_reports(db: Database) -> int:
    """Complete reports: a Case with its Recording and its transcription Job."""
    with db.read_session() as session:
        cases = session.scalar(select(func.count(Case.id)).where(Case.incomplete.is_(False)))
        recordings = session.scalar(select(func.count(Recording.id)))
        jobs = session.scalar(select(func.count(Job.id)).where(Job.kind == "transcribe"))
        return min(int(cases or 0), int(recordings or 0), int(jobs or 0))


def _recorded(sandbox: Sandbox, ok: list[Call], folder_name: str) -> int:
    """Calls of a round without a database whose recording holds audio (the folder's
    files are named by Asterisk's uniqueid, so earlier rounds' files count too)."""
    folder = sandbox.inner / "data" / folder_name
    sizes = [p.stat().st_size for p in folder.glob("*.wav")] if folder.is_dir() else []
    return min(len(ok), sum(1 for size in sizes if size > 8000))


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def wakeup_round_trip(cpus: tuple[int, int], count: int = 300, gap_s: float = 0.02) -> str:
    """p50 / p99 of a one-byte socket ping-pong between two processes on ``cpus``, one every
    ``gap_s`` so that both sleep in between (as the IVR and Asterisk do between keys)."""
    ours, theirs = socket.socketpair()
    child = os.fork()
    if child == 0:
        try:
            ours.close()
            os.sched_setaffinity(0, {cpus[1]})
            while data := theirs.recv(1):
                theirs.send(data)
        finally:
            os._exit(0)
    theirs.close()
    allowed = os.sched_getaffinity(0)
    took: list[float] = []
    try:
        os.sched_setaffinity(0, {cpus[0]})
        for _ in range(count):
            time.sleep(gap_s)
            start = time.perf_counter()
            ours.send(b"x")
            ours.recv(1)
            took.append((time.perf_counter() - start) * 1000)
    finally:
        os.sched_setaffinity(0, allowed)
        ours.close()
        os.waitpid(child, 0)
    return f"p50 {percentile(took, 0.5):.2f} / p99 {percentile(took, 0.99):.2f} ms"


def wakeup_figures() -> str:
    across = wakeup_round_trip((0, 1)) if (os.cpu_count() or 1) > 1 else ""
    same = wakeup_round_trip((0, 0))
    return (f"across cores {across}, " if across else "") + f"on one core {same}"


def pin(pid: int, cpus: str) -> None:
    """Every thread of ``pid`` on ``cpus``; threads it starts later inherit it."""
    subprocess.run(
        ["taskset", "--all-tasks", "--cpu-list", "--pid", cpus, str(pid)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


# --- setup ----------------------------------------------------------------------------


def site_environment(sandbox: Sandbox, args: argparse.Namespace) -> dict[str, str]:
    data = sandbox.inner / "data"
    return {
        "DESBUMI_AGI__REALTIME_PRIORITY": str(args.server_realtime),
        "DESBUMI_AGI__GC_INTERVAL_S": str(args.gc_interval),
        "DESBUMI_DATA_DIR": str(data),
        "DESBUMI_HOTLINE__ASTERISK_DATA_DIR": str(sandbox.seen_by_asterisk(data)),
        "DESBUMI_SECRET_KEY": secrets.token_urlsafe(32),
        "DESBUMI_DATABASE__URL": args.database_url,
        "DESBUMI_AGI__PORT": str(sandbox.agi_port),
        "DESBUMI_LOG_LEVEL": "INFO",
    }


def prompt_paths(settings: Settings) -> dict[str, str]:
    """Every prompt of the menu (Bahasa Indonesia) as Asterisk plays it, synthesised once."""
    library = PromptLibrary(settings.data_dir, settings.asterisk_data_dir)
    keys = sorted(prompt_keys(load_menu()) | set(ENGINE_PROMPTS))
    return {key: library.system(key, "id") for key in keys}


def make_speech(settings: Settings) -> tuple[str, float]:
    folder = settings.data_dir / "speech"
    folder.mkdir(parents=True, exist_ok=True)
    wav, target = folder / "speech.22k.wav", folder / "speech.sln"
    subprocess.run(["espeak-ng", "-v", "id", "-w", str(wav), SPEECH], check=True)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav)]
        + ["-ar", "8000", "-ac", "1", "-f", "s16le", str(target)],
        check=True,
    )
    return str(settings.asterisk_data_dir / "speech" / "speech"), target.stat().st_size / 16000


def wait_ready(process: subprocess.Popen[bytes], log: Path, name: str) -> None:
    """Until the server's log says "prompts ready" (at most 5 minutes)."""
    for _ in range(600):
        if "prompts ready" in log.read_text() or process.poll() is not None:
            break
        time.sleep(0.5)
    if process.poll() is not None:
        raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")


@contextmanager
def agi_server(
    environment: dict[str, str], log: Path, profile: Path | None, nice: int
) -> Iterator[int]:
    """``desbumi agi`` as its own process (its CPU is the server's); yields its pid."""
    command = [str(DESBUMI), "agi"]
    if nice:
        command = ["nice", "-n", str(nice), *command]
    with log.open("w") as out:
        process = subprocess.Popen(
            command, env={**os.environ, **environment}, stdout=out, stderr=out
        )
    spy = None
    try:
        wait_ready(process, log, "desbumi agi")
        if profile is not None:
            spy = subprocess.Popen(
                [
                    shutil.which("py-spy") or str(DESBUMI.with_name("py-spy")),
                    "record",
                    "-p",
                    str(process.pid),
                    "-o",
                    str(profile),
                    "-f",
                    "raw",
                ]
                + ["--rate", "200", "--nonblocking", "--gil"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        yield process.pid
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass
class Site:
    environment: dict[str, str]
    settings: Settings
    path_keys: dict[str, str]
    speech: str
    speech_s: float
    # The bare FastAGI server's (--floor): its port, the prompts it plays, where it records.
    bare_port: int
    prompts: dict[str, str]
    bare_dir: Path


def prepare(args: argparse.Namespace, sandbox: Sandbox) -> Site:
    """A migrated database, the rendered Asterisk files, the prompts, the caller's speech."""
    environment = site_environment(sandbox, args)
    settings = load_settings(environment)
    env = {**os.environ, **environment}
    quiet = subprocess.DEVNULL
    subprocess.run([str(DESBUMI), "init"], env=env, check=True, stdout=quiet)
    etc = str(sandbox.inner / "etc")
    subprocess.run(
        [str(DESBUMI), "asterisk-config", "--out", etc], env=env, check=True, stdout=quiet
    )
    started = time.monotonic()
    prompts = prompt_paths(settings)
    print(f"prompts ready in {time.monotonic() - started:.0f} s", flush=True)
    speech, speech_s = make_speech(settings)
    (settings.data_dir / "baseline").mkdir(exist_ok=True)
    (settings.data_dir / "bare").mkdir(exist_ok=True)
    record_dir = sandbox.seen_by_asterisk(settings.data_dir / "baseline")
    bare_port = free_port()
    sandbox.configure(
        baseline_dialplan(prompts, record_dir, sandbox.driver_port, bare_port),
        args.channel_clock,
    )
    path_keys = {path: key for key, path in prompts.items()}
    bare_dir = sandbox.seen_by_asterisk(settings.data_dir / "bare")
    return Site(environment, settings, path_keys, speech, speech_s, bare_port, prompts, bare_dir)


@contextmanager
def bare_server(site: Site, log: Path, realtime: int) -> Iterator[int]:
    """``bench/bare_fastagi.py`` as its own process, at the server's priority; its pid."""
    prompts = log.with_suffix(".prompts.json")
    prompts.write_text(json.dumps(site.prompts))
    command = [sys.executable, str(BARE), str(site.bare_port), str(prompts), str(site.bare_dir)]
    with log.open("w") as out:
        process = subprocess.Popen([*command, str(realtime)], stdout=out, stderr=out)
    try:
        wait_ready(process, log, "bare_fastagi.py")
        yield process.pid
    finally:
        process.kill()
        process.wait()


async def bench(
    args: argparse.Namespace,
    sandbox: Sandbox,
    site: Site,
    pids: dict[str, int],
    rounds: list[Round],
) -> None:
    """Every round measured goes into ``rounds`` at once, so that a run that stops early
    still reports the rounds before."""
    driver = Driver(site.speech, seed=7)
    callers = FastAgiServer(driver, "127.0.0.1", sandbox.driver_port, 120)
    await callers.start()
    serving = asyncio.create_task(callers.serve_forever())
    ami = Ami(sandbox.ami_port)
    await ami.connect()
    db = Database.from_settings(site.settings)
    try:
        number = 0
        # A few calls first, not reported: the server's first calls also pay for its
        # helper process starting and SQLAlchemy compiling its statements.
        sizes = [args.warmup, *args.calls] if args.warmup else args.calls
        # Pairs (dialplan, then FastAGI) repeated: one round's p99 rests on its 16 slowest
        # steps, and one stray millisecond in either variant moves the ratio by half.
        pairs = [(s, 1 if args.warmup and i == 0 else args.repeat) for i, s in enumerate(sizes)]
        variants = FLOOR_VARIANTS if args.floor else VARIANTS
        for calls, repeat in pairs:
            for variant in variants * repeat:
                number += 1
                label = "warm-up" if number <= len(variants) and args.warmup else "round"
                print(f"{variant}: {calls} calls ({label}) ...", flush=True)
                fastagi = variant == "fastagi"
                measured = await run_round(
                    ami,
                    driver,
                    sandbox,
                    site.path_keys,
                    variant=variant,
                    number=number,
                    calls=calls,
                    rate=args.rate,
                    server_pid=pids.get(variant),
                    db=db if fastagi else None,
                )
                if label == "round":
                    rounds.append(measured)
                await asyncio.sleep(3)
    finally:
        await ami.close()
        await callers.close()
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        db.dispose()


def report(rounds: list[Round], args: argparse.Namespace, wakeups: str) -> None:
    print()
    print(
        f"hotline load, {os.cpu_count()} cores, calls originated at {args.rate:g}/s; "
        "latency = DTMF received -> next prompt starts (Asterisk AMI timestamps)"
    )
    pinned = ", ".join(
        f"{who} on CPU {cpus}"
        for who, cpus in (("Asterisk", args.pin_asterisk), ("desbumi agi", args.pin_server))
        if cpus
    )
    print(f"pinned: {pinned or 'nothing'}; {wakeups}")
    print(
        f"desbumi agi: DESBUMI_AGI__GC_INTERVAL_S={args.gc_interval:g}, "
        f"DESBUMI_AGI__REALTIME_PRIORITY={args.server_realtime}, nice {args.server_nice}"
    )
    if args.floor:
        print(
            "bare: bench/bare_fastagi.py, the flow's AGI commands and nothing else, "
            + (f"SCHED_RR {args.server_realtime}" if args.server_realtime else "normal priority")
        )
    header = (
        f"{'variant':9} {'calls':>5} {'peak':>4} {'done':>4} {'fail':>4} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'send p99':>8} "
        f"{'server CPU':>10} {'ast CPU':>8} {'machine':>7} {'stolen':>6}  loadavg"
    )
    print(header)
    baseline: dict[int, float] = {}
    channel_baseline: dict[int, float] = {}
    for r in rounds:
        values = r.latency_ms
        sends = [v * 1000 for v, key in r.latencies if key == "report-reference"]
        p99 = percentile(values, 0.99)
        cpu = f"{100 * r.server_cpu_s / r.wall_s:.0f}% core" if r.server_cpu_s is not None else "-"
        print(
            f"{r.variant:9} {r.calls:5} {r.peak:4} {r.completed:4} {r.failed:4} "
            f"{percentile(values, 0.5):7.1f} {p99:7.1f} {max(values, default=0):7.1f} "
            f"{percentile(sends, 0.99):8.1f} {cpu:>10} "
            f"{100 * r.asterisk_cpu_s / r.wall_s:7.0f}% {100 * r.machine_busy:6.0f}% "
            f"{100 * r.machine_steal:5.0f}%  {r.loadavg}"
        )
        if r.variant == "dialplan":
            baseline[r.calls] = p99
        else:
            ratio = p99 / baseline[r.calls] if baseline.get(r.calls) else float("nan")
            share = [v * 1000 for v in r.server_share]
            print(
                f"{'':9} of which in the server (Asterisk's reply -> next command): "
                f"p50 {percentile(share, 0.5):.1f} ms, p99 {percentile(share, 0.99):.1f} ms"
            )
            print(
                f"{'':9} p99 / dialplan p99 = {ratio:.2f}x (target <= 1.5x); "
                f"{len(values)} samples, median of steps "
                f"{statistics.median(values) if values else 0:.1f} ms"
            )
        if r.channel is not None:
            on_channel = r.channel_ms
            p99_channel = percentile(on_channel, 0.99)
            if r.variant == "dialplan":
                channel_baseline[r.calls] = p99_channel
                versus = ""
            else:
                base = channel_baseline.get(r.calls)
                versus = f"; p99 / dialplan's = {p99_channel / base:.2f}x" if base else ""
            print(
                f"{'':9} channel clock (Asterisk's log): p50 {percentile(on_channel, 0.5):.1f} "
                f"ms, p99 {p99_channel:.1f} ms, {len(on_channel)} samples{versus}"
            )
        steps: dict[str, list[float]] = {}
        for value, key in r.latencies:
            steps.setdefault(key, []).append(value * 1000)
        print(
            f"{'':9} p99 by next prompt: "
            + ", ".join(f"{key} {percentile(v, 0.99):.1f}" for key, v in steps.items())
        )
        for error in r.errors[:5]:
            print(f"{'':9} failed: {error}")
    if args.repeat > 1:
        pooled(rounds, "AMI clock", lambda r: r.latency_ms)
        if args.channel_clock:
            pooled(rounds, "channel clock", lambda r: r.channel_ms)


def pooled(rounds: list[Round], clock: str, ms_of: Callable[[Round], list[float]]) -> None:
    """Each size's rounds taken together: p99 over all their steps, and the pairs' spread."""
    print()
    print(f"pooled, {clock}:")
    print(
        f"{'pooled':9} {'calls':>5} {'rounds':>6} {'done':>5} {'fail':>4} {'samples':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7}  p99 ratio (pooled; per pair min / median / max)"
    )
    present = [v for v in FLOOR_VARIANTS if any(r.variant == v for r in rounds)]
    for size in sorted({r.calls for r in rounds}):
        of = {v: [r for r in rounds if r.calls == size and r.variant == v] for v in present}
        p99: dict[str, float] = {}
        for variant, mine in of.items():
            values = [ms for r in mine for ms in ms_of(r)]
            p99[variant] = percentile(values, 0.99)
            ratio = ""
            if variant != "dialplan" and p99["dialplan"]:
                pairs = sorted(
                    percentile(ms_of(f), 0.99) / percentile(ms_of(d), 0.99)
                    for d, f in zip(of["dialplan"], mine, strict=True)
                )
                ratio = (
                    f"{p99[variant] / p99['dialplan']:.2f}x; {pairs[0]:.2f}x / "
                    f"{statistics.median(pairs):.2f}x / {pairs[-1]:.2f}x"
                )
                if variant == "fastagi" and p99.get("bare"):
                    ratio += f"; {p99[variant] / p99['bare']:.2f}x the bare server's"
            print(
                f"{variant:9} {size:5} {len(mine):6} {sum(r.completed for r in mine):5} "
                f"{sum(r.failed for r in mine):4} {len(values):7} "
                f"{percentile(values, 0.5):7.1f} {p99[variant]:7.1f}  {ratio}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--calls", default="20,100,200", type=lambda s: [int(n) for n in s.split(",")]
    )
    parser.add_argument("--rate", type=float, default=20.0, help="calls originated per second")
    parser.add_argument("--warmup", type=int, default=5, help="unreported calls first (0: none)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of each variant per size, alternating"
    )
    parser.add_argument("--database-url", default="", help="empty: SQLite in the data dir")
    parser.add_argument("--profile", help="write a py-spy profile of the server here")
    parser.add_argument(
        "--server-nice",
        type=int,
        default=0,
        help="run desbumi agi at this nice value (e.g. -5, as Asterisk itself runs with -p)",
    )
    parser.add_argument(
        "--asterisk-highpriority",
        action="store_true",
        help="Asterisk with -p, real-time SCHED_RR 10, as Debian's asterisk.service runs it",
    )
    parser.add_argument(
        "--channel-clock",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time each step from Asterisk's log, in the channel's own thread",
    )
    parser.add_argument("--pin-asterisk", default="", help="CPU list for Asterisk (taskset)")
    parser.add_argument(
        "--pin-server", default="", help="CPU list for desbumi agi (not its helper process)"
    )
    parser.add_argument(
        "--server-realtime",
        type=int,
        default=0,
        help="DESBUMI_AGI__REALTIME_PRIORITY for desbumi agi (11: above Asterisk's -p)",
    )
    parser.add_argument(
        "--gc-interval",
        type=float,
        default=1.0,
        help="DESBUMI_AGI__GC_INTERVAL_S for desbumi agi (0: Python's automatic collector)",
    )
    parser.add_argument(
        "--cpu-latency",
        type=int,
        default=-1,
        help="hold /dev/cpu_dma_latency at this many us for the run (0: idle cores poll)",
    )
    parser.add_argument(
        "--loop-stalls",
        action="store_true",
        help="count the server's event-loop callbacks longer than 0.3 ms, by where they "
        "stopped (bench/loop_stalls/), and print the top places",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also run the calls through bench/bare_fastagi.py, a FastAGI server that does "
        "nothing but the flow: what the protocol itself costs",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("hotline_load: needs root (the Asterisk sandbox is a chroot)")
    print("loadavg before:", Path("/proc/loadavg").read_text().strip(), flush=True)
    wakeups = "one wake-up round trip between two processes every 20 ms: " + wakeup_figures()
    if args.cpu_latency >= 0:
        # Held until this process exits: the kernel ends the request with the descriptor.
        held = os.open("/dev/cpu_dma_latency", os.O_WRONLY | os.O_CLOEXEC)
        os.write(held, struct.pack("=i", args.cpu_latency))
        wakeups += f"; with the CPU latency request at {args.cpu_latency} us: " + wakeup_figures()
    print(wakeups, flush=True)
    work = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    # The sandbox names its folder in the chroot after this one: unique per run.
    sandbox = Sandbox(work / f"bench{os.getpid()}", free_port(), free_port(), free_port())
    sandbox.start(args.asterisk_highpriority)
    rounds: list[Round] = []
    stopped = ""
    try:
        if args.pin_asterisk:
            pin(sandbox.pid, args.pin_asterisk)
        site = prepare(args, sandbox)
        profile = Path(args.profile) if args.profile else None
        stalls = work / "loop-stalls.txt"
        server_environment = dict(site.environment)
        if args.loop_stalls:
            path = os.pathsep.join(filter(None, [str(LOOP_STALLS), os.environ.get("PYTHONPATH")]))
            server_environment.update(PYTHONPATH=path, BENCH_LOOP_STALLS=str(stalls))
        with ExitStack() as servers:
            pid = servers.enter_context(
                agi_server(server_environment, work / "agi.log", profile, args.server_nice)
            )
            pids = {"fastagi": pid}
            if args.floor:
                pids["bare"] = servers.enter_context(
                    bare_server(site, work / "bare.log", args.server_realtime)
                )
            for server in pids.values():
                if args.pin_server:
                    pin(server, args.pin_server)
            asyncio.run(bench(args, sandbox, site, pids, rounds))
    except KeyboardInterrupt:
        # Ctrl-C: the server and Asterisk are stopped (below and by agi_server) either way.
        sys.exit(f"hotline_load: interrupted, nothing measured is reported (logs in {work})")
    except (TimeoutError, ConnectionError, RuntimeError) as exc:
        # Asterisk stopped answering: what was measured before is still reported, pairs only.
        stopped = str(exc) or type(exc).__name__
        # Asterisk's own log goes with the sandbox: keep it for finding out why.
        if (sandbox.inner / "log").is_dir():
            shutil.copytree(sandbox.inner / "log", work / "asterisk-log", dirs_exist_ok=True)
        # Only whole groups of rounds (a dialplan round and what it is compared with).
        while rounds and rounds[-1].variant != "fastagi":
            rounds.pop()
    finally:
        sandbox.stop()
    report(rounds, args, wakeups)
    if args.loop_stalls:
        print()
        print("desbumi agi's event-loop callbacks over 0.3 ms (whole run), by where they stopped:")
        lines = stalls.read_text().splitlines() if stalls.exists() else ["(none written)"]
        print("\n".join(lines[:8]))
    print(f"(logs in {work})")
    if stopped:
        sys.exit(f"hotline_load: stopped early, after {len(rounds)} rounds: {stopped}")
    shutil.rmtree(sandbox.directory, ignore_errors=True)


if __name__ == "__main__":
    main()
