"""The process that owns the pyttsx3 engine: ``python -m audio.speech_engine``.

pyttsx3 drives espeak-ng through ctypes, in the same address space as its caller: a crash
inside the C library would take the caller with it (the hotline with every call on it, the
test run with every test). So the engine lives in a child process of its own, started by
:mod:`audio.tts`, which restarts it when it dies. One request at a time, JSON lines:
``{"text": ..., "voice": ..., "out": ...}`` on stdin, ``{"ok": true}`` or
``{"error": "..."}`` on the original stdout; end of stdin ends the process. The warm-up
file goes into the folder named by ``DESBUMI_TTS_SCRATCH`` (the parent's, which it removes
when it stops this process), else into a folder of its own removed at the end.

pyttsx3 quirks measured in ../shared/ENVIRONMENT.md, handled here:
* ``init()`` returns one engine per process and it is not thread-safe: one process, one
  thread, one engine;
* the first ``runAndWait()`` after ``init()`` returns early: a warm-up utterance first;
* several ``save_to_file`` calls before one ``runAndWait()`` write only the last file:
  one file per ``runAndWait()``;
* empty text raises inside the driver: the parent refuses it before it gets here.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

SCRATCH_VARIABLE = "DESBUMI_TTS_SCRATCH"


class _Engine:
    def __init__(self, scratch: Path) -> None:
        import pyttsx3

        self._engine: Any = pyttsx3.init("espeak")
        # The warm-up file may still be written after runAndWait() returns: its folder is
        # removed only when the process ends.
        self._engine.save_to_file("siap", str(scratch / "warm-up.wav"))
        self._engine.runAndWait()

    def speak(self, text: str, voice: str, out_wav: Path) -> None:
        self._engine.setProperty("voice", voice)
        # runAndWait() sometimes returns before the file exists: ask once more.
        for _attempt in range(2):
            self._engine.save_to_file(text, str(out_wav))
            self._engine.runAndWait()
            if out_wav.is_file() and out_wav.stat().st_size > 44:
                return
        raise RuntimeError("the TTS engine wrote no audio")


def serve(requests: TextIO, replies: TextIO, scratch: Path) -> None:
    """Answer each request line with one reply line until ``requests`` ends."""
    engine: _Engine | None = None
    for line in requests:
        try:
            request = json.loads(line)
            if engine is None:
                engine = _Engine(scratch)
            engine.speak(request["text"], request["voice"], Path(request["out"]))
            reply: dict[str, object] = {"ok": True}
        except Exception as exc:  # the process edge: report to the parent, keep serving
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def main() -> None:
    # The driver prints ("Audio saved to ...") and espeak-ng may write to fd 1 from C:
    # replies get a copy of the original stdout, fd 1 itself goes to /dev/null.
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    given = os.environ.get(SCRATCH_VARIABLE)
    scratch = Path(given) if given else Path(tempfile.mkdtemp(prefix="desbumi-tts-"))
    try:
        serve(sys.stdin, replies, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
