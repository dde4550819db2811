"""Heuristic parsing of a resume's text into sections and entries.

The parser never raises and never drops text: every non-blank line ends up in a field of the
result (a line it cannot place goes to an `other_sections` entry or an entry's `details`), so
tailoring can rely on the structure without losing anything the user wrote. Bump
`PARSER_VERSION` whenever the shape or the heuristics change, so stored results can be told
apart.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("server.agent.resume_parsing")

PARSER_VERSION = 3
MAX_LINE = 400

SECTION_KEYWORDS = {
    "summary": (
        "summary",
        "professional summary",
        "career summary",
        "profile",
        "professional profile",
        "about",
        "about me",
        "objective",
        "career objective",
        "overview",
    ),
    "experience": (
        "experience",
        "work experience",
        "professional experience",
        "relevant experience",
        "employment",
        "employment history",
        "work history",
        "career history",
        "professional background",
        "experiences",
        "research",
        "research experience",
    ),
    "education": ("education", "academic background", "academics", "education and training"),
    "skills": (
        "skills",
        "technical skills",
        "core skills",
        "key skills",
        "core competencies",
        "competencies",
        "technologies",
        "tech stack",
        "tools",
    ),
    "projects": ("projects", "project", "personal projects", "selected projects", "side projects"),
    "certifications": (
        "certifications",
        "certificates",
        "certification",
        "licenses",
        "licenses and certifications",
        "certifications and licenses",
    ),
    "other": (
        "awards",
        "honors",
        "honours",
        "achievements",
        "publications",
        "languages",
        "interests",
        "hobbies",
        "volunteer",
        "volunteering",
        "volunteer experience",
        "leadership",
        "activities",
        "references",
        "links",
        "courses",
        "coursework",
        "training",
        "memberships",
        "affiliations",
        "patents",
        "talks",
        "additional information",
        "extracurricular activity",
        "extracurricular activities",
        "extracurriculars",
    ),
}
_HEADINGS = {phrase: kind for kind, phrases in SECTION_KEYWORDS.items() for phrase in phrases}

BULLET = re.compile(r"^\s*(?:[•▪◦●○■□➢►▸‣⁃∙·*+\-–—]|\d{1,2}[.)])\s+")
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_SEASON = r"(?:spring|summer|fall|autumn|winter)"
_DATE = (
    rf"(?:(?:{_MONTH}|{_SEASON})\s*,?\s*(?:19|20)\d{{2}}|(?:0?[1-9]|1[0-2])/(?:19|20)\d{{2}}"
    r"|(?:19|20)\d{2}-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01]))?\b|(?:19|20)\d{2})"
)
_PRESENT = r"(?:present|current|now|today|ongoing)"
DATE_RANGE = re.compile(
    rf"\(?\b(?P<start>{_DATE})\s*(?:-|–|—|to|until|~)\s*(?P<end>{_DATE}|{_PRESENT})\b\)?",
    re.IGNORECASE,
)
SINGLE_DATE = re.compile(
    rf"\(?\b(?:(?:expected|graduated|grad\.?|since|issued):?\s+)?(?P<date>{_DATE})\)?\s*$",
    re.IGNORECASE,
)
# A date that opens a line, before a gap: "Dec 2014 | Ithaca, NY", "Graduated: May 2018 | GPA".
LEADING_DATE = re.compile(
    rf"^\(?(?:(?:expected|graduated|grad\.?|since|issued):?\s+)?(?P<date>{_DATE})\)?\s*(?:\||$)",
    re.IGNORECASE,
)
_MONTHS = {
    name: index
    for index, names in enumerate(
        (
            ("jan",),
            ("feb",),
            ("mar",),
            ("apr",),
            ("may",),
            ("jun",),
            ("jul",),
            ("aug",),
            ("sep",),
            ("oct",),
            ("nov",),
            ("dec",),
        ),
        start=1,
    )
    for name in names
}
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# National and international phone numbers as printed: "(123) 456-7890", "+1 (415) 555-0142",
# "(+82) 10-9030-1843", "+966 54 823 2198", "607.379.5733", "+44 20 7946 0958".
PHONE = re.compile(
    r"(?<![\w/+(])(?:\(\+?\d{1,4}\)|\+\d{1,3}|\d)(?:[\s.-]?(?:\(\d{1,4}\)|\d)){6,14}(?![\w/])"
)
LINK = re.compile(
    r"(?:https?://\S+|www\.\S+|\b(?:[\w-]+\.)+(?:com|org|net|io|dev|me|ai|co|app|page|xyz|tech"
    r"|info|edu)(?:/[^\s,|]*)?)",
    re.IGNORECASE,
)
_STATE = (
    r"(?:A[LKZR]|C[AOT]|D[EC]|FL|GA|HI|I[DLNA]|K[SY]|LA|M[EDAINSOT]|N[EVHJMYCD]|O[HKR]|PA|RI|S[CD]"
    r"|T[NX]|UT|V[TA]|W[AVIY]|UK|USA|US)"
)
_COUNTRY = (
    r"(?:United States|United Kingdom|Canada|Germany|France|India|Spain|Italy|Netherlands"
    r"|Ireland|Australia|Japan|China|Brazil|Mexico|Poland|Sweden|Switzerland|Singapore|Israel"
    r"|Portugal|Austria|Belgium|Denmark|Norway|Finland|Nigeria|Kenya|South Africa|Remote"
    r"|Taiwan|(?:South |S\.\s?)?Korea|Hong Kong|Vietnam|Philippines|Indonesia|Malaysia|Thailand"
    r"|Pakistan|Bangladesh|Egypt|UAE|Saudi Arabia|New Zealand|Argentina|Chile|Colombia|Turkey"
    r"|Türkiye|Greece|Czech Republic|Romania|Ukraine)"
)
LOCATION = re.compile(
    rf"(?P<location>(?:[A-Z][\w.'’-]*\s){{0,1}}[A-Z][\w.'’-]*,\s*(?:{_STATE}|{_COUNTRY})\b\.?"
    rf"|\b(?:Remote|Hybrid|On-?site)\b(?:\s*\([^)]*\))?)\s*$"
)
WHOLE_LOCATION = re.compile(
    rf"^[A-Z][\w.'’-]*(?:\s[A-Z][\w.'’-]*){{0,3}},\s*(?:{_STATE}|{_COUNTRY}|[A-Z][a-z]+)\.?"
    rf"(?:,\s*(?:{_STATE}|{_COUNTRY})\.?)?$|^(?:Remote|Hybrid)$"
)
STRONG_SEPARATOR = re.compile(r"\s+[•·@]\s+|\s+[-–—]\s+|\t+|\s{2,}|\s*\|\s*")
# A comma before a company's legal form ("ABC Company, Inc.") is part of the name.
WEAK_SEPARATOR = re.compile(r",\s+(?!(?i:inc|llc|ltd|corp|co|gmbh|plc|s\.?a)\b)|\s+at\s+")
TITLE_WORDS = re.compile(
    r"\b(?:engineer|developer|programmer|manager|intern|internship|analyst|designer|scientist"
    r"|director|lead|head|consultant|specialist|architect|officer|assistant|associate|vp"
    r"|vice president|president|coordinator|administrator|technician|teacher|instructor"
    r"|professor|lecturer|nurse|accountant|researcher|founder|co-founder|owner|editor|writer"
    r"|representative|agent|advisor|adviser|supervisor|executive|strategist|marketer|recruiter"
    r"|sre|devops|cto|ceo|cfo|coo|principal|staff|fellow|trainee|apprentice|volunteer"
    r"|clerk|cashier|barista|chef|driver|operator|mechanic|electrician|attorney|lawyer"
    r"|paralegal|pharmacist|physician|therapist|tutor|mentor|maintainer|creator|contributor"
    r"|member|chair|captain|partner|freelancer|contractor)s?\b"
    # Role nouns by their ending: cryptanalyst, pianist, accountant, librarian.
    r"|\b[a-z]{3,}(?:yst|ist|ant|ian)s?\b",
    re.IGNORECASE,
)
EMPLOYER_WORDS = re.compile(
    r"\b(?:inc|llc|ltd|gmbh|corp|corporation|company|co(?!-)|group|labs?|technologies|systems"
    r"|solutions|bank|agency|university|hospital|studio|partners|foundation)\b\.?",
    re.IGNORECASE,
)
INSTITUTION_WORDS = re.compile(
    r"\b(?:university|college|institute|school|academy|polytechnic|univ|conservatory|"
    r"bootcamp|uc|mit|ucla|nyu|eth|epfl)\b",
    re.IGNORECASE,
)
DEGREE = re.compile(
    r"\b(?:bachelor(?:'s)?|master(?:'s)?|doctor(?:ate)?|ph\.?\s?d\.?|m\.?b\.?a\.?|b\.?\s?sc?\.?"
    r"|m\.?\s?sc?\.?|b\.?a\.?|m\.?a\.?|b\.?eng\.?|m\.?eng\.?|b\.?tech|m\.?tech|associate(?:'s)?"
    r"|diploma|high school|ged|certificate|a\.?s\.?|j\.?d\.?|m\.?d\.?)(?=[\s,.:;()]|$)",
    re.IGNORECASE,
)
_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]*)\)")
_MARKDOWN_EMPHASIS = re.compile(r"(\*\*|__|`)")
_MARKDOWN_ITALIC = re.compile(r"(?<![\w*])[*_]([^*_\s](?:[^*_]*[^*_\s])?)[*_](?![\w*])")
_MARKDOWN_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass
class _Line:
    text: str
    bullet: bool = False
    markdown_level: int = 0  # 1-6 for a Markdown heading
    marker: str = ""  # the bullet's glyph


@dataclass
class _Section:
    kind: str  # summary, experience, ..., other, or "top" for the lines before any heading
    heading: str | None
    lines: list[_Line] = field(default_factory=list)


def _clean(text: str) -> str:
    text = text.replace("\u00a0", " ").replace("\u200b", "")
    # A tab is a wide gap in the printed line (a right-aligned date, the next skill chip).
    text = re.sub(r"\s*\t\s*", " | ", text.strip(" \t"))
    return re.sub(r" +", " ", text).strip()


def _strip_markdown(text: str) -> str:
    text = _MARKDOWN_LINK.sub(
        lambda m: f"{m.group(1)} ({m.group(2)})" if m.group(2) else m.group(1), text
    )
    return _MARKDOWN_ITALIC.sub(r"\1", _MARKDOWN_EMPHASIS.sub("", text))


def _pieces(raw: str) -> list[str]:
    """A line cut at spaces into pieces of at most MAX_LINE characters.

    Very long lines come from extraction oddities or hostile text; cutting them first bounds
    the work of every regular expression below.
    """
    pieces = []
    while len(raw) > MAX_LINE:
        cut = raw.rfind(" ", 0, MAX_LINE)
        cut = cut if cut > 0 else MAX_LINE
        pieces.append(raw[:cut])
        raw = raw[cut:]
    pieces.append(raw)
    return pieces


def _lines_of(text: str, markdown: bool) -> list[_Line]:
    lines = []
    for whole in text.splitlines():
        for index, raw in enumerate(_pieces(whole)):
            first = index == 0  # later pieces continue the first: no heading, no bullet
            level = 0
            if markdown:
                if first and re.fullmatch(r"\s*(?:-{3,}|\*{3,}|_{3,})\s*", raw):
                    break
                heading = _MARKDOWN_HEADING.match(raw) if first else None
                if heading:
                    level, raw = len(heading.group(1)), heading.group(2)
                raw = _strip_markdown(raw)
            else:
                raw = raw.replace("**", "")  # Markdown bold printed literally
            found = BULLET.match(raw) if first else None
            marker = found.group(0).strip() if found else ""
            if found:
                raw = raw[found.end() :]
            cleaned = _clean(raw)
            if cleaned:
                lines.append(_Line(cleaned, bool(found), level, marker))
    return lines


_OPEN_RANGE = re.compile(rf"^{_DATE}\s*[-–—]$", re.IGNORECASE)
_RANGE_END = re.compile(rf"^(?:{_DATE}|{_PRESENT})\b", re.IGNORECASE)


def _rejoin_ranges(lines: list[_Line]) -> list[_Line]:
    """A date range printed over two lines (a narrow date column) read as one line."""
    joined: list[_Line] = []
    for line in lines:
        previous = joined[-1] if joined else None
        if (
            previous is not None
            and not line.bullet
            and _OPEN_RANGE.match(previous.text)
            and _RANGE_END.match(line.text)
        ):
            previous.text = f"{previous.text} {line.text}"
            continue
        # A bullet wrapped before a word that cannot end it ("... of Petroleum and").
        if (
            previous is not None
            and previous.bullet
            and not line.bullet
            and previous.text.rsplit(" ", 1)[-1].lower() in ("and", "or", "of", "the", "&")
        ):
            previous.text = f"{previous.text} {line.text}"
            continue
        joined.append(line)
    return joined


def _heading_kind(line: _Line) -> str | None:
    """The section a heading line opens, or None when the line is no heading."""
    if line.bullet:
        return None
    text = line.text.strip().rstrip(":").strip()
    normal = re.sub(r"[^a-z& ]", "", text.lower()).replace("&", " and ")
    normal = re.sub(r"\s+", " ", normal).strip()
    if not normal or len(text) > 45 or len(normal.split()) > 5:
        return None
    if normal in _HEADINGS:
        return _HEADINGS[normal]
    first = normal.split(" and ")[0].strip()
    title_case = all(word[:1].isupper() for word in text.split() if word not in ("&", "and"))
    joined = " and " in normal and len(normal.split()) <= 4 and title_case
    if first in _HEADINGS and (
        text.isupper() or line.markdown_level or text.endswith(":") or joined
    ):
        return _HEADINGS[first]
    if line.markdown_level in (1, 2):
        return "other"
    return None


_SKILL_ROW = re.compile(r"^[^,|:;]{2,40} \| [^|]+[,;]")
_CERTIFICATE = re.compile(r"\b(?:certificate|certified|certification|fundamentals)\b", re.I)


def _infer_sections(lines: list[_Line]) -> list[_Section]:
    """Sections of a document without headings (a converted file that lost them): skill rows
    ("Label | a, b"), entries headed by a line ending in dates (education when it names a
    degree, certifications when a certificate), the lines under an entry its description."""
    sections = [_Section("top", None)]
    for line in lines:
        kind = None
        dated = len(line.text) <= 160 and _has_dates(line, True)
        if _SKILL_ROW.match(line.text) and not dated:
            kind = "skills"
        elif dated:
            if DEGREE.search(line.text) and not _CERTIFICATE.search(line.text):
                kind = "education"
            elif _CERTIFICATE.search(line.text) or not DATE_RANGE.search(line.text):
                kind = "certifications" if _CERTIFICATE.search(line.text) else "other"
            else:
                kind = "experience"
        if kind and kind != sections[-1].kind:
            sections.append(_Section(kind, None))
        sections[-1].lines.append(line)
    return sections


def _split_sections(lines: list[_Line]) -> list[_Section]:
    if len(lines) >= 8 and not any(_heading_kind(line) for line in lines):
        return _infer_sections(lines)
    sections = [_Section("top", None)]
    for line in lines:
        kind = _heading_kind(line)
        # A Markdown level-1 heading at the very top is the name, not a section.
        if kind and not (
            line.markdown_level == 1 and sections[-1].kind == "top" and kind == "other"
        ):
            sections.append(_Section(kind, line.text.rstrip(":").strip()))
        else:
            sections[-1].lines.append(line)
    return sections


def _normal_date(text: str | None) -> str | None:
    if not text:
        return None
    value = text.strip().lower().rstrip(".")
    if re.fullmatch(_PRESENT, value):
        return None
    year = re.search(r"(?:19|20)\d{2}", value)
    if not year:
        return None
    month_name = re.match(r"[a-z]{3}", value)
    if month_name and month_name.group(0) in _MONTHS:
        return f"{year.group(0)}-{_MONTHS[month_name.group(0)]:02d}"
    numeric = re.fullmatch(r"(\d{1,2})/(\d{4})", value) or re.fullmatch(
        r"(\d{4})-(\d{2})(?:-\d{2})?", value
    )
    if numeric:
        first, second = numeric.groups()
        month, year_text = (first, second) if len(second) == 4 else (second, first)
        return f"{year_text}-{int(month):02d}"
    return year.group(0)


@dataclass
class _Dates:
    text: str | None = None
    start: str | None = None
    end: str | None = None
    current: bool = False


def _take_dates(text: str, allow_single: bool = True) -> tuple[str, _Dates]:
    """Remove a date range (or a trailing single date) from a header line."""
    match = DATE_RANGE.search(text)
    if match:
        end_text = match.group("end")
        dates = _Dates(
            text=match.group(0).strip("() "),
            start=_normal_date(match.group("start")),
            end=_normal_date(end_text),
            current=bool(re.fullmatch(_PRESENT, end_text.strip(), re.IGNORECASE)),
        )
        rest = (text[: match.start()] + " " + text[match.end() :]).strip()
        return _tidy(rest), dates
    gapped = re.search(rf"\s\|\s+(?P<date>{_DATE}|{_SEASON}\s+(?:19|20)\d{{2}})\s*$", text, re.I)
    if not allow_single and gapped:
        date = _normal_date(gapped.group("date"))
        dates = _Dates(text=gapped.group("date"), start=date, end=date)
        return _tidy(text[: gapped.start()]), dates
    if allow_single:
        single = SINGLE_DATE.search(text)
        if single and single.start() > 0 or (single and len(text) <= 30):
            date = _normal_date(single.group("date"))
            rest = text[: single.start()].strip()
            return _tidy(rest), _Dates(text=single.group(0).strip("() "), start=None, end=date)
        leading = LEADING_DATE.match(text)
        if leading:
            date = _normal_date(leading.group("date"))
            rest = text[leading.end() :]
            return _tidy(rest), _Dates(text=leading.group(0).strip("() |"), start=None, end=date)
    return text, _Dates()


def _tidy(text: str) -> str:
    return re.sub(r"^[\s,|•·:;–—-]+|[\s,|•·:;–—-]+$", "", text)


def _has_dates(line: _Line, allow_single: bool) -> bool:
    if line.bullet or len(line.text) > 120:
        return False
    return _take_dates(line.text, allow_single)[1].text is not None


def _parts(text: str) -> list[str]:
    """A header line's parts (split on |, dashes, wide gaps, then commas), locations whole."""
    return [part for part, _ in _linked_parts(text)]


