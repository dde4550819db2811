"""The offline engine: deterministic text analysis over a curated vocabulary, no model.

It answers every task the Gemini engine answers, in the same shape, and never writes inside
the person's sentences: it reorders bullets and skills, selects projects, and adds one summary
sentence naming the job's terms as the person's own material spells them. It cannot write
new claims, and nothing it writes can break a sentence.
"""

from __future__ import annotations

import re
from typing import Any

from server.agent.engines.base import Engine
from server.agent.engines.keywords import clause_keywords
from server.agent.engines.matching import relevance
from server.agent.engines.vocabulary import (
    canonical_name,
    canonical_terms,
    find_terms,
    keyword_in,
)
from server.agent.verifier.lexicon import class_of, is_neutral, is_verb
from server.agent.verifier.scope import resume_scope
from server.agent.verifier.text import stem

LOCAL_MODEL = "local-keywords-1"

_SECTION_HEADING = re.compile(
    r"^\s*(?P<name>[A-Za-z][A-Za-z /&'-]{2,40}?)\s*:\s*(?P<rest>.*)$", re.MULTILINE
)
_REQUIREMENT_HEADINGS = re.compile(
    r"requirements?|qualifications?|what you(?:'ll)? (?:need|bring)|must have|you have|skills"
    r"|you(?:'ll| will)? need|looking for|about you|who you are|you bring|ideal candidate"
    r"|tools|tech(?:nical)? (?:stack|environment)|technolog",
    re.IGNORECASE,
)
# Headings of what the job does day to day: each line under one is something the person must
# be able to do, so it is a requirement too.
_DUTY_HEADINGS = re.compile(
    r"responsibilit|what you(?:'ll| will)? do|you(?:'ll| will)\b|in this role|"
    r"^(?:the )?(?:role|work|job)$|the role\b|essential (?:job )?functions|job functions|"
    r"your impact|day[- ]to[- ]day|duties|what the job involves",
    re.IGNORECASE,
)
_PREFERRED_HEADINGS = re.compile(
    r"nice to have|preferred|bonus|pluses|good to have|ideally", re.IGNORECASE
)
# Headings of what the job gives (pay, benefits, growth): nothing under one is asked for.
_PERKS_HEADINGS = re.compile(
    r"what we offer|we offer|benefits|perks|compensation|salary|why (?:join|work)|"
    r"growth (?:and|&) development|career (?:growth|development)|growth opportunit|"
    r"what you(?:'ll| will) get|culture|how to apply|application process|"
    # Where and in what conditions the work is done, and what the body must do: facts of
    # the workplace, not skills ("noise", "dust", "climb", "kneel").
    r"work(?:ing)? (?:environment|conditions)|physical (?:demands|requirements)|"
    r"equal (?:opportunity|employment)|\bEEO",
    re.IGNORECASE,
)
_PREFERRED_WORDS = re.compile(
    r"\b(nice to have|a plus|preferred|bonus|ideally|good to have)\b", re.IGNORECASE
)
_YEARS = re.compile(r"\b(\d{1,2})\s*\+?\s*(?:-\s*\d{1,2}\s*)?(?:years?|yrs?)\b", re.IGNORECASE)
_EDUCATION = re.compile(
    r"\b(bachelor'?s?|master'?s?|ph\.?d|degree|B\.?S\.?c?|M\.?S\.?c?|diploma|graduate)\b",
    re.IGNORECASE,
)
_NOT_SCHOOLING = re.compile(r"\bdegrees? of\b", re.IGNORECASE)
_DEGREES = frozenset("BA BS BSC MA MS MSC MBA PHD BSN MSN ADN AA AS GPA BS/MS BA/BS".split())
_CERTIFICATION = re.compile(r"\bcertifi(?:ed|cation|cations)\b", re.IGNORECASE)
_TITLE = re.compile(
    r"(?:looking for|hiring|seeking|searching for|join us as)[ \t]+(?:an?[ \t]+)?"
    r"(?P<title>(?:[A-Z][\w+#./-]*[ \t]+){0,5}[A-Z][\w+#./-]*)"
)
_ROLE_NOUN = re.compile(
    r"\b(engineer|developer|programmer|architect|scientist|analyst|designer|manager|"
    r"administrator|consultant|specialist|technician|intern|lead|director|officer|"
    r"researcher|tester|writer|coordinator|associate|assistant|accountant|auditor|"
    r"controller|bookkeeper|head|nurse|teacher|lecturer|instructor|professor|marketer|"
    r"strategist|representative|advisor|adviser|recruiter|planner|editor|copywriter|"
    r"therapist|pharmacist|physician|lawyer|attorney|paralegal|clerk|supervisor|"
    r"executive|owner|practitioner|mechanic|electrician|operator|chef)s?\b",
    re.IGNORECASE,
)
# A first line that reads as a sentence is not a title ("We are hiring a ...").
_SENTENCE_START = re.compile(
    r"^(?:we|our|us|the|a|an|join|are|is|hiring|looking|about|at|in)\b", re.IGNORECASE
)
_ABOUT_THE_COMPANY = re.compile(r"(?:[Ww]e|[Oo]ur|[Uu]s)\b")  # (not "US GAAP")
_SERVICES = re.compile(
    r"^(?:we|our (?:clinic|practice|organi[sz]ation|company|center|centre|team))\s+"
    r"(?:provide|offer|deliver|specialize in|specialise in|perform)\b",
    re.IGNORECASE,
)
_PERK_WORDS = re.compile(
    r"\b(?:salary|benefits?|package|pay|insurance|vacation|leave|401|PTO|relocation|bonus|"
    r"equity|stock|perks|flexib|remote|growth|training opportunit|development opportunit)",
    re.IGNORECASE,
)
_MISSION = re.compile(r"\b(?:mission|vision|values) (?:is|are)\b", re.IGNORECASE)
# A sentence of prose that says what the person will do or must have (a description written
# without headings): its keywords are the job's too.
_DUTY_CUE = re.compile(
    r"\b(?:responsible for|responsibilities|duties|will (?!not\b)[a-z]+|include|including|must|"
    r"required|requires|preferred|a plus|"
    r"experience (?:in|with)|knowledge of|ability to|serve[sd]? as|manages?|oversees?|"
    r"performs?|provid(?:e|es|ing)|develops?|implements?|coordinates?|supports?|"
    r"this (?:role|position)|the ideal candidate|entails?|involves?|managing|is seeking|seeks)\b",
    re.IGNORECASE,
)
_ROLE_DUTY = re.compile(
    r"\b(?:will (?!not\b|be\b|have\b|join\b|report\b|work\b)[a-z]+|(?:is|are) responsible for|"
    r"has (?:the )?responsibility for|duties (?:include|are)|responsibilities include)\b",
)
# Prose about pay, benefits, the office or how to apply: never a requirement.
_NOT_A_DUTY = re.compile(
    r"\b(?:salary|salaries|benefits?|compensation|pay|paid|apply|applicants?|equal opportunity|"
    r"interview|office is|located|discriminat|401\(k\)|insurance)\b",
    re.IGNORECASE,
)
# Sentences of any section about applying, pay, the place and hours of work, or equal
# opportunity: the posting's terms, never a skill ("To apply, send resume and C/V to ...").
_BOILERPLATE = re.compile(
    r"\b(?:to apply|apply (?:by|at|online|now|here|via|through|today)|send (?:your |a |us )?"
    r"(?:resume|cv|c/v|application)|submit (?:your |a )?(?:resume|cv|application)|"
    r"cover letter|salary (?:for|range|is)|starting (?:pay|salary|wage)|pay (?:range|rate)|"
    r"benefits package|selected for an interview|interview process|equal opportunity|"
    r"equal employment|without regard to|discriminat|reasonable accommodation|"
    r"(?:hybrid|remote|in-person) (?:schedule|work arrangement)|days? (?:per|a) week in "
    r"(?:the )?office|(?:is|are|be) (?:based|located) (?:in|at)|position (?:is )?based (?:in|at)|"
    # The terms of employment: union representation and its contract, overtime status
    # ("represented by IFPTE Local 20 ... under the provisions of the collective bargaining
    # agreement", "classified as Exempt ... not eligible for overtime").
    r"represented by|bargaining (?:unit|agreement)|collective bargaining|union[- ]eligible|"
    r"classified as (?:non-)?exempt|eligible for overtime|wage and hour)",
    re.IGNORECASE,
)
# What the body must do ("stand or sit for prolonged periods, climb, kneel, bend", "lift
# objects as heavy as 50 lbs"): a condition of the job, no skill.
_PHYSICAL = re.compile(
    r"\b(?:lift(?:ing)?|carry(?:ing)?|stand(?:ing)?|sit(?:ting)?|kneel(?:ing)?|bend(?:ing)?|"
    r"climb(?:ing)?|stoop(?:ing)?|crouch(?:ing)?|push(?:ing)?|pull(?:ing)?)\b",
    re.IGNORECASE,
)
_WEIGHT = re.compile(r"\b\d+\s*(?:lbs?|pounds|kg)\b", re.IGNORECASE)
# A posting's facts, one a line ("FLSA Status: Exempt", "Reports to: VP of Sales").
_POSTING_FACT = re.compile(
    r"^\s*(?:FLSA |employment |job |position )?(?:status|type|location|reports? to|"
    r"schedule|hours|shift|salary|pay|department|start date|classification|direct reports|level)"
    r"\s*:",
    re.IGNORECASE,
)
_EMPHASIS = re.compile(r"\*\*|__")
_MARKDOWN_HEADING = re.compile(r"^\s*#{1,6}\s+(?P<name>.+?)\s*#*\s*$")
_LOCATION_SUFFIX = re.compile(r"\s*\([^)]*\)\s*$")
_SENIORITY_WORDS = (
    ("principal", r"\bprincipal\b"),
    ("staff", r"\bstaff\b"),
    ("lead", r"\b(?:lead|head of)\b"),
    ("senior", r"\b(?:senior|sr\.?)\b"),
    ("junior", r"\b(?:junior|jr\.?|entry[- ]level|graduate)\b"),
    ("intern", r"\b(?:intern|internship)\b"),
    ("mid", r"\bmid(?:-level)?\b"),
)
_WORD = re.compile(r"[a-z][a-z0-9+#.-]{2,}")
_STOPWORDS = frozenset(
    "the and for with you our are will this that from have has your who what into about "
    "their they them using use used able work working team role job years year experience "
    "strong good great plus also well other more most any all can including across".split()
)
# Words of a question that say what is asked, not what about.
_QUESTION_WORDS = frozenset(
    "describe tell explain share please example give why how which what when where "
    "want like would you your have had been worked time times".split()
)
MAX_SUMMARY_KEYWORDS = 5
MAX_QUOTED_BULLETS = 3
MAX_NAMED_SKILLS = 6
# Lines at least this long are taken as wrapped prose; shorter ones as list items.
_WRAPPED_LINE = 60


