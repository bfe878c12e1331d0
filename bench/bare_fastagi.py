"""The floor of any FastAGI server: the benchmark's call flow and nothing else.

``python bench/bare_fastagi.py PORT PROMPTS.json RECORD_DIR [REALTIME_PRIORITY]``

Started by ``bench/hotline_load.py --floor`` as its own process, like ``desbumi agi``: it
answers Asterisk on ``PORT`` with exactly the commands the baseline dialplan runs as
applications (Background / WaitExten as STREAM FILE with every key / WAIT FOR DIGIT, Read
as GET DATA, Record as RECORD FILE, the reference number digit by digit), fixed in the
code: no menu, no database, no logging, no prompt lookup, no collector. What a FastAGI step
costs this machine over a dialplan step, measured with it, is the protocol's part (two
processes woken per key) and not desbumi's.

``PROMPTS.json`` maps prompt keys to the paths Asterisk plays; files are recorded in
``RECORD_DIR`` (as Asterisk sees it) as ``<uniqueid>.wav``. Prints "prompts ready" when it
listens. A caller who hangs up ends her task; nothing is checked beyond that.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys

KEYS = '"0123456789*#"'
REFERENCE = "482913"


class Gone(Exception):
    """The channel hung up."""


class Call:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, command: str) -> str:
        """One command; its ``result=`` value."""
        self.writer.write(command.encode() + b"\n")
        while True:
            line = await self.reader.readline()
            if not line:
                raise Gone
            if line.startswith(b"200 result="):
                value = line[len(b"200 result=") :].split(b" ", 1)[0]
                if value == b"-1":
                    raise Gone
                return value.decode()
            if not line.startswith(b"HANGUP") and line.strip():
                raise Gone  # 510/511/520: the bench calls' flow has no such reply

    async def background(self, prompt: str, wait_ms: int) -> str:
        """Background + WaitExten: a key ends the prompt, or the wait after it."""
        value = await self.send(f"STREAM FILE {prompt} {KEYS}")
        if value == "0":
            value = await self.send(f"WAIT FOR DIGIT {wait_ms}")
        return chr(int(value)) if value not in ("", "0") else ""


async def flow(call: Call, prompt: dict[str, str], record_dir: str, uniqueid: str) -> None:
    """The baseline dialplan's flow (bench/hotline_load.py, ``bench-dp``) as AGI commands."""
    await call.send("ANSWER")
    await call.background(prompt["choose-language"], 5000)
    while True:
        if await call.background(prompt["main-menu"], 6000) != "2":
            await call.send(f'STREAM FILE {prompt["invalid-choice"]} ""')
            continue
        await call.send(f'STREAM FILE {prompt["report-intro"]} ""')
        if await call.background(prompt["consent"], 6000) != "1":
            continue
        await call.background(prompt["hint-problem"], 6000)
        await call.background(prompt["hint-country"], 6000)
        await call.send(f"GET DATA {prompt['hint-village']} 6000 10")
        await call.send(f'STREAM FILE {prompt["record-now"]} ""')
        await call.send(f"RECORD FILE {record_dir}/{uniqueid} wav # 180000 0 BEEP s=6")
        await call.background(prompt["record-confirm"], 6000)
        for key in ("report-reference", "report-reference-again"):
            await call.send(f'STREAM FILE {prompt[key]} ""')
            for digit in REFERENCE:
                await call.send(f'STREAM FILE {prompt[f"digit-{digit}"]} ""')
        await call.background(prompt["report-thanks"], 6000)


async def main(port: int, prompt: dict[str, str], record_dir: str) -> None:
    gc.freeze()
    gc.disable()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        env = {}
        while line := (await reader.readline()).strip():
            key, _, value = line.decode().partition(":")
            env[key] = value.strip()
        try:
            await flow(Call(reader, writer), prompt, record_dir, env.get("agi_uniqueid", "x"))
        except (Gone, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    print("prompts ready", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) > 4 and int(sys.argv[4]):
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(int(sys.argv[4])))
    with open(sys.argv[2], encoding="utf-8") as handle:
        prompts = json.load(handle)
    asyncio.run(main(int(sys.argv[1]), prompts, sys.argv[3]))
