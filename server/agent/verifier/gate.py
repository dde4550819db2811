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
    CLASS_NOUNS,
    DEGREE_QUALIFIERS,
    FUNCTION_WORDS,
    LETTER_WORDS,
    ROLE_NOUNS,
    SENIORITY_WORDS,
    class_of,
    is_neutral,
)
from server.agent.verifier.numbers import Figure, figures
from server.agent.verifier.scope import Clause, Scope
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
    "the our their his her its with for to other fellow and of other's every each".split()
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
    folded = " " + " ".join(fold(t.text) for t in toks) + " "
    named = scope.roles_named_in(folded)
    bound = scope.restricted(named) if named and len(scope.roles) > 1 else scope
    check = _Check(text, toks, bound, scope)
    check.find_figures()
    check.terms()
    check.words()
    check.figures()
    check.titles()
    check.employers()
    check.capitalised_runs()
    check.degrees()
    check.phrases()
    check.actions()
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

    def __init__(self, text: str, toks: list[Token], scope: Scope, whole: Scope):
        self.text, self.toks, self.scope, self.whole = text, toks, scope, whole
        self.claims: list[Claim] = []
        self.covered: set[int] = set()  # tokens already accounted for (figures, terms)
        self.unsupported: set[int] = set()
        self.figs: list[Figure] = []

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

    def clause_words(self, start: int, step: int, limit: int) -> list[int]:
        """Indexes of the content words next to token `start` (before it for step -1, after
        it for +1), at most `limit` tokens away, not across a clause's punctuation."""
        found = []
        i, words = start + step, 0
        while 0 <= i < len(self.toks) and words < limit:
            left, right = (i, start) if step < 0 else (start, i)
            between = self.text[self.toks[left].end : self.toks[right].start]
            if _CLAUSE_STOP.search(between):
                break
            token = self.toks[i]
            if token.kind == "word" and not self.in_figure(i):
                words += 1
                if not _filler(token.key):
                    found.append(i)
            i += step
        return found

    def class_at(self, i: int) -> str | None:
        """The fact-bearing class of token i, read with the word after it."""
        following = self.toks[i + 1].key if i + 1 < len(self.toks) else ""
        return class_of(self.toks[i].key, following)

    def in_figure(self, i: int) -> bool:
        return any(f.first <= i <= f.last for f in self.figs)

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

    def written(self, figure: Figure) -> str:
        """The figure as written, with its signs ("$2M", "40%")."""
        end = self.toks[figure.last].end
        if figure.last + 1 < len(self.toks) and self.toks[figure.last + 1].text == "%":
            end = self.toks[figure.last + 1].end
        return self.text[self.toks[figure.first].start : end]

    def context(self, figure: Figure) -> list[Token]:
        """The content words that say what the figure counts: the nearest before and after
        it in its clause (words that are themselves unsupported are reported on their own)."""
        words = []
        for step, start in ((-1, figure.first), (1, figure.last)):
            near = self.clause_words(start, step, _FIGURE_REACH)
            if figure.unit in ("year", "month", "week", "day", "hour") and step == 1:
                near = [i for i in near if self.toks[i].key.rstrip("s") not in _DURATION_UNITS]
            if near and near[0] not in self.unsupported:
                words.append(self.toks[near[0]])
        return words

    def figure_supported(self, figure: Figure) -> bool:
        context = self.context(figure)
        for clause in self.scope.clauses:
            for fact in clause.figures:
                if fact.same_fact(figure) and all(_in_clause(w, clause) for w in context):
                    return True
        if figure.unit in ("year", "month"):
            years = self.scope.experience_years()
            if years is not None:
                most = math.floor(years + 0.5) if figure.unit == "year" else years * 12 + 0.5
                return figure.value <= most
        return False

    def figure_reason(self, figure: Figure) -> str:
        context = " ".join(w.text for w in self.context(figure))
        if any(f.same_fact(figure) for c in self.scope.clauses for f in c.figures):
            return (
                f"{self.written(figure)} is in the source material, but not for {context!r}"
                if context
                else f"{self.written(figure)} is in the source material, but not in this context"
            )
        if figure.unit in ("year", "month"):
            return f"{figure.text} {figure.unit}s do not follow from the source's dates or words"
        return f"{self.written(figure)} is not in the source material"

    # --- 2. vocabulary terms by their canonical name -----------------------------------

    def terms(self) -> None:
        writable = self.scope.writable_terms
        for match in find_terms(self.text):
            if match.related or match.term.canonical not in writable:
                continue
            if match.text.casefold() != match.term.canonical.casefold():
                continue  # only the canonical name is written on another spelling's evidence
            self.covered.update(
                i for i, t in enumerate(self.toks) if t.start >= match.start and t.end <= match.end
            )

    # --- 3. words -----------------------------------------------------------------------

    def words(self) -> None:
        for i, token in enumerate(self.toks):
            if i in self.covered or token.kind == "sign":
                continue
            if token.kind == "symbol":
                if token.text not in self.scope.symbols:
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
        scope = self.scope
        if k in scope.keys:
            return True
        if mixed_script(token.text):
            return False
        in_name_slot = self.name_slot(i)
        singular = k[:-1] if k.endswith("s") else k
        if k in _PROTECTED or singular in _PROTECTED:
            return singular in scope.keys or k + "s" in scope.keys
        if not in_name_slot and is_neutral(k):
            return True
        if not in_name_slot and scope.purpose == "letter" and k in LETTER_WORDS:
            return True
        cls = self.class_at(i)
        if cls is not None and not in_name_slot:
            return cls in scope.classes
        if in_name_slot:
            return singular in scope.keys or k + "s" in scope.keys
        parts = [p for p in re.split(r"[-/]", k) if p]
        if len(parts) > 1 and all(p in scope.keys or stem(p) in scope.stems for p in parts):
            return True
        return stem(k) in scope.stems

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
        if find_terms(words) or any(k.lower() in lowered for k in self.scope.keywords):
            return "skill", f"the skill {words} is not shown in the source material"
        if any(t.key in _PROTECTED or t.key.rstrip("s") in _PROTECTED for t in run_tokens):
            return "title", f"the title word {words!r} is not in the source material"
        previous = self.toks[run[0] - 1].key if run[0] else ""
        following = self.toks[run[-1] + 1].key if run[-1] + 1 < len(self.toks) else ""
        if previous in EMPLOYER_CUES | {"for", "with", "from", "by"} or following in LEGAL_SUFFIXES:
            return "employer", f"{words!r} is not named in the source material"
        if any(class_of(t.key) for t in run_tokens):
            return "action", f"{words!r}: the source material says nothing of the kind"
        if (run_tokens[0].capitalised and not self.opens(run[0])) or self.name_slot(run[0]):
            return "name", f"{words!r} is not named in the source material"
        return "word", f"{words!r} is not in the source material"

    # --- 4. words that must hold together -----------------------------------------------

    def titles(self) -> None:
        """A title the person claims must be one of theirs; one of others must be in scope."""
        for start, end in self.title_spans():
            phrase = self.text[self.toks[start].start : self.toks[end].end]
            if any(i in self.unsupported for i in range(start, end + 1)):
                continue
            previous = self.toks[start - 1].key if start else ""
            plural = self.toks[end].key.endswith("s") and self.toks[end].key[:-1] in ROLE_NOUNS
            if plural or previous in _OTHER_PEOPLE:
                if not self.scope.has_phrase(phrase):
                    self.claim(
                        "title", phrase, f"{phrase!r} does not appear in the source material"
                    )
            elif not self.title_held(phrase):
                self.claim("title", phrase, f"the title {phrase!r} is not one the person holds")

    def title_held(self, phrase: str) -> bool:
        if self.scope.has_phrase(phrase, titles_only=True):
            return True
        if not self.scope.title_text.strip():
            return self.scope.has_phrase(phrase)  # plain texts: no line is known as a title
        words = " ".join(fold(t.text) for t in tokens(phrase))
        return any(
            f" {cue} {words} " in c.folded
            or f" {cue} a {words} " in c.folded
            or f" {cue} an {words} " in c.folded
            or f" {cue} to {words} " in c.folded
            for c in self.scope.clauses
            for cue in _SELF_CUES
        )

    def title_spans(self) -> list[tuple[int, int]]:
        """(first, last) token of each title phrase: a role noun with seniority words or
        capitalised words before it, or "Head of Sales", or a capitalised role noun alone
        where a title stands ("Engineer at Acme")."""
        spans = []
        for i, token in enumerate(self.toks):
            k = token.key
            singular = k[:-1] if k.endswith("s") else k
            if token.kind != "word" or (k not in ROLE_NOUNS and singular not in ROLE_NOUNS):
                continue
            if k in ("lead", "head") and not self._title_use(i):
                continue
            start = i
            seniority = False
            while start > 0 and i - start < 4:
                before = self.toks[start - 1]
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
                and self.toks[end + 1].key == "of"
                and self.toks[end + 2].capitalised
            ):
                end += 2
                while end + 1 < len(self.toks) and self.toks[end + 1].capitalised:
                    end += 1
            if any(self.toks[k].key in _CREDENTIAL_WORDS for k in range(start, end + 1)):
                continue  # a certification's name: `phrases` decides
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
        """A name after "at"/"joined", or before "Inc", is an employer: it must be one of the
        roles in scope, or appear after the same word in the material."""
        for i, token in enumerate(self.toks):
            if token.key not in EMPLOYER_CUES or i + 1 >= len(self.toks):
                continue
            run = self.name_run(i + 1)
            if not run or any(j in self.unsupported for j in run):
                continue
            name = self.text[self.toks[run[0]].start : self.toks[run[-1]].end]
            if self.toks[run[-1]].key in ROLE_NOUNS:
                continue  # a title: `titles` decides
            core = " ".join(
                fold(self.toks[j].text) for j in run if self.toks[j].key not in LEGAL_SUFFIXES
            )
            held = any(
                core and (core in f" {_employer_words(r.employer)} ") for r in self.scope.roles
            )
            if not held and not self.scope.has_phrase(f"{token.text} {name}"):
                if any(s.kind == "role" for s in self.scope.sources) or self.scope.roles:
                    self.claim("employer", name, f"{name!r} is not one of the person's employers")
                elif not self.scope.has_phrase(name):
                    self.claim("employer", name, f"{name!r} is not named in the source material")

    def name_run(self, i: int) -> list[int]:
        """The capitalised words starting at token i (a name), or the one lower-case word."""
        run = []
        j = i
        while j < len(self.toks) and self.toks[j].kind in ("word", "number"):
            t = self.toks[j]
            between = self.text[self.toks[j - 1].end : t.start] if j > i else ""
            if j > i and _CLAUSE_STOP.search(between):
                break
            if t.capitalised or (j == i and t.key not in FUNCTION_WORDS):
                run.append(j)
                j += 1
            elif (
                t.key in ("&", "of", "and")
                and j + 1 < len(self.toks)
                and self.toks[j + 1].capitalised
                and run
            ):
                run.append(j)
                j += 1
            else:
                break
        return run

    def capitalised_runs(self) -> None:
        """Capitalised words that stand together must stand together in the material."""
        i, size = 0, len(self.toks)
        while i < size:
            if not self._capital_word(i):
                i += 1
                continue
            j = i + 1
            while (
                j < size
                and self._capital_word(j)
                and not self.text[self.toks[j - 1].end : self.toks[j].start].strip()
            ):
                j += 1
            run = list(range(i, j))
            if self.opens(i) and is_neutral(self.toks[i].key):
                run = run[1:]
            if len(run) >= 2 and not any(k in self.unsupported or k in self.covered for k in run):
                phrase = self.text[self.toks[run[0]].start : self.toks[run[-1]].end]
                last = self.toks[run[-1]].key
                is_title = last in ROLE_NOUNS or last.rstrip("s") in ROLE_NOUNS
                all_terms = all(canonical_name(self.toks[k].text) for k in run)
                if not is_title and not all_terms and not self.scope.has_phrase(phrase):
                    self.claim(
                        "name", phrase, f"{phrase!r} does not appear as such in the source material"
                    )
            i = j

    def _capital_word(self, i: int) -> bool:
        token = self.toks[i]
        return token.kind == "word" and token.capitalised and token.key != "i"

    def degrees(self) -> None:
        """A degree must be one the person holds, with its own field and school."""
        for level, start, end in degree_mentions(self.text):
            mention = self.text[start:end]
            clauses = self.scope.degrees.get(level) or []
            if not clauses:
                self.claim("degree", mention, f"no {level} degree is in the source material")
                continue
            after = [
                t
                for t in self.toks
                if t.start >= end
                and not _CLAUSE_STOP.search(self.text[end : t.start])
                and t.kind in ("word", "number")
                and not _filler(t.key)
            ]
            after = _until_verb(after)
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
                if phrase and not self.scope.has_phrase(phrase):
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
            objects = [j for j in objects if self.class_at(j) is None][:1]
            if not objects:
                continue
            target = self.toks[objects[0]]
            if not any(cls in c.classes and _in_clause(target, c) for c in self.scope.clauses):
                phrase = self.text[token.start : target.end]
                self.claim(
                    "action",
                    phrase,
                    f"the source material does not say it {token.text.lower()} {target.text}",
                )