class LocalEngine(Engine):
    """Deterministic, offline answers to every engine task."""

    name = "local"
    model = LOCAL_MODEL

    def _run(self, task: str, inputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        method = {
            "extract_requirements": self._extract_requirements,
            "propose_edits": self._propose_edits,
            "rank": self._rank,
            "write_cover_letter": _write_cover_letter,
            "answer_question": _answer_question,
        }[task]
        return method(**inputs), {"cached": False}

    # Requirements

    def _extract_requirements(
        self, *, job_description: str, job_title: str | None
    ) -> dict[str, Any]:
        title = (job_title or "").strip() or _title_of(job_description)
        requirements: list[dict[str, Any]] = []
        seen: set[str] = set()
        clauses = _clauses(job_description)
        # A description without headings says what the job asks in prose: its duty
        # sentences are requirements too.
        prose = all(section in (_OTHER, _PERKS) for _clause, section in clauses)
        for clause, section in clauses:
            requirement = _requirement(clause, section, document=job_description, prose=prose)
            if requirement and requirement["text"].lower() not in seen:
                seen.add(requirement["text"].lower())
                requirements.append(requirement)
        keywords = _ordered_keywords(requirements)
        return {
            "title": title,
            "seniority": _seniority(title or "", job_description, requirements),
            "requirements": requirements,
            "keywords": keywords,
        }

    # Edits

    def _propose_edits(
        self,
        *,
        resume: dict[str, Any],
        requirements: list[dict[str, Any]],
        evidence: list[dict[str, Any]],
    ) -> dict[str, Any]:
        weights = _keyword_weights(requirements)
        edits: list[dict[str, Any]] = []
        edits += _summary_edit(resume, weights, evidence)
        for index, job in enumerate(_list(resume.get("experience"))):
            edits += _bullet_edits(index, _strings(job.get("bullets")), weights, requirements)
        edits += _skills_edit(_strings(resume.get("skills")), weights, requirements)
        edits += _projects_edit(_list(resume.get("projects")), weights, requirements)
        return {"edits": edits}

    # Ranking

    def _rank(self, *, query: str, candidates: list[dict[str, str]]) -> dict[str, Any]:
        extracted = self._extract_requirements(job_description=query, job_title=None)
        # Ranked by the vocabulary's terms (any spelling); a query without any by its words.
        weights = {
            k: w
            for k, w in _keyword_weights(extracted["requirements"]).items()
            if canonical_name(k)
        }
        rankings = []
        for candidate in candidates:
            text = str(candidate.get("text", ""))
            rankings.append({"id": str(candidate["id"]), **_score(query, text, weights)})
        rankings.sort(key=lambda r: (-r["score"], r["id"]))
        return {"rankings": rankings}


def _write_cover_letter(*, resume: dict[str, Any], posting: dict[str, Any]) -> dict[str, Any]:
    """A letter's body in the resume's own words: the latest role, the bullets that show the
    posting's keywords (as "At <employer>, I ..."), the matching skills of the skills list."""
    wanted = canonical_terms(f"{posting.get('title') or ''}\n{posting.get('description') or ''}")
    sentences: list[str] = []
    jobs = [j for j in _list(resume.get("experience")) if j.get("title") and j.get("employer")]
    if jobs:
        verb = "work" if jobs[0].get("current") else "worked"
        sentences.append(f"I {verb} as {jobs[0]['title']} at {jobs[0]['employer']}.")
    sentences += _quoted_bullets(resume, set(wanted), MAX_QUOTED_BULLETS)
    skills = [s for s in canonical_terms("\n".join(_strings(resume.get("skills")))) if s in wanted]
    if skills:
        sentences.append(f"I work with {_join(skills[:MAX_NAMED_SKILLS])}.")
    return {"cover_letter": " ".join(sentences), "keywords": []}


def _answer_question(
    *, question: str, resume: dict[str, Any], posting: dict[str, Any]
) -> dict[str, Any]:
    """An answer in the resume's own words: the bullets that show the question's terms (or
    share most of its words), or null when none does."""
    wanted = set(canonical_terms(question))
    quoted = _quoted_bullets(resume, wanted, 2) if wanted else []
    if not quoted:
        words = {
            w.rstrip(".")
            for w in _WORD.findall(question.lower())
            if w.rstrip(".") not in _STOPWORDS | _QUESTION_WORDS
        }
        quoted = _quoted_bullets(resume, set(), 2, words=words) if words else []
    return {"answer": " ".join(quoted) or None}


def _quoted_bullets(
    resume: dict[str, Any], wanted: set[str], most: int, *, words: set[str] | None = None
) -> list[str]:
    """Up to `most` bullets that name the most `wanted` terms (or share at least two of
    `words`), as sentences: "At <employer>, I <bullet>"."""
    scored: list[tuple[int, int, str, str]] = []
    position = 0
    for job in _list(resume.get("experience")):
        employer = str(job.get("employer") or "")
        for bullet in _strings(job.get("bullets")):
            if words is not None:
                hits = len(words & {w.rstrip(".") for w in _WORD.findall(bullet.lower())})
                hits = hits if hits >= min(2, len(words)) else 0
            else:
                hits = len(set(canonical_terms(bullet)) & wanted)
            if hits and employer:
                scored.append((-hits, position, bullet, employer))
            position += 1
    sentences = []
    for _hits, _position, bullet, employer in sorted(scored)[:most]:
        text = bullet.strip().rstrip(".")
        first = text.split(" ", 1)[0]
        if is_neutral(first) or class_of(first) or first.lower().endswith("ed"):
            sentences.append(f"At {employer}, I {first.lower()}{text[len(first) :]}.")
        else:
            sentences.append(f"At {employer}: {text}.")
    return sentences


# --- requirements ---------------------------------------------------------------------------


def _title_of(text: str) -> str | None:
    """The job's title: a first line that reads as one (without a location in brackets),
    else the role a sentence says the company is hiring for."""
    first_line = text.strip().splitlines()[0].strip(" #*-\t") if text.strip() else ""
    first_line = _LOCATION_SUFFIX.sub("", first_line)
    if (
        len(first_line.split()) <= 8
        and _ROLE_NOUN.search(first_line)
        and ":" not in first_line
        and not first_line.endswith((".", "!", "?"))
        and not _SENTENCE_START.match(first_line)
    ):
        return first_line
    match = _TITLE.search(text[:600])
    if match and _ROLE_NOUN.search(match["title"]):
        return match["title"].strip().rstrip(".")
    return None


# What part of a job description a line belongs to.
_OTHER, _REQUIRED, _PREFERRED, _DUTIES = "other", "required", "preferred", "duties"
_PERKS = "perks"
# (Markdown converted from HTML escapes a list's dash: "\\- Prepare reconciliations".)
_BULLET = re.compile(r"^\\?[-*•▪●·]\s+|^\\-\s*|^-(?=[A-Z])|^\d+[.)]\s+")
# A line in bold or italics alone, without a sentence's end: a heading ("**What you'll do**",
# "_The Work:_").
_EMPHASISED_HEADING = re.compile(
    r"^\s*(?P<mark>\*\*|__|\*|_)(?P<name>[^*_]{2,80}?)[\s.…:]*(?P=mark)\s*:?\s*$"
)
# A short line in title case or capitals that names a part of the description
# ("Qualifications", "Essential Job Functions", "SUMMARY").
_TITLE_CASE_HEADING = re.compile(
    r"^(?:[A-Z][\w'’/&-]*|and|of|the|for|to|&)(?:\s+(?:[A-Z][\w'’/&-]*|and|of|the|for|to|&)){0,4}$"
)


def _heading_section(name: str) -> str | None:
    """The part a heading opens, or None for a heading that names none of them."""
    if _PERKS_HEADINGS.search(name):
        return _PERKS
    if _PREFERRED_HEADINGS.search(name):
        return _PREFERRED
    if _REQUIREMENT_HEADINGS.search(name):
        return _REQUIRED
    if _DUTY_HEADINGS.search(name):
        return _DUTIES
    return None


def _clauses(text: str) -> list[tuple[str, str]]:
    """Requirement-sized pieces: (text, the part of the description it is in)."""
    pieces: list[tuple[str, str]] = []
    section, listed = _OTHER, False
    for raw_line in text.splitlines() or [text]:
        line = _EMPHASIS.sub("", raw_line).strip()
        heading = _SECTION_HEADING.match(line)
        markdown = _MARKDOWN_HEADING.match(line) or _EMPHASISED_HEADING.match(raw_line)
        if markdown and len(markdown["name"].split()) <= 12:
            name = markdown["name"].replace("’", "'")
            section, listed = _heading_section(name) or _OTHER, False
            continue
        if _TITLE_CASE_HEADING.match(line) and _heading_section(line.replace("’", "'")):
            section, listed = _heading_section(line.replace("’", "'")) or _OTHER, False
            continue
        if heading and len(heading["name"].split()) <= 5 and not _POSTING_FACT.match(line):
            opened = _heading_section(heading["name"])
            if opened:
                section, listed = opened, False
                line = heading["rest"]
        elif line.endswith(":") and len(line.split()) <= 6:
            section, listed = _heading_section(line) or _OTHER, False
            continue
        elif line.endswith(":") and _DUTY_CUE.search(line):
            # "... is responsible for the following:": a sentence that opens a list of duties.
            pieces.append((line, section))
            section, listed = _DUTIES, False
            continue
        elif line and section != _OTHER:
            # Prose after a section's list (perks, location, how to apply) is not part of it.
            if _BULLET.match(line):
                listed = True
            elif listed and not line[:1].islower():
                # (A line in lower case continues the item above it.)
                section, listed = _OTHER, False
        pieces.append((line, section))
    # Join wrapped lines of one paragraph, then split into sentences and `;` clauses.
    clauses: list[tuple[str, str]] = []
    paragraph: list[str] = []
    current = _OTHER

    def flush() -> None:
        joined = " ".join(paragraph)
        for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z])|;\s*|\s+[•▪●·]\s+", joined):
            sentence = sentence.strip(" -*•▪●·\t.")
            if sentence:
                clauses.append((sentence, current))
        paragraph.clear()

    previous = ""
    for line, part in pieces:
        bullet = bool(_BULLET.match(line))
        # A short line is an item of its own; a long one may wrap into the next line.
        wrapped = len(previous) >= _WRAPPED_LINE
        if not line or bullet or not wrapped or part != current:
            if paragraph:
                flush()
            current = part
        if line:
            paragraph.append(_BULLET.sub("", line))
        previous = line
    if paragraph:
        flush()
    return clauses


