"""The gate: a sentence is kept only when every content word in it is accounted for.

`verify(sentence, scope)` reads the sentence in its display form (what is stored and shown)
and accounts for each of its words, in this order:

1. a figure (digits, number words, multipliers) is accounted for by a clause in scope that
   states the same value in the same unit, next to the same words ("99% of deadlines" does
   not support "99% uptime"); "N years" may also follow from the roles' own dates;
2. a vocabulary term written by its canonical name is accounted for when the material spells
   that term (by name or a spelling: "Postgres" lets "PostgreSQL" be written; the related
   word "containerization" lets no "Docker" be written);
3. a word is accounted for when the material in scope has it as written (case aside), or a
   tense or number of it, or when it is one of the reviewed rephrasing words of
   `lexicon` (not when it stands where a name stands: capitalised inside a sentence, or after
   "at"/"joined"); a verb that states a fact (led, mentored, reduced...) needs a word of its
   class in scope, next to the same object; role, seniority and degree words must appear as
   written, and a word in mixed scripts only as written.

Then the words that are each accounted for must also hold together: a title the person
claims must be a title they hold, an employer after "at" must be one of theirs, a run of
capitalised words must appear as a run, a degree must come with its own field and school, and
a sentence that names one of the person's employers must rest on that role's lines alone.

Everything else is an unsupported claim, labelled with its kind (best guess) and a reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import NamedTuple

from server.agent.engines.vocabulary import canonical_name, find_terms
from server.agent.verifier.labels import (
    CERTIFICATION,
    EMPLOYER_CUES,
    INSTITUTION,
    LEGAL_SUFFIXES,
    degree_mentions,
)
from server.agent.verifier.lexicon import (
    AUXILIARIES,
    CLASS_NOUNS,
    COVERING_CLASSES,
    DEGREE_QUALIFIERS,
    FUNCTION_WORDS,
    LETTER_WORDS,
    PAST_WORDS,
    PRESENT_WORDS,
    ROLE_NOUNS,
    SENIORITY_WORDS,
    VENDORS,
    class_of,
    evidence_class,
    free_gerunds,
    is_free,
    is_neutral,
    is_past,
    is_verb,
)
from server.agent.verifier.numbers import Figure, bound, figures
from server.agent.verifier.scope import Clause, RoleFacts, Scope, employer_names, names_employer
from server.agent.verifier.text import (
    Token,
    display_form,
    fold,
    key,
    mixed_script,
    split_sentences,
    stem,
    tokens,
)

# What opens a sentence or a clause, so the next word's capital is not a name's.
_OPENERS = re.compile(r"(?:^|[(:;•·\"“‘'\[—–-]|[.!?]\s)\s*$")
_CLAUSE_STOP = re.compile(r"[,;:()\[\]—–]|\.\s")
_OTHER_PEOPLE = frozenset(
    "the our their his her its with for to other fellow of other's every each".split()
)
_SELF_CUES = frozenset({"as", "promoted", "became"})
_PROTECTED = ROLE_NOUNS | SENIORITY_WORDS


@dataclass(frozen=True)
class Claim:
    """An unsupported claim: its kind (best guess), the words, and why it was refused."""

    kind: str
    text: str
    reason: str


class Verdict(NamedTuple):
    """What the gate decided: the sentence as read (display form) and its unsupported claims.
    The sentence may be kept only when `claims` is empty."""

    text: str
    claims: tuple[Claim, ...]

    @property
    def kept(self) -> bool:
        return not self.claims


def verify(sentence: str, scope: Scope) -> Verdict:
    """Account for every content word of `sentence` in `scope`; see the module docstring."""
    text = display_form(sentence)
    toks = tokens(text)
    if not toks:
        return Verdict(text, ())
    check = _Check(text, toks, scope)
    check.find_figures()
    check.terms()
    check.definitions()
    check.words()
    check.figures()
    check.titles()
    check.employers()
    check.capitalised_runs()
    check.degrees()
    check.phrases()
    check.actions()
    check.locality()
    check.employers_in_content()
    check.grades()
    check.credentials()
    check.residence()
    return Verdict(text, tuple(check.claims))


def report(section: str, verdict: Verdict) -> list[dict[str, str]]:
    """A refused sentence's claims as `dropped_claims` entries."""
    return [
        {
            "section": section,
            "text": verdict.text,
            "claim": claim.text,
            "kind": claim.kind,
            "reason": claim.reason,
        }
        for claim in verdict.claims
    ]


def verify_text(text: str, scope: Scope, section: str) -> tuple[str, list[dict[str, str]]]:
    """A text with every sentence the verifier refuses left out (paragraphs, separated by a
    blank line, kept), and the refused sentences' claims as `dropped_claims` entries."""
    paragraphs, dropped = [], []
    for paragraph in re.split(r"\n\s*\n", text or ""):
        kept = []
        for sentence in split_sentences(display_form(paragraph)):
            verdict = verify(sentence, scope)
            if verdict.claims:
                dropped += report(section, verdict)
            else:
                kept.append(verdict.text)
        if kept:
            paragraphs.append(" ".join(kept))
    return "\n\n".join(paragraphs), dropped


