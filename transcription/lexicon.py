"""Triage lexicons: the pattern language, their loading, and the text they match on. Pure.

A lexicon (``transcription/lexicons/<lang>.yaml``) maps each indicator to patterns. A
pattern is a sequence of slots that must appear in order, each within ``GAP`` words of
the previous one. A slot is alternatives joined by ``|``:

- ``pukul``: any word with that stem ("dipukul", "mukulin", "pukulan");
- ``=pulang``: exactly that word, not a stem of it;
- ``di:hubung``: the stem in the passive ("dihubungi", "di hubungi", "ditelpon"), and
  ``me:hubung`` the stem not in the passive ("menghubungi", "nelpon", "hubungi");
- ``n:11-17``: a number in that range, in digits or words ("tujuh belas", "limolas",
  "seventeen" are 17).

A ``~`` between two slots lets the next one come up to ``LONG_GAP`` words later, across
contrast words ("dijanjikan ... ternyata"); ``~6`` lets it come up to six words later.
``vetoes`` are patterns that, near a match of the same indicator, cancel it ("paspor
saya pegang sendiri" is not retention); one that starts with ``always`` is a word sense
that no negation cancels ("tidak mau bayar biaya" is about costs, not wages).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Any, NamedTuple

import yaml

from transcription.numbers import may_be_number


class Indicator(StrEnum):
    # ILO forced-labour indicators (physical and sexual violence are kept apart, because
    # they lead to different referrals).
    abuse_of_vulnerability = "abuse_of_vulnerability"
    deception = "deception"
    restriction_of_movement = "restriction_of_movement"
    isolation = "isolation"
    physical_violence = "physical_violence"
    sexual_violence = "sexual_violence"
    intimidation_threats = "intimidation_threats"
    retention_of_documents = "retention_of_documents"
    withholding_of_wages = "withholding_of_wages"
    debt_bondage = "debt_bondage"
    abusive_conditions = "abusive_conditions"
    excessive_overtime = "excessive_overtime"
    # Trafficking and migration flags.
    undocumented_departure = "undocumented_departure"
    forged_documents = "forged_documents"
    contract_substitution = "contract_substitution"
    underage = "underage"
    # Needs.
    need_medical = "need_medical"
    need_legal_aid = "need_legal_aid"
    need_repatriation = "need_repatriation"
    need_family_contact = "need_family_contact"


GAP = 3  # words allowed between two parts of a pattern
LONG_GAP = 12  # after "~"
NEGATED_GAP = 2  # after a negation slot: "belum juga di bayar", not "belum lunas jadi gaji"
ALWAYS_ACTIVE = ("id", "en")

# Indonesian, Javanese and Sundanese suffixes, and English ones for the English mixed in.
_SUFFIXES = (
    "nipun",
    "ipun",
    "aken",
    "keun",
    "nya",
    "lah",
    "kah",
    "pun",
    "kan",
    "ake",
    "ke",
    "ane",
    "ne",
    "na",
    "an",
    "in",
    "en",
    "ku",
    "mu",
    "i",
    "e",
    "ing",
    "ied",
    "ed",
    "es",
    "s",
)
# (prefix, what the nasal replaced): "memukul" -> "pukul", "nendang" -> "tendang",
# "nyekel" -> "cekel", Javanese krama "dipun" + root.
_PREFIXES = (
    ("dipun", ""),
    ("meny", "s"),
    ("peny", "s"),
    ("meng", "k"),
    ("peng", "k"),
    ("meng", ""),
    ("peng", ""),
    ("mem", "p"),
    ("pem", "p"),
    ("mem", ""),
    ("pem", ""),
    ("men", "t"),
    ("pen", "t"),
    ("men", ""),
    ("pen", ""),
    ("me", ""),
    ("pe", ""),
    ("di", ""),
    ("ter", ""),
    ("per", ""),
    ("ke", ""),
    ("ka", ""),
    ("se", ""),
    ("ber", ""),
    ("be", ""),
    ("nga", ""),
    ("nge", ""),
    ("ng", "k"),
    ("ng", ""),
    ("ny", "s"),
    ("ny", "c"),
    ("m", "p"),
    ("m", ""),
    ("n", "t"),
    ("n", ""),
)
_PASSIVE_PREFIXES = ("di", "ke", "ter", "ka")
# Words whose "stems" are other words: "sebelum" (before) is not "belum" (not yet).
_UNSTEMMED = frozenset({"sebelum", "sebelumnya", "setelah", "selama", "semua", "sekali"})
_HONG_KONG = re.compile(r"hong\s*kong")
_STRETCHED = re.compile(r"([a-z])\1{2,}")
_WORD = re.compile(r"[a-z_]+|[0-9]+")
# What a recogniser splits in two: "pas port", "hand phone".
_SPLIT_WORDS = re.compile(r"\b(pas+\s+(?:port|por|pot|for)|hand\s+phone|hand\s+pone|hen\s+pon)\b")
_NUMBER_OF = re.compile(
    r"\bno\.?\s+(?=(hp|wa|telp|tlp|telepon|rek|rekening|ktp|paspor|passport)\b)"
)


@dataclass(frozen=True)
class Slot:
    stems: frozenset[str]
    exact: frozenset[str] = frozenset()
    passive: frozenset[str] = frozenset()
    active: frozenset[str] = frozenset()
    numbers: tuple[tuple[int, int], ...] = ()
    gap: int = GAP  # words allowed between the previous slot and this one
    # Which words fill it, as a number shared by every slot of the same alternatives
    # (set by the lexicon).
    matcher: int = -1

    @property
    def alternatives(self) -> tuple[frozenset[str], ...]:
        return (self.stems, self.exact, self.passive, self.active)


# Compared and hashed by identity: patterns are gathered in sets on every transcript.
@dataclass(frozen=True, eq=False)
class Pattern:
    indicator: Indicator
    slots: tuple[Slot, ...]
    # A pattern that says the negation itself ("tidak boleh keluar") is not cancelled by it.
    has_negation: bool
    has_irrealis: bool
    # "~" in it: a long pattern that bridges contrast words on purpose.
    bridges: bool
    text: str
    # A veto cancels matches of its indicator near it instead of showing one.
    veto: bool = False
    # The matchers of its slots, all of which a transcript must have, and the slot it is
    # looked up and anchored by, its least common (both set by the lexicon).
    needs: frozenset[int] = frozenset()
    anchor: int = 0


_PLAIN, _PASSIVE, _ACTIVE = 0, 1, 2


# What a word does to the matches around it (bits of _Reading.role).
NEGATION, CONTRAST, IRREALIS, CLAUSE_STOP = 1, 2, 4, 8
# Where a negation's reach ends: "tidak punya paspor karena dibawa mandor".
NEGATION_STOPS = frozenset(
    {"dan", "terus", "trus", "lalu", "tapi", "and", "then", "but", "lan"}
    | {"karena", "sebab", "because", "jadi", "sehingga", "so"}
)


class _Reading(NamedTuple):
    active: tuple[int, ...]  # matchers it fills when not passive
    passive: tuple[int, ...]  # ... and when it is
    passive_form: bool
    makes_passive: bool
    may_be_number: bool
    role: int  # NEGATION | CONTRAST | IRREALIS | CLAUSE_STOP


@dataclass
class Lexicon:
    synonyms: dict[str, str] = field(default_factory=dict)
    negations: frozenset[str] = frozenset()
    contrastives: frozenset[str] = frozenset()
    # Words that make what follows not (yet) true: "tidak akan bayar gaji" is a threat.
    irrealis: frozenset[str] = frozenset()
    patterns: list[Pattern] = field(default_factory=list)
    vetoes: list[Pattern] = field(default_factory=list)
    # Matcher -> the patterns and vetoes looked up by it (each by its least common one).
    index: dict[int, list[Pattern]] = field(default_factory=dict, repr=False)
    index_keys: frozenset[int] = field(default_factory=frozenset, repr=False)
    # Stem or "=word" -> the (matcher, voice) pairs it fills; numbers' matchers.
    _fills: dict[str, list[tuple[int, int]]] = field(default_factory=dict, repr=False)
    _numbers: list[tuple[int, tuple[tuple[int, int], ...]]] = field(
        default_factory=list, repr=False
    )
    _readings: dict[str, _Reading] = field(default_factory=dict, repr=False)
    _number_cache: dict[int, frozenset[int]] = field(default_factory=dict, repr=False)

    def read(self, token: str) -> _Reading:
        """What the token is to the matcher: the matchers it fills when it is not passive
        and when it is, whether it is a passive form itself ("dihubungi"), whether it makes
        the next one passive ("di hubungi"), and whether a number may start at it.

        Its stems are also read in their mapped spelling ("ditelpon" -> "telepon"). Cached.
        """
        known = self._readings.get(token)
        if known is None:
            found = stems(token)
            found = found | {self.synonyms[s] for s in found if s in self.synonyms}
            voiced: tuple[set[int], set[int], set[int]] = (set(), set(), set())
            for key in (*found, "=" + token):
                for matcher, voice in self._fills.get(key, ()):
                    voiced[voice].add(matcher)
            plain, passive, active = voiced
            known = _Reading(
                tuple(plain | active),
                tuple(plain | passive),
                token.startswith(_PASSIVE_PREFIXES) and len(token) >= 5,
                token in ("di", "dipun"),
                may_be_number(token),
                (NEGATION if token in self.negations else 0)
                | (CONTRAST if token in self.contrastives else 0)
                | (IRREALIS if token in self.irrealis else 0)
                | (CLAUSE_STOP if token in NEGATION_STOPS else 0),
            )
            if len(self._readings) < 65536:
                self._readings[token] = known
        return known

    def number_matchers(self, value: int) -> frozenset[int]:
        """The matchers a spoken number of ``value`` fills ("n:11-17")."""
        known = self._number_cache.get(value)
        if known is None:
            known = frozenset(
                matcher
                for matcher, ranges in self._numbers
                if any(low <= value <= high for low, high in ranges)
            )
            if len(self._number_cache) < 4096:
                self._number_cache[value] = known
        return known

    def merge(self, other: Lexicon) -> Lexicon:
        merged = Lexicon(
            {**other.synonyms, **self.synonyms},
            self.negations | other.negations,
            self.contrastives | other.contrastives,
            self.irrealis | other.irrealis,
            [*self.patterns, *other.patterns],
            [*self.vetoes, *other.vetoes],
        )
        merged.build_index()
        return merged

    def build_index(self) -> None:
        # One matcher per distinct set of alternatives ("tidak|belum" is in dozens of
        # rules), so what a transcript says about it is worked out once.
        matchers: dict[tuple[Any, ...], int] = {}
        rules: list[Pattern] = []
        for rule in (*self.patterns, *self.vetoes):
            slots = tuple(
                replace(
                    slot,
                    matcher=matchers.setdefault((*slot.alternatives, slot.numbers), len(matchers)),
                )
                for slot in rule.slots
            )
            rules.append(
                replace(rule, slots=slots, needs=frozenset(slot.matcher for slot in slots))
            )
        self._fills, self._numbers = {}, []
        for (plain, exact, passive, active, numbers), matcher in matchers.items():
            for voice, keys in (
                (_PLAIN, plain),
                (_PLAIN, {"=" + word for word in exact}),
                (_PASSIVE, passive),
                (_ACTIVE, active),
            ):
                for key in keys:
                    self._fills.setdefault(key, []).append((matcher, voice))
            if numbers:
                self._numbers.append((matcher, numbers))
        # Each rule is looked up by the matcher fewest others share keys with: "bayar",
        # not "tidak" or "saya", which would bring most rules up on every transcript.
        uses = Counter(key for key, fills in self._fills.items() for _ in fills)
        cost = {
            matcher: max(
                (uses[k] for k in (*plain, *passive, *active, *("=" + w for w in exact))),
                default=len(matchers),
            )
            for (plain, exact, passive, active, _), matcher in matchers.items()
        }
        self.index = {}
        for number, rule in enumerate(rules):
            costs = [cost[slot.matcher] for slot in rule.slots]
            anchor = costs.index(min(costs))
            rules[number] = rule = replace(rule, anchor=anchor)
            self.index.setdefault(rule.slots[anchor].matcher, []).append(rule)
        self.patterns = rules[: len(self.patterns)]
        self.vetoes = rules[len(self.patterns) :]
        self.index_keys = frozenset(self.index)
        self._readings, self._number_cache = {}, {}


def _parse_slot(alternatives: list[str], gap: int) -> Slot:
    stems: set[str] = set()
    exact: set[str] = set()
    passive: set[str] = set()
    active: set[str] = set()
    numbers: list[tuple[int, int]] = []
    for alt in alternatives:
        if alt.startswith("="):
            exact.add(alt[1:])
        elif alt.startswith("di:"):
            passive.add(alt[3:])
        elif alt.startswith("me:"):
            active.add(alt[3:])
        elif alt.startswith("n:"):
            low, _, high = alt[2:].partition("-")
            numbers.append((int(low), int(high or low)))
        else:
            stems.add(alt)
    return Slot(
        frozenset(stems),
        frozenset(exact),
        frozenset(passive),
        frozenset(active),
        tuple(numbers),
        gap,
    )


def _parse_pattern(indicator: str, text: str, lexicon: Lexicon, *, veto: bool) -> Pattern:
    slots: list[Slot] = []
    gap: int | None = None  # set by "~" or "~N" before a slot
    after_negation = False
    words = str(text).split()
    # "always ...": a word sense, not a claim, so no negation cancels it ("tidak mau bayar
    # biaya" is still about costs, not wages).
    sense = bool(words) and words[0] == "always"
    words = words[1:] if sense else words
    if not words or words[0].startswith("~") or words[-1].startswith("~"):
        raise ValueError(f"bad triage pattern for {indicator}: {text!r}")
    for part in words:
        if part.startswith("~"):
            gap = int(part[1:]) if part[1:] else LONG_GAP
            continue
        alternatives = part.split("|")
        plain = {a.lstrip("=") for a in alternatives}
        if gap is None:
            gap = NEGATED_GAP if after_negation else GAP
        slots.append(_parse_slot(alternatives, gap))
        after_negation = plain <= lexicon.negations
        gap = None
    plain_words = {a.lstrip("=") for part in words for a in part.split("|")}
    return Pattern(
        Indicator(indicator),
        tuple(slots),
        sense or not plain_words.isdisjoint(lexicon.negations),
        sense or not plain_words.isdisjoint(lexicon.irrealis),
        "~" in words,
        str(text),
        veto,
    )


def _words(data: Mapping[str, Any], section: str) -> frozenset[str]:
    words = data.get(section) or []
    odd = [w for w in words if not isinstance(w, str)]
    if odd:
        # YAML reads a bare no, off or yes as a boolean: a negation list would lose "no".
        raise ValueError(f"triage lexicon {section}: {odd!r} are not words (quote them)")
    return frozenset(words)


def parse_lexicon(data: Mapping[str, Any]) -> Lexicon:
    """A lexicon from the mapping its YAML file holds. ValueError on a malformed pattern."""
    lexicon = Lexicon(
        {str(k): str(v) for k, v in (data.get("synonyms") or {}).items()},
        _words(data, "negations"),
        _words(data, "contrastives"),
        _words(data, "irrealis"),
    )
    for section, target in (("indicators", lexicon.patterns), ("vetoes", lexicon.vetoes)):
        for name, patterns in (data.get(section) or {}).items():
            target.extend(
                _parse_pattern(name, text, lexicon, veto=section == "vetoes") for text in patterns
            )
    return lexicon


class _StrictLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice (the second would silently replace the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ValueError(f"triage lexicon: {key!r} twice ({key_node.start_mark})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_lexicon(text: str) -> Lexicon:
    """A lexicon from the text of its YAML file. ValueError when it is malformed."""
    return parse_lexicon(yaml.load(text, Loader=_StrictLoader))  # noqa: S506 (a SafeLoader)


@lru_cache(maxsize=16)
def load_lexicon(language: str) -> Lexicon:
    """The lexicon for ``language`` merged with the always-active ones (cached)."""
    merged: Lexicon | None = None
    for name in dict.fromkeys((language, *ALWAYS_ACTIVE)):
        path = resources.files("transcription").joinpath("lexicons", f"{name}.yaml")
        if not path.is_file():
            continue
        lexicon = read_lexicon(path.read_text(encoding="utf-8"))
        merged = lexicon if merged is None else merged.merge(lexicon)
    if merged is None:
        raise LookupError(f"no triage lexicon for {language!r}")
    merged.build_index()
    return merged


@lru_cache(maxsize=65536)
def stems(token: str) -> frozenset[str]:
    """The token and the stems it may have ("dipukulin" -> {..., "pukul"})."""
    if token in _UNSTEMMED:
        return frozenset((token,))
    forms = {token}
    for _ in range(3):
        for form in list(forms):
            for suffix in _SUFFIXES:
                if form.endswith(suffix) and len(form) - len(suffix) >= 3:
                    bare = form[: -len(suffix)]
                    forms.add(bare)
                    if len(suffix) > 1 and bare[-1] == bare[-2]:
                        forms.add(bare[:-1])  # "slapped" -> "slap"
            for prefix, restored in _PREFIXES:
                if form.startswith(prefix) and len(form) - len(prefix) >= 3:
                    forms.add(restored + form[len(prefix) :])
    return frozenset(forms)


def tokenize(text: str, synonyms: Mapping[str, str]) -> list[str]:
    """Lowercase words without punctuation, stretched letters folded, spellings mapped."""
    text = text.lower()
    # The substitutions are rare; testing for them first is cheaper than running them.
    if "kong" in text:
        text = _HONG_KONG.sub("hong_kong", text)
    if "no " in text or "no." in text:
        text = _NUMBER_OF.sub("nomor ", text)  # "no hp" is a phone number, not a negation
    if "pas " in text or "pass " in text or "hand " in text or "hen pon" in text:
        text = _SPLIT_WORDS.sub(lambda m: "paspor" if m.group(1).startswith("pas") else "hp", text)
    get = synonyms.get
    return [get(word, word) for word in _WORD.findall(_STRETCHED.sub(r"\1", text))]