def _linked_parts(text: str) -> list[tuple[str, bool]]:
    """`_parts`, each with whether a comma joined it to the part before it in the document
    ("R.O.K Cyber Command, MND"; "School Ambassador, Software Engineer")."""
    linked: list[tuple[str, bool]] = []
    for piece in STRONG_SEPARATOR.split(text):
        piece = _tidy(piece)
        if not piece:
            continue
        start = len(linked)
        for part in _piece_parts(piece):
            comma = len(linked) > start and (", " + part) in piece
            linked.append((part, comma))
    return linked


# Two-word cities by their usual first or last word ("San Jose", "Mountain View"); any other
# capitalised word run into a place belongs to the text before it ("... Freelance Taipei,
# Taiwan", "... Hospital Taipei, Taiwan").
TWO_WORD_PLACE = re.compile(
    r"^(?:New|San|Santa|Los|Las|Saint|St\.?|Fort|Ft\.?|Port|Mount|Mt\.?|Palo|Salt|El|La|Le"
    r"|Des|Baton|Ann|Grand|Cedar|Long|Little|Kansas|Oklahoma|Jersey|Hong|Tel|Kuala|Buenos|Rio"
    r"|S[aã]o|Abu|Cape|Mexico|Addis|Dar|Phnom|Sri|North|South|East|West|Upper|Lower)\s"
    r"|\s(?:City|Park|View|Alto|Beach|Springs|Heights|Falls|Rapids|Arbor|Lake|Island|Hills?"
    r"|Valley|Creek|Harbou?r|Bay|Grove|Point|Town|Haven|Worth|Rouge|Moines|Orleans|Lauderdale"
    r"|Kong|Aviv|Lumpur|Aires|Paulo|Dhabi|Delhi|Vegas|Angeles),",
    re.IGNORECASE,
)