class _Check:
    """One sentence's accounting (the steps of `verify`)."""

    def __init__(self, text: str, toks: list[Token], whole: Scope):
        self.text, self.toks, self.whole = text, toks, whole
        self.claims: list[Claim] = []
        self.covered: set[int] = set()  # tokens already accounted for (figures, terms)
        self.term_tokens: set[int] = set()  # tokens of vocabulary terms (a list of skills)
        self.defined: set[int] = set()  # words spelling out an abbreviation beside it
        self.joined: set[int] = set()  # halves of a word the material writes as one
        self.unsupported: set[int] = set()
        self.figs: list[Figure] = []
        self.segments = self.find_segments()
        self.segment_of = {i: n for n, (a, b) in enumerate(self.segments) for i in range(a, b + 1)}
        self.scopes = self.segment_scopes()

    def claim(self, kind: str, text: str, reason: str) -> None:
        text = text.strip(" .,;:")
        for n, existing in enumerate(self.claims):
            if existing.text.lower() == text.lower():
                # A specific kind (a degree, a certification) names the claim better than
                # the word-level guess made first.
                if existing.kind in ("word", "name") and kind not in ("word", "name"):
                    self.claims[n] = Claim(kind, text, reason)
                return
        self.claims.append(Claim(kind, text, reason))

    def scope_at(self, i: int) -> Scope:
        """The scope of token i's segment (its role's lines, when the segment names one of
        the person's employers)."""
        return self.scopes[self.segment_of[i]]

    # --- positions ---------------------------------------------------------------------

    def opens(self, i: int) -> bool:
        """Whether token i opens the sentence or a clause (its capital is no name's)."""
        before = self.text[: self.toks[i].start]
        return i == 0 or bool(_OPENERS.search(before))

    def name_slot(self, i: int) -> bool:
        """Whether token i stands where a name stands: capitalised inside the sentence, or
        right after "at", "joined" or "@"."""
        token = self.toks[i]
        if token.key == "i":
            return False
        if token.capitalised and not self.opens(i):
            return True
        previous = self.toks[i - 1].key if i else ""
        return previous in EMPLOYER_CUES and token.key not in FUNCTION_WORDS

    def named_by_shape(self, i: int) -> bool:
        """Whether a capitalised word that opens a sentence or a bracket is a name all the
        same: alone in brackets ("reports (Delivered)") or after a dash ("reports -
        Delivered"), a label before a colon ("Delivered: ..."), or the first word of a subject
        whose verb follows ("Delivered buyers used the reports")."""
        token = self.toks[i]
        if not token.capitalised or token.kind != "word" or token.key == "i":
            return False
        if i in self.covered or i in self.term_tokens or i in self.defined:
            return False
        before = self.text[: token.start].rstrip()
        after = self.text[token.end :].lstrip()
        if before.endswith("(") and after.startswith(")"):
            return True
        # "reports - Vendor.": a word alone after a dash; "Vendor: built ...": a label.
        if re.search(r"\s[-—–]$", before) and (not after or after[0] in ".,;)"):
            return True
        if i == 0 and after.startswith(":"):
            return True
        if i != 0 or len(self.toks) < 4 or not self.between(1) == " " == self.between(2):
            return False
        noun, verb, then = self.toks[1], self.toks[2], self.toks[3]
        return (
            noun.kind == "word"
            and noun.key not in FUNCTION_WORDS
            and not is_verb(noun.key)
            and is_past(verb.key)
            and then.key in _DETERMINERS
        )

    def written_as_name(self, i: int, scope: Scope) -> bool:
        """Whether the material writes the word as a name: capitalised inside a line, as a
        skill's spelling, or as an abbreviation it uses."""
        token = self.toks[i]
        k = token.key
        if canonical_name(token.text):
            return True
        if token.text.rstrip("s").isupper() and (k in scope.keys or k.rstrip("s") in scope.keys):
            return True  # "KPIs", "SQL"
        return k in scope.inner_capitals or k.rstrip("s") in scope.inner_capitals

    def verb_at(self, i: int) -> bool:
        """Whether token i is a verb (one the lexicon knows, or a past form)."""
        if not 0 <= i < len(self.toks):
            return False
        token = self.toks[i]
        if token.kind != "word" or (token.capitalised and not self.opens(i)):
            return False
        k = token.key
        if k == "to":
            return self.verb_at(i + 1)
        if is_free(k):
            return False  # "experienced", "based", "using": no action of their own
        if k.endswith("ed") and len(k) > 4 and "-" not in k:
            return True
        if not is_verb(k):
            return False
        if k in AUXILIARIES or (class_of(k) and k not in CLASS_NOUNS):
            return True
        # A neutral verb is one where a verb stands ("researched", "to research", "I
        # research"), not where a noun does ("a research intern").
        return (
            is_past(k)
            or k in free_gerunds()
            or self.opens(i)
            or (i > 0 and self.toks[i - 1].key in _VERB_BEFORE)
        )

    def between(self, i: int) -> str:
        """The text between token i-1 and token i."""
        return self.text[self.toks[i - 1].end : self.toks[i].start]

    def find_segments(self) -> list[tuple[int, int]]:
        """The sentence's segments, (first, last) token: it is cut at clause punctuation,
        before "and"/"or" that start a new predicate, before relative words, and before
        "with" after a phrase that has no verb ("Analyst at Acme with a B.S. ...").
        An apposition (", a game for ...") stays with the name it describes."""
        cuts = [0]
        has_verb = self.verb_at(0)
        for i in range(1, len(self.toks)):
            k = self.toks[i].key
            cut = self.stops_before(i)
            if not cut and k in ("and", "or", "but") and self.verb_at(i + 1):
                cut = True
            if not cut and k in _SUBORDINATORS:
                cut = True
            if not cut and k == "with" and not has_verb:
                cut = True
            if cut:
                cuts.append(i)
                has_verb = False
            if self.verb_at(i):
                has_verb = True
        cuts.append(len(self.toks))
        segments = [(cuts[n], cuts[n + 1] - 1) for n in range(len(cuts) - 1)]
        merged: list[tuple[int, int]] = []
        for first, last in segments:
            if merged and self.apposition(merged[-1], first):
                merged[-1] = (merged[-1][0], last)
            else:
                merged.append((first, last))
        return merged

    def stops_before(self, i: int) -> bool:
        """Whether clause punctuation stands between token i-1 and token i (a full stop
        only after a word, not after an abbreviation's: "B.A. in Economics")."""
        gap = self.between(i)
        if _SEGMENT_STOP.search(gap):
            return True
        if gap.startswith(".") and gap[1:2].isspace():
            previous = self.toks[i - 1]
            if previous.kind in ("number", "sign"):
                return True
            return "." not in previous.text and len(previous.text) > 1
        return False

    def apposition(self, previous: tuple[int, int], first: int) -> bool:
        """Whether a segment describes the name the previous one ends with."""
        name = self.toks[previous[1]]
        return (
            self.toks[first].key in ("a", "an", "the")
            and self.between(first).strip() == ","
            and name.capitalised
            and not canonical_name(name.text)
        )

    def segment_scopes(self) -> list[Scope]:
        """Each segment's scope. A segment that names one of the person's employers rests
        on that role's lines (and what is said of no role); an opening "At Acme," binds
        what follows it; the other segments of a sentence that names employers, or claims a
        title only one role held ("As a Data Scientist, ..."), rest on those roles too: a
        relative clause or a "while at Uber" cannot borrow another role's facts."""
        self.named: list[set[int]] = []
        for first, last in self.segments:
            folded = " " + " ".join(fold(t.text) for t in self.toks[first : last + 1]) + " "
            self.named.append(self.whole.roles_named_in(folded))
        self.bound: list[set[int]] = [set() for _ in self.segments]
        for n, (first, last) in enumerate(self.segments):
            head = self.toks[first].key
            # "..., while at Netflix": a trailing employer binds what it follows too.
            if n and self.named[n] and head in _TRAILING_BINDERS and self._only_binds(first, last):
                self.bound[n - 1] |= self.named[n]
                self.named[n - 1] |= self.named[n]
            # "... at Apple who ...": a relative clause is said of what it follows.
            if n and head in _RELATIVES:
                self.bound[n] |= self.named[n - 1]
                self.named[n] |= self.named[n - 1]
        sentence = set().union(*self.named) | self.roles_by_title()
        scopes: list[Scope] = []
        carried: Scope | None = None
        for (first, last), named in zip(self.segments, self.named, strict=True):
            if named and len(self.whole.roles) > 1:
                scope = self.whole.restricted(named, skills=False)
                if self.toks[first].key in _BINDING_OPENERS and last - first <= 5:
                    carried = scope
            elif carried is not None:
                scope = carried
            elif sentence and len(self.whole.roles) > 1:
                scope = self.whole.restricted(sentence)
            else:
                scope = self.whole
            scopes.append(scope)
        return scopes

    def roles_by_title(self) -> set[int]:
        """The roles a sentence points at by a title that only those roles held (not the
        headline's or the summary's), claimed as the person's ("As a Data Scientist")."""
        folded = " " + " ".join(fold(t.text) for t in self.toks) + " "
        general = " ".join(
            c.folded for c in self.whole.clauses if c.kind in ("headline", "summary")
        )
        found = set()
        for role in self.whole.roles:
            for part in re.split(r"[(),&+/]| - ", role.title or ""):
                title = " ".join(fold(t.text) for t in tokens(display_form(part)))
                if not title or f" {title} " in f" {general} ":
                    continue
                for cue in ("as a", "as an", "as", "while a", "while an"):
                    if f" {cue} {title} " in folded:
                        found.add(role.index)
        return found

    def _only_binds(self, first: int, last: int) -> bool:
        """Whether a segment says nothing but where ("while at Netflix")."""
        names = self.employer_tokens
        return all(
            self.toks[i].key in FUNCTION_WORDS
            or i in names
            or self.toks[i].key in _TRAILING_BINDERS
            or (is_neutral(self.toks[i].key) and class_of(self.toks[i].key) is None)
            for i in range(first, last + 1)
        )

    def clause_words(self, start: int, step: int, limit: int) -> list[int]:
        """Indexes of the content words next to token `start` (before it for step -1, after
        it for +1), at most `limit` words away, within its segment."""
        found = []
        i, words = start + step, 0
        segment = self.segment_of[start]
        while 0 <= i < len(self.toks) and words < limit and self.segment_of[i] == segment:
            token = self.toks[i]
            if self.in_figure(i) or (step > 0 and token.key in _CONTEXT_STOPS):
                break  # another figure's words, or a phrase of its own ("by doing X")
            if token.kind == "word" and i not in self.defined:
                words += 1
                if not self.filler(i):
                    found.append(i)
            i += step
        return found

    def class_at(self, i: int) -> str | None:
        """The fact-bearing class of token i, read with the word after it."""
        following = self.toks[i + 1].key if i + 1 < len(self.toks) else ""
        return class_of(self.toks[i].key, following)

    def as_verb(self, i: int) -> bool:
        """Whether a neutral word at i is used as a verb: written in the past, opening its
        segment, or after "to", "and", an auxiliary or a subject."""
        k = self.toks[i].key
        if is_past(k) or k in free_gerunds():
            return True
        if self.segments[self.segment_of[i]][0] == i or self.opens(i):
            return True
        return i > 0 and self.toks[i - 1].key in _VERB_BEFORE

    def filler(self, i: int) -> bool:
        """Whether token i says nothing of its own: a function word, or a neutral verb used
        as a verb."""
        k = self.toks[i].key
        if is_free(k) or k in PAST_WORDS or k in PRESENT_WORDS:
            return True
        if k in _HOLD and (degree_mentions(self.text) or CERTIFICATION.search(self.text)):
            return True
        if k in _GRADUATE and self.whole.degrees:
            return True
        return is_neutral(k) and class_of(k) is None and self.as_verb(i)

    def in_figure(self, i: int) -> bool:
        return any(f.first <= i <= f.last for f in self.figs)

    def vendor_prefix(self, i: int) -> bool:
        """Whether token i is a maker's name before a product the scope names ("Microsoft
        Excel"), not in an employer's place."""
        if self.toks[i].key not in VENDORS or i + 1 >= len(self.toks):
            return False
        previous = self.toks[i - 1].key if i else ""
        product = self.toks[i + 1]
        scope = self.scope_at(i)
        first_part = re.split(r"[-/]", product.key)[0]
        return (
            previous not in EMPLOYER_CUES
            and product.capitalised
            and (product.key in scope.keys or first_part in scope.keys or i + 1 in self.term_tokens)
        )

    # --- 1. figures --------------------------------------------------------------------

    def find_figures(self) -> None:
        self.figs = figures(self.toks)
        for figure in self.figs:
            self.covered.update(range(figure.first, figure.last + 1))

    def figures(self) -> None:
        for figure in self.figs:
            if not self.figure_supported(figure):
                kind = "date" if figure.unit in ("date", "decade") else "number"
                self.claim(kind, self.written(figure), self.figure_reason(figure))
            elif (edge := self.date_edge(figure)) and not self.edge_fits(figure, edge):
                began = "began" if edge != "end" else "ended"
                self.claim("date", self.written(figure), f"{figure.text} is not when it {began}")

    def date_edge(self, figure: Figure) -> str:
        """What a year is said to be: a start ("from 2018", "joined in 2018"), a start that
        lasts until now ("since 2018"), an end ("until 2021", "left in 2021"), or nothing."""
        if figure.unit != "date" or not figure.first:
            return ""
        previous = self.toks[figure.first - 1].key
        if previous in _SINCE:
            return "since"
        if previous in _FROM:
            return "start"
        if previous in _UNTIL or (
            previous == "to" and any(f.unit == "date" and f.last < figure.first for f in self.figs)
        ):
            return "end"
        if previous in ("in", "during"):
            first, _last = self.segments[self.segment_of[figure.first]]
            words = {self.toks[i].key for i in range(first, figure.first)}
            if words & _STARTING:
                return "start"
            if words & _ENDING:
                return "end"
        return ""

    def edge_fits(self, figure: Figure, edge: str) -> bool:
        """Whether a year said to start or end something is when the roles the sentence
        names (or the one role in scope) began or ended, or when the degree it names did; a
        line of the material that says what happened that year is its own evidence."""
        year = int(figure.value)
        named = self.named[self.segment_of[figure.first]]
        scope = self.scope_at(figure.first)
        if any(
            f.same_fact(figure)
            for c in self.clauses_for(figure, scope)
            if c.kind not in ("role", "education")
            for f in c.figures
        ):
            return True
        roles = [r for r in self.whole.roles if r.index in named] or (
            list(scope.roles) if len(scope.roles) == 1 else []
        )
        # The roles named, or else those whose lines say what the sentence says ("Senior
        # Accountant since 2018"): together, from the first one's start to the last one's end.
        if roles := roles or list(self.roles_saying(figure.first)):
            starts = [r.start for r in roles if r.start is not None]
            ends = [r.end for r in roles if r.end is not None]
            span = RoleFacts(-1, "", "", min(starts, default=None), max(ends, default=None))
            return _role_edge_fits(span, edge, year)
        if degree_mentions(self.text) or any(t.key in _GRADUATE for t in self.toks):
            spans = [
                years
                for c in scope.clauses
                if c.kind == "education"
                and year in (years := [int(f.value) for f in c.figures if f.unit == "date"])
            ]
            if edge == "end":
                return any(year == max(years) for years in spans)
            if edge == "start":
                return any(year == min(years) for years in spans)
        return True

    def written(self, figure: Figure) -> str:
        """The figure as written, with its signs ("$2M", "40%")."""
        end = self.toks[figure.last].end
        if figure.last + 1 < len(self.toks) and self.toks[figure.last + 1].text == "%":
            end = self.toks[figure.last + 1].end
        return self.text[self.toks[figure.first].start : end]

    def context(self, figure: Figure) -> list[Token]:
        """The content words that say what the figure counts: the nearest before and after
        it in its segment (words that are themselves unsupported are reported on their
        own)."""
        words = []
        for step, start in ((-1, figure.first), (1, figure.last)):
            near = self.clause_words(start, step, _FIGURE_REACH)
            if near and near[0] not in self.unsupported:
                words.append(self.toks[near[0]])
        return words

    def figure_supported(self, figure: Figure) -> bool:
        context = self.context(figure)
        scope = self.scope_at(figure.first)
        mine = bound(self.toks, self.text, figure)
        for clause in self.clauses_for(figure, scope):
            for fact in clause.figures:
                if not fact.same_fact(figure) or not _same_bound(mine, clause, fact):
                    continue
                if all(_near(word, clause, fact) for word in context):
                    return True
        if figure.unit in ("year", "month") and self.speaks_of_experience(figure):
            years = self.years_of_subject(figure)
            if years is not None:
                most = math.floor(years + 0.5) if figure.unit == "year" else years * 12 + 0.5
                return figure.value <= most
        return False

    def years_of_subject(self, figure: Figure) -> float | None:
        """How long the roles span that show what the years are of: "10 years of MongoDB"
        counts the roles that name MongoDB; "6 years of experience", the whole career (or
        the roles the sentence names)."""
        folded = " " + " ".join(fold(t.text) for t in self.toks) + " "
        named = self.whole.roles_named_in(folded)
        pool = self.whole.restricted(named) if named else self.whole
        roles: set[int] = set()
        start = self.segment_of[figure.first]
        for n in range(start, len(self.segments)):
            first, last = self.segments[n]
            if n > start and self.toks[first].key in _SUBORDINATORS | _RELATIVES:
                break  # another statement ("after an internship at ...")
            if n == start:
                first = figure.last + 1
            roles |= self.named[n]
            words = [
                i
                for i in self.content_of(first, last, pool)
                if self.toks[i].key not in _YEARS_WORDS and i not in self.unsupported
            ]
            if not words:
                continue
            showing = {
                c.role
                for c in pool.clauses
                if c.role is not None
                and pool.holds_together(
                    c, lambda c, words=words: all(_in_clause(self.toks[i], c) for i in words)
                )
            }
            if not showing:
                return 0.0  # what the years are of, no role shows
            roles |= showing
        if not roles:
            return pool.experience_years()
        return self.whole.restricted(roles).experience_years()

    def clauses_for(self, figure: Figure, scope: Scope) -> list[Clause]:
        """The lines a figure may come from: a date in a part that names a role comes from
        that role's lines; a date in a sentence about a degree, from education."""
        if figure.unit not in ("date", "decade"):
            return scope.clauses
        named = self.named[self.segment_of[figure.first]]
        if named:
            return [c for c in scope.clauses if c.role in named]
        if degree_mentions(self.text):
            return [c for c in scope.clauses if c.kind == "education"]
        return scope.clauses

    def speaks_of_experience(self, figure: Figure) -> bool:
        """Whether "N years" counts the person's experience ("6 years of experience", "for
        6 years at Acme", "with 6 years in retail"), which the roles' dates may support, and
        not some other span ("sped up by 6 months")."""
        before = self.toks[figure.first - 1].key if figure.first else ""
        after = [t.key for t in self.toks[figure.last + 1 : figure.last + 4]]
        return before in _EXPERIENCE_CUES or "experience" in after or "experienced" in after

    def figure_reason(self, figure: Figure) -> str:
        context = " ".join(w.text for w in self.context(figure))
        scope = self.scope_at(figure.first)
        if any(f.same_fact(figure) for c in scope.clauses for f in c.figures):
            return (
                f"{self.written(figure)} is in the source material, but not for {context!r}"
                if context
                else f"{self.written(figure)} is in the source material, but not in this context"
            )
        if figure.unit in ("year", "month"):
            return f"{figure.text} {figure.unit}s do not follow from the source's dates or words"
        return f"{self.written(figure)} is not in the source material"

    # --- 2. vocabulary terms, abbreviations defined in place ------------------------------

    def terms(self) -> None:
        """A term the material spells may be written by its name or another spelling of it
        ("PostgreSQL" for "Postgres"), never on a related word's evidence."""
        for match in find_terms(self.text):
            inside = [
                i for i, t in enumerate(self.toks) if t.start >= match.start and t.end <= match.end
            ]
            self.term_tokens.update(inside)
            if match.related or not inside:
                continue
            if match.term.canonical in self.scope_at(inside[0]).writable_terms:
                self.covered.update(inside)

    def definitions(self) -> None:
        """An abbreviation the material uses may be spelled out beside it, in brackets:
        "enterprise resource planning (ERP)", "ERP (enterprise resource planning)"."""
        for j, token in enumerate(self.toks):
            keys = self.scope_at(j).keys
            if token.kind != "word" or not (token.key in keys or token.key.rstrip("s") in keys):
                continue
            inside = self.text[max(0, token.start - 1) : token.end + 1]
            letters = re.sub(r"[^a-z]", "", token.key)
            if len(letters) < 2:
                continue
            if inside.startswith("(") and inside.endswith(")"):
                self._cover_initials(range(j - 1, max(-1, j - 9), -1), letters, backwards=True)
            elif token.end < len(self.text) and self.text[token.end : token.end + 2] == " (":
                self._cover_initials(range(j + 1, min(len(self.toks), j + 9)), letters)

    def _cover_initials(self, indexes, letters: str, *, backwards: bool = False) -> None:
        words: list[int] = []
        for i in indexes:
            words.append(i)
            ordered = sorted(words)
            kept = [
                self.toks[k].key
                for k in ordered
                if self.toks[k].key not in _SKIPPED_IN_INITIALS and self.toks[k].key[:1].isalpha()
            ]
            whole = "".join(w[0] for w in kept)
            parts = "".join(p[0] for w in kept for p in re.split(r"[-/]", w) if p)
            singular = letters[:-1] if letters.endswith("s") else letters
            if whole in (letters, singular) or parts in (letters, singular):
                self.covered.update(ordered)
                self.defined.update(ordered)
                return
            if min(len(whole), len(parts)) > len(letters):
                return

    # --- 3. words -----------------------------------------------------------------------

    def words(self) -> None:
        for i, token in enumerate(self.toks):
            if i in self.covered or token.kind == "sign":
                continue
            if token.kind == "symbol":
                if token.text not in self.scope_at(i).symbols:
                    self.claim(
                        "symbol", token.text, f"the sign {token.text!r} is not in the source"
                    )
                continue
            if not self.word_supported(i):
                self.unsupported.add(i)
        for run in self.claim_runs(sorted(self.unsupported)):
            words = self.text[self.toks[run[0]].start : self.toks[run[-1]].end]
            kind, reason = self.label(run, words)
            self.claim(kind, words, reason)

    def claim_runs(self, indexes: list[int]) -> list[list[int]]:
        """Adjacent unsupported words as one claim, a vocabulary term always on its own."""
        term_of = {}
        for n, match in enumerate(find_terms(self.text)):
            for i, t in enumerate(self.toks):
                if t.start >= match.start and t.end <= match.end:
                    term_of[i] = n
        runs: list[list[int]] = []
        for i in indexes:
            if runs and runs[-1][-1] == i - 1 and term_of.get(i) == term_of.get(runs[-1][-1]):
                runs[-1].append(i)
            else:
                runs.append([i])
        return runs

    def word_supported(self, i: int) -> bool:
        token = self.toks[i]
        k = token.key
        scope = self.scope_at(i)
        if self.named_by_shape(i) and not self.written_as_name(i, scope):
            return False
        if k in scope.keys or (k.endswith("s") and k[:-1] in scope.keys and len(k) > 3):
            return True
        if mixed_script(token.text):
            return False
        in_name_slot = self.name_slot(i)
        singular = k[:-1] if k.endswith("s") else k
        protected = k in _PROTECTED or singular in _PROTECTED
        if protected and (singular not in ("lead", "head") or self._title_use(i)):
            return singular in scope.keys or k + "s" in scope.keys
        if not in_name_slot and (is_free(k) or (is_neutral(k) and self.as_verb(i))):
            return True
        if k in FUNCTION_WORDS:
            return True
        if k in PAST_WORDS or k in PRESENT_WORDS:
            return self.tense_fits(i, k in PRESENT_WORDS)
        if k in _HOLD and (degree_mentions(self.text) or CERTIFICATION.search(self.text)):
            return True  # "holds a B.S.": the degree check decides (not "holds 2 patents")
        if k in _GRADUATE and scope.degrees:
            return True  # a graduate of the degree the material shows
        if not in_name_slot and scope.purpose == "letter" and k in LETTER_WORDS:
            return True
        if self.vendor_prefix(i):
            return True
        cls = self.class_at(i)
        if cls is not None and not in_name_slot:
            return _class_in(cls, scope.classes)
        if self.joined_in(i, scope):
            self.joined.add(i)
            return True  # "Argo CD" for "ArgoCD"
        if in_name_slot:
            return singular in scope.keys or k + "s" in scope.keys
        parts = [p for p in re.split(r"[-/]", k) if p]
        if _word_parts(parts) and all(p in scope.keys or stem(p) in scope.stems for p in parts):
            return True
        if len(parts) > 1 and scope.has_phrase(" ".join(parts)):
            return True  # "9-node" for "9 nodes": the figure with its own word
        if self.joined_in(i, scope):
            return True  # "Argo CD" for "ArgoCD"
        return _stem_of(k) in scope.stems

    def joined_in(self, i: int, scope: Scope) -> bool:
        """Whether the word, written together with its neighbour, is a word of scope."""
        k = self.toks[i].key
        before = self.toks[i - 1].key if i and not self.between(i).strip() else None
        after = (
            self.toks[i + 1].key
            if i + 1 < len(self.toks) and not self.between(i + 1).strip()
            else None
        )
        return bool((before and before + k in scope.keys) or (after and k + after in scope.keys))

    def tense_fits(self, i: int, present: bool) -> bool:
        """Whether "currently"/"previously" fits the roles its segment names (a current role
        ends today); a segment that names no role states no such fact."""
        roles = self.scope_at(i).roles if self.scope_at(i) is not self.whole else ()
        if not roles:
            roles = self.roles_saying(i)
        if not roles:
            return True
        today = max((r.end for r in self.whole.roles if r.end), default=None)
        current = [r.end is not None and r.end == today for r in roles]
        return all(current) if present else not any(current)

    def roles_saying(self, i: int) -> tuple:
        """The roles whose lines say what token i's segment says (without the time word)."""
        first, last = self.segments[self.segment_of[i]]
        words = [
            j
            for j in self.content_of(first, last, self.whole)
            if self.toks[j].key not in PAST_WORDS | PRESENT_WORDS
        ]
        if not words:
            return ()
        indexes = {
            c.role
            for c in self.whole.clauses
            if c.role is not None
            and self.whole.holds_together(
                c, lambda c: all(_in_clause(self.toks[j], c) for j in words)
            )
        }
        return tuple(r for r in self.whole.roles if r.index in indexes)

    def label(self, run: list[int], words: str) -> tuple[str, str]:
        """The kind of claim a run of unsupported words makes, and why it is refused."""
        run_tokens = [self.toks[i] for i in run]
        if any(mixed_script(t.text) for t in run_tokens):
            return "look-alike", f"{words!r} mixes letters of different scripts"
        for t in run_tokens:
            imitated = self.whole.folds.get(fold(t.text))
            if imitated and key(imitated) != t.key:
                return "look-alike", f"{t.text!r} looks like {imitated!r} but is spelled otherwise"
        if degree_mentions(words):
            return "degree", f"no {words} is in the source material"
        lowered = words.lower()
        if find_terms(words) or any(k.lower() in lowered for k in self.whole.keywords):
            return "skill", f"the skill {words} is not shown in the source material"
        if any(t.key in _PROTECTED or t.key.rstrip("s") in _PROTECTED for t in run_tokens):
            return "title", f"the title word {words!r} is not in the source material"
        previous = self.toks[run[0] - 1].key if run[0] else ""
        following = self.toks[run[-1] + 1].key if run[-1] + 1 < len(self.toks) else ""
        if previous in EMPLOYER_CUES | {"for", "with", "from", "by"} or following in LEGAL_SUFFIXES:
            return "employer", f"{words!r} is not named in the source material"
        if any(class_of(t.key) for t in run_tokens):
            return "action", f"{words!r}: the source material says nothing of the kind"
        if (
            (run_tokens[0].capitalised and not self.opens(run[0]))
            or self.name_slot(run[0])
            or self.named_by_shape(run[0])
        ):
            return "name", f"{words!r} is not named in the source material"
        return "word", f"{words!r} is not in the source material"

    # --- 4. words that must hold together -----------------------------------------------

    def titles(self) -> None:
        """A title the person claims must be one of theirs; one of others must be in scope."""
        for start, end in self.title_spans():
            if any(i in self.unsupported for i in range(start, end + 1)):
                continue
            phrase = self.text[self.toks[start].start : self.toks[end].end]
            scope = self.scope_at(start)
            previous = self.toks[start - 1].key if start else ""
            last = self.toks[end].key
            plural = last.endswith("s") and last[:-1] in ROLE_NOUNS
            if plural or previous in _OTHER_PEOPLE:
                if not scope.has_phrase(phrase):
                    self.claim(
                        "title", phrase, f"{phrase!r} does not appear in the source material"
                    )
            elif not self.title_held(start, end, scope):
                self.claim("title", phrase, f"the title {phrase!r} is not one the person holds")

    def title_held(self, start: int, end: int, scope: Scope) -> bool:
        """Whether the person holds the title: a role's title or the headline (in the role
        whose employer follows "of"/"at"), said of them in the material ("as", "promoted
        to"), or opening one of its lines."""
        phrase = self.text[self.toks[start].start : self.toks[end].end]
        for n in range(start + 1, end):
            if self.toks[n].key in ("of", "at"):
                folded_tail = " " + " ".join(fold(t.text) for t in self.toks[n + 1 : end + 1]) + " "
                roles = [r for r in scope.roles if names_employer(folded_tail, r.employer)]
                if roles:
                    title = self.text[self.toks[start].start : self.toks[n - 1].end]
                    return all(_holds_title(title, r.title) for r in roles)
        held = [c for c in scope.clauses if c.kind in ("role", "headline", "summary")]
        if any(_holds_title(phrase, c.text) for c in held):
            return True
        if not scope.title_text.strip():
            return scope.has_phrase(phrase)  # plain texts: no line is known as a title
        words = " ".join(fold(t.text) for t in tokens(phrase))
        return any(
            c.folded.startswith(f" {words} ")
            or any(f" {cue} {words} " in c.folded for cue in _SELF_CUES)
            for c in scope.clauses
        )

    def title_spans(self) -> list[tuple[int, int]]:
        """(first, last) token of each title phrase: a role noun with seniority words or
        capitalised words before it, or "Head of Sales", or a capitalised role noun alone
        where a title stands ("Engineer at Acme")."""
        spans = []
        for i, token in enumerate(self.toks):
            k = token.key
            singular = k[:-1] if k.endswith("s") else k
            parts = [p for p in re.split(r"[-/]", k) if p]
            if token.kind != "word" or not (
                k in ROLE_NOUNS or singular in ROLE_NOUNS or any(p in ROLE_NOUNS for p in parts)
            ):
                continue
            if singular in ("lead", "head") and not self._title_use(i):
                continue
            start = i
            seniority = False
            while start > 0 and i - start < 4 and self.between(start).strip() in ("", "&"):
                before = self.toks[start - 1]
                if (
                    self.in_figure(start - 1)
                    or before.kind != "word"
                    or before.key in PAST_WORDS | PRESENT_WORDS
                    or (is_verb(before.key) and before.key not in SENIORITY_WORDS)
                ):
                    break  # "Mentored three junior engineers", "Former engineer"
                if before.key in SENIORITY_WORDS:
                    seniority = True
                elif (
                    not (before.capitalised and before.kind == "word")
                    or before.key in FUNCTION_WORDS
                ):
                    if not (
                        seniority
                        and before.kind == "word"
                        and before.key not in FUNCTION_WORDS
                        and not is_neutral(before.key)
                    ):
                        break
                start -= 1
            end = i
            if (
                end + 2 < len(self.toks)
                and self.toks[end + 1].key in ("of", "at")
                and self.toks[end + 2].capitalised
            ):
                end += 2
                while end + 1 < len(self.toks) and self.toks[end + 1].capitalised:
                    end += 1
            if any(self.toks[n].key in _CREDENTIAL_WORDS for n in range(start, end + 1)):
                continue  # a certification's name: `phrases` decides
            if all(n in self.defined for n in range(start, i + 1)):
                continue  # an abbreviation spelled out ("Chief Technology Officer (CTO)")
            modifiers = start < i or end > i
            lone_title = token.capitalised and (
                (i + 1 < len(self.toks) and self.toks[i + 1].key in ("at", "for", "with"))
                or (i >= 2 and self.toks[i - 1].key in ("a", "an") and self.toks[i - 2].key == "as")
            )
            if modifiers and (seniority or self.toks[start].capitalised) or lone_title:
                spans.append((start, end))
        return spans

    def _title_use(self, i: int) -> bool:
        """Whether "lead"/"head" is a title here (before a role noun or "of", or capitalised
        inside the sentence), not the verb."""
        nxt = self.toks[i + 1].key if i + 1 < len(self.toks) else ""
        return nxt in ROLE_NOUNS or nxt == "of" or (self.toks[i].capitalised and not self.opens(i))

    def employers(self) -> None:
        """A name after "at"/"joined" is an employer: it must be one of the roles in scope,
        or appear after the same word in the material (an event: "at NeurIPS 2022")."""
        for i, token in enumerate(self.toks):
            if token.key not in EMPLOYER_CUES or i + 1 >= len(self.toks):
                continue
            for run in self.name_runs(i + 1):
                if any(j in self.unsupported for j in run):
                    continue
                if self.toks[run[-1]].key in ROLE_NOUNS:
                    continue  # a title: `titles` decides
                scope = self.scope_at(run[0])
                name = self.text[self.toks[run[0]].start : self.toks[run[-1]].end]
                folded = " " + " ".join(fold(self.toks[j].text) for j in run) + " "
                if any(names_employer(folded, r.employer) for r in scope.roles):
                    continue
                if scope.has_phrase(f"{token.text} {name}") or self.event(run, scope):
                    continue
                if scope.roles or any(s.kind == "role" for s in scope.sources):
                    self.claim("employer", name, f"{name!r} is not one of the person's employers")
                elif not scope.has_phrase(name):
                    self.claim("employer", name, f"{name!r} is not named in the source material")

    def event(self, run: list[int], scope: Scope) -> bool:
        """Whether a name after "at" is an event the material names (a year follows it, or
        the sentence presents or publishes)."""
        if not scope.has_phrase(self.text[self.toks[run[0]].start : self.toks[run[-1]].end]):
            return False
        after = run[-1] + 1
        dated = any(f.first == after and f.unit == "date" for f in self.figs)
        presenting = any(t.key in _EVENT_WORDS for t in self.toks)
        return dated or presenting

    def name_runs(self, i: int) -> list[list[int]]:
        """The names starting at token i: capitalised words (joined by "&" or "of"), each
        name of a list ("X, Y and Z") on its own; or the one lower-case word."""
        runs: list[list[int]] = []
        run: list[int] = []
        j = i
        while j < len(self.toks) and self.toks[j].kind in ("word", "number"):
            t = self.toks[j]
            gap = self.between(j).strip() if j > i else ""
            if gap not in ("", ",", "&") or (
                gap == "," and (not t.capitalised or t.key == "i" or self.verb_at(j))
            ):
                break
            if gap == "," and t.key.rstrip(".") in LEGAL_SUFFIXES and run:
                run.append(j)  # "ABC Company, Inc."
                j += 1
                continue
            if t.key in ("and", "or") or gap == ",":
                following = (
                    self.toks[j + 1] if t.key in ("and", "or") and j + 1 < len(self.toks) else t
                )
                if run and canonical_name(following.text):
                    break  # "at Google and JS": a tool, not another employer
                if run:
                    runs.append(run)
                run = []
                if t.key in ("and", "or"):
                    j += 1
                    continue
            if t.capitalised or (j == i and t.key not in FUNCTION_WORDS):
                run.append(j)
            elif t.key == "of" and run and j + 1 < len(self.toks) and self.toks[j + 1].capitalised:
                run.append(j)
            else:
                break
            j += 1
        if run:
            runs.append(run)
        return runs

    def capitalised_runs(self) -> None:
        """Capitalised words that stand together must stand together in the material."""
        i, size = 0, len(self.toks)
        while i < size:
            if not self._capital_word(i):
                i += 1
                continue
            j = i + 1
            while j < size and self._capital_word(j) and not self.between(j).strip():
                j += 1
            run = list(range(i, j))
            if self.opens(i) and (is_neutral(self.toks[i].key) or is_verb(self.toks[i].key)):
                run = run[1:]
            run = [k for k in run if not self.vendor_prefix(k)]
            if len(run) == 1 and self.unknown_capital(run[0]):
                word = self.toks[run[0]].text
                previous = self.toks[run[0] - 1].key if run[0] else ""
                kind = "employer" if previous in EMPLOYER_CUES | _NAME_CUES else "name"
                self.claim(
                    kind, word, f"{word!r} is written as a name, which the source material never is"
                )
            if len(run) >= 2 and not any(k in self.unsupported or k in self.covered for k in run):
                phrase = self.text[self.toks[run[0]].start : self.toks[run[-1]].end]
                last = self.toks[run[-1]].key
                is_title = last in ROLE_NOUNS or last.rstrip("s") in ROLE_NOUNS
                all_terms = all(canonical_name(self.toks[k].text) for k in run)
                if not is_title and not all_terms and not self.run_in_scope(run):
                    self.claim(
                        "name", phrase, f"{phrase!r} does not appear as such in the source material"
                    )
            i = j

    def unknown_capital(self, i: int) -> bool:
        """Whether a capitalised word standing alone inside a sentence is a name the material
        never writes: its capital is no sentence's, no skill's and no word the material
        capitalises ("reports for Vendor" when the material says "vendor lead times")."""
        token = self.toks[i]
        if self.opens(i) or canonical_name(token.text) or i in self.unsupported:
            return False
        if i in self.covered or i in self.term_tokens or i in self.defined or i in self.joined:
            return False
        scope = self.scope_at(i)
        # A verb's capital at the start of a line is a sentence's, not a name's.
        verb = is_verb(token.key) or is_neutral(token.key) or class_of(token.key) is not None
        capitals = scope.inner_capitals if verb else scope.capitals
        # "Backbone.js-like": the part that carries the capital.
        return not any(
            k in capitals or k.rstrip("s") in capitals or k + "s" in capitals
            for k in (token.key, re.split(r"[-/.]", token.key)[0])
        )

    def run_in_scope(self, run: list[int]) -> bool:
        """Whether a run of capitalised words stands so in scope: as written, written as one
        word ("Argo CD" for "ArgoCD"), or after an honorific ("Professor Ada Byron" for
        "Prof Ada Byron")."""
        scope = self.scope_at(run[0])
        phrase = self.text[self.toks[run[0]].start : self.toks[run[-1]].end]
        if scope.has_phrase(phrase):
            return True
        if "".join(self.toks[k].key for k in run) in scope.keys:
            return True
        if self.toks[run[0]].key in _HONORIFICS and len(run) > 2:
            rest = self.text[self.toks[run[1]].start : self.toks[run[-1]].end]
            return scope.has_phrase(rest)
        return False

    def _capital_word(self, i: int) -> bool:
        token = self.toks[i]
        return token.kind == "word" and token.capitalised and token.key != "i"

    def degrees(self) -> None:
        """A degree must be one the person holds, with its own field and school."""
        for level, start, end in degree_mentions(self.text):
            mention = self.text[start:end]
            first = next((i for i, t in enumerate(self.toks) if t.end > start), 0)
            clauses = self.scope_at(first).degrees.get(level) or []
            if not clauses:
                self.claim("degree", mention, f"no {level} degree is in the source material")
                continue
            after = _degree_words(
                [
                    t
                    for i, t in enumerate(self.toks)
                    if t.start >= end and self.segment_of[i] == self.segment_of[first]
                ]
            )
            if not any(all(_in_clause(t, c) for t in after) for c in clauses):
                words = " ".join(t.text for t in after)
                self.claim(
                    "degree",
                    f"{mention} {words}".strip(),
                    f"the {level} degree in the source is not {words!r}",
                )
                continue
            qualified = [c for c in clauses if c.keys & DEGREE_QUALIFIERS]
            if len(qualified) == len(clauses):
                wanted = set().union(*(c.keys & DEGREE_QUALIFIERS for c in qualified))
                if not any(t.key in wanted for t in self.toks):
                    self.claim(
                        "degree",
                        mention,
                        f"the source's {level} degree is qualified ({', '.join(sorted(wanted))})",
                    )

    def phrases(self) -> None:
        """Institutions and certifications must be named as such in the material."""
        for pattern, kind in ((INSTITUTION, "institution"), (CERTIFICATION, "certification")):
            for match in pattern.finditer(self.text):
                phrase = match.group(0).strip()
                first = next((i for i, t in enumerate(self.toks) if t.end > match.start()), 0)
                if phrase and not self.scope_at(first).has_phrase(phrase):
                    self.claim(kind, phrase, f"the {kind} {phrase!r} is not in the source material")

    def actions(self) -> None:
        """A verb that states a fact must stand next to the same object in one clause of the
        material that has a word of its class ("led the migration" needs a line that led
        the migration)."""
        for i, token in enumerate(self.toks):
            cls = self.class_at(i)
            if cls is None or token.key in CLASS_NOUNS or i in self.unsupported:
                continue
            if self.in_figure(i) or self.name_slot(i):
                continue
            objects = self.clause_words(i, 1, 3)
            objects = [
                j for j in objects if self.class_at(j) is None and not self.vendor_prefix(j)
            ][:1]
            if not objects:
                continue
            target = self.toks[objects[0]]
            scope = self.scope_at(i)
            if not any(
                scope.holds_together(
                    c,
                    lambda c, cls=cls, target=target: (
                        _class_in(cls, c.classes) and _in_clause(target, c)
                    ),
                )
                for c in scope.clauses
            ):
                phrase = self.text[token.start : target.end]
                self.claim(
                    "action",
                    phrase,
                    f"the source material does not say it {token.text.lower()} {target.text}",
                )

    def term_names(self) -> dict[int, str]:
        """Token index -> the canonical name of the vocabulary term it is part of."""
        names = {}
        for match in find_terms(self.text):
            for i, t in enumerate(self.toks):
                if t.start >= match.start and t.end <= match.end:
                    names[i] = match.term.canonical
        return names

    def conjuncts(self) -> list[tuple[int, int, int]]:
        """(segment, first, last) of each part of a segment between "and"/"or": the items
        of "built SQL reports and Tableau dashboards" are said one by one."""
        parts = []
        for n, (first, last) in enumerate(self.segments):
            start = first
            for i in range(first, last + 1):
                if self.toks[i].key in ("and", "or"):
                    parts.append((n, start, i - 1))
                    start = i + 1
            parts.append((n, start, last))
        return [(n, a, b) for n, a, b in parts if a <= b]

    def groups(self) -> list[list[int]]:
        """Segments that make one statement, for locality: a participle that reports a
        result after a comma ("..., reducing costs by 18%") belongs with the action before
        it, and so does a list that continues a verb's objects ("Trained analysts on Excel,
        VBA and SQL"); an opening participle ("Using Tableau, cut ...") with what follows."""
        groups: list[list[int]] = []
        for n, (first, _last) in enumerate(self.segments):
            previous = groups[-1] if groups else None
            comma = first > 0 and self.between(first).strip() == ","
            acting = previous is not None and any(
                self.verb_at(i) for k in previous for i in self._range(k)
            )
            continues = (
                comma
                and acting
                and (
                    self.reports_result(n)
                    or self.lists_on(n)
                    or self.with_whom_or_what(n)
                    or self.toks[first].key in _TOOL_CUES
                )
            )
            if continues:
                previous.append(n)
            elif (
                previous is not None and len(previous) == 1 and self.opening_participle(previous[0])
            ):
                previous.append(n)
            else:
                groups.append([n])
        return groups

    def _range(self, n: int) -> range:
        first, last = self.segments[n]
        return range(first, last + 1)

    def participle(self, n: int) -> bool:
        return _participle(self.toks[self.segments[n][0]].key)

    def reports_result(self, n: int) -> bool:
        """A participle segment with a figure or a verb of change: a result."""
        return self.participle(n) and any(
            self.in_figure(i) or self.class_at(i) in ("increase", "decrease")
            for i in self._range(n)
        )

    def with_whom_or_what(self, n: int) -> bool:
        """A "with ..." after an action that names a person or a figure ("..., with Prof
        Tilsen", "..., with 100% test coverage"): said of that action, not of the person."""
        first, last = self.segments[n]
        if self.toks[first].key != "with":
            return False
        return any(
            self.in_figure(i)
            or (
                self.toks[i].capitalised
                and i not in self.term_tokens
                and self.toks[i].kind == "word"
                and not is_verb(self.toks[i].key)
            )
            for i in range(first + 1, last + 1)
        )

    def lists_on(self, n: int) -> bool:
        """A segment without a verb that is not an attribute ("with ..."): a list goes on."""
        first, _last = self.segments[n]
        if self.toks[first].key == "with" or _participle(self.toks[first].key):
            return False
        return not any(self.verb_at(i) for i in self._range(n))

    def opening_participle(self, n: int) -> bool:
        first, last = self.segments[n]
        return n == 0 and self.participle(n) and last + 1 < len(self.toks)

    def content_of(self, first: int, last: int, scope: Scope) -> list[int]:
        """The words of a stretch that must be said together (not its employers' names:
        those bind it to their roles)."""
        return [
            i
            for i in range(first, last + 1)
            if self.toks[i].kind == "word"
            and not self.in_figure(i)
            and not self.filler(i)
            and i not in self.defined
            and i not in self.joined
            and i not in self.employer_tokens
            and not self.vendor_prefix(i)
            and not (scope.purpose == "letter" and self.toks[i].key in LETTER_WORDS)
            and self.toks[i].key != "i"
        ]

    @cached_property
    def employer_tokens(self) -> set[int]:
        """Tokens that are part of one of the person's employers' names."""
        found = set()
        for role in self.whole.roles:
            for name in employer_names(role.employer):
                words = name.split()
                for i in range(len(self.toks) - len(words) + 1):
                    if [fold(t.text) for t in self.toks[i : i + len(words)]] == words:
                        found.update(range(i, i + len(words)))
        suffixes = {
            i for i in range(len(self.toks)) if self.toks[i].key.rstrip(".") in LEGAL_SUFFIXES
        }
        return found | {i for i in suffixes if i - 1 in found}

    def roles_in(self, first: int, last: int) -> set[int]:
        """The roles a stretch names, and those its segment is bound to by what follows or
        precedes it ("..., while at Netflix", "at Apple who ...")."""
        folded = " " + " ".join(fold(t.text) for t in self.toks[first : last + 1]) + " "
        if len(self.whole.roles) <= 1:
            return set()
        return self.whole.roles_named_in(folded) | self.bound[self.segment_of[first]]

    def units(self) -> list[tuple[int, int, list[int], set[int], int, bool]]:
        """The statements locality checks: (first, last, head words, roles, segment). A
        conjunct that is only an employer's name ("at OpenAI and Uber") extends the one
        before it to that employer too; a short item of a continued list is checked with
        the words of the action it continues."""
        units: list[tuple[int, int, list[int], set[int], int, bool]] = []
        for members in self.groups():
            head = members[0]
            head_scope = self.scopes[head]
            lead: list[int] = []  # the first conjunct's words, when it states a figure
            for number, (_n, a, b) in enumerate(self.conjuncts_of(head)):
                content = self.content_of(a, b, head_scope)
                roles = self.roles_in(a, b)
                if units and not content and roles and units[-1][4] == head:
                    first, last, extra, previous_roles, seg, measured = units[-1]
                    units[-1] = (first, last, extra, previous_roles | roles, seg, measured)
                    continue
                if number == 0 and any(self.in_figure(i) for i in range(a, b + 1)):
                    lead = content
                # "Saved 30% ... by introducing Graviton and Kubernetes", "..., establishing
                # X and reducing Y by 18%": an item or a result goes with the figure's words.
                item = 0 < len(content) <= 2 and all(i in self.term_tokens for i in content)
                result = _participle(self.toks[a].key) and self.has_figure(a, b)
                tied = bool(number > 0 and lead and (item or result))
                units.append(
                    (a, b, lead if tied else [], roles, head, tied or self.has_figure(a, b))
                )
            # A continued list goes on from the last part of the segment it follows.
            _n, last_first, last_last = self.conjuncts_of(head)[-1]
            head_words = self.content_of(last_first, last_last, head_scope)
            for n in members[1:]:
                if self.reports_result(n):
                    roles = self.roles_in(*self.segments[n])
                    units.append((*self.segments[n], head_words, roles, n, True))
                    continue
                for _m, a, b in self.conjuncts_of(n):
                    short = len(self.content_of(a, b, self.scopes[n])) <= 2
                    extra = head_words if short else []
                    units.append((a, b, extra, self.roles_in(a, b), n, self.has_figure(a, b)))
        return units

    def grades(self) -> None:
        """A level given to a skill ("advanced Python") must be the level the material
        gives that skill: the same word next to it ("Python (Advanced)")."""
        for i, token in enumerate(self.toks):
            if token.key not in _PROFICIENCY or i in self.unsupported or i in self.defined:
                continue
            if token.capitalised and not self.opens(i) and i in self.term_tokens:
                continue  # part of a name ("Visual Basic")
            graded = [
                j
                for j in range(i + 1, min(len(self.toks), i + 8))
                if self.segment_of[j] == self.segment_of[i] and j in self.term_tokens
            ] or [
                j
                for j in range(i + 1, min(len(self.toks), i + 4))
                if self.toks[j].kind == "word" and not self.filler(j)
            ][:1]
            for j in graded:
                skill = self.toks[j]
                if not any(
                    _graded_in(clause, token.key, skill) for clause in self.scope_at(i).clauses
                ):
                    self.claim(
                        "skill",
                        f"{token.text} {skill.text}",
                        f"the source material does not rate {skill.text} {token.key}",
                    )

    def residence(self) -> None:
        """Where the person says they live ("I am based in", "analyst located in") must be
        the place of their contact details or profile: a role's location is where they
        worked, not where they are."""
        home = " " + " ".join(c.folded for c in self.whole.clauses if c.kind == "contact") + " "
        for i, token in enumerate(self.toks[:-2]):
            if token.key not in _RESIDING or self.toks[i + 1].key != "in":
                continue
            previous = self.toks[i - 1].key if i else ""
            if i and previous not in _SELF_BEFORE_PLACE and previous not in ROLE_NOUNS:
                continue  # "a team based in Berlin": someone else's place
            place = []
            for j in range(i + 2, len(self.toks)):
                t = self.toks[j]
                gap = self.between(j).strip()
                if t.kind != "word" or not t.capitalised or (place and gap not in ("", ",")):
                    break
                place.append(j)
            if not place:
                continue
            words = " ".join(fold(self.toks[j].text) for j in place)
            if f" {words} " not in home:
                phrase = self.text[self.toks[place[0]].start : self.toks[place[-1]].end]
                self.claim(
                    "name", phrase, f"{phrase!r} is not where the person's contact details are"
                )

    def credentials(self) -> None:
        """A credential the material only qualifies ("CPA eligible", "pursuing the PMP")
        must keep its qualifier."""
        for match in CERTIFICATION.finditer(self.text):
            phrase = match.group(0).strip()
            words = [t for t in tokens(phrase) if t.key not in _CREDENTIAL_WORDS]
            if not words:
                continue
            holding = [c for c in self.scope_at(0).clauses if all(t.key in c.keys for t in words)]
            qualified = [c for c in holding if c.keys & _CREDENTIAL_QUALIFIERS]
            if holding and len(qualified) == len(holding):
                said = {t.key for t in self.toks}
                if not said & _CREDENTIAL_QUALIFIERS:
                    self.claim(
                        "certification",
                        phrase,
                        f"the source material says {phrase} is not held yet",
                    )

    def has_figure(self, first: int, last: int) -> bool:
        """Whether a stretch states a measured figure (not a date or a length of time)."""
        return any(
            f.first <= last and first <= f.last and f.unit not in _TIME_UNITS for f in self.figs
        )

    def locality(self) -> None:
        """The content words of a statement must be said together: in one line of the
        material (a bullet read with its role's title, employer and dates). A list of
        skills said of no role is exempt; a sentence made of one role's words and
        another's is not. A statement naming several employers must hold for each."""
        names = self.term_names()
        hedged_here = self.hedged(self.toks)
        for first, last, extra, roles, n, measured in self.units():
            scope = self.scopes[n]
            content = sorted(set(self.content_of(first, last, scope)) | set(extra))
            graded = any(self.toks[i].key in _PROFICIENCY for i in content)
            # A figure is one fact: the tools it is credited to are part of it.
            free_terms = scope is self.whole and len(scope.roles) != 1
            if free_terms and not graded and not measured:
                # Said of no role in particular: the tools it names are each the person's
                # (checked word by word); what must hold together is the rest.
                content = [i for i in content if i not in self.term_tokens]
            if len(content) < 2 or any(i in self.unsupported for i in content):
                continue
            if (
                all(i in self.term_tokens for i in content)
                and free_terms
                and not graded
                and not measured
            ):
                continue

            def says_all(clause: Clause, content=content) -> bool:
                return all(
                    (i in names and names[i] in clause.terms) or _in_clause(self.toks[i], clause)
                    for i in content
                )

            scopes = (
                [self.whole.restricted({r}, skills=False) for r in sorted(roles)]
                if roles
                else [scope]
            )
            phrase = self.text[self.toks[first].start : self.toks[last].end]
            for each in scopes:
                # A figure must hold in one sentence, not across a bullet's sentences.
                lines = each.sentence_clauses if measured else each.clauses
                saying = [c for c in lines if each.holds_together(c, says_all)]
                if not saying:
                    self.claim(
                        "combination",
                        phrase,
                        "each word is in the source material, but no line of it says them "
                        "together" + (" for each employer it names" if len(scopes) > 1 else ""),
                    )
                    break
                words = [self.toks[i] for i in content]
                if not hedged_here and all(_hedged_for(c, words) for c in saying):
                    self.claim(
                        "action",
                        phrase,
                        "the source material says the person helped with this, not that they "
                        "did it",
                    )
                    break

    def employers_in_content(self) -> None:
        """An employer's name that says more than where ("adopted across Stripe", not "at
        Stripe") is part of what the statement says: a line of the material must say it with
        the statement's other words (a role's own line, which names the employer for every
        bullet, is no such line)."""
        spans = self.employer_spans()
        if not spans:
            return
        for first, last, extra, _roles, n, _measured in self.units():
            scope = self.scopes[n]
            named = [(a, b, name) for a, b, name in spans if first <= a <= last]
            named = [(a, b, name) for a, b, name in named if not self.where_only(a, b)]
            if not named:
                continue
            content = sorted(set(self.content_of(first, last, scope)) | set(extra))
            if not content or any(i in self.unsupported for i in content):
                continue

            def says_all(clause: Clause, content=content, named=named) -> bool:
                return all(f" {name} " in clause.folded for _a, _b, name in named) and all(
                    _in_clause(self.toks[i], clause) for i in content
                )

            if not any(says_all(c) for c in scope.clauses):
                a, b, _name = named[0]
                words = self.text[
                    self.toks[min(content[0], a)].start : self.toks[max(content[-1], b)].end
                ]
                employer = self.text[self.toks[a].start : self.toks[b].end]
                self.claim(
                    "combination",
                    words,
                    f"no line of the source material says this of {employer}",
                )

    def employer_spans(self) -> list[tuple[int, int, str]]:
        """(first, last, folded name) of each of the person's employers the sentence names."""
        spans = []
        for role in self.whole.roles:
            for name in employer_names(role.employer):
                words = name.split()
                for i in range(len(self.toks) - len(words) + 1):
                    # "Stripe's": the possessive names the employer too.
                    if [fold(t.key) for t in self.toks[i : i + len(words)]] == words:
                        spans.append((i, i + len(words) - 1, name))
        return spans

    def where_only(self, i: int, last: int) -> bool:
        """Whether an employer's name (tokens i to last) only says where: first in the
        sentence (not as the subject of a verb), after "at", "for", "with", "in", "during",
        "joined", after a comma or a bracket, or in a list of such names; or is the first
        word of a longer name ("Microsoft Azure")."""
        if i == 0:
            return not self.verb_at(last + 1)  # "Stripe adopted ...": what Stripe did
        if self.between(i).strip():
            return True
        following = self.toks[last + 1] if last + 1 < len(self.toks) else None
        if following and following.capitalised and not self.between(last + 1).strip():
            return True
        return self.toks[i - 1].key in _WHERE_CUES

    def hedged(self, toks: list[Token]) -> bool:
        """Whether a text says the person only helped ("assisted in", "took part in")."""
        keys = [t.key for t in toks]
        return any(k in _HEDGES for k in keys) or any(
            a in ("took", "take", "taking", "takes") and b == "part"
            for a, b in zip(keys, keys[1:], strict=False)
        )

    def conjuncts_of(self, n: int) -> list[tuple[int, int, int]]:
        return [c for c in self.conjuncts() if c[0] == n]