# Words of headings and of a posting's facts, never a thing named.
_SECTION_WORD = re.compile(
    r"^(?:qualifications?|requirements?|responsibilities|status|exempt|non-exempt|type|"
    r"location|schedule|salary|benefits|department|reports?)$",
    re.IGNORECASE,
)


def _named(keyword: str, document: str) -> bool:
    """Whether a keyword names a thing by itself: a vocabulary term, an abbreviation, a name
    with capitals inside, a phrase ("paid search"), or a capitalised word the description
    never writes in lower case ("Figma"); not a common word ("Status", "status")."""
    if " " in keyword or keyword.isupper() or any(c.isupper() for c in keyword[1:]):
        return True
    if canonical_name(keyword) is not None:
        return True
    lower = re.search(rf"(?<![\w-]){re.escape(keyword.lower())}(?![\w-])", document)
    return keyword[:1].isupper() and not lower and not _SECTION_WORD.search(keyword)


def _without_list_label(clause: str) -> str:
    """A clause without the label of the list it gives ("Languages: Java, Python, C++"): the
    label names the kind of thing listed, not a thing the job asks for. A label before a
    sentence ("Lead qualification: assess fit ...") is kept: it names the duty."""
    label = _SECTION_HEADING.match(clause)
    if not label or not label["rest"] or len(label["name"].split()) > 4:
        return clause
    items = [item.split() for item in re.split(r"[,;]", label["rest"])]
    if len(items) < 2 or any(len(item) > 3 for item in items):
        return clause
    return label["rest"]