def _trailing_place(piece: str) -> tuple[str, str] | None:
    """A piece that ends in a place run into other text ("Acme Corp Taipei, Taiwan") as
    (the text before, the place); None when it ends in no place or is one."""
    found = LOCATION.search(piece)
    if not found or found.start() == 0:
        return None
    place, cut = found.group("location").strip(), found.start()
    city = place.split(",", 1)[0].split()
    before = piece[:cut].rstrip()
    if len(city) == 2 and not before.endswith((",", "|", ";")) and not TWO_WORD_PLACE.search(place):
        place, cut = place[len(city[0]) :].strip(), cut + len(city[0]) + 1
    town = re.search(r"(?:^|,\s*)([A-Z][\w.'’-]*(?:\s[A-Z][\w.'’-]*){0,2}),\s*$", before)
    if town and re.fullmatch(_STATE, place.split(",", 1)[0]):
        # "Google, Mountain View, CA, USA": the town before the state is part of the place.
        place, cut = f"{town.group(1)}, {place}", town.start(1)
    return piece[:cut], place


def _piece_parts(piece: str) -> list[str]:
    """One piece's parts: split at commas and " at ", a trailing location kept whole."""
    location = None
    placed = _trailing_place(piece)
    if placed:
        piece, location = placed
    elif WHOLE_LOCATION.match(piece):
        return [piece]
    parts = [p for p in (_tidy(x) for x in WEAK_SEPARATOR.split(piece)) if p]
    return [*parts, location] if location else parts