_ING_NOUNS = frozenset(
    """
    engineering marketing accounting training testing banking funding hiring planning
    modeling modelling pricing housing nursing learning computing manufacturing consulting
    advertising recruiting publishing networking programming scheduling reporting
    monitoring budgeting forecasting during something anything nothing everything
    including using morning evening building offering meeting setting thing bring king
    string ring spring onboarding logging billing shipping staffing lending trading
    """.split()
)


_CREDENTIAL_QUALIFIERS = frozenset(
    "eligible candidate pursuing expected studying preparing progress ongoing exam".split()
)


def _graded_in(clause: Clause, level: str, skill: Token) -> bool:
    """Whether a line gives the skill that level: the level word within two words of it."""
    toks = tokens(clause.text)
    name = canonical_name(skill.text)
    for n, t in enumerate(toks):
        same = t.key == skill.key or (name and canonical_name(t.text) == name)
        if not same:
            continue
        # "Python (Advanced)": the level right after the skill.
        if any(x.key == level for x in toks[n + 1 : n + 3]):
            return True
        # "Proficient in Go, Python and Node.js": the nearest level before it.
        before = [x.key for x in toks[:n] if x.key in _PROFICIENCY]
        if before and before[-1] == level:
            return True
    return False


def _participle(k: str) -> bool:
    """Whether a word is a present participle that opens a phrase ("reducing", "processing")."""
    return k.endswith("ing") and len(k) > 5 and k not in _ING_NOUNS and "-" not in k