def _requirement(
    clause: str, section: str, *, document: str = "", prose: bool = False
) -> dict[str, Any] | None:
    if section == _PERKS or _BOILERPLATE.search(clause):
        return None
    if len(_PHYSICAL.findall(clause)) >= 2 or _WEIGHT.search(clause):
        return None
    if _POSTING_FACT.match(clause):
        return None
    terms = canonical_terms(clause)
    keywords = clause_keywords(_without_list_label(clause), document)
    if _SERVICES.match(clause) and not _PERK_WORDS.search(clause):
        # "We provide abortion services as well as gynecological care": the field the job is
        # in, which a resume from the field names.
        return {
            "text": clause,
            "kind": "other",
            "keywords": keywords,
            "importance": "preferred",
            "years": None,
        }
    if not terms and (_ABOUT_THE_COMPANY.match(clause) or _MISSION.search(clause)):
        # "We offer a relocation package", "The clinic's mission is to provide ...": what the
        # organisation gives or believes, not what the job asks.
        return None
    listed = section != _OTHER
    # A sentence outside the lists that says what the person in the role does ("The BDR will
    # follow up on web inquiries") is a duty as in a description without headings.
    prose = prose or bool(_ROLE_DUTY.search(clause))
    if not listed and not prose:
        # Outside the requirements and duties (about the company, the team, the perks) only
        # the skills and tools it names are the job's; its other phrases describe the company.
        keywords = terms
    years_match = _YEARS.search(clause)
    schooling = _NOT_SCHOOLING.sub("", clause)  # "a high degree of autonomy" is no degree
    if years_match:
        kind = "experience"
    elif _CERTIFICATION.search(clause) and (listed or keywords):
        kind = "certification"
    elif _EDUCATION.search(schooling) and (listed or "degree" in schooling.lower()):
        kind = "education"
    elif terms:
        kind = "skill"
    elif listed and (
        len(clause.split()) >= 4
        or any(_named(k, document) for k in keywords)
        or (section == _DUTIES and keywords)
    ):
        # (A short item counts when it names something: "CPA", "SOX controls"; a short duty
        # when it gives a keyword: "document appropriately".)
        kind = "other"
    elif prose and keywords and _DUTY_CUE.search(clause) and not _NOT_A_DUTY.search(clause):
        kind = "other"
    else:
        return None
    if kind == "education":
        # The degree and its field of study are the requirement; the keywords a resume is
        # searched for are the credentials it names besides ("CPA").
        keywords = [k for k in keywords if k.isupper() and k.upper() not in _DEGREES]
    preferred = section == _PREFERRED or _PREFERRED_WORDS.search(clause)
    return {
        "text": clause,
        "kind": kind,
        "keywords": keywords,
        "importance": "preferred" if preferred else "required",
        "years": int(years_match[1]) if years_match else None,
    }