@dataclass
class _Block:
    header: list[str]
    body: list[_Line]
    dates: _Dates


def _blocks(lines: list[_Line], allow_single_dates: bool) -> list[_Block]:
    """Split a section into entries: anchored on date lines when there are any."""
    if not lines:
        return []
    uses_bullets = any(line.bullet for line in lines)
    anchors = [i for i, line in enumerate(lines) if _has_dates(line, allow_single_dates)]
    if anchors and any(line.bullet for line in lines[: anchors[0]]):
        anchors = []  # some entries carry no dates: split on header lines instead
    # Drop anchors that sit inside a header just opened (a second date line of the same entry).
    if anchors:
        before = 0
        for line in lines[: anchors[0]]:
            before = before + 1 if not line.bullet else 0
        before = min(before, 2)
        starts = []
        previous_anchor = -1
        for anchor in anchors:
            start = anchor
            while (
                start > 0
                and anchor - start < before
                and not lines[start - 1].bullet
                and not _has_dates(lines[start - 1], allow_single_dates)
                and not lines[start - 1].text[:1].islower()
            ):
                start -= 1
            if starts and start <= starts[-1]:
                continue
            if (
                starts
                and not any(line.bullet for line in lines[starts[-1] : start])
                and uses_bullets
                # ...unless the previous entry has its own date line and this one its own
                # header line: the previous entry simply has no bullets.
                and not (previous_anchor < start < anchor)
            ):
                # No bullet since the previous entry started: this date line belongs to it.
                if anchor - starts[-1] <= 3:
                    continue
            starts.append(start)
            previous_anchor = anchor
        if starts[0] > 0:
            lead = lines[: starts[0]]
            if uses_bullets and len(lead) <= 2 and not any(line.bullet for line in lead):
                # The first entry's heading wrapped onto a line starting in lower case ("...
                # Touring System using / the Mobile Social Network"): one heading, one entry.
                starts[0] = 0
            else:
                starts.insert(0, 0)
        spans = list(zip(starts, [*starts[1:], len(lines)], strict=True))
    else:
        starts = [0]
        for i in range(1, len(lines)):
            line, previous = lines[i], lines[i - 1]
            if line.bullet or not uses_bullets:
                continue
            # A line after bullets opens the next entry, unless it is wrapped bullet text.
            if line.text[:1].islower():
                continue
            if previous.bullet or (i >= 2 and _ends_bullet_run(lines, i)):
                starts.append(i)
        spans = list(zip(starts, [*starts[1:], len(lines)], strict=True))
    blocks = []
    for start, end in spans:
        chunk = lines[start:end]
        header: list[str] = []
        dates = _Dates()
        body: list[_Line] = []
        in_header = True
        for line in chunk:
            if in_header and not line.bullet and (len(header) < 4 or not uses_bullets):
                text, found = _take_dates(line.text, allow_single_dates)
                if found.text and dates.text is None:
                    dates = found
                    if text:
                        header.append(text)
                    continue
                if uses_bullets or (len(header) < 2 and len(line.text) <= 90):
                    header.append(line.text)
                    continue
            in_header = False
            body.append(line)
        blocks.append(_Block(header, body, dates))
    return blocks


