"""Claims in resume text, and whether source material supports them.

The tailoring's verifier asks of every sentence an engine wrote: which employers, titles,
dates, degrees, institutions, certifications, numbers and skills does it state, and does the
source material (the resume, or the user's own answers) state each of them too? A claim is a
piece of text with a kind; `Scope` is the source material, indexed once.

The rules lean towards refusing: a capitalised word the source never uses is taken as a name
(an employer, a school, a product) unless it only opens a sentence and is a common English
word; a number must appear in the source with the same value ("2M" and "2 million" agree,
"40%" and "60%" do not); a degree level, a title with its seniority, an institution and a
certification must appear as such.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache

from server.agent.engines.vocabulary import canonical_name, canonical_terms

CLAIM_KINDS = (
    "employer",
    "name",
    "title",
    "date",
    "degree",
    "institution",
    "certification",
    "number",
    "skill",
)

_NUMBER_WORDS = {
    **{
        word: value
        for value, word in enumerate(
            "zero one two three four five six seven eight nine ten eleven twelve thirteen "
            "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
        )
    },
    **{
        word: 10 * tens
        for tens, word in enumerate("thirty forty fifty sixty seventy eighty ninety".split(), 3)
    },
    "dozen": 12,
}
# A quantity without a number ("hundreds of users") is a claim the source must make too.
_QUANTITY_WORD = re.compile(r"\b(?:dozens|hundreds|thousands|millions|billions)\b", re.IGNORECASE)
_SCALES = {
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "mm": 1e6,
    "million": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "billion": 1e9,
}
_NUMBER = re.compile(
    r"(?<![\w.])[$€£]?(?P<digits>\d[\d,]*(?:\.\d+)?)\s?"
    r"(?P<scale>k|mm|m|bn|b|thousand|million|billion)?(?P<unit>%|x|\+)?(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)
_YEAR = re.compile(r"^(19[5-9]\d|20[0-4]\d)$")

_DEGREE_PATTERNS = tuple(
    (level, re.compile(pattern))
    for level, pattern in (
        ("doctorate", r"(?i:\bph\.?\s?d\b\.?|\bdoctorate\b|\bdoctor of\b|\bd\.?phil\b)"),
        ("mba", r"(?i:\bm\.?b\.?a\b\.?)"),
        (
            "master",
            r"(?i:\bmaster'?s?\b|\bm\.s\.?(?:c\.?)?|\bmsc\b|\bm\.?eng\b)|\bM\.A\.|\bMS\b|\bMA\b",
        ),
        (
            "bachelor",
            r"(?i:\bbachelor'?s?\b|\bb\.s\.?(?:c\.?)?|\bbsc\b|\bb\.?eng\b)|\bB\.A\.|\bBS\b|\bBA\b",
        ),
        ("associate", r"(?i:\bassociate'?s? degree\b|\bassociate of\b)"),
    )
)
_CAP = r"[A-Z][\w&.'-]*"
_INSTITUTION = re.compile(
    rf"(?:{_CAP}\s+){{0,4}}(?:University|College|Institute|Polytechnic|Academy|School)"
    rf"(?:\s+(?:of|for|and|at)(?:\s+the)?)?(?:\s+{_CAP}){{0,4}}"
)
_CERTIFICATION = re.compile(
    rf"(?:{_CAP}\s+){{0,4}}(?:Certified|Certification|Certificate)\b(?:\s+{_CAP}){{0,5}}"
    r"|\b(?:PMP|CISSP|CISA|CISM|CKA|CKAD|CKS|CPA|CFA|CCNA|CCNP|CompTIA|PE|PHR|SHRM-CP|RN)\b"
)
_ROLE_NOUNS = (
    "engineer|developer|programmer|architect|scientist|analyst|designer|manager|"
    "administrator|consultant|specialist|technician|intern|director|officer|researcher|"
    "tester|writer|coordinator|associate|assistant|nurse|accountant|teacher|lead|head|"
    "president|vp|founder|co-founder|cto|ceo|cfo"
)
_SENIORITY = "senior|sr\\.?|junior|jr\\.?|lead|staff|principal|chief|head|distinguished|vp"
_TITLE = re.compile(
    rf"(?:(?:(?i:{_SENIORITY})|{_CAP})\s+){{0,3}}(?i:{_ROLE_NOUNS})s?\b(?:\s+of\s+{_CAP})?"
)
_SENIORITY_WORD = re.compile(rf"\b(?:{_SENIORITY})\b", re.IGNORECASE)
# Words begin with a letter of any script: a name spelled with a look-alike letter
# ("Аcme" with a Cyrillic А) is still a capitalised word the source never uses.
_TOKEN = re.compile(r"[^\W\d_][\w&+#'.-]*[\w+#]|[^\W\d_]")
_SENTENCE_START = re.compile(r"(?:^|[.!?;:•]\s+|\n\s*|[-–—]\s+|\(\s*)$")
_EMPLOYER_BEFORE = re.compile(r"\b(?:at|for|with|joined|from|by)\s+$", re.IGNORECASE)
_EMPLOYER_AFTER = re.compile(
    r"^\s+(?:Inc|LLC|Ltd|Corp|Corporation|Company|Co|Group|Labs|Technologies|GmbH|AG|SA|PLC)\b"
)
_MONTH_NAMES = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
_ALWAYS_PLAIN = frozenset({"i", "a", "an", "the"})
_VERB_ENDINGS = ("ed", "ing", "ized", "ised", "izes", "ises")
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


@cache
def _common_words() -> frozenset[str]:
    """Common English words (lower case): a capitalised one opening a sentence is no name."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["english_wikipedia"][:20000])