def _ordered_keywords(requirements: list[dict[str, Any]]) -> list[str]:
    """Every keyword once: required before preferred, then by how often it is asked for."""
    stats: dict[str, list[int]] = {}
    for position, requirement in enumerate(requirements):
        for keyword in requirement["keywords"]:
            entry = stats.setdefault(keyword, [1, 0, position])
            entry[1] += 1
            if requirement["importance"] == "required":
                entry[0] = 0
    return sorted(stats, key=lambda k: (stats[k][0], -stats[k][1], stats[k][2]))


def _seniority(title: str, text: str, requirements: list[dict[str, Any]]) -> str | None:
    for source in (title, text[:400]):
        for level, pattern in _SENIORITY_WORDS:
            if re.search(pattern, source, re.IGNORECASE):
                return level
    years = [r["years"] for r in requirements if r.get("years") is not None]
    if not years:
        return None
    most = max(years)
    return "junior" if most <= 2 else "mid" if most <= 4 else "senior"


# --- edits ----------------------------------------------------------------------------------


def _list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _keyword_weights(requirements: list[dict[str, Any]]) -> dict[str, int]:
    """Canonical keyword → weight: 2 when some requirement needs it, 1 when only preferred."""
    weights: dict[str, int] = {}
    for requirement in requirements:
        weight = 2 if requirement.get("importance") == "required" else 1
        for keyword in requirement.get("keywords") or []:
            name = canonical_name(str(keyword)) or str(keyword)
            weights[name] = max(weights.get(name, 0), weight)
    return weights