def _bulleted_headers(lines: list[_Line], *, education: bool) -> list[_Line]:
    """Entries written as bullets ("* Analyst, Bank (2019-2020)" over "+ achievement" sub-
    bullets, or a school per bullet): their dated outer bullets read as entry headers."""
    markers = [line.marker for line in lines if line.bullet]
    if not markers:
        return lines
    outer = markers[0]
    nested = len(set(markers)) > 1
    headed = any(not line.bullet and _has_dates(line, True) for line in lines)
    if not nested and not (education and not headed):
        return lines
    return [
        _Line(line.text, False, line.markdown_level, "")
        if line.bullet
        and line.marker == outer
        and (DATE_RANGE.search(line.text) or (education and _has_dates(_Line(line.text), True)))
        else line
        for line in lines
    ]


def _ends_bullet_run(lines: list[_Line], index: int) -> bool:
    """Whether the lines before `index` since the last bullet are wrapped text of that bullet."""
    j = index - 1
    while j >= 0 and not lines[j].bullet:
        if not lines[j].text[:1].islower():
            return False
        j -= 1
    return j >= 0


def _join_wrapped(first: str, second: str) -> str:
    """Two lines of one wrapped paragraph; a word split by a hyphen is joined again."""
    joiner = "" if first.endswith("-") and second[:1].islower() else " "
    return first + joiner + second


def _bullets(body: list[_Line]) -> list[str]:
    """Bullet texts, wrapped lines joined to the bullet they continue."""
    uses_bullets = any(line.bullet for line in body)
    bullets: list[str] = []
    for line in body:
        if uses_bullets and not line.bullet and bullets:
            bullets[-1] = _join_wrapped(bullets[-1], line.text)
        else:
            bullets.append(line.text)
    return bullets


def _experience(block: _Block) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "title": None,
        "employer": None,
        "location": None,
        "start_date": block.dates.start,
        "end_date": block.dates.end,
        "is_current": block.dates.current,
        "dates": block.dates.text,
        "bullets": _bullets(block.body),
        "details": [],
    }
    unplaced: list[str] = []
    comma_after: dict[str, str] = {}  # a part -> the part a comma joined to it
    for line in block.header:
        run_together = _run_together_role(line)
        if run_together:
            # The layout's own order: the title, then the employer, then the place.
            for key, value in zip(("title", "employer", "location"), run_together, strict=True):
                if value and entry[key] is None:
                    entry[key] = value
                elif value:
                    entry["details"].append(value)
            continue
        linked = _linked_parts(line)
        for (before, _), (part, comma) in zip(linked, linked[1:], strict=False):
            if comma:
                comma_after[part] = before
        for part, _ in linked:
            if (
                entry["location"] is None
                and WHOLE_LOCATION.match(part)
                and not EMPLOYER_WORDS.search(part)
            ):
                entry["location"] = part
            elif (
                entry["title"] is None
                and TITLE_WORDS.search(part)
                and not EMPLOYER_WORDS.search(part)
            ):
                entry["title"] = part
            elif entry["employer"] is None and EMPLOYER_WORDS.search(part):
                entry["employer"] = part
            else:
                unplaced.append(part)
    for part in unplaced:
        if entry["employer"] is None:
            entry["employer"] = part
        elif entry["title"] is None:
            entry["title"] = part
        else:
            entry["details"].append(part)
    _rejoin_commas(entry, comma_after)
    return entry


def _rejoin_commas(
    entry: dict[str, Any], comma_after: dict[str, str], keys=("title", "employer")
) -> None:
    """A detail a comma split from the title or the employer (or a school's name) goes back
    to it, in the order the document gives them ("R.O.K Cyber Command, MND"; "School
    Ambassador, Software Engineer"; "University of California, Berkeley"), once the place is
    known (else the detail may be the place: "Google, Mountain View")."""
    if entry["location"] is None:
        return
    for detail in list(entry["details"]):
        for key in keys:
            value = entry[key]
            if value is None:
                continue
            if comma_after.get(detail) == value:
                entry[key] = f"{value}, {detail}"
            elif comma_after.get(value) == detail:
                entry[key] = f"{detail}, {value}"
            else:
                continue
            entry["details"].remove(detail)
            break


def _names_an_employer(entry: dict[str, Any]) -> bool:
    """Whether a research entry names where it was done (a lab, a university, a company), not
    only what it was about (a project's or a paper's title, longer than an organisation's
    name): only then is it a role."""
    return 0 < len((entry["employer"] or "").split()) <= 8