def _hedged_for(clause: Clause, words: list[Token]) -> bool:
    """Whether the sentences of a clause that hold these words each open with a word that
    makes the person's part smaller ("Assisted in preparing ...")."""
    sentences = [tokens(s) for s in split_sentences(clause.text)]
    counts = [sum(_in_clause(w, _clause_of_tokens(toks)) for w in words) for toks in sentences]
    best = max(counts, default=0)
    holding = [toks for toks, n in zip(sentences, counts, strict=True) if best and n == best]
    return bool(holding) and all(toks and toks[0].key in _HEDGES for toks in holding)


def _clause_of_tokens(toks: list[Token]) -> Clause:
    keys = {t.key for t in toks}
    return Clause("", "other", None, keys, {stem(k) for k in keys}, set(), [], "", set())


# Words that make the person's part smaller ("assisted in", "participated in"): a statement
# whose every line has one, written without one, claims more.
_HEDGES = frozenset(
    """
    assist assisted assisting assists help helped helping helps participate participated
    participating participates contribute contributed contributing contributes involved
    support supported supporting supports aided
    """.split()
)
# Words that grade a skill: they must stand with that skill in one line.
_PROFICIENCY = frozenset(
    "advanced expert proficient fluent intermediate beginner basic native deep extensive".split()
)
_HONORIFICS = frozenset({"professor", "prof", "dr", "mr", "ms", "mrs", "sir", "dame"})
_CREDENTIAL_WORDS = frozenset({"certified", "certificate", "certification", "licensed", "license"})
# Words before "N years" that make it a length of experience.
_HOLD = frozenset({"hold", "holds", "held", "holding"})
_GRADUATE = frozenset({"graduate", "graduated", "graduates", "graduating"})
# Words before a year that make it a start, a start that lasts, or an end; and the verbs that
# make "in 2018" one.
_SINCE = frozenset({"since"})
_FROM = frozenset({"from", "starting", "beginning"})
_UNTIL = frozenset({"until", "till", "through", "thru"})
_STARTING = frozenset({"joined", "joining", "started", "starting", "began", "hired", "founded"})
_ENDING = frozenset(
    {"left", "leaving", "graduated", "graduating", "completed", "finished", "ended"}
)
# Words that say where the person lives, and the words before them that make it the person.
_RESIDING = frozenset("based located live lives living reside resides residing".split())
_SELF_BEFORE_PLACE = frozenset("i am i'm currently now".split())
_TIME_UNITS = frozenset({"date", "decade", "year", "month", "week", "day", "hour"})
_YEARS_WORDS = frozenset(
    "experience experienced years year professional industry total hands-on combined roles "
    "role career".split()
)
_EXPERIENCE_CUES = frozenset({"with", "for", "over", "spent", "than", "nearly", "almost", "of"})
# How many words away a figure's context may stand.
_FIGURE_REACH = 6
# How far, in content words, a figure's context may stand from it in the material.
_FIGURE_WINDOW = 6
_SEGMENT_STOP = re.compile(r"[,;:()\[\]—–!?]|\s-\s")
_SUBORDINATORS = frozenset(
    {"while", "which", "who", "whose", "whereas", "where", "including", "before", "after"}
)
_DETERMINERS = frozenset("the a an our their its his her this these those every".split())
# Words before an employer's name that make it only say where the person did something.
_WHERE_CUES = frozenset("at joined @ for with in within during while and or & of from as".split())
# Words before a name that make it the person's employer or client ("for Vendor").
_NAME_CUES = frozenset({"for", "with", "from", "by"})
_BINDING_OPENERS = frozenset({"at", "for", "with", "in", "during"})
_TOOL_CUES = frozenset({"using", "leveraging", "utilizing", "utilising", "via"})
_TRAILING_BINDERS = frozenset({"while", "during", "at", "when"})
_RELATIVES = frozenset({"who", "whose", "which", "that"})
_SKIPPED_IN_INITIALS = frozenset({"of", "for", "and", "on", "the", "in", "to", "a", "&"})
_EVENT_WORDS = frozenset(
    "presented present presenting spoke speaker talk talks paper papers published "
    "conference workshop keynote award awards won".split()
)
# Words that start a phrase of its own after a figure: its context ends there.
_CONTEXT_STOPS = frozenset(
    "by through via using with across for from to at in on during while and which".split()
)


