"""A small checker of rewritten resume lines: the ways an edit breaks a sentence that a reader
notices at once, each found by comparing the rewrite with the line it replaced."""

from __future__ import annotations

import re

from server.agent.engines.vocabulary import find_terms
from server.agent.verifier.lexicon import is_past, is_verb
from server.agent.verifier.text import stem

_WORD = re.compile(r"[A-Za-z][\w'+#.-]*[\w+#]|[A-Za-z]")
_DOUBLED = re.compile(r"\b(\w+)\s+\1\b", re.IGNORECASE)
# The same longer word twice within three words ("architecture microservices architecture").
_ECHO = re.compile(r"\b(\w{4,})\b(?:\W+\w+){0,2}?\W+\1\b", re.IGNORECASE)
_ARTICLE = re.compile(r"\b(?:a|an)\s+([A-Z][a-z][\w-]*)")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n)$")
# An adjective that ends a list item, without the noun it describes ("with event-driven and").
_BARE_ADJECTIVE = re.compile(
    r"\b[\w]+(?:-driven|-based|-oriented|-native|-facing)(?=\s*(?:[,.;]|$|\s+(?:and|or)\b))",
    re.IGNORECASE,
)


def _lower_case_stems(text: str) -> set[str]:
    """The stems of the words a text writes in lower case ("cache" and "caching" alike)."""
    return {stem(w) for w in _WORD.findall(text) if w.islower()}


def _has_verb(text: str) -> bool:
    return any(is_verb(w) or (is_past(w) and len(w) > 4) for w in _WORD.findall(text))


def problems(before: str, after: str, *, source: str = "") -> list[str]:
    """What reads wrong in `after`, a rewrite of `before`; `source` is all the person's own
    material (the names a rewrite may spell)."""
    found = []
    lower = _lower_case_stems(before)
    for match in _DOUBLED.finditer(after):
        if not _DOUBLED.search(before) or match.group(0) not in before:
            found.append(f"doubled word: {match.group(0)!r}")
    for match in _ECHO.finditer(after):
        if match.group(0) not in before:
            found.append(f"a word repeated within three words: {match.group(0)!r}")
    for match in _ARTICLE.finditer(after):
        if stem(match.group(1).lower()) in lower:
            found.append(f"an article before a common noun made a name: {match.group(0)!r}")
    for match in _WORD.finditer(after):
        word = match.group(0)
        starts_sentence = _SENTENCE_START.search(after[: match.start()]) is not None
        if word[0].isupper() and not starts_sentence and stem(word.lower()) in lower:
            if word not in before:
                found.append(f"a common noun capitalised inside a sentence: {word!r}")
    bare_before = [m.group(0).lower() for m in _BARE_ADJECTIVE.finditer(before)]
    for match in _BARE_ADJECTIVE.finditer(after):
        if match.group(0).lower() in bare_before:
            bare_before.remove(match.group(0).lower())
        else:
            found.append(f"an adjective without its noun: {match.group(0)!r}")
    if _has_verb(before) and not _has_verb(after):
        found.append("the sentence lost its verb")
    material = f"{before}\n{source}"
    for term in find_terms(after):
        if not term.related and term.text not in material:
            found.append(f"names {term.text!r}, which the person's material never spells so")
    return found