def _run_together_role(line: str) -> tuple[str, str, str | None] | None:
    """A role heading that runs title, employer and place together with single spaces
    ("Business Lecturer Taipei Beitou Hospital Taipei, Taiwan"; "School Ambassador, Software
    Engineer College Bike Taipei, Taiwan") as (title, employer, place), the title cut after
    its last role noun; None for a heading set apart by separators or gaps."""
    pieces = [piece for piece in (_tidy(x) for x in STRONG_SEPARATOR.split(line)) if piece]
    place = None
    if len(pieces) == 2 and WHOLE_LOCATION.match(pieces[1]):
        head, place = pieces
    elif len(pieces) == 1:
        head = pieces[0]
        placed = _trailing_place(head)
        if placed:
            head, place = _tidy(placed[0]), placed[1]
    else:
        return None
    for noun in reversed(list(HEADLINE_WORDS.finditer(head))):
        # A grade after the role noun is the title's ("Engineer III", "Analyst 2").
        grade = re.match(r"\s+(?:[IV]{1,4}|[1-9])\b", head[noun.end() :])
        cut = noun.end() + (grade.end() if grade else 0)
        title, rest = head[:cut].strip(), head[cut:].strip()
        others = {m.group(0).lower() for m in HEADLINE_WORDS.finditer(rest)}
        if not rest[:1].isupper() or len(title.split()) > 6 or not others <= {"freelancer"}:
            continue
        # A comma inside a run-together title joins two roles ("School Ambassador, Software
        # Engineer"); after an employer's name it ends the employer ("Acme Corp, Engineer").
        if EMPLOYER_WORDS.search(title.split(",", 1)[0]) and "," in title:
            continue
        return title, rest, place
    return None


def _education(block: _Block) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "institution": None,
        "degree": None,
        "field": None,
        "location": None,
        "start_date": block.dates.start,
        "end_date": block.dates.end,
        "dates": block.dates.text,
        "details": [],
    }
    comma_after: dict[str, str] = {}  # a part -> the part a comma joined to it
    for line in block.header:
        degree = DEGREE.search(line)
        if (
            entry["degree"] is None
            and degree
            and not INSTITUTION_WORDS.search(line[: degree.start()])
        ):
            degree_text, rest = _degree_and_rest(line)
            entry["degree"] = degree_text
            field_text = _degree_split(degree_text)[2]
            if field_text:
                entry["field"] = field_text
            if not rest:
                continue
            line = rest
        linked = _linked_parts(line)
        for (before, _), (part, comma) in zip(linked, linked[1:], strict=False):
            if comma:
                comma_after[part] = before
        for part, _ in linked:
            if entry["location"] is None and WHOLE_LOCATION.match(part) and entry["institution"]:
                entry["location"] = part
            elif entry["degree"] is None and DEGREE.match(part):
                entry["degree"] = part
                entry["field"] = _degree_split(part)[2] or None
            elif entry["institution"] is None:
                entry["institution"] = part
            else:
                entry["details"].append(part)
    _rejoin_commas(entry, comma_after, ("institution",))
    entry["details"].extend(_bullets(block.body))
    return entry


def _degree_and_rest(line: str) -> tuple[str, str]:
    """A degree line as printed, cut before the school or a gap: ("B.S. in X", "Univ, City")."""
    pieces = re.split(r"\s+\|\s+", line, maxsplit=1)
    degree, rest = pieces[0], pieces[1] if len(pieces) > 1 else ""
    parts = re.split(r",\s+", degree)
    for index, part in enumerate(parts[1:], start=1):
        if INSTITUTION_WORDS.search(part):
            school = ", ".join(parts[index:])
            return ", ".join(parts[:index]), f"{school} | {rest}" if rest else school
    return degree.strip(), rest


def _degree_split(line: str) -> tuple[str, str, str]:
    """'B.S. in Computer Science' or 'Bachelor of Science, Computer Science' → degree, field."""
    match = re.search(r"\s+in\s+|,\s+|\s+[-–—|]\s+|:\s+", line)
    if not match:
        return line, "", ""
    return line[: match.start()].strip(), "", _tidy(line[match.end() :])


def _project(block: _Block) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": None,
        "role": None,
        "url": None,
        "start_date": block.dates.start,
        "end_date": block.dates.end,
        "dates": block.dates.text,
        "bullets": _bullets(block.body),
        "details": [],
    }
    for line in block.header:
        link = LINK.search(line)
        if link and entry["url"] is None:
            entry["url"] = link.group(0).rstrip(".,)")
            line = _tidy(line[: link.start()] + line[link.end() :])
            if not line:
                continue
        parts = (
            [line] if entry["name"] is None and not re.search(r"\s[|–—-]\s", line) else _parts(line)
        )
        for part in parts:
            if entry["name"] is None:
                entry["name"] = part
            elif entry["role"] is None and len(part.split()) <= 6:
                entry["role"] = part
            else:
                entry["details"].append(part)
    return entry