def _filler(k: str) -> bool:
    """Words that say nothing about what a figure counts (function words, neutral verbs)."""
    return k in FUNCTION_WORDS or (is_neutral(k) and class_of(k) is None)


# Words after which a neutral word is used as a verb ("to design", "has built", "by
# rebalancing"), not as a noun that names a skill ("UI design", "financial reporting").
_VERB_BEFORE = frozenset(
    "to and or by i we also has have had was were is are been will would then who which that "
    "while when after before experience".split()
)


def _stem_of(k: str) -> str:
    """A word's stem (`text.stem`: Snowball with a few derivations)."""
    return stem(k)


def _class_in(cls: str, classes: set[str]) -> bool:
    """Whether a class, or one that covers it ("lead" covers "operate"), is among these."""
    return cls in classes or bool(COVERING_CLASSES.get(cls, frozenset()) & classes)


def _in_clause(token: Token, clause: Clause) -> bool:
    """Whether a word is in a clause (as written, a tense or number of it, a word of its
    class, or the canonical name of a term the clause spells)."""
    k = token.key
    if k in clause.keys or (_by_stem(k) and _stem_of(k) in clause.stems):
        return True
    if k.endswith("s") and k[:-1] in clause.keys:
        return True
    parts = [p for p in re.split(r"[-/]", k) if p]
    if _word_parts(parts) and all(p in clause.keys or stem(p) in clause.stems for p in parts):
        return True
    folded = [fold(p) for p in parts]
    if len(parts) > 1 and any(
        f" {' '.join([*folded[:-1], last])} " in clause.folded
        for last in (folded[-1], folded[-1] + "s", folded[-1] + "es")
    ):
        return True  # "9-node" for "9 nodes": the figure with its own word
    name = canonical_name(token.text)
    if name and name in clause.terms:
        return True
    cls = class_of(k)
    return cls is not None and _class_in(cls, clause.classes)


