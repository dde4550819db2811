"""Figures in text: digits, number words of any size and multipliers, with their units.

A figure is a value and a unit: "40%", "$1.1 million", "twelve engineers" (no unit), "3x",
"halved" (0.5x), "6 years", "2019" (a date). Equal values in different units are different
facts: "51%" does not support "3x", and "99%" of one thing does not support "99%" of another
(the verifier compares the words around the figure too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from server.agent.verifier.text import Token

_UNITS_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS_WORDS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALE_WORDS = {"hundred": 100, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_SCALE_SUFFIXES = {"k": 1e3, "m": 1e6, "mm": 1e6, "mn": 1e6, "b": 1e9, "bn": 1e9}
# ("second" is left out: far more often a unit of time than an ordinal.)
_ORDINALS = {
    "first": 1,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
}
# Words that multiply: "doubled" is 2x, "halved" 0.5x.
MULTIPLIER_WORDS = {
    "double": 2,
    "doubled": 2,
    "doubling": 2,
    "doubles": 2,
    "twice": 2,
    "twofold": 2,
    "triple": 3,
    "tripled": 3,
    "tripling": 3,
    "triples": 3,
    "thrice": 3,
    "threefold": 3,
    "quadruple": 4,
    "quadrupled": 4,
    "fourfold": 4,
    "fivefold": 5,
    "tenfold": 10,
    "halve": 0.5,
    "halved": 0.5,
    "halving": 0.5,
    "halves": 0.5,
}
# Words that count without a number: "dozens of teams", "hundreds of users".
QUANTITY_WORDS = {
    "dozen": 12,
    "dozens": 12,
    "hundreds": 100,
    "thousands": 1e3,
    "millions": 1e6,
    "billions": 1e9,
}
_CURRENCY_SIGNS = {"$": "$", "€": "€", "£": "£", "¥": "¥"}
_CURRENCY_WORDS = {
    "usd": "$",
    "dollars": "$",
    "dollar": "$",
    "eur": "€",
    "euros": "€",
    "euro": "€",
    "gbp": "£",
    "pounds": "£",
}
_DURATION_WORDS = {
    "year": "year",
    "years": "year",
    "yr": "year",
    "yrs": "year",
    "month": "month",
    "months": "month",
    "mo": "month",
    "week": "week",
    "weeks": "week",
    "day": "day",
    "days": "day",
    "hour": "hour",
    "hours": "hour",
    "hrs": "hour",
}
_DIGITS = re.compile(
    r"^(?P<digits>\d{1,3}(?:,\d{3})+|\d+)(?P<fraction>\.\d+)?"
    r"(?P<suffix>k|m|mm|mn|b|bn|x|st|nd|rd|th|s)?(?P<plus>\+)?$",
    re.IGNORECASE,
)
_YEAR = re.compile(r"^(?:19[5-9]\d|20[0-4]\d)$")
_YEAR_RANGE = re.compile(
    r"^(?:19|20)\d{2}[-–/](?:(?:19|20)\d{2}|present|current|now|today)$", re.IGNORECASE
)
_ISO_DATE = re.compile(r"^(?:19[5-9]\d|20[0-4]\d)-\d{1,2}(?:-\d{1,2})?$")


@dataclass(frozen=True)
class Figure:
    """A value and its unit, where it was written (token indexes, first and last)."""

    value: float
    unit: str  # "", "%", "x", "$", "€", "£", "¥", "year", "month", ..., "date", "ordinal", "many"
    first: int
    last: int
    text: str

    def same_fact(self, other: Figure) -> bool:
        """Whether two figures state the same value in the same unit."""
        if self.unit != other.unit:
            return False
        return abs(self.value - other.value) <= 1e-9 * max(1.0, abs(self.value))


def _word_number(words: list[str], i: int) -> tuple[float, int] | None:
    """The cardinal number spelled from words[i] ("two hundred and fifty", "a dozen"), and
    how many words it takes; None when words[i] starts none."""
    total, current, j, seen = 0.0, 0.0, i, False
    while j < len(words):
        word = words[j]
        following = words[j + 1] if j + 1 < len(words) else ""
        parts = word.split("-")
        if word in ("a", "an") and not seen:
            if following in _SCALE_WORDS or following == "dozen":
                current, seen, j = 1.0, True, j + 1
                continue
            return None
        if len(parts) == 2 and parts[0] in _TENS_WORDS and parts[1] in _UNITS_WORDS:
            current += _TENS_WORDS[parts[0]] + _UNITS_WORDS[parts[1]]
        elif word in _UNITS_WORDS:
            current += _UNITS_WORDS[word]
        elif word in _TENS_WORDS:
            current += _TENS_WORDS[word]
        elif word == "hundred" and seen:
            current = (current or 1.0) * 100
        elif word in _SCALE_WORDS and seen:
            total += (current or 1.0) * _SCALE_WORDS[word]
            current = 0.0
        elif word == "dozen" and seen:
            current = (current or 1.0) * 12
        elif word == "and" and seen and _is_number_word(following):
            j += 1
            continue
        else:
            break
        seen = True
        j += 1
    if not seen:
        return None
    return total + current, j - i


def _is_number_word(word: str) -> bool:
    parts = word.split("-")
    return (
        word in _UNITS_WORDS
        or word in _TENS_WORDS
        or word in _SCALE_WORDS
        or (len(parts) == 2 and parts[0] in _TENS_WORDS and parts[1] in _UNITS_WORDS)
    )


def figures(toks: list[Token]) -> list[Figure]:
    """Every figure in a token list, with its unit (read from the words around it)."""
    lowered = [t.text.lower() for t in toks]
    found: list[Figure] = []
    i = 0
    while i < len(toks):
        token, word = toks[i], lowered[i]
        first, value, unit = i, None, ""
        if token.kind == "number" and _YEAR_RANGE.match(token.text):
            for year in re.findall(r"(?:19|20)\d{2}", token.text):
                found.append(Figure(float(year), "date", i, i, year))
            i += 1
            continue
        if token.kind == "number" and _ISO_DATE.match(token.text):
            year = float(token.text[:4])
            found.append(Figure(year, "date", i, i, token.text))
            i += 1
            continue
        if word in ("a", "an") and i + 1 < len(toks) and lowered[i + 1] in _DURATION_WORDS:
            unit = _DURATION_WORDS[lowered[i + 1]]
            found.append(Figure(1.0, unit, i, i + 1, _span_text(toks, i, i + 1)))
            i += 2
            continue
        if token.kind == "number":
            match = _DIGITS.match(token.text)
            if match is None:
                # Digits with letters ("p99", "3D", "S3") are names, not figures.
                i += 1
                continue
            value = float(match["digits"].replace(",", "") + (match["fraction"] or ""))
            suffix = (match["suffix"] or "").lower()
            if suffix in _SCALE_SUFFIXES:
                value *= _SCALE_SUFFIXES[suffix]
            elif suffix == "x":
                unit = "x"
            elif suffix in ("st", "nd", "rd", "th"):
                unit = "ordinal"
            elif suffix == "s" and _YEAR.match(match["digits"]):
                unit = "decade"
            elif not suffix and not match["fraction"] and _YEAR.match(token.text):
                unit = "date"
            last = i
        elif word in MULTIPLIER_WORDS:
            found.append(Figure(float(MULTIPLIER_WORDS[word]), "x", i, i, token.text))
            i += 1
            continue
        elif word in QUANTITY_WORDS and not (i > 0 and lowered[i - 1] in ("a", "an")):
            found.append(Figure(float(QUANTITY_WORDS[word]), "many", i, i, token.text))
            i += 1
            continue
        elif word in _ORDINALS:
            found.append(Figure(float(_ORDINALS[word]), "ordinal", i, i, token.text))
            i += 1
            continue
        else:
            spelled = _word_number(lowered, i)
            if spelled is None or (word == "one" and i + 1 < len(toks) and lowered[i + 1] == "of"):
                i += 1
                continue
            value, used = spelled
            last = i + used - 1
        # Scale words after digits: "1.5 million", "2 billion".
        nxt = last + 1
        if nxt < len(toks) and lowered[nxt] in _SCALE_WORDS and token.kind == "number":
            value *= _SCALE_WORDS[lowered[nxt]]
            last = nxt
            nxt += 1
        # A currency sign before the figure, a unit word or sign after it.
        if first > 0 and toks[first - 1].text in _CURRENCY_SIGNS:
            unit, first = _CURRENCY_SIGNS[toks[first - 1].text], first - 1
        if nxt < len(toks):
            after = lowered[nxt]
            if after in ("percent", "pct") or (
                after == "per" and nxt + 1 < len(toks) and lowered[nxt + 1] == "cent"
            ):
                unit, last = "%", nxt + (1 if after == "per" else 0)
            elif after in ("times", "x", "×", "fold"):
                unit, last = "x", nxt
            elif after in _CURRENCY_WORDS and not unit:
                unit, last = _CURRENCY_WORDS[after], nxt
            elif after in _DURATION_WORDS and unit in ("", "date"):
                unit, last = _DURATION_WORDS[after], nxt
        if unit in ("", "date") and _percent_follows(toks, last):
            unit = "%"
        found.append(Figure(float(value), unit, first, last, _span_text(toks, first, last)))
        i = last + 1
    return found


# Words before a figure that make it a bound: "over 4 buyers" says more than "4 buyers",
# "nearly 30%" less than "30%".
_MORE_THAN = (
    ("over",), ("above",), ("exceeding",), ("beyond",), ("more", "than"), ("greater", "than"),
    ("higher", "than"), ("at", "least"), ("upwards", "of"), ("north", "of"), ("excess", "of"),
    ("plus",),
)  # fmt: skip
_LESS_THAN = (
    ("nearly",), ("almost",), ("under",), ("below",), ("up", "to"), ("close", "to"),
    ("less", "than"), ("fewer", "than"), ("short", "of"),
)  # fmt: skip


def bound(toks: list[Token], text: str, figure: Figure) -> str:
    """Whether a figure is stated as a lower bound ("more": "over 4", "4+", "30%+"), an upper
    bound ("less": "nearly 30%", "up to 4") or as it is ("")."""
    before = tuple(t.text.lower() for t in toks[max(0, figure.first - 3) : figure.first])
    if any(before[-len(words) :] == words for words in _MORE_THAN):
        return "more"
    if any(before[-len(words) :] == words for words in _LESS_THAN):
        return "less"
    end = toks[figure.last].end
    after = text[end : end + 2]
    if toks[figure.last].text.endswith("+") or after.startswith("+") or after == "%+":
        return "more"
    return ""


def _percent_follows(toks: list[Token], last: int) -> bool:
    """Whether a per cent sign is written right after the figure ("40%")."""
    return last + 1 < len(toks) and toks[last + 1].text == "%"


def _span_text(toks: list[Token], first: int, last: int) -> str:
    return " ".join(t.text for t in toks[first : last + 1])