def _skills(lines: list[_Line]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    previous: _Line | None = None
    for line in lines:
        text = line.text
        category = None
        labelled = re.match(r"^([^:,]{1,40}):\s*(.*)$", text)
        if labelled:
            category, text = labelled.group(1).strip(), labelled.group(2)
        # "Label | a, b" (a label set apart by a gap or a table cell) reads as "Label: a, b",
        # as does a usual label glued to the first item ("DevOps AWS, GCP").
        gapped = re.match(r"^([^,;|•·:]{1,40}?)\s+\|\s+(.*[,;].*)$", text) or re.match(
            rf"^({SKILL_LABELS})\s+([A-Z].*[,;].*)$", text, re.IGNORECASE
        )
        if category is None and gapped:
            category, text = gapped.group(1).strip(), gapped.group(2)
        listed = bool(re.search(r"[,;|•·]", text))
        items = _skill_items(text) if listed else [text]
        items = [item for item in items if item]
        if category is None and groups:
            group = groups[-1]
            wrapped = (
                previous is not None
                and not line.bullet
                and len(previous.text) > 60
                and not previous.text.rstrip().endswith((",", ";"))
                and group["items"]
                and items
            )
            if wrapped:
                group["items"][-1] = f"{group['items'][-1]} {items.pop(0)}"
            group["items"].extend(items)
        else:
            groups.append({"category": category, "items": items})
        previous = line
    return groups


SPOKEN = re.compile(
    r"^(?:english|chinese|mandarin|cantonese|spanish|french|german|japanese|korean|arabic|hindi"
    r"|portuguese|russian|italian|turkish|dutch|polish|swedish|hebrew|urdu|bengali|tamil|thai"
    r"|vietnamese|indonesian|malay|greek|persian|farsi|taiwanese|ukrainian)\b",
    re.IGNORECASE,
)


SKILL_LABELS = (
    r"devops|back-?end|front-?end|full-?stack|programming|programming languages|languages"
    r"|frameworks|databases|tools|cloud|testing|libraries"
)


def _skill_items(text: str) -> list[str]:
    """A skills line cut at commas, semicolons, bars and bullets outside parentheses; a
    series' final "and" is left out, phrases such as "Agile and Scrum" stay whole."""
    items, depth, current = [], 0, []
    for char in text:
        depth += (char in "([") - (char in ")]")
        if char in ",;|•·" and depth <= 0:
            items.append("".join(current))
            current, depth = [], 0
        else:
            current.append(char)
    items.append("".join(current))
    cleaned = [re.sub(r"^(?:and|&)\s+", "", _tidy(item)) for item in items]
    return [item for item in cleaned if item]


def _certification(block: _Block) -> dict[str, Any]:
    text = " ".join(block.header + [line.text for line in block.body])
    parts = [p for p in re.split(r"\s+[|–—-]\s+|,\s+(?=[A-Z])", text, maxsplit=1) if p]
    return {
        "name": parts[0] if parts else text,
        "issuer": parts[1] if len(parts) > 1 else None,
        "date": block.dates.end or block.dates.start,
        "dates": block.dates.text,
    }


def _certifications(lines: list[_Line]) -> list[dict[str, Any]]:
    entries = []
    for line in lines:
        if entries and not line.bullet and line.text[:1].islower():
            entries[-1].body.append(line)
            continue
        text, dates = _take_dates(line.text)
        entries.append(_Block([text] if text else [], [], dates))
    return [_certification(block) for block in entries]


def _contact(lines: list[_Line], result: dict[str, Any]) -> list[str]:
    """Fill the contact details from the lines above the first heading; returns the rest."""
    contact = result["contact"]
    leftovers: list[str] = []
    for line in lines:
        text = line.text
        found_any = False
        for pattern, key in ((EMAIL, "email"), (LINK, "links"), (PHONE, "phone")):
            if key == "email" and "@" not in text:
                continue
            for match in list(pattern.finditer(text)):
                value = match.group(0).rstrip(".,;)")
                if key == "phone" and len(re.sub(r"\D", "", value)) < 7:
                    continue
                if (
                    key == "links"
                    and EMAIL.search(text[max(0, match.start() - 40) : match.end()])
                    and "@" in text[max(0, match.start() - 1) : match.start() + 1]
                ):
                    continue
                found_any = True
                if key == "links":
                    value = _as_url(value)
                    if value not in contact["links"]:
                        contact["links"].append(value)
                elif contact[key] is None:
                    contact[key] = value
                else:
                    contact["other"].append(value)
                text = text.replace(match.group(0), " | ", 1)
        pieces = [_tidy(p) for p in re.split(r"\s*[|•·]\s*|\s{2,}|\t|\s,\s", text)]
        pieces = [p for p in pieces if p and re.search(r"\w", p)]
        for piece in pieces:
            labelled = CONTACT_LABEL.match(piece)
            if labelled:
                label, value = labelled.group(1).lower(), labelled.group(2).strip()
                key = "name" if label.endswith("name") else "location"
                if contact[key] is None and value:
                    contact[key] = value
                    continue
            if contact["name"] is None and not found_any:
                named = _name_and_headline(piece)
                if named:
                    contact["name"], contact["headline"] = named
                    continue
            words = piece.split()
            if contact["name"] is None and len(words) <= 5 and not _may_be_name(piece):
                contact["other"].append(piece)
                continue
            if (
                contact["location"] is None
                and (found_any or contact["name"])
                and WHOLE_LOCATION.match(piece)
            ):
                contact["location"] = piece
            elif (
                contact["name"] is None
                and not found_any
                and len(words) <= 5
                and not re.search(r"\d", piece)
            ):
                contact["name"] = piece
            elif (
                contact["headline"] is None
                and not found_any
                and len(words) <= 12
                and contact["name"]
            ):
                contact["headline"] = piece
            elif len(words) <= 8:
                contact["other"].append(piece)
            else:
                leftovers.append(piece)
    return leftovers


def _as_url(value: str) -> str:
    """A printed address as a link: "github.com/x" -> "https://github.com/x"."""
    return value if re.match(r"https?://", value, re.IGNORECASE) else f"https://{value}"


def _link_key(value: str) -> str:
    value = re.sub(r"^(?:https?://)?(?:www\.)?", "", value.strip(), flags=re.IGNORECASE)
    return value.rstrip("/").lower()


def _annotated_links(result: dict[str, Any], sections: list[_Section], links: list[dict]) -> None:
    contact = result["contact"]
    contact_text = " ".join(
        line.text
        for section in sections
        if section.kind == "top" or (section.heading or "").lower() in ("links", "profiles")
        for line in section.lines
    )
    normal_contact = re.sub(r"\s+", " ", contact_text)
    for link in links:
        uri, shown = str(link.get("uri") or "").strip(), str(link.get("text") or "").strip()
        shown = re.sub(r"^(?:tel|mailto):", "", shown, flags=re.IGNORECASE)
        # An icon read as a stray letter beside the linked text ("ć me@example.com").
        shown = re.sub(r"^\S\s+(?=\S)|(?<=\S)\s+\S$", "", shown)
        shown = re.sub(r"\s+", " ", shown)
        if not uri or not shown:
            continue
        if not re.search(rf"(?<!\w){re.escape(shown)}(?!\w)", normal_contact):
            continue
        scheme, _, target = uri.partition(":")
        scheme = scheme.lower()
        if scheme == "mailto":
            address = target.split("?")[0]
            if contact["email"] is None and EMAIL.fullmatch(address):
                contact["email"] = address
        elif scheme == "tel":
            if contact["phone"] is None and len(re.sub(r"\D", "", target)) >= 7:
                contact["phone"] = shown if PHONE.search(shown) else target
        elif scheme in ("http", "https"):
            key = _link_key(uri)
            printed = [i for i, v in enumerate(contact["links"]) if _link_key(v) == key]
            if printed:
                contact["links"][printed[0]] = uri
            elif uri not in contact["links"]:
                contact["links"].append(uri)
            for value in list(contact["other"]):
                if value.lstrip("@/").lower() in key:
                    contact["other"].remove(value)


CONTACT_LABEL = re.compile(r"^((?:full\s+)?name|location|address)\s*:\s*(.+)$", re.IGNORECASE)
DOCUMENT_TITLE = re.compile(
    r"^(?:curriculum\s+vitae|r[ée]sum[ée]|cv)\b(?:\s*[:\-–—].*)?$", re.IGNORECASE
)


# The role nouns of TITLE_WORDS without its word-ending rule, which names match too (Brian).
HEADLINE_WORDS = re.compile(
    TITLE_WORDS.pattern.replace(r"|\b[a-z]{3,}(?:yst|ist|ant|ian)s?\b", ""), re.IGNORECASE
)


def _name_and_headline(piece: str) -> tuple[str, str] | None:
    """A top line that gives the name and then what the person does ("Ada Lovelace, analyst";
    "Ada Lovelace — Data Analyst"), cut in two; None for any other line."""
    found = re.match(r"(?P<name>[^,;:|]+?)(?:\s*,\s+|\s+[—–-]\s+)(?P<rest>.+)$", piece)
    if not found:
        return None
    name, rest = found.group("name").strip(), found.group("rest").strip()
    if 2 <= len(name.split()) <= 4 and _may_be_name(name) and HEADLINE_WORDS.search(rest):
        return name, rest
    return None


def _may_be_name(piece: str) -> bool:
    """Whether a top line can be the person's name: not a document title, a headline
    ("DEVOPS ENGINEER"), a list or a sentence."""
    if DOCUMENT_TITLE.match(piece) or re.search(r"[,;:@/\d]", piece):
        return False
    return 1 <= len(piece.split()) <= 5 and not HEADLINE_WORDS.search(piece)


def _empty_result(text: str) -> dict[str, Any]:
    return {
        "parser_version": PARSER_VERSION,
        "contact": {
            "name": None,
            "headline": None,
            "email": None,
            "phone": None,
            "location": None,
            "links": [],
            "other": [],
        },
        "summary": None,
        "experience": [],
        "education": [],
        "skills": [],
        "projects": [],
        "certifications": [],
        "other_sections": [],
        "sections": [],
        "raw_text": text,
    }


def _fill(result: dict[str, Any], sections: list[_Section]) -> None:
    for section in sections:
        lines = section.lines
        if section.kind != "top":
            result["sections"].append({"kind": section.kind, "heading": section.heading})
        if section.kind == "top":
            leftovers = _contact(lines, result)
            # A profile paragraph above the first heading, when there is no summary section.
            if any(len(x.split()) >= 20 for x in leftovers) and not any(
                x.kind == "summary" for x in sections
            ):
                result["summary"], leftovers = " ".join(leftovers), []
            if leftovers:
                result["other_sections"].append({"heading": None, "lines": leftovers})
        elif section.kind == "summary":
            paragraph = ""
            for line in lines:
                paragraph = _join_wrapped(paragraph, line.text) if paragraph else line.text
            result["summary"] = (
                f"{result['summary']} {paragraph}".strip()
                if result["summary"]
                else (paragraph or None)
            )
        elif section.kind == "experience":
            lines = _bulleted_headers(lines, education=False)
            research = (section.heading or "").strip().lower().startswith("research")
            for block in _blocks(lines, False):
                entry = _experience(block)
                if research and not _names_an_employer(entry):
                    result["projects"].append(_project(block))
                else:
                    result["experience"].append(entry)
        elif section.kind == "education":
            lines = _bulleted_headers(lines, education=True)
            result["education"].extend(_education(b) for b in _blocks(lines, True))
        elif section.kind == "projects":
            result["projects"].extend(_project(b) for b in _blocks(lines, True))
        elif section.kind == "skills":
            for group in _skills(lines):
                # A "Languages" row of spoken languages is no skill list.
                spoken = group["items"] and all(SPOKEN.match(i) for i in group["items"])
                if spoken and re.match(r"languages?$", group["category"] or "", re.I):
                    result["other_sections"].append(
                        {"heading": group["category"], "lines": [", ".join(group["items"])]}
                    )
                else:
                    result["skills"].append(group)
        elif section.kind == "certifications":
            result["certifications"].extend(_certifications(lines))
        else:
            result["other_sections"].append(
                {"heading": section.heading, "lines": [line.text for line in lines]}
            )


def parse_resume_text(
    text: str, *, markdown: bool = False, links: list[dict] | None = None
) -> dict[str, Any]:
    """A structured resume (see docs/resumes.md for the shape) from plain or Markdown text.

    `links` are the document's link annotations ({"uri", "text"}: a PDF's mailto:, tel: and
    web links with the text they cover); those on the contact lines or in a links section
    complete the contact details, the link target replacing the printed address.
    """
    text = text if isinstance(text, str) else ""
    result = _empty_result(text)
    try:
        sections = _split_sections(_rejoin_ranges(_lines_of(text, markdown)))
        _fill(result, sections)
        _annotated_links(result, sections, links or [])
    except Exception:  # a heuristic must not cost the user their upload; keep every line
        log.exception("resume parser failed; keeping the text unstructured")
        result = _empty_result(text)
        lines = [line.text for line in _lines_of(text, markdown=False)]
        result["other_sections"].append({"heading": None, "lines": lines})
    return result