def _matched(text: str, weights: dict[str, int]) -> list[str]:
    """The job's keywords a text shows: vocabulary terms by any spelling, other keywords
    (a field's own words, "accounts payable") as written, case aside."""
    found = [k for k in canonical_terms(text) if k in weights]
    return found + [k for k in weights if k not in found and _free(k) and keyword_in(text, k)]


def _free(keyword: str) -> bool:
    """Whether a keyword is outside the vocabulary (matched only as written)."""
    return canonical_name(keyword) is None


def _reorder(scores: list[float]) -> list[int]:
    """Indexes by descending score, ties in their original order."""
    return sorted(range(len(scores)), key=lambda i: -scores[i])


# A spelling that is an adjective ("event-driven", "RESTful") is no thing to be experienced
# with: the summary takes it with the words that follow it in the material.
_ADJECTIVE = re.compile(r"(?:-driven|-based|-oriented|-native|-side|-facing|ful)$", re.IGNORECASE)
_NEXT_WORD = re.compile(r"[ \t]+([A-Za-z][\w+#./-]*[\w+#]|[A-Za-z])")
_NOT_A_NOUN = frozenset(
    "a an the and or but of to in on for with by at from as into across via using over "
    "under that which who while".split()
)
_MAX_NOUN_WORDS = 3
# What comes before a verb that acts: a line's (or bullet's) start, "to", "will".
_ACTING = re.compile(r"(?:^|\n|[-*•▪●·]\s*|\bto\s+|\bwill\s+)$", re.IGNORECASE)


def _with_noun(spelled: str, after: str) -> str:
    """An adjective spelling with the (up to three) words the material puts after it; any
    other spelling as it is."""
    if not _ADJECTIVE.search(spelled):
        return spelled
    phrase, rest = spelled, after
    for _ in range(_MAX_NOUN_WORDS):
        word = _NEXT_WORD.match(rest)
        if not word or word[1].lower() in _NOT_A_NOUN or is_verb(word[1].lower()):
            break
        phrase += " " + word[1]
        rest = rest[word.end() :]
    return phrase


