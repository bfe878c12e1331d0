"""The external audio programs: where they are and whether they work."""

from __future__ import annotations

import shutil
import subprocess  # noqa: S404 - fixed argument lists, never a shell

from audio.errors import ToolMissing

INSTALL_HINT = "install it: apt-get install -y ffmpeg sox espeak-ng"


def probe_tool(executable: str, version_args: tuple[str, ...] = ("-version",)) -> str:
    """Return the first line of ``executable``'s version output; raise ToolMissing."""
    path = shutil.which(executable)
    if path is None:
        raise ToolMissing(f"{executable} not found on PATH; {INSTALL_HINT}")
    try:
        done = subprocess.run(  # noqa: S603 - path from which(), constant arguments
            [path, *version_args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolMissing(f"{executable} does not run: {exc}") from None
    output = (done.stdout or done.stderr).strip()
    if done.returncode != 0 or not output:
        raise ToolMissing(f"{executable} exited with {done.returncode}; {INSTALL_HINT}")
    return output.splitlines()[0]


def probe_espeak_voice(executable: str, language: str = "id") -> str:
    """Check that espeak-ng has a voice for ``language``; returns its description."""
    probe_tool(executable, ("--version",))
    done = subprocess.run(  # noqa: S603 - constant arguments
        [executable, f"--voices={language}"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    for line in done.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 4 and fields[1] == language:
            return f"voice {fields[3]} ({fields[1]})"
    raise ToolMissing(f"{executable} has no {language!r} voice; install espeak-ng-data")