_CREDENTIAL_WORDS = frozenset({"certified", "certificate", "certification", "licensed", "license"})
# How many words away a figure's context may stand.
_FIGURE_REACH = 6
_DURATION_UNITS = frozenset({"year", "yr", "month", "week", "day", "hour"})


def _filler(k: str) -> bool:
    """Words that say nothing about what a figure counts (function words, neutral verbs)."""
    return k in FUNCTION_WORDS or (is_neutral(k) and class_of(k) is None)


def _in_clause(token: Token, clause: Clause) -> bool:
    """Whether a word is in a clause (as written, a tense or number of it, a word of its
    class, or the canonical name of a term the clause spells)."""
    k = token.key
    if k in clause.keys or stem(k) in clause.stems:
        return True
    name = canonical_name(token.text)
    if name and name in clause.terms:
        return True
    cls = class_of(k)
    return cls is not None and cls in clause.classes


def _until_verb(words: list[Token]) -> list[Token]:
    """The words of a degree's clause up to the next verb ("... and led ...")."""
    kept = []
    for t in words:
        if class_of(t.key) or (is_neutral(t.key) and t.key not in FUNCTION_WORDS):
            break
        kept.append(t)
    return kept


def _employer_words(employer: str) -> str:
    return " ".join(fold(t.text) for t in tokens(display_form(employer or "")))