def _spelling(term: str, texts: list[str]) -> str | None:
    """How the person's own material writes a term: its canonical name when the material
    has it so, else the first spelling it uses (an adjective with its noun); None when it
    only names a related word ("containerization" is no spelling of Docker). A keyword
    outside the vocabulary is spelled as the material writes it, where the material names a
    thing with it ("handled support tickets"), not where it acts ("to support the team"):
    a summary lists things, not actions."""
    spellings = [
        _with_noun(match.text, text[match.end :])
        for text in texts
        for match in find_terms(text)
        if match.term.canonical == term and not match.related
    ]
    if not spellings and _free(term):
        first = term.split()[0].lower() if term.split() else ""
        may_act = is_verb(first) and not first.endswith("ing")
        pattern = re.compile(rf"(?<![\w]){re.escape(term.strip())}(?![\w])", re.IGNORECASE)
        spellings = [
            match[0]
            for text in texts
            for match in pattern.finditer(text)
            # "Prepare tax returns", "to plan shifts": the material acts, it names no thing.
            if not (may_act and _ACTING.search(text[: match.start()]))
        ]
    if term in spellings:
        return term
    if _free(term):
        # A heading's capitals ("Web Development") are no name: the material's own lower-case
        # spelling reads right inside a sentence.
        spellings.sort(key=lambda spelling: spelling != spelling.lower())
        if spellings and _capitals_of_a_heading(spellings[0], texts):
            return spellings[0].lower()
    return spellings[0] if spellings else None


_WORDS = re.compile(r"[A-Za-z][\w'+#.-]*[\w+#]|[A-Za-z]")


def _capitals_of_a_heading(spelling: str, texts: list[str]) -> bool:
    """Whether a spelling's capitals are a heading's or a list's style ("Web Development"
    where the material writes "developer" in lower case): not a name, so they read wrong
    inside a sentence."""
    words = _WORDS.findall(spelling)
    if not words or not all(re.fullmatch(r"[A-Z][a-z]+", w) for w in words):
        return False
    lower = {stem(w) for text in texts for w in _WORDS.findall(text) if w.islower()}
    return any(stem(w.lower()) in lower for w in words)


# One capitalised common word outside the vocabulary ("Design", "Operations"): a heading or a
# sentence's first word in the material, no thing to list inside a sentence.
_HEADING_WORD = re.compile(r"[A-Z][a-z]+")


def _as_source(resume: dict[str, Any]) -> dict[str, Any]:
    """The engine's view of a resume (skills as one list) in the source's shape."""
    skills = resume.get("skills") if isinstance(resume.get("skills"), list) else []
    groups = _list(skills) + [{"category": None, "items": _strings(skills)}]
    return {**resume, "skills": [group for group in groups if group.get("items")]}