def _word_parts(parts: list[str]) -> bool:
    """Whether a compound's parts may each be found on their own: several, none of them a
    figure ("14-store" or "14/14" states a figure, which must be written so in the material)."""
    return len(parts) > 1 and not any(p[:1].isdigit() for p in parts)


def _same_bound(mine: str, clause: Clause, fact: Figure) -> bool:
    """Whether a figure is bounded as the material bounds it: "over 4" needs a line that says
    more than 4, and a line that says "nearly 30%" supports no plain "30%"."""
    theirs = bound(tokens(clause.text), clause.text, fact)
    return (mine != "more" or theirs == "more") and (theirs != "less" or mine == "less")


def _by_stem(k: str) -> bool:
    """Whether a word may be found by its stem: not a verb that states a fact, which only a
    word of its class shows ("managed" is not in "trained 6 store managers")."""
    return class_of(k) is None or k in CLASS_NOUNS


def _role_edge_fits(role: RoleFacts, edge: str, year: int) -> bool:
    """Whether a role began in that year ("start"), began then and goes on ("since"), or
    ended then ("end"); a role without its dates is not judged here."""
    current = role.end is not None and role.end >= date.today()
    if edge in ("start", "since"):
        if role.start is None:
            return True
        return role.start.year == year and (edge == "start" or current)
    if role.end is None:
        return True
    return not current and role.end.year == year


