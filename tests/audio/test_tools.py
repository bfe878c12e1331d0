"""The external audio programs, probed for real."""

from __future__ import annotations

import pytest

from audio.errors import ToolMissing
from audio.tools import probe_espeak_voice, probe_tool


def test_installed_tools_report_their_version() -> None:
    assert probe_tool("ffmpeg").startswith("ffmpeg version")
    assert "SoX" in probe_tool("sox", ("--version",))
    assert probe_espeak_voice("espeak-ng", "id") == "voice Indonesian (id)"


def test_missing_tool_says_how_to_install() -> None:
    with pytest.raises(ToolMissing, match="apt-get install"):
        probe_tool("/nonexistent/ffmpeg")


def test_tool_that_fails_is_reported() -> None:
    with pytest.raises(ToolMissing, match="exited with"):
        probe_tool("false")


def test_missing_voice() -> None:
    with pytest.raises(ToolMissing, match="no 'jv' voice"):
        probe_espeak_voice("espeak-ng", "jv")
