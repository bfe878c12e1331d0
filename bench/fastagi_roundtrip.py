"""Benchmark: the FastAGI server's own part of a step, without Asterisk.

A fake Asterisk in this process opens ``--calls`` FastAGI sessions to a real ``desbumi agi``
(the shipped menu and prompts, SQLite in a temporary data directory) and answers every
command at once; each prompt "plays" for 0.3 to 1.5 s, then the caller presses 0 (repeat).
Latency is from writing the reply that carries the key to reading the next STREAM FILE or
GET DATA: the server's parsing, menu engine and write, and its wake-ups, nothing of
Asterisk's. The baseline, in the same run, is a bare asyncio server in its own process
that answers every reply with the next STREAM FILE and does nothing else: the floor of a
Python process's round trip on this machine. Compare both with ``bench/hotline_load.py``'s
"in the server" figure to see how much of a step is Python and how much waiting for a core.

    .venv/bin/python bench/fastagi_roundtrip.py [--calls 200] [--seconds 15]

Prints one line per round; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DESBUMI = REPO / ".venv" / "bin" / "desbumi"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(data: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DESBUMI_DATA_DIR": str(data),
        "DESBUMI_SECRET_KEY": secrets.token_urlsafe(32),
        "DESBUMI_AGI__PORT": str(port),
        "DESBUMI_DATABASE__URL": f"sqlite:///{data}/desbumi.db",
        "DESBUMI_LOG_LEVEL": "INFO",
    }


async def caller(number: int, port: int, seconds: float, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    env = {
        "network": "yes",
        "network_script": "ivr",
        "request": "agi://127.0.0.1/ivr",
        "channel": f"PJSIP/bench-{number}",
        "uniqueid": f"{time.time():.6f}.{number}",
        "callerid": f"0812{number:07d}",
        "language": "id",
    }
    writer.write(("".join(f"agi_{k}: {v}\n" for k, v in env.items()) + "\n").encode())
    end = time.monotonic() + seconds
    sent: float | None = None
    while True:
        line = await reader.readline()
        if not line:
            break
        command = line.decode().strip()
        if sent is not None and command.startswith(("STREAM FILE", "GET DATA")):
            latencies.append(time.monotonic() - sent)
        if time.monotonic() > end:
            writer.write(b"HANGUP\n200 result=-1\n")
            await writer.drain()
            break
        sent = None
        if command.startswith(("STREAM FILE", "WAIT FOR DIGIT", "GET DATA")):
            await asyncio.sleep(random.uniform(0.3, 1.5))  # the prompt plays
            reply = b"200 result=0\n" if command.startswith("GET DATA") else b"200 result=48\n"
            writer.write(reply)
            sent = time.monotonic()
        elif command.startswith("CHANNEL STATUS"):
            writer.write(b"200 result=6\n")
        else:
            writer.write(b"200 result=0\n")
        await writer.drain()
    writer.close()


BARE_SERVER = """
import asyncio, sys

async def call(reader, writer):
    while (await reader.readline()).strip():
        pass  # the AGI environment
    while True:
        writer.write(b'STREAM FILE main-menu "0123456789*#"\\n')
        await writer.drain()
        line = await reader.readline()
        if not line or line.startswith(b"HANGUP"):
            break
    writer.close()

async def main():
    server = await asyncio.start_server(call, "127.0.0.1", int(sys.argv[1]))
    print("prompts ready", flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(command: list[str], env: dict[str, str], log: Path, calls: int, seconds: float) -> str:
    """One round against the server ``command`` starts; its figures as one line."""
    port = int(env["DESBUMI_AGI__PORT"])
    with log.open("w") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=out)
    try:
        for _ in range(600):
            if "prompts ready" in log.read_text() or server.poll() is not None:
                break
            time.sleep(0.5)
        if server.poll() is not None:
            raise SystemExit(f"{command[-1]} exited: {log.read_text()[-2000:]}")
        latencies: list[float] = []

        async def everyone() -> None:
            await asyncio.gather(*(caller(n, port, seconds, latencies) for n in range(calls)))

        before = cpu_seconds(server.pid)
        asyncio.run(everyone())
        cpu = cpu_seconds(server.pid) - before
    finally:
        server.terminate()
        server.wait(30)
    ms = sorted(x * 1000 for x in latencies)
    if not ms:
        raise SystemExit(f"no steps measured: see {log}")

    def at(share: float) -> float:
        return ms[min(len(ms) - 1, int(share * len(ms)))]

    return (
        f"{calls} calls, {len(ms)} steps in {seconds:.0f} s: p50 {at(0.5):.2f} ms, "
        f"p90 {at(0.9):.2f} ms, p99 {at(0.99):.2f} ms, max {ms[-1]:.1f} ms; "
        f"server CPU {cpu / seconds:.0%} of a core; loadavg {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fastagi-bench-") as folder:
        data = Path(folder)
        env = environment(data, free_port())
        subprocess.run([str(DESBUMI), "init"], env=env, check=True, stdout=subprocess.DEVNULL)
        bare = [sys.executable, "-c", BARE_SERVER, env["DESBUMI_AGI__PORT"]]
        print(
            "baseline, bare asyncio:",
            measure(bare, env, data / "bare.log", args.calls, args.seconds),
            flush=True,
        )
        print(
            "desbumi agi:           ",
            measure([str(DESBUMI), "agi"], env, data / "agi.log", args.calls, args.seconds),
        )


if __name__ == "__main__":
    main()