@dataclass(frozen=True)
class Claim:
    kind: str
    text: str


def _number_value(digits: str, scale: str | None) -> float:
    value = float(digits.replace(",", ""))
    return value * _SCALES.get((scale or "").lower(), 1.0)


def numbers_in(text: str) -> list[tuple[str, float]]:
    """Every number written in `text`, as written and as a value ("2M" → 2,000,000)."""
    found = []
    for match in _NUMBER.finditer(text):
        digits = match["digits"].rstrip(",")
        if not digits:
            continue
        found.append((match.group(0).strip(), _number_value(digits, match["scale"])))
    for match in _NUMBER_WORD.finditer(text):
        found.append((match.group(0), float(_NUMBER_WORDS[match.group(0).lower()])))
    return found


def degree_levels(text: str) -> set[str]:
    """The degree levels `text` names (bachelor, master, doctorate, mba, associate)."""
    return {level for level, pattern in _DEGREE_PATTERNS if pattern.search(text)}


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


@dataclass
class Scope:
    """Source material, indexed for the claim checks."""

    text: str
    keywords: tuple[str, ...] = ()
    lowered: str = field(init=False)
    words: set[str] = field(init=False)
    values: set[float] = field(init=False)
    terms: set[str] = field(init=False)
    degrees: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.lowered = _normal(self.text)
        self.words = {w.lower().strip(".'-") for w in _TOKEN.findall(self.text)}
        self.values = {value for _written, value in numbers_in(self.text)}
        self.terms = set(canonical_terms(self.text))
        self.degrees = degree_levels(self.text)

    @classmethod
    def of(cls, texts: Iterable[str], keywords: Iterable[str] = ()) -> Scope:
        """A scope over several pieces of text."""
        return cls("\n".join(t for t in texts if t), tuple(keywords))

    def says(self, phrase: str) -> bool:
        """Whether the source contains the phrase (case and spacing aside, a plural too)."""
        wanted = _normal(phrase)
        if not wanted:
            return True
        pattern = rf"(?<![\w]){re.escape(wanted)}(?:s|es)?(?![\w])"
        if re.search(pattern, self.lowered):
            return True
        singular = re.sub(r"(?:es|s)$", "", wanted)
        return singular != wanted and bool(
            re.search(rf"(?<![\w]){re.escape(singular)}(?![\w])", self.lowered)
        )


@lru_cache(maxsize=8192)
def terms_of(text: str) -> frozenset[str]:
    """The vocabulary terms `text` names (cached: the same lines are asked about often)."""
    return frozenset(canonical_terms(text))


@lru_cache(maxsize=4096)
def _canonical(keyword: str) -> str | None:
    return canonical_name(keyword)


