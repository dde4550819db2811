"""How much of a job's requirement a piece of text shows, for any field.

A requirement that names vocabulary terms (tools, skills, practices) is shown by those terms,
in any of their spellings. One that names none ("Prepare the annual budget and rolling
forecasts") is shown by its own words: the share of its content words the text has (in any
tense or number, by Snowball stems) and the share of its two-word phrases ("rolling
forecasts", "user research"), which tell a field's work from a chance shared word. Words that
say nothing about the work (function words, the words every job advertisement uses) are not
counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from server.agent.engines.vocabulary import find_terms, keyword_in
from server.agent.verifier.lexicon import FUNCTION_WORDS
from server.agent.verifier.text import stem

# Words of job advertisements that do not tell one kind of work from another.
_AD_WORDS = frozenset(
    """
    experience experienced years year strong good great excellent solid proven ability able
    skills skill knowledge understanding working work hands-on familiarity comfort
    comfortable preferred bonus ideally nice required requirement desired minimum least
    degree bachelor bachelors master masters related field equivalent similar relevant
    team teams role position candidate candidates environment opportunity etc
    one two three four five six seven eight nine ten several various multiple
    advantage considered fluent written verbal communication daily track record
    professional deep expert expertise proficiency proficient advanced basic grasp sound
    fluency e.g i.e
    """.split()
)
# A word, or punctuation that ends a phrase.
# (A hyphen joins words into a phrase: "large-scale" is "large scale".)
_TOKEN = re.compile(r"[^\W_][\w'’&+#.]*[\w+#]|[^\W_]|[,;:()\[\]/|•!?]|\.(?!\w)")
# A requirement met by any one of the terms it lists ("Java, C++ or Python").
_ANY_OF = re.compile(r"\b(?:or|one of|either|any of|such as|e\.g\.)(?!\w)", re.IGNORECASE)
# A phrase's words are compared as stems, so "rolling forecast" shows "rolling forecasts".
_WORDS_SHARE = 0.5


@dataclass(frozen=True)
class Words:
    """A text as content-word stems and two-word phrases of them."""

    stems: frozenset[str]
    phrases: frozenset[tuple[str, str]]


def _stem_sequence(text: str) -> list[str | None]:
    """The text's words as stems, None where a word that says nothing breaks a phrase."""
    sequence: list[str | None] = []
    for raw in _TOKEN.findall(text.lower()):
        word = raw.replace("’", "'").strip("'.-")
        word = word[:-2] if word.endswith("'s") else word
        if (
            len(word) < 2
            or not re.search(r"[^\W\d_]", word)
            or word in FUNCTION_WORDS
            or word in _AD_WORDS
        ):
            sequence.append(None)
        else:
            sequence.append(stem(word))
    return sequence


@lru_cache(maxsize=8192)
def words_of(text: str) -> Words:
    """The content stems and two-word phrases of a text (cached: lines are asked often)."""
    sequence = _stem_sequence(text)
    stems = frozenset(s for s in sequence if s)
    phrases = frozenset((a, b) for a, b in zip(sequence, sequence[1:], strict=False) if a and b)
    return Words(stems, phrases)


def merged(texts: list[str]) -> Words:
    """The words of several texts taken together (phrases never span two texts)."""
    stems: set[str] = set()
    phrases: set[tuple[str, str]] = set()
    for text in texts:
        words = words_of(text)
        stems |= words.stems
        phrases |= words.phrases
    return Words(frozenset(stems), frozenset(phrases))


def measurable(requirement: dict[str, Any]) -> bool:
    """Whether a requirement has anything a text can show: terms or content words."""
    return bool(requirement.get("keywords")) or bool(words_of(str(requirement["text"])).stems)


def coverage(requirement: dict[str, Any], text: str, words: Words | None = None) -> float:
    """How much of the requirement the text shows, from 0 to 1: the share of its terms the
    text names or, for a requirement without terms, of its words and phrases.

    `words` may pass `merged(...)` of the same text, precomputed.
    """
    keywords = [str(k) for k in requirement.get("keywords") or []]
    have = words if words is not None else words_of(text)
    rest = _without_terms(str(requirement["text"]))
    if not keywords:
        return _words_shown(rest, have)
    # Each term counts as one part, and the requirement's other words together as one more
    # ("product analytics tools and basic SQL" is not met by SQL alone).
    named = sum(1 for k in keywords if keyword_in(text, k))
    if _ANY_OF.search(str(requirement["text"])):
        named, parts = min(named, 1), 1
    else:
        parts = len(keywords)
    if not words_of(rest).stems:
        return named / parts
    return (named + _words_shown(rest, have)) / (parts + 1)


def _without_terms(text: str) -> str:
    """The text with the vocabulary terms it names cut out (each cut breaks a phrase)."""
    pieces, last = [], 0
    for match in find_terms(text):
        pieces += [text[last : match.start], " , "]
        last = match.end
    return "".join([*pieces, text[last:]])


def _words_shown(text: str, have: Words) -> float:
    wanted = words_of(text)
    if not wanted.stems:
        return 0.0
    share = len(wanted.stems & have.stems) / len(wanted.stems)
    if not wanted.phrases:
        return share
    phrases = len(wanted.phrases & have.phrases) / len(wanted.phrases)
    return _WORDS_SHARE * share + (1 - _WORDS_SHARE) * phrases


def relevance(text: str, requirements: list[dict[str, Any]]) -> float:
    """How much of the job's requirements one line shows (required ones count double)."""
    return sum(
        (2 if r.get("importance") == "required" else 1) * coverage(r, text)
        for r in requirements
        if measurable(r)
    )
