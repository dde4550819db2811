"""The material in scope: what a sentence may rest on, indexed once.

A scope is a list of sources, each a piece of the person's own material with its kind and,
for the lines of one role, that role's index. It is split into clauses (a bullet, a line, a
sentence), and a figure, a leading verb or a degree is supported only by a clause that holds
it together with the words around it.

What the material says in the negative is not evidence: a clause of an answer with "no",
"not", "never" or "haven't" is left out ("No, I have not used Kafka" supports nothing about
Kafka). Contact details give words (a city, a name) but never a figure: a phone number or a
postcode is not evidence for "40%" or "2019".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from server.agent.engines.vocabulary import spelled_terms
from server.agent.verifier.labels import LEGAL_SUFFIXES, degree_mentions
from server.agent.verifier.lexicon import ABBREVIATIONS, evidence_class
from server.agent.verifier.numbers import Figure, figures
from server.agent.verifier.text import display_form, fold, split_sentences, stem, tokens

SOURCE_KINDS = (
    "role",  # a role's title, employer, location and dates (one line)
    "bullet",
    "summary",
    "headline",
    "education",
    "skills",
    "certification",
    "project",
    "other",
    "answer",  # the user's own answers (Mimikree)
    "profile",  # the applicant profile's facts
    "contact",  # name, location, links: words, never figures
)
# Kinds whose lines state a title the person holds.
TITLE_KINDS = frozenset({"role", "headline", "summary"})

_NEGATION = re.compile(
    r"\b(?:no|not|never|none|neither|nor|without|cannot|can't|won't|haven't|hasn't|hadn't|"
    r"didn't|don't|doesn't|wasn't|weren't|isn't|aren't|couldn't|wouldn't|n't|nope|"
    r"unfortunately)\b|n't\b",
    re.IGNORECASE,
)
_CLAUSE_BREAK = re.compile(
    r"[;!?]\s+|\.\s+(?=[A-Z\"'(])|,\s*(?:but|however|although|though|except)\b|\s+but\s+"
)


@dataclass(frozen=True)
class Source:
    """A piece of the person's material: its text, its kind, the role it belongs to."""

    text: str
    kind: str
    role: int | None = None


@dataclass(frozen=True)
class RoleFacts:
    """A role's identity and span: what binds a sentence that names its employer."""

    index: int
    employer: str
    title: str
    start: date | None
    end: date | None

    @property
    def years(self) -> float | None:
        if self.start is None or self.end is None or self.end < self.start:
            return None
        return (self.end - self.start).days / 365.25


@dataclass
class Clause:
    """One line or sentence of a source, indexed."""

    text: str
    kind: str
    role: int | None
    keys: set[str]
    stems: set[str]
    classes: set[str]
    figures: list[Figure]
    folded: str
    terms: set[str]  # canonical names of the vocabulary terms it spells


_MONTHS = (
    "january february march april may june july august september october november december"
).split()
_NUMERIC_MONTH = re.compile(r"\b(?:19|20)\d{2}-(\d{1,2})\b|\b(\d{1,2})/(?:19|20)\d{2}\b")


def _month_names(text: str) -> set[str]:
    """Month names of the numeric dates in a line ("2013-12" -> december, dec)."""
    names = set()
    for match in _NUMERIC_MONTH.finditer(text):
        month = int(match[1] or match[2])
        if 1 <= month <= 12:
            names |= {_MONTHS[month - 1], _MONTHS[month - 1][:3]}
    return names


def _month_forms(keys: set[str]) -> set[str]:
    """A month written short or in full stands for both ("Jan" and "January")."""
    forms = set()
    for month in _MONTHS:
        if month in keys or month[:3] in keys or (month == "september" and "sept" in keys):
            forms |= {month, month[:3]}
    return forms


def _abbreviated(piece: str, keys: set[str]) -> set[str]:
    """The other side of each abbreviation a clause uses: the words an abbreviation stands
    for, and the abbreviation of words it spells out."""
    extra: set[str] = set()
    lowered = " " + " ".join(t.key for t in tokens(piece.lower())) + " "
    for short, long in ABBREVIATIONS.items():
        long_words = [t.key for t in tokens(long)]
        if short in keys:
            extra.update(long_words)
        if " " + " ".join(long_words) + " " in lowered:
            extra.add(short)
    return extra


