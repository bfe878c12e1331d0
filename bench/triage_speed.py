"""Benchmark: triage speed on one core (target: at least 2,000 transcripts per second).

Runs the labelled transcripts (tests/data/triage/labelled.yaml) through triage() many times
in one process, then rambling reports made of consecutive transcripts joined to at least
80 words; as the same-run baseline, the cheapest possible keyword spotter: lowercase the
text and test one phrase per lexicon pattern with ``in`` (no stemming, negation, gaps or
evidence).

    .venv/bin/python bench/triage_speed.py [--rounds 100]

Rates are per second of the process's CPU time, so that other work on a shared machine
does not count against triage; the wall-clock rates are printed beside them.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transcription.lexicon import Slot  # noqa: E402
from transcription.triage import load_lexicon, triage  # noqa: E402


def _word(slot: Slot) -> str:
    """One word a slot stands for, for the substring baseline."""
    words = slot.stems | slot.exact | slot.passive | slot.active
    return min(words) if words else str(slot.numbers[0][0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    items = yaml.safe_load((ROOT / "tests/data/triage/labelled.yaml").read_text())["items"]
    texts = [(item["text"], item["lang"]) for item in items]
    words = sum(len(text.split()) for text, _ in texts) / len(texts)
    lexicon = load_lexicon("id")
    phrases = [" ".join(_word(slot) for slot in p.slots) for p in lexicon.patterns]
    for text, language in texts:  # warm the caches, as a running worker has them
        triage(text, language=language)

    def baseline_run() -> None:
        for text, _language in texts:
            lowered = text.lower()
            [phrase for phrase in phrases if phrase in lowered]

    # Rambling reports: consecutive transcripts joined until each is at least 80 words.
    long_texts: list[tuple[str, str]] = []
    joined: list[str] = []
    for text, _language in texts:
        joined.append(text)
        if sum(len(t.split()) for t in joined) >= 80:
            long_texts.append((" ".join(joined), "id"))
            joined = []
    long_words = sum(len(t.split()) for t, _ in long_texts) / len(long_texts)
    baseline = _rates(baseline_run, len(texts), args.rounds)
    rate = _rates(lambda: _triage_all(texts), len(texts), args.rounds)
    long_rate = _rates(lambda: _triage_all(long_texts), len(long_texts), args.rounds)
    print(f"{len(texts)} transcripts (mean {words:.0f} words) x {args.rounds} rounds, one core")
    print("rates per second of this process's CPU time (wall clock in brackets: it also")
    print("counts the time other programs on the machine took the core)")
    print(f"baseline, substring search of {len(phrases)} phrases: {_show(baseline)} transcripts/s")
    print(
        f"triage (stems, negation, evidence, urgency):   {_show(rate)} transcripts/s "
        f"({rate[0] / baseline[0]:.2f}x baseline)"
    )
    print(f"triage of rambling reports (mean {long_words:.0f} words): {_show(long_rate)} per s")


def _triage_all(texts: list[tuple[str, str]]) -> None:
    for text, language in texts:
        triage(text, language=language)


def _rates(run: Callable[[], None], count: int, rounds: int) -> tuple[float, float]:
    """Transcripts per second of CPU time and of wall-clock time over ``rounds`` runs."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(rounds):
        run()
    done = rounds * count
    return done / (time.process_time() - cpu), done / (time.perf_counter() - wall)


def _show(rate: tuple[float, float]) -> str:
    return f"{rate[0]:,.0f} ({rate[1]:,.0f})"


if __name__ == "__main__":
    main()