def keyword_in(text: str, keyword: str) -> bool:
    """Whether `text` names the keyword (a vocabulary term in any of its spellings)."""
    canonical = _canonical(keyword)
    if canonical:
        return canonical in terms_of(text)
    pattern = rf"(?<![\w]){re.escape(keyword.strip())}(?![\w])"
    return bool(keyword.strip()) and re.search(pattern, text, re.IGNORECASE) is not None


def unsupported_claims(text: str, scope: Scope) -> list[tuple[Claim, str]]:
    """The claims in `text` that the scope does not support, each with the reason."""
    found: list[tuple[Claim, str]] = []
    seen: set[tuple[str, str]] = set()

    def add(kind: str, claim: str, reason: str) -> None:
        key = (kind, claim.lower())
        if key not in seen:
            seen.add(key)
            found.append((Claim(kind, claim), reason))

    for written, value in numbers_in(text):
        if value not in scope.values:
            digits = re.sub(r"[^\d]", "", written)
            kind = "date" if _YEAR.match(digits) and value == float(digits) else "number"
            add(kind, written, f"the {kind} {written} is not in the source material")
    for match in _QUANTITY_WORD.finditer(text):
        if not scope.says(match.group(0)):
            add("number", match.group(0), f"{match.group(0)} are not in the source material")
    for level in sorted(degree_levels(text) - scope.degrees):
        add("degree", level, f"no {level} degree is in the source material")
    for match in _INSTITUTION.finditer(text):
        phrase = match.group(0).strip()
        if not scope.says(phrase):
            add("institution", phrase, f"the institution {phrase!r} is not in the source material")
    for match in _CERTIFICATION.finditer(text):
        phrase = match.group(0).strip()
        if not scope.says(phrase):
            add(
                "certification",
                phrase,
                f"the certification {phrase!r} is not in the source material",
            )
    for match in _TITLE.finditer(text):
        phrase = match.group(0).strip()
        # A bare role word ("worked with product managers") names nobody's title.
        titled = _SENIORITY_WORD.search(phrase) or phrase[:1].isupper()
        if titled and not scope.says(phrase):
            add("title", phrase, f"the title {phrase!r} is not in the source material")
    for term in canonical_terms(text):
        if term not in scope.terms:
            add("skill", term, f"the skill {term} is not shown in the source material")
    for keyword in scope.keywords:
        if keyword_in(text, keyword) and not keyword_in(scope.text, keyword):
            name = canonical_name(keyword) or keyword
            add("skill", name, f"the skill {name} is not shown in the source material")
    for phrase, kind in _unknown_names(text, scope):
        # A name inside a claim already found (an institution's, a title's) adds nothing.
        if not any(phrase.lower() in claim.text.lower() for claim, _reason in found):
            add(kind, phrase, f"{phrase!r} is not named in the source material")
    return found


def _unknown_names(text: str, scope: Scope) -> list[tuple[str, str]]:
    """Runs of capitalised words the source never uses: names of employers and the like."""
    names: list[tuple[str, str]] = []
    run: list[re.Match[str]] = []

    def flush() -> None:
        if run:
            start, end = run[0].start(), run[-1].end()
            phrase = text[start:end]
            employer = bool(
                _EMPLOYER_BEFORE.search(text[max(0, start - 12) : start])
                or _EMPLOYER_AFTER.match(text[end : end + 16])
            )
            names.append((phrase, "employer" if employer else "name"))
            run.clear()

    previous_end = 0
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        gap = text[previous_end : match.start()]
        if run and gap.strip():
            flush()
        previous_end = match.end()
        if not _is_unknown_name(token, text[: match.start()], scope):
            flush()
            continue
        run.append(match)
    flush()
    return names


def _is_unknown_name(token: str, before: str, scope: Scope) -> bool:
    if not any(ch.isupper() for ch in token):
        return False
    lowered = token.lower().strip(".'-")
    if lowered in _ALWAYS_PLAIN or lowered in _MONTH_NAMES or lowered in scope.words:
        return False
    if canonical_name(token):
        return False  # a vocabulary term: the skill check decides
    opens_sentence = bool(_SENTENCE_START.search(before)) or not before.strip()
    if opens_sentence and token[1:].islower() and lowered.isalpha():
        if lowered in _common_words() or lowered.endswith(_VERB_ENDINGS):
            return False
    return True


def split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph (kept as written)."""
    return [s for s in SENTENCE.split(text.strip()) if s.strip()]