def _clauses_of(source: Source) -> list[Clause]:
    text = display_form(source.text)
    if source.kind == "answer":
        pieces = [p for p in _CLAUSE_BREAK.split(text) if p and not _NEGATION.search(p)]
    elif source.kind in ("role", "bullet", "skills", "contact"):
        pieces = [text]  # one item: its sentences describe one thing
    else:
        pieces = split_sentences(text)
    clauses = []
    for piece in pieces:
        toks = tokens(piece)
        keys: set[str] = set()
        classes: set[str] = set()
        for n, t in enumerate(toks):
            if t.kind in ("word", "number"):
                keys.add(t.key)
                keys.update(part for part in re.split(r"[-/]", t.key) if part)
                following = toks[n + 1].key if n + 1 < len(toks) else ""
                if cls := evidence_class(t.key, following):
                    classes.add(cls)
        if source.kind in ("role", "education"):
            keys |= _month_names(piece)
            keys |= _month_forms(keys)
        keys |= _abbreviated(piece, keys)
        clauses.append(
            Clause(
                text=piece,
                kind=source.kind,
                role=source.role,
                keys=keys,
                stems={stem(k) for k in keys},
                classes=classes,
                figures=[] if source.kind == "contact" else figures(toks),
                folded=" " + " ".join(fold(t.text) for t in toks) + " ",
                terms=set(spelled_terms(piece)),
            )
        )
    return clauses