def _summary_edit(
    resume: dict[str, Any], weights: dict[str, int], evidence: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One sentence that names the job's keywords the material shows, each spelled as the
    material spells it: never a new word for a term, never inside the person's sentences."""
    summary = str(resume.get("summary") or "").strip()
    resume_text = _resume_text(resume)
    answers = [str(item.get("text", "")) for item in evidence]
    spelled = {k: _spelling(k, [resume_text, *answers]) for k in weights}
    in_resume = {k for k in weights if _spelling(k, [resume_text])}
    # Skills only the evidence (Mimikree's answers) shows come first: the summary is the one
    # place they can appear, while the others are in the resume already.
    wanted = sorted(
        (k for k in weights if spelled[k]),
        key=lambda k: (k in in_resume, -weights[k], list(weights).index(k)),
    )
    missing_from_summary = [k for k in wanted if k not in _matched(summary, {k: 1})]
    # The sentence is written to pass the verifier, which reads it again: each thing listed,
    # and the role it opens with, must be what the material supports (a degree or an
    # employer the job names is no skill to be experienced with).
    own_words = [str(e.get("text", "")) for e in evidence if e.get("source") == "mimikree"]
    scope = resume_scope(_as_source(resume), answers=own_words)

    # Imported here: the gate imports the vocabulary, whose package imports this module.
    from server.agent.verifier.gate import verify_text

    def holds(sentence: str) -> bool:
        return not verify_text(sentence, scope, "summary")[1]

    supported = [
        k
        for k in missing_from_summary
        if not (_free(k) and _HEADING_WORD.fullmatch(str(spelled[k])))
        and holds(f"Experienced with {spelled[k]}.")
    ]
    chosen = supported[:MAX_SUMMARY_KEYWORDS]
    if not chosen:
        return []
    listed = _join(_listed([str(spelled[k]) for k in chosen]))
    jobs = _list(resume.get("experience"))
    role = str(jobs[0].get("title") or "").strip() if jobs else ""
    if summary:
        separator = "" if summary.endswith((".", "!", "?")) else "."
        text = f"{summary}{separator} Experienced with {listed}."
    elif role and holds(f"{role} experienced with {listed}."):
        text = f"{role} experienced with {listed}."
    else:
        text = f"Experienced with {listed}."
    if not holds(text):
        return []
    return [
        {
            "section": "summary",
            "action": "rewrite",
            "experience_index": None,
            "bullet_index": None,
            "text": text,
            "order": None,
            "keywords": chosen,
            "reason": "names the job's keywords the resume already shows: " + ", ".join(chosen),
        }
    ]


def _bullet_edits(
    index: int, bullets: list[str], weights: dict[str, int], requirements: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The role's bullets, those that show most of the job's requirements first. A bullet's
    words are the person's own: the engine never rewrites one."""
    scores = [
        sum(weights[k] for k in _matched(b, weights)) + relevance(b, requirements) for b in bullets
    ]
    order = _reorder(scores)
    if order == list(range(len(bullets))):
        return []
    return [
        {
            "section": "experience",
            "action": "reorder",
            "experience_index": index,
            "bullet_index": None,
            "text": None,
            "order": order,
            "keywords": _unique(k for b in bullets for k in _matched(b, weights)),
            "reason": "puts the bullets that show most of the job's requirements first",
        }
    ]


def _skills_edit(
    skills: list[str], weights: dict[str, int], requirements: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    named = [_matched(s, weights) for s in skills]
    # A skill the job names first, then those that share most of its requirements' words.
    scores = [
        max((weights[k] for k in keys), default=0) * 100 + relevance(s, requirements)
        for keys, s in zip(named, skills, strict=True)
    ]
    order = _reorder(scores)
    if order == list(range(len(skills))):
        return []
    return [
        {
            "section": "skills",
            "action": "reorder",
            "experience_index": None,
            "bullet_index": None,
            "text": None,
            "order": order,
            "keywords": _unique(k for keys in named for k in keys),
            "reason": "lists the skills the job asks for first",
        }
    ]


def _projects_edit(
    projects: list[dict[str, Any]], weights: dict[str, int], requirements: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The projects that show any of the job (its keywords, or its requirements' words), most
    relevant first; one that shows nothing of it is left out."""
    matched = [_matched(_project_text(p), weights) for p in projects]
    scores = [
        sum(weights[k] for k in m) * 100 + relevance(_project_text(p), requirements)
        for m, p in zip(matched, projects, strict=True)
    ]
    relevant = [i for i in _reorder(scores) if scores[i] > 0]
    if not relevant or relevant == list(range(len(projects))):
        return []
    return [
        {
            "section": "projects",
            "action": "select",
            "experience_index": None,
            "bullet_index": None,
            "text": None,
            "order": relevant,
            "keywords": _unique(k for i in relevant for k in matched[i]),
            "reason": "keeps the projects that show the job's keywords, most relevant first",
        }
    ]


def _project_text(project: dict[str, Any]) -> str:
    parts = [str(project.get(k) or "") for k in ("name", "description")]
    parts += _strings(project.get("bullets")) + _strings(project.get("technologies"))
    return "\n".join(parts)


def _resume_text(resume: dict[str, Any]) -> str:
    parts = [str(resume.get("summary") or "")]
    for job in _list(resume.get("experience")):
        parts += [str(job.get("title") or "")] + _strings(job.get("bullets"))
    parts += _strings(resume.get("skills"))
    parts += [_project_text(p) for p in _list(resume.get("projects"))]
    return "\n".join(parts)


def _listed(spellings: list[str]) -> list[str]:
    """The spellings to list, each once: one another spelling's phrase already holds
    ("microservices" in "event-driven microservices architecture") is left out."""
    kept: list[str] = []
    for spelling in spellings:
        inside = rf"(?<![\w]){re.escape(spelling)}(?![\w])"
        held = any(other != spelling and re.search(inside, other, re.I) for other in spellings)
        if not held and spelling.lower() not in (k.lower() for k in kept):
            kept.append(spelling)
    return kept


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _unique(items) -> list[str]:
    return list(dict.fromkeys(items))


# --- ranking --------------------------------------------------------------------------------


def _score(query: str, text: str, weights: dict[str, int]) -> dict[str, Any]:
    if weights:
        present = set(canonical_terms(text))
        matched = [k for k in weights if k in present]
        missing = [k for k in weights if k not in present]
        score = round(100 * sum(weights[k] for k in matched) / sum(weights.values()))
        reason = f"matches {len(matched)} of {len(weights)} keywords of the query"
        return {
            "score": score,
            "matched_keywords": matched,
            "missing_keywords": missing,
            "reason": reason,
        }
    # No vocabulary terms in the query: fall back to shared content words.
    words = {w for w in _WORD.findall(query.lower()) if w not in _STOPWORDS}
    shared = sorted(words & set(_WORD.findall(text.lower())))
    score = round(100 * len(shared) / len(words)) if words else 0
    return {
        "score": score,
        "matched_keywords": shared,
        "missing_keywords": sorted(words - set(shared)),
        "reason": f"shares {len(shared)} of {len(words)} words of the query",
    }
