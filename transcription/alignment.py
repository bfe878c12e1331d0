"""Carry the machine's word timings over to a case worker's corrected transcript. Pure.

A corrected transcript is what triage reads once it exists, but the evidence it finds is
only useful on the case page if it still points at a moment in the audio ("click to
seek"). Words the case worker kept are matched to the recogniser's words in order; a
word she typed or changed gets the time between its matched neighbours. Every word of a
correction has full confidence: a person wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from difflib import SequenceMatcher
from typing import Any

from transcription.triage import TranscriptWord


def _fold(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())


def align_correction(
    corrected_text: str, machine_words: Sequence[Mapping[str, Any]]
) -> list[TranscriptWord]:
    """The corrected text as timed words, or ``[]`` when there are no machine timings.

    ``machine_words`` are the stored recogniser words (``word``, ``start``, ``end``,
    ``conf``). Matched words keep their own times; the rest share the gap between the
    nearest matched words before and after them (or the edges of the audio).
    """
    typed = corrected_text.split()
    if not typed or not machine_words:
        return []
    heard = [_fold(str(w["word"])) for w in machine_words]
    times: list[tuple[float, float] | None] = [None] * len(typed)
    matcher = SequenceMatcher(a=[_fold(w) for w in typed], b=heard, autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            word = machine_words[block.b + k]
            times[block.a + k] = (float(word["start"]), float(word["end"]))
    audio_start = float(machine_words[0]["start"])
    audio_end = float(machine_words[-1]["end"])
    result: list[TranscriptWord] = []
    i = 0
    while i < len(typed):
        known = times[i]
        if known is not None:
            result.append(TranscriptWord(typed[i], known[0], known[1], 1.0))
            i += 1
            continue
        # A run of unmatched words: spread them over the gap they stand in.
        j = i
        while j < len(typed) and times[j] is None:
            j += 1
        previous = times[i - 1] if i > 0 else None
        before = previous[1] if previous is not None else audio_start
        after_time = times[j] if j < len(typed) else None
        after = after_time[0] if after_time is not None else audio_end
        after = max(after, before)
        step = (after - before) / (j - i)
        for k in range(i, j):
            start = before + (k - i) * step
            result.append(TranscriptWord(typed[k], round(start, 2), round(start + step, 2), 1.0))
        i = j
    return result