@dataclass
class Scope:
    """Sources in scope for one sentence, with the roles they describe and the job's
    keywords (used to name a claim's kind, never to support it)."""

    sources: tuple[Source, ...]
    keywords: tuple[str, ...] = ()
    roles: tuple[RoleFacts, ...] = ()
    purpose: str = "resume"  # or "letter": a cover letter's or an answer's sentences
    clauses: list[Clause] = field(init=False)
    keys: set[str] = field(init=False)
    stems: set[str] = field(init=False)
    classes: set[str] = field(init=False)
    symbols: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.clauses = [c for source in self.sources for c in _clauses_of(source)]
        self.keys = set().union(*(c.keys for c in self.clauses)) if self.clauses else set()
        self.stems = set().union(*(c.stems for c in self.clauses)) if self.clauses else set()
        self.classes = set().union(*(c.classes for c in self.clauses)) if self.clauses else set()
        self.symbols = {t.text for c in self.clauses for t in tokens(c.text) if t.kind == "symbol"}
        self._restricted: dict[tuple[frozenset[int], bool], Scope] = {}

    @classmethod
    def of(cls, texts: Iterable[str], keywords: Iterable[str] = ()) -> Scope:
        """A scope over plain texts (each an `other` source, no roles)."""
        return cls(tuple(Source(t, "other") for t in texts if t), tuple(keywords))

    # --- words -------------------------------------------------------------------------

    @cached_property
    def folds(self) -> dict[str, str]:
        """Fold -> a word of the scope with that fold (to name what a look-alike imitates)."""
        found: dict[str, str] = {}
        for clause in self.clauses:
            for t in tokens(clause.text):
                found.setdefault(fold(t.text), t.text)
        return found

    @cached_property
    def capitals(self) -> set[str]:
        """The words the material writes as names may be: with a capital (a name's spelling,
        or a line's first word), in a list beside a capitalised name ("zsh, Tmux"), dotted
        ("backbone.js"), or as
        the reviewed long form of a name it abbreviates or a month its dates give."""
        found: set[str] = set()
        for clause in self.clauses:
            toks = tokens(clause.text)
            written = set()
            for n, t in enumerate(toks):
                written.add(t.key)
                written.update(p for p in re.split(r"[-/]", t.key) if p)
                listed = any(
                    0 <= m < len(toks)
                    and toks[m].capitalised
                    and clause.text[min(t.end, toks[m].end) : max(t.start, toks[m].start)].strip()
                    == ","
                    for m in (n - 1, n + 1)
                )
                dotted = "." in t.key  # "backbone.js": a product's spelling
                if t.capitalised or listed or dotted:
                    found.add(t.key)
                    found.update(p for p in re.split(r"[-/]", t.key) if p)
            found |= clause.keys - written
        return found

    @cached_property
    def inner_capitals(self) -> set[str]:
        """The words the material capitalises inside a line, where only a name's capital
        stands (not a line's or a sentence's first word)."""
        found: set[str] = set()
        for clause in self.clauses:
            toks = tokens(clause.text)
            for n, t in enumerate(toks):
                before = clause.text[toks[n - 1].end : t.start] if n else "."
                if t.capitalised and not re.search(r"[.!?•·]\s*$", before):
                    found.add(t.key)
        return found

    @cached_property
    def folded_text(self) -> str:
        """Every clause's folded words, for phrase look-ups."""
        return "\n".join(c.folded for c in self.clauses)

    @cached_property
    def title_text(self) -> str:
        """The folded lines that state a title the person holds."""
        return "\n".join(c.folded for c in self.clauses if c.kind in TITLE_KINDS)

    @cached_property
    def sentence_clauses(self) -> list[Clause]:
        """The clauses, with a bullet of several sentences cut into its sentences."""
        found: list[Clause] = []
        for source in self.sources:
            if source.kind == "bullet" and len(split_sentences(display_form(source.text))) > 1:
                for sentence in split_sentences(display_form(source.text)):
                    found += _clauses_of(Source(sentence, "bullet", source.role))
            else:
                found += _clauses_of(source)
        return found

    @cached_property
    def headers(self) -> dict[int, Clause]:
        """Each role's own line (title, employer, location, dates), by role."""
        return {c.role: c for c in self.clauses if c.kind == "role" and c.role is not None}

    def holds_together(self, clause: Clause, check) -> bool:
        """Whether `check(clause)` holds for a clause read with its role's own line: a
        bullet is said of its role's title, employer and dates."""
        header = self.headers.get(clause.role) if clause.role is not None else None
        if header is None or header is clause:
            return check(clause)
        return check(_joined(clause, header))

    def has_phrase(self, phrase: str, *, titles_only: bool = False) -> bool:
        """Whether the words of `phrase` appear together, in order, in one clause (a plural
        of the last word too)."""
        words = [fold(t.text) for t in tokens(display_form(phrase))]
        if not words:
            return True
        haystack = self.title_text if titles_only else self.folded_text
        wanted = " " + " ".join(words) + " "
        if wanted in haystack:
            return True
        last = words[-1]
        for variant in (last + "s", last + "es", last[:-1] if last.endswith("s") else None):
            if variant and " " + " ".join([*words[:-1], variant]) + " " in haystack:
                return True
        return False

    @cached_property
    def writable_terms(self) -> set[str]:
        """Canonical names of the vocabulary terms the material itself spells (by that name
        or a spelling of it, never by a related word: "containerization" spells no Docker)."""
        return set().union(*(c.terms for c in self.clauses)) if self.clauses else set()

    @cached_property
    def degrees(self) -> dict[str, list[Clause]]:
        """Degree level -> the clauses that name it."""
        found: dict[str, list[Clause]] = {}
        for clause in self.clauses:
            for level, _start, _end in degree_mentions(clause.text):
                found.setdefault(level, []).append(clause)
        return found

    # --- roles -------------------------------------------------------------------------

    @cached_property
    def employer_aliases(self) -> dict[int, list[str]]:
        """Each role's employer by the names it goes by; a first word alone ("northwind")
        only when no other role's employer starts with it ("Danggeun Pay" and "Danggeun
        Market" are never named by "Danggeun")."""
        firsts: dict[str, set[int]] = {}
        for r in self.roles:
            for name in employer_names(r.employer):
                firsts.setdefault(name.split()[0], set()).add(r.index)
        aliases = {}
        for r in self.roles:
            aliases[r.index] = [
                name
                for name in employer_names(r.employer)
                if " " in name or firsts.get(name, set()) <= {r.index}
            ]
        return aliases

    def roles_named_in(self, folded_sentence: str) -> set[int]:
        """The roles whose employer the sentence names."""
        return {
            i
            for i, names in self.employer_aliases.items()
            if any(f" {name} " in folded_sentence for name in names)
        }

    def restricted(self, roles: set[int], *, skills: bool = True) -> Scope:
        """This scope without the other roles' lines: what a segment naming those employers
        may rest on (their lines, and what is said of no role in particular). Without
        `skills`, the skills list is left out too: it says what the person knows, not where
        they used it, so it is no evidence for a tool at a role the segment names."""
        wanted = frozenset(roles)
        if (wanted, skills) not in self._restricted:
            kept: list[Source] = []
            for source in self.sources:
                if source.role in wanted:
                    kept.append(source)
                elif source.role is None and (skills or source.kind != "skills"):
                    # What is said of no role, less its sentences about another employer.
                    kept += [
                        Source(sentence, source.kind)
                        for sentence in split_sentences(display_form(source.text))
                        if not (self._names_other(sentence, wanted))
                    ]
            kept = tuple(kept)
            self._restricted[(wanted, skills)] = Scope(
                kept,
                self.keywords,
                tuple(r for r in self.roles if r.index in wanted),
                self.purpose,
            )
        return self._restricted[(wanted, skills)]

    def _names_other(self, text: str, wanted: frozenset[int]) -> bool:
        folded = " " + " ".join(fold(t.text) for t in tokens(text)) + " "
        return bool(self.roles_named_in(folded) - wanted)

    def experience_years(self) -> float | None:
        """Years the roles in scope span together (overlaps counted once)."""
        spans = sorted((r.start, r.end) for r in self.roles if r.years is not None)
        if not spans:
            return None
        total, (start, end) = 0.0, spans[0]
        for next_start, next_end in spans[1:]:
            if next_start <= end:
                end = max(end, next_end)
            else:
                total += (end - start).days
                start, end = next_start, next_end
        total += (end - start).days
        return total / 365.25


