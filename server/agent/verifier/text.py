"""Normalisation and tokens: what the verifier reads is what the document shows.

`display_form` is the text that is stored and rendered: NFKC, with every format and invisible
character removed (Unicode category Cf and the other default-ignorable code points: zero-width
spaces and joiners, soft hyphens, bidi controls, variation selectors, tag characters, fillers)
and control characters turned into spaces. The verifier reads exactly this text, so a word
split by a zero-width space is read, and shown, as the word it forms.

`fold` is for comparison only: the display form's Unicode TR39 confusable skeleton, case
folded (before and after the skeleton, so capitals and small letters compare alike). Two words with the same fold look alike; the verifier still accounts for a word only
by its exact (case-folded) spelling, so a word in mixed scripts that only looks like a source
word is unsupported, and the fold names what it imitates.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

import snowballstemmer
from confusable_homoglyphs import categories as scripts

# Default-ignorable code points that are not in category Cf (DerivedCoreProperties.txt).
_IGNORABLE_RANGES = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
_SPACES = re.compile(r"\s+")
# Characters that join the parts of one word: "C++", "C#", "Node.js", "B.S.", "CI/CD",
# "event-driven", "O'Neil", "R&D".
_INNER_JOINERS = frozenset("'’-./&")
_TRAILING_JOINERS = frozenset("+#")
# Punctuation that states nothing; any other symbol must be found in scope like a word.
PUNCTUATION = frozenset(".,;:!?'\"’‘“”()[]-–—/&+#*•·…")
# Signs that belong to a figure ("40%", "$2M", "3×"): read with it, never alone.
SIGNS = frozenset("%$€£¥×")


def _ignorable(char: str) -> bool:
    code = ord(char)
    if unicodedata.category(char) == "Cf":
        return True
    return any(low <= code <= high for low, high in _IGNORABLE_RANGES)


@lru_cache(maxsize=16384)
def display_form(text: str) -> str:
    """The text as stored and shown: NFKC, invisible characters removed, spaces collapsed."""
    normal = unicodedata.normalize("NFKC", text)
    kept = []
    for char in normal:
        if _ignorable(char):
            continue
        category = unicodedata.category(char)
        kept.append(" " if category in ("Cc", "Zl", "Zp") else char)
    return _SPACES.sub(" ", "".join(kept)).strip()


@cache
def _prototypes() -> dict[str, str]:
    """Each confusable character's prototype (the TR39 mapping, as confusable-homoglyphs
    ships it): a character with one homoglyph maps to it, and of two characters that each
    list only the other, the ASCII one (else the lower code point) is the prototype."""
    # Loaded at the first comparison (tens of milliseconds of JSON): most processes never make one.
    from confusable_homoglyphs.confusables import confusables_data

    mapping: dict[str, str] = {}
    for char, entries in confusables_data.items():
        if len(char) != 1 or len(entries) != 1:
            continue  # a prototype: it lists what imitates it
        target = entries[0]["c"].replace("\u200e", "")
        back = [e["c"] for e in confusables_data.get(target, [])]
        if len(target) == 1 and back == [char]:
            ascii_target, ascii_char = target.isascii(), char.isascii()
            if (
                ascii_char
                and not ascii_target
                or (ascii_char == ascii_target and ord(char) < ord(target))
            ):
                continue  # this character is the pair's prototype
        mapping[char] = target
    return mapping


@lru_cache(maxsize=65536)
def skeleton(text: str) -> str:
    """The TR39 skeleton: NFD, each character replaced by its prototype, NFD again."""
    prototypes = _prototypes()
    mapped = "".join(prototypes.get(c, c) for c in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)


@lru_cache(maxsize=65536)
def fold(word: str) -> str:
    """The form two look-alike words share: the skeleton of the display form, case folded
    (before the skeleton too, so "I" and "i" do not part ways: TR39 maps "I" to "l")."""
    return skeleton(display_form(word).casefold()).casefold()


def mixed_script(word: str) -> bool:
    """Whether the word's letters come from more than one script (Latin with Cyrillic...)."""
    return len(scripts.unique_aliases(word) - {"COMMON", "INHERITED"}) > 1


_stemmer = snowballstemmer.stemmer("english")


# Derivations Snowball leaves apart: the noun of a field and the noun of its practitioner or
# its verb ("data science" and "data scientist", "analysis" and "analyzed").
_DERIVATIONS = {
    "analysis": "analyz",
    "analyses": "analyz",
    "science": "scientist",
    "sciences": "scientist",
    "internship": "intern",
    "internships": "intern",
}


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball (Porter 2) stem of a lower-case word (tense and number aside), with the
    few derivations it leaves apart."""
    return _DERIVATIONS.get(word) or _stemmer.stemWord(word)


def key(word: str) -> str:
    """How a word is compared: case folded, without a possessive or trailing dots."""
    lowered = word.casefold().rstrip(".")
    for suffix in ("'s", "’s"):
        if lowered.endswith(suffix) and len(lowered) > len(suffix) + 1:
            lowered = lowered[: -len(suffix)]
    return lowered.replace("’", "'")


@dataclass(frozen=True)
class Token:
    """A word, a number, a sign or a symbol of a display-form text, with its place."""

    text: str
    start: int
    end: int
    kind: str  # "word", "number", "sign" or "symbol"

    @property
    def key(self) -> str:
        return key(self.text)

    @property
    def capitalised(self) -> bool:
        return self.text[:1].isupper()


def _word_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LMN"


def tokens(text: str) -> list[Token]:
    """Words (letters, marks and digits joined by the joiners of one word), numbers (words
    that start with a digit), the signs of figures, and symbols (anything else that is not
    punctuation or space)."""
    found: list[Token] = []
    i, size = 0, len(text)
    while i < size:
        char = text[i]
        if _word_char(char):
            start = i
            i += 1
            while i < size:
                if _word_char(text[i]):
                    i += 1
                elif text[i] in _INNER_JOINERS and i + 1 < size and _word_char(text[i + 1]):
                    i += 1
                elif (
                    text[i] == ","
                    and text[start].isdigit()
                    and re.match(r",\d{3}(?!\d)", text[i : i + 5])
                ):
                    i += 4  # a thousands separator: "50,000"
                elif text[i] in _TRAILING_JOINERS and not (
                    i + 1 < size and _word_char(text[i + 1])
                ):
                    i += 1
                else:
                    break
            word = text[start:i]
            kind = "number" if word[0].isdigit() else "word"
            found.append(Token(word, start, i, kind))
        elif char.isspace() or char in PUNCTUATION:
            i += 1
        elif char in SIGNS:
            found.append(Token(char, i, i + 1, "sign"))
            i += 1
        else:
            found.append(Token(char, i, i + 1, "symbol"))
            i += 1
    return found


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“‘(\[]?[A-Z0-9])")
# Abbreviations that end in a full stop without ending a sentence ("Inc." and "etc." end one
# when they close a name or a list, so they are not here).
_ABBREVIATIONS = re.compile(
    r"(?:\b(?:[A-Z]\.){1,3}|\b(?:Mr|Ms|Mrs|Dr|Prof|Jr|Sr|St|vs|e\.g|i\.e|"
    r"approx|incl|dept|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.)$"
)


def split_sentences(text: str) -> list[str]:
    """The sentences of a paragraph, as written (an abbreviation's full stop ends none)."""
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        head = text[start : match.start()]
        if _ABBREVIATIONS.search(head):
            continue
        pieces.append(head)
        start = match.end()
    pieces.append(text[start:])
    sentences = []
    for piece in pieces:
        for line in piece.splitlines():
            if line.strip():
                sentences.append(line.strip())
    return sentences