def _near(word: Token, clause: Clause, fact: Figure) -> bool:
    """Whether a figure's context word stands near the same figure in a clause of the
    material (a few content words away), not merely somewhere in it."""
    if fact.unit in ("date", "decade"):
        return _in_clause(word, clause)  # a date stands for its whole line (a role's dates)
    toks = tokens(clause.text)
    others = {i for f in clause.figures if f is not fact for i in range(f.first, f.last + 1)}
    window: list[Token] = []
    for step, start in ((-1, fact.first), (1, fact.last)):
        i, count = start + step, 0
        while 0 <= i < len(toks) and count < _FIGURE_WINDOW and i not in others:
            if toks[i].kind == "word":
                window.append(toks[i])
                if not _filler(toks[i].key):
                    count += 1
            i += step
    keys = {t.key for t in window}
    stems = {_stem_of(t.key) for t in window}
    classes = {c for t in window if (c := evidence_class(t.key))}
    k = word.key
    if k in keys or (_by_stem(k) and _stem_of(k) in stems) or (k.endswith("s") and k[:-1] in keys):
        return True
    name = canonical_name(word.text)
    if name and any(canonical_name(t.text) == name for t in window):
        return True
    cls = class_of(k)
    return cls is not None and _class_in(cls, classes)


def _holds_title(phrase: str, title: str) -> bool:
    """Whether a title phrase is the person's title as a line states it: its words in order,
    without dropping a word that makes it less ("Junior", "Assistant", "Intern")."""
    wanted = [fold(t.text) for t in tokens(phrase)]
    held = [fold(t.text) for t in tokens(title)]
    if not wanted:
        return True
    text = " " + " ".join(held) + " "
    words = " " + " ".join(wanted) + " "
    if words not in text:
        last = wanted[-1]
        plural = (
            " " + " ".join([*wanted[:-1], last[:-1] if last.endswith("s") else last + "s"]) + " "
        )
        if plural not in text:
            return False
    dropped = {key(t.text) for t in tokens(title)} - {key(t.text) for t in tokens(phrase)}
    return not (dropped & _TITLE_QUALIFIERS and _qualifier_near(phrase, title))