def _joined(clause: Clause, header: Clause) -> Clause:
    """A clause with its role's line added to it."""
    return Clause(
        text=clause.text,
        kind=clause.kind,
        role=clause.role,
        keys=clause.keys | header.keys,
        stems=clause.stems | header.stems,
        classes=clause.classes | header.classes,
        figures=clause.figures,
        folded=clause.folded + header.folded,
        terms=clause.terms | header.terms,
    )


def employer_core(employer: str) -> str:
    """An employer's name as folded words without its legal suffix ("Acme Corp" -> "acme")."""
    toks = tokens(display_form(employer or ""))
    while toks and toks[-1].key.rstrip(".") in LEGAL_SUFFIXES | {"the"}:
        toks.pop()
    return " ".join(fold(t.text) for t in toks)


# First words of employers' names that do not name one on their own ("Bank of ...").
_GENERIC_FIRST_WORDS = frozenset(
    """
    the a an bank first united general national american global international new state
    city county university college school hospital department office ministry royal
    """.split()
)


def employer_names(employer: str) -> list[str]:
    """The folded names an employer goes by: its name without the legal suffix, the name in
    brackets after it ("Danggeun Pay Inc. (KarrotPay)"), and its distinctive first word
    ("northwind" for "Northwind Traders")."""
    names = []
    for part in re.split(r"[()]", employer or ""):
        core = employer_core(part)
        if not core:
            continue
        names.append(core)
        first = core.split()[0]
        if " " in core and len(first) >= 4 and first not in _GENERIC_FIRST_WORDS:
            names.append(first)
    return names


def names_employer(folded_sentence: str, employer: str) -> bool:
    """Whether a sentence (folded words, space-padded) names an employer."""
    return any(f" {name} " in folded_sentence for name in employer_names(employer))


# --- building scopes from a parsed resume ------------------------------------------------


def _date_of(value: object, *, end: bool, today: date) -> date | None:
    """A role's date ("2021-03", "2019") as a day; a year alone is taken as its middle."""
    text = str(value or "").strip()
    match = re.fullmatch(r"((?:19|20)\d{2})(?:-(\d{1,2}))?", text)
    if not match:
        return None
    year = int(match[1])
    if match[2]:
        return date(year, max(1, min(12, int(match[2]))), 15)
    return date(year, 7, 1)


def role_facts(resume: dict, today: date | None = None) -> tuple[RoleFacts, ...]:
    """Each experience entry's employer, title and span (a current role ends today)."""
    today = today or date.today()
    facts = []
    for i, job in enumerate(resume.get("experience") or []):
        start = _date_of(job.get("start_date"), end=False, today=today)
        if job.get("is_current") or (start and not job.get("end_date") and _says_present(job)):
            end = today
        else:
            end = _date_of(job.get("end_date"), end=True, today=today)
        facts.append(
            RoleFacts(i, str(job.get("employer") or ""), str(job.get("title") or ""), start, end)
        )
    return tuple(facts)


def _says_present(job: dict) -> bool:
    return bool(re.search(r"present|current|now|today", str(job.get("dates") or ""), re.I))


def role_sources(job: dict, index: int) -> list[Source]:
    """The lines of one experience entry."""
    header = " | ".join(
        str(job.get(k)) for k in ("title", "employer", "location", "dates") if job.get(k)
    )
    sources = [Source(header, "role", index)] if header else []
    sources += [Source(str(b), "bullet", index) for b in job.get("bullets") or []]
    sources += [Source(str(d), "bullet", index) for d in job.get("details") or []]
    return sources


def answer_sources(answers: Iterable[str], roles: tuple[RoleFacts, ...]) -> list[Source]:
    """The user's answers, sentence by sentence: a sentence that names a role's employer
    belongs to that role alone; one that names none, to the role named before it in the
    answer (or the one role the answer names), else to every role."""

    def named_in(text: str) -> list[int]:
        folded = " " + " ".join(fold(t.text) for t in tokens(text)) + " "
        return [r.index for r in roles if names_employer(folded, r.employer)]

    sources = []
    for answer in answers:
        text = display_form(str(answer or ""))
        if not text:
            continue
        whole = named_in(text)
        previous: list[int] = whole if len(whole) == 1 else []
        for sentence in _CLAUSE_BREAK.split(text):
            if not sentence.strip():
                continue
            # A sentence that names no employer goes on about the one named before it.
            named = named_in(sentence) or previous
            previous = named
            if named:
                sources += [Source(sentence, "answer", i) for i in named]
            else:
                sources.append(Source(sentence, "answer"))
    return sources