def _qualifier_near(phrase: str, title: str) -> bool:
    """Whether a qualifier the phrase lacks stands right before the phrase's words in the
    title ("Junior Data Analyst" for "Data Analyst")."""
    held = [key(t.text) for t in tokens(title)]
    first = key(tokens(phrase)[0].text) if tokens(phrase) else ""
    return any(
        held[i] in _TITLE_QUALIFIERS and i + 1 < len(held) and held[i + 1] == first
        for i in range(len(held))
    ) or any(
        h in _TITLE_QUALIFIERS for h in held[-2:] if h not in {key(t.text) for t in tokens(phrase)}
    )


_TITLE_QUALIFIERS = frozenset(
    """
    junior jr jr. assistant associate intern interns trainee apprentice deputy acting interim
    part-time volunteer student undergraduate
    """.split()
)


def _degree_words(words: list[Token]) -> list[Token]:
    """The words of a degree's phrase: its field and school, up to the next verb or "and"."""
    kept = []
    for t in words:
        if (
            t.key in _DEGREE_STOPS
            or class_of(t.key)
            or (is_neutral(t.key) and t.key not in FUNCTION_WORDS)
        ):
            break
        if t.kind in ("word", "number") and not _filler(t.key):
            kept.append(t)
    return kept


_DEGREE_STOPS = frozenset({"and", "with", "who", "which", "while", "where", "plus", "as"})