def _resume_wide_sources(resume: dict) -> list[Source]:
    """Everything of a resume that is not one role's: summary, headline, education, skills,
    certifications, projects, other sections, and the contact words."""
    contact = resume.get("contact") or {}
    sources = []
    if contact.get("headline"):
        sources.append(Source(str(contact["headline"]), "headline"))
    for name in ("name", "location"):
        if contact.get(name):
            sources.append(Source(str(contact[name]), "contact"))
    if resume.get("summary"):
        sources.append(Source(str(resume["summary"]), "summary"))
    for entry in resume.get("education") or []:
        parts = [entry.get(k) for k in ("degree", "field", "institution", "location", "dates")]
        sources.append(Source(", ".join(str(p) for p in parts if p), "education"))
        sources += [Source(str(d), "education") for d in entry.get("details") or []]
    for group in resume.get("skills") or []:
        label = f"{group['category']}: " if group.get("category") else ""
        sources.append(
            Source(label + ", ".join(str(i) for i in group.get("items") or []), "skills")
        )
    for cert in resume.get("certifications") or []:
        parts = [cert.get(k) for k in ("name", "issuer", "dates")]
        sources.append(Source(", ".join(str(p) for p in parts if p), "certification"))
    for project in resume.get("projects") or []:
        sources += project_sources(project)
    for section in resume.get("other_sections") or []:
        sources += [Source(str(line), "other") for line in section.get("lines") or []]
    return [s for s in sources if s.text.strip()]


def project_sources(project: dict) -> list[Source]:
    """The lines of one project."""
    head = " | ".join(
        str(project.get(k)) for k in ("name", "role", "url", "dates") if project.get(k)
    )
    lines = [head] if head else []
    lines += [str(b) for b in project.get("bullets") or []]
    lines += [str(d) for d in project.get("details") or []]
    lines += [", ".join(str(t) for t in project.get("technologies") or [])]
    return [Source(line, "project") for line in lines if line.strip()]


def bullet_scope(
    resume: dict, role: int, *, answers: Iterable[str] = (), keywords: Iterable[str] = ()
) -> Scope:
    """What a rewritten bullet may rest on: its own role's lines and the user's answers."""
    roles = role_facts(resume)
    job = (resume.get("experience") or [])[role]
    sources = role_sources(job, role) + [
        s for s in answer_sources(answers, roles) if s.role in (None, role)
    ]
    return Scope(tuple(sources), tuple(keywords), tuple(r for r in roles if r.index == role))


def project_scope(
    resume: dict, project: int, *, answers: Iterable[str] = (), keywords: Iterable[str] = ()
) -> Scope:
    """What a rewritten project line may rest on: that project's lines and the answers that
    name no role."""
    roles = role_facts(resume)
    sources = project_sources((resume.get("projects") or [])[project])
    sources += [s for s in answer_sources(answers, roles) if s.role is None]
    return Scope(tuple(sources), tuple(keywords))


def resume_scope(
    resume: dict,
    *,
    answers: Iterable[str] = (),
    keywords: Iterable[str] = (),
    extra: Iterable[Source] = (),
    purpose: str = "resume",
) -> Scope:
    """What a summary, a cover letter or an answer may rest on: the whole resume (every
    role, bound to its employer), the user's answers, and any extra sources (the profile)."""
    roles = role_facts(resume)
    sources: list[Source] = []
    for i, job in enumerate(resume.get("experience") or []):
        sources += role_sources(job, i)
    sources += _resume_wide_sources(resume)
    sources += answer_sources(answers, roles)
    sources += list(extra)
    return Scope(tuple(sources), tuple(keywords), roles, purpose)


def profile_sources(profile: dict | None) -> list[Source]:
    """The applicant profile's facts that a letter or an answer may state about the person."""
    profile = profile or {}
    sources = []
    if profile.get("name"):
        sources.append(Source(str(profile["name"]), "contact"))
    if profile.get("location"):
        sources.append(Source(str(profile["location"]), "contact"))
    if profile.get("headline"):
        sources.append(Source(str(profile["headline"]), "headline"))
    return sources
