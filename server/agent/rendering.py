"""Renderers: a structured resume (the parser's shape) as Markdown, DOCX or PDF.

All three formats come from one list of blocks built by `layout`, so a DOCX and a PDF of the
same resume carry the same words in the same order. Text is cleaned once on the way in
(control and bidirectional-override characters removed, lines kept), and each backend escapes
what its format needs: Markdown and HTML syntax in Markdown, nothing in DOCX and PDF, which
have no markup inside a run of text.

The PDF uses a Unicode TrueType font (DejaVu Sans, Liberation Sans or Noto Sans from the
system, or the files `RESUME_PDF_FONT`/`RESUME_PDF_BOLD_FONT` name). Without one, it falls
back to the built-in Helvetica, which only covers Latin-1: characters outside it are written
as their closest Latin-1 form (accents dropped) or "?", and a warning is logged.
"""

from __future__ import annotations

import copy
import io
import logging
import os
import re
import threading
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from server.core.config import Settings

log = logging.getLogger("server.agent.rendering")

FORMATS = ("md", "docx", "pdf")
MEDIA_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}
# Regular and bold faces looked for, in order, when no font is configured.
SYSTEM_FONTS = (
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
    (
        "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans-Bold.ttf",
    ),
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),
    (
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    ),
    (
        "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
        "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf",
    ),
    ("/Library/Fonts/Arial Unicode.ttf", "/Library/Fonts/Arial Unicode.ttf"),
    ("C:\\Windows\\Fonts\\arial.ttf", "C:\\Windows\\Fonts\\arialbd.ttf"),
)

DEFAULT_HEADINGS = {
    "summary": "Summary",
    "experience": "Experience",
    "education": "Education",
    "skills": "Skills",
    "projects": "Projects",
    "certifications": "Certifications",
}
SECTION_ORDER = ("summary", "experience", "education", "skills", "projects", "certifications")
SEPARATOR = " · "
# Paper sizes in millimetres; a document keeps its source's, A4 when the source has none.
PAPERS = {"a4": (210.0, 297.0), "letter": (215.9, 279.4)}
DEFAULT_PAPER = "a4"

# C0/C1 controls (but tab and newline), bidirectional overrides and isolates, BOM, and the
# surrogates a broken decoder can leave behind: none is printable, and several can make text
# read differently from what it says.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff\ufff9-\ufffb\ud800-\udfff]"
)


class UnknownFormat(ValueError):
    """The format is not one of FORMATS."""


@dataclass(frozen=True)
class Block:
    """One piece of the rendered document; `kind` decides its look in every format."""

    kind: Literal["name", "headline", "contact", "heading", "entry", "meta", "text", "bullet"]
    text: str
    aside: str = ""  # printed at the right end of the same line: an entry's dates


def clean_text(value: Any) -> str:
    """A value as printable text: str() of it, unsafe characters removed, blank lines and
    runs of spaces collapsed, ends stripped."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = _UNSAFE.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " "))
    lines = [re.sub(r"[ \u00a0]+", " ", line).strip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line)


def _join(*parts: Any, separator: str = SEPARATOR) -> str:
    return separator.join(text for text in (clean_text(part) for part in parts) if text)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dates(entry: dict[str, Any]) -> str:
    """The dates as the resume wrote them, or built from the normalised ones."""
    written = clean_text(entry.get("dates"))
    if written:
        return written
    start, end = clean_text(entry.get("start_date")), clean_text(entry.get("end_date"))
    if entry.get("is_current") and not end:
        end = "Present"
    if start and end:
        return f"{start} – {end}"
    return start or end or clean_text(entry.get("date"))


def _text_blocks(kind: str, value: Any) -> list[Block]:
    text = clean_text(value)
    return [Block(kind, line) for line in text.split("\n")] if text else []  # type: ignore[arg-type]


def _contact_blocks(resume: dict[str, Any]) -> list[Block]:
    contact = _dict(resume.get("contact"))
    blocks = _text_blocks("name", contact.get("name"))
    blocks += _text_blocks("headline", contact.get("headline"))
    line = _join(
        contact.get("email"),
        contact.get("phone"),
        contact.get("location"),
        *_list(contact.get("links")),
        *_list(contact.get("other")),
    )
    return blocks + _text_blocks("contact", line)


def _entry_blocks(heading: str, dates: str, meta: str) -> list[Block]:
    """An entry's line (its dates at the right end) and the line under it."""
    lines = _text_blocks("entry", heading)
    if lines:
        lines[0] = Block("entry", lines[0].text, clean_text(dates).replace("\n", " "))
    else:
        meta = _join(meta, dates)
    return lines + _text_blocks("meta", meta)


def _experience(entry: dict[str, Any]) -> list[Block]:
    blocks = _entry_blocks(
        _join(entry.get("title"), entry.get("employer"), separator=" — "),
        _dates(entry),
        clean_text(entry.get("location")),
    )
    for detail in _list(entry.get("details")):
        blocks += _text_blocks("text", detail)
    for bullet in _list(entry.get("bullets")):
        blocks += _text_blocks("bullet", bullet)
    return blocks


def _education(entry: dict[str, Any]) -> list[Block]:
    degree = _join(entry.get("degree"), entry.get("field"), separator=", ")
    blocks = _entry_blocks(
        _join(degree, entry.get("institution"), separator=" — "),
        _dates(entry),
        clean_text(entry.get("location")),
    )
    for detail in _list(entry.get("details")):
        blocks += _text_blocks("bullet", detail)
    return blocks


def _project(entry: dict[str, Any]) -> list[Block]:
    blocks = _entry_blocks(
        _join(entry.get("name"), entry.get("role"), separator=" — "),
        _dates(entry),
        clean_text(entry.get("url")),
    )
    for detail in _list(entry.get("details")):
        blocks += _text_blocks("text", detail)
    for bullet in _list(entry.get("bullets")):
        blocks += _text_blocks("bullet", bullet)
    return blocks


def _skill_group(group: Any) -> list[Block]:
    if isinstance(group, str):
        return _text_blocks("text", group)
    group = _dict(group)
    items = ", ".join(t for t in (clean_text(i) for i in _list(group.get("items"))) if t)
    category = clean_text(group.get("category"))
    if category and items:
        return _text_blocks("text", f"{category}: {items}")
    return _text_blocks("text", category or items)


def _certification(entry: Any) -> list[Block]:
    if isinstance(entry, str):
        return _text_blocks("bullet", entry)
    entry = _dict(entry)
    date = clean_text(entry.get("dates")) or clean_text(entry.get("date"))
    return _text_blocks(
        "bullet", _join(_join(entry.get("name"), entry.get("issuer"), separator=" — "), date)
    )


def _section_body(resume: dict[str, Any], kind: str) -> list[Block]:
    if kind == "summary":
        return _text_blocks("text", resume.get("summary"))
    builders = {
        "experience": _experience,
        "education": _education,
        "projects": _project,
        "skills": _skill_group,
        "certifications": _certification,
    }
    blocks: list[Block] = []
    for entry in _list(resume.get(kind)):
        blocks += builders[kind](entry if kind in ("skills", "certifications") else _dict(entry))
    return blocks


def _section(heading: Any, body: list[Block]) -> list[Block]:
    """A heading and its body; a section with nothing in it is left out."""
    return [*_text_blocks("heading", heading), *body] if body else []


def layout(resume: dict[str, Any], template: Template | None = None) -> list[Block]:
    """The document's blocks: contact first, then the sections in the resume's own order
    (`sections`, as the parser recorded it), then any section it did not list. A template
    that prints an entry's line under it on the entry's own line gets them joined."""
    blocks = _blocks(_dict(resume))
    if template is None or not template.inline_meta:
        return blocks
    joined: list[Block] = []
    for block in blocks:
        if block.kind == "meta" and joined and joined[-1].kind == "entry":
            entry = joined.pop()
            block = Block("entry", _join(entry.text, block.text), entry.aside)
        joined.append(block)
    return joined


def _blocks(resume: dict[str, Any]) -> list[Block]:
    blocks = _contact_blocks(resume)
    others = [_dict(section) for section in _list(resume.get("other_sections"))]
    unheaded = [section for section in others if not clean_text(section.get("heading"))]
    headed = [section for section in others if clean_text(section.get("heading"))]
    for section in unheaded:
        for line in _list(section.get("lines")):
            blocks += _text_blocks("text", line)
    done: set[str] = set()
    recorded_kinds = {_dict(r).get("kind") for r in _list(resume.get("sections"))}
    recorded_headings = [clean_text(_dict(r).get("heading")) for r in _list(resume.get("sections"))]
    # A heading the source did not have is written in the case its own headings use.
    shout = any(recorded_headings) and all(h.isupper() for h in recorded_headings if h)

    def default_heading(kind: str) -> str:
        return DEFAULT_HEADINGS[kind].upper() if shout else DEFAULT_HEADINGS[kind]

    if "summary" not in recorded_kinds:
        # A summary the source did not have (one a tailoring wrote) is read first.
        done.add("summary")
        blocks += _section(default_heading("summary"), _section_body(resume, "summary"))
    next_other = 0
    for recorded in _list(resume.get("sections")):
        recorded = _dict(recorded)
        kind = recorded.get("kind")
        if kind in SECTION_ORDER and kind not in done:
            done.add(kind)
            heading = clean_text(recorded.get("heading")) or default_heading(kind)
            blocks += _section(heading, _section_body(resume, kind))
        elif kind == "other" and next_other < len(headed):
            blocks += _other_section(headed[next_other])
            next_other += 1
    for kind in SECTION_ORDER:
        if kind not in done:
            blocks += _section(default_heading(kind), _section_body(resume, kind))
    for section in headed[next_other:]:
        blocks += _other_section(section)
    return blocks


def _other_section(section: dict[str, Any]) -> list[Block]:
    body: list[Block] = []
    for line in _list(section.get("lines")):
        body += _text_blocks("text", line)
    return _section(section.get("heading"), body)


# Markdown -------------------------------------------------------------------------------------

# Characters with a meaning anywhere in a line (emphasis, code, links, HTML, entities, tables,
# strikethrough), and the line openings that make a heading, quote, list, rule or fence.
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>&|~!])")
_MARKDOWN_LINE_START = re.compile(r"^(\s*)([#>+=-])")
_MARKDOWN_ORDERED = re.compile(r"^(\s*\d+)([.)])")


def markdown_escape(text: str) -> str:
    """Text that Markdown (and the HTML a Markdown renderer passes through) shows as written."""
    escaped = _MARKDOWN_INLINE.sub(r"\\\1", text)
    escaped = _MARKDOWN_ORDERED.sub(r"\1\\\2", escaped)  # "1." → "1\." (a digit cannot be escaped)
    return _MARKDOWN_LINE_START.sub(lambda m: f"{m.group(1)}\\{m.group(2)}", escaped)


def render_markdown(blocks: list[Block]) -> bytes:
    """Plain Markdown: headings, bold entry lines, italic dates, bullets."""
    out: list[str] = []
    for block in blocks:
        text = markdown_escape(block.text)
        if block.kind == "name":
            out += [f"# {text}", ""]
        elif block.kind == "heading":
            out += ["", f"## {text}", ""]
        elif block.kind == "entry":
            aside = f" · *{markdown_escape(block.aside)}*" if block.aside else ""
            out += ["", f"**{text}**{aside}", ""]
        elif block.kind == "meta":
            out += [f"*{text}*", ""]
        elif block.kind == "bullet":
            out.append(f"- {text}")
        else:
            out += [text, ""]
    markdown = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"
    return markdown.encode("utf-8")


# Templates and page fitting ------------------------------------------------------------------


@dataclass(frozen=True)
class Look:
    """How one kind of block prints: bold or not, font size (pt), space above and line
    height (mm)."""

    bold: bool
    size: float
    before: float
    height: float


@dataclass(frozen=True)
class Template:
    """A document's look, shared by its PDF and DOCX: a look per kind of block, the margins
    (sides, top and bottom, mm) and the font a DOCX names."""

    name: str
    looks: dict[str, Look] = field(hash=False)
    margins: tuple[float, float] = (18.0, 15.0)
    docx_font: str = "Arial"
    inline_meta: bool = False  # an entry's location or link on the entry's own line
    heading_rule: bool = True  # a line under each section heading
    upper_headings: bool = False


CLASSIC = Template(
    "classic",
    {
        "name": Look(True, 18, 0, 9),
        "headline": Look(False, 11, 0, 6),
        "contact": Look(False, 9, 0, 5),
        "heading": Look(True, 12, 4, 7),
        "entry": Look(True, 10.5, 2, 5.5),
        "meta": Look(False, 9, 0, 5),
        "text": Look(False, 10, 0, 5),
        "bullet": Look(False, 10, 0, 5),
    },
)
COMPACT = Template(
    "compact",
    {
        "name": Look(True, 15, 0, 7),
        "headline": Look(False, 9.5, 0, 4.6),
        "contact": Look(False, 8.5, 0, 4.2),
        "heading": Look(True, 9.5, 2.6, 5.2),
        "entry": Look(True, 9.5, 1.2, 4.6),
        "meta": Look(False, 8.5, 0, 4.2),
        "text": Look(False, 9, 0, 4.3),
        "bullet": Look(False, 9, 0, 4.3),
    },
    margins=(13.0, 11.0),
    inline_meta=True,
    heading_rule=False,
    upper_headings=True,
)
TEMPLATES = {template.name: template for template in (CLASSIC, COMPACT)}
DEFAULT_TEMPLATE = "classic"
# How a document that would take more pages than its source tightens, level by level: font
# size, space between blocks and margins, each as a share of the template's. The last level
# is as small as a resume may print (a 10 pt body at 8.6 pt).
TIGHTNESS = (
    (1.0, 1.0, 1.0),
    (1.0, 0.5, 1.0),
    (0.95, 0.3, 0.85),
    (0.9, 0.15, 0.75),
    (0.86, 0.0, 0.7),
)


class UnknownTemplate(ValueError):
    """The template is not one of TEMPLATES."""


@dataclass(frozen=True)
class Page:
    """What one rendering prints on: a template at a tightness level, on a paper size."""

    template: Template = CLASSIC
    paper: str = DEFAULT_PAPER
    level: int = 0

    def look(self, kind: str) -> Look:
        """The block kind's look at this level."""
        base = self.template.looks[kind]
        font, space, _margin = TIGHTNESS[self.level]
        return Look(base.bold, base.size * font, base.before * space, base.height * font)

    @property
    def margins(self) -> tuple[float, float]:
        """Side and top/bottom margins (mm) at this level."""
        scale = TIGHTNESS[self.level][2]
        side, top = self.template.margins
        return side * scale, top * scale

    @property
    def size(self) -> tuple[float, float]:
        """Width and height in millimetres."""
        return PAPERS.get(self.paper, PAPERS[DEFAULT_PAPER])


def _shown(block: Block, template: Template) -> str:
    """A block's text as the template prints it."""
    if block.kind == "heading" and template.upper_headings:
        return block.text.upper()
    return block.text


def template_named(name: str | None) -> Template:
    """The template of that name (the default for None); UnknownTemplate otherwise."""
    if name is None:
        return TEMPLATES[DEFAULT_TEMPLATE]
    if name not in TEMPLATES:
        raise UnknownTemplate(f"template must be one of {', '.join(TEMPLATES)}, got {name!r}")
    return TEMPLATES[name]


def paper_of(resume: dict[str, Any]) -> str:
    """The paper size the resume's source document had ("letter" or "a4"), else A4."""
    paper = _dict(_dict(resume).get("source")).get("paper")
    return paper if paper in PAPERS else DEFAULT_PAPER


def page_limit(resume: dict[str, Any], template: Template) -> int | None:
    """The most pages the resume may print on in a template: the page count of its source
    (as a tailoring recorded it per template, or as the source document had it)."""
    source = _dict(_dict(resume).get("source"))
    recorded = _dict(source.get("fit_pages")).get(template.name)
    pages = recorded if recorded is not None else source.get("pages")
    return pages if isinstance(pages, int) and not isinstance(pages, bool) and pages > 0 else None


# DOCX -----------------------------------------------------------------------------------------


def render_docx(blocks: list[Block], page: Page | None = None) -> bytes:
    """A Word document built with python-docx, in its built-in styles, on the page's paper
    and margins, in the template's sizes, left-aligned."""
    import docx
    from docx.enum.text import WD_TAB_ALIGNMENT
    from docx.shared import Mm, Pt

    page = page or Page()
    document = docx.Document()
    section = document.sections[0]
    width, height = page.size
    side, top = page.margins
    section.page_width, section.page_height = Mm(width), Mm(height)
    section.left_margin = section.right_margin = Mm(side)
    section.top_margin = section.bottom_margin = Mm(top)
    normal = document.styles["Normal"]
    normal.font.name = page.template.docx_font
    normal.font.size = Pt(page.look("text").size)
    for block in blocks:
        look = page.look(block.kind)
        if block.kind == "name":
            paragraph = document.add_heading(level=0)
        elif block.kind == "heading":
            paragraph = document.add_heading(level=1)
        elif block.kind == "bullet":
            paragraph = document.add_paragraph(style="List Bullet")
        else:
            paragraph = document.add_paragraph()
        run = paragraph.add_run(_shown(block, page.template))
        run.font.size = Pt(look.size)
        run.font.name = page.template.docx_font
        run.bold = look.bold
        run.italic = block.kind == "meta"
        if block.aside:
            # The dates end at the right margin, on a right-aligned tab stop.
            paragraph.paragraph_format.tab_stops.add_tab_stop(
                Mm(width - 2 * side), WD_TAB_ALIGNMENT.RIGHT
            )
            dates = paragraph.add_run("\t" + block.aside)
            dates.font.size = Pt(look.size)
            dates.font.name = page.template.docx_font
        spacing = paragraph.paragraph_format
        spacing.space_before = Mm(look.before)
        spacing.space_after = Mm(0)
        spacing.line_spacing = Mm(look.height)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# PDF ------------------------------------------------------------------------------------------

# Fonts tried, in order, for characters the main font lacks (CJK, mostly), when present.
SYSTEM_FALLBACK_FONTS = (
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/unifont/unifont.ttf",
)


@dataclass(frozen=True)
class PdfFonts:
    """TrueType files for the PDF; `regular` None means the Latin-1 Helvetica fallback."""

    regular: str | None
    bold: str | None
    fallbacks: tuple[str, ...] = ()


@lru_cache(maxsize=8)
def find_pdf_fonts(
    regular: str | None = None, bold: str | None = None, fallbacks: tuple[str, ...] = ()
) -> PdfFonts:
    """The configured font files that exist, else the first system font found."""
    found_fallbacks = tuple(
        path for path in (*fallbacks, *SYSTEM_FALLBACK_FONTS) if os.path.isfile(path)
    )
    if regular and os.path.isfile(regular):
        return PdfFonts(
            regular, bold if bold and os.path.isfile(bold) else regular, found_fallbacks
        )
    if regular:
        log.warning("configured PDF font not found; using a system font", extra={"font": regular})
    for system_regular, system_bold in SYSTEM_FONTS:
        if os.path.isfile(system_regular):
            bold_file = system_bold if os.path.isfile(system_bold) else system_regular
            return PdfFonts(system_regular, bold_file, found_fallbacks)
    log.warning("no Unicode TrueType font found; PDFs fall back to Latin-1 Helvetica")
    return PdfFonts(None, None)


# Letters and punctuation with no decomposition into Latin-1.
_LATIN1_LOOKALIKES = {
    "–": "-",
    "—": "-",
    "•": "-",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "…": "...",
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "Œ": "OE",
    "œ": "oe",
    "ı": "i",
    "€": "EUR",
}


def to_latin1(text: str) -> str:
    """The closest Latin-1 text: look-alikes, accents dropped where needed, else '?'."""
    out = []
    for char in text:
        if ord(char) < 256:
            out.append(char)
            continue
        replacement = _LATIN1_LOOKALIKES.get(char)
        if replacement is None:
            decomposed = unicodedata.normalize("NFKD", char)
            base = "".join(c for c in decomposed if not unicodedata.combining(c))
            replacement = base if base and all(ord(c) < 256 for c in base) else "?"
        out.append(replacement)
    return "".join(out)


def _pdf_text_fixer(pdf: Any, fonts: PdfFonts):
    """A function that makes text printable with the loaded fonts: characters none of them
    has become '?' (fpdf2 would otherwise print nothing for them)."""
    if not fonts.regular:
        return to_latin1
    covered: set[int] = set()
    for font in pdf.fonts.values():
        covered.update(getattr(font, "cmap", {}) or {})

    def fix(text: str) -> str:
        if covered.issuperset(map(ord, text)):
            return text
        return "".join(
            c if ord(c) in covered or c in " \n" or unicodedata.combining(c) else "?" for c in text
        )

    return fix


@lru_cache(maxsize=16)
def _measuring_pdf(fonts: PdfFonts, paper: str) -> Any:
    """An empty document with the fonts loaded: reading a TrueType file takes far longer than
    laying a resume out, so page counts measure with this one. Its fonts' tables are shared
    with the copies fpdf2 makes of it and are read from the file on first use: it is only
    measured with, one caller at a time (_MEASURING)."""
    return _blank_pdf(fonts, paper)


_MEASURING = threading.Lock()


@lru_cache(maxsize=8)
def _text_fixer(fonts: PdfFonts):
    """`_pdf_text_fixer` for documents with these fonts (the characters they cover, once)."""
    return _pdf_text_fixer(_measuring_pdf(fonts, DEFAULT_PAPER), fonts)


def _blank_pdf(fonts: PdfFonts, paper: str) -> Any:
    """An empty document on that paper with the fonts loaded."""
    from fpdf import FPDF

    pdf = FPDF(format=PAPERS.get(paper, PAPERS[DEFAULT_PAPER]))
    if fonts.regular:
        pdf.add_font("body", "", fonts.regular)
        pdf.add_font("body", "B", fonts.bold or fonts.regular)
        fallback_names = []
        for index, path in enumerate(fonts.fallbacks):
            pdf.add_font(f"fallback{index}", "", path)
            fallback_names.append(f"fallback{index}")
        if fallback_names:
            pdf.set_fallback_fonts(fallback_names, exact_match=False)
    return pdf


@lru_cache(maxsize=8)
def _parsed_fonts(fonts: PdfFonts) -> dict[str, Any] | None:
    """The fonts as fpdf2 reads them, read once, by fpdf2 name ("body", "bodyB",
    "fallback0"...); None when one of them cannot be shared (a compressed, colour or
    variable font, or one fpdf2 had to give a missing-glyph shape)."""
    from fontTools import ttLib
    from fpdf.fonts import TTFFont

    parsed = dict(_blank_pdf(fonts, DEFAULT_PAPER).fonts)
    for font in parsed.values():
        if not isinstance(font, TTFFont) or font.is_compressed or font.color_font is not None:
            return None
        with ttLib.TTFont(
            font.ttffile, lazy=True, fontNumber=font.collection_font_number
        ) as original:
            if "glyf" in original and ".notdef" not in original["glyf"]:
                return None
    return parsed


def _font_to_write(font: Any) -> Any:
    """A copy of a parsed font for one document to write: it reads the shared widths, cmap
    and glyph ids, and has its own of what writing changes (the used-glyph subset, the
    descriptor, and a fontTools font, opened lazily, that the subsetting cuts down)."""
    from fontTools import ttLib
    from fpdf.fonts import SubsetMap, TTFFont

    own = TTFFont.__new__(TTFFont)
    for name in TTFFont.__slots__:
        if hasattr(font, name):
            setattr(own, name, getattr(font, name))
    own.ttfont = ttLib.TTFont(
        font.ttffile,
        recalcTimestamp=False,
        fontNumber=font.collection_font_number,
        lazy=True,
    )
    own.cw = font.cw.copy()  # reading an unknown character adds it
    own.desc = copy.copy(font.desc)
    own.missing_glyphs = []
    own.biggest_size_pt = 0
    own._hbfont = None
    own.subset = SubsetMap(own)
    return own


def _written_pdf(fonts: PdfFonts, paper: str) -> Any:
    """An empty document on that paper with the fonts loaded, to be written out: its fonts
    share what was read from the files once (`_parsed_fonts`)."""
    from fpdf import FPDF

    parsed = _parsed_fonts(fonts) if fonts.regular else None
    if parsed is None:
        return _blank_pdf(fonts, paper)
    pdf = FPDF(format=PAPERS.get(paper, PAPERS[DEFAULT_PAPER]))
    for key, font in parsed.items():
        pdf.fonts[key] = _font_to_write(font)
        if font.is_cff and font.is_cid_keyed:
            pdf._set_min_pdf_version("1.6")
    fallback_names = [key for key in parsed if key.startswith("fallback")]
    if fallback_names:
        pdf.set_fallback_fonts(fallback_names, exact_match=False)
    return pdf


def _pdf_document(blocks: list[Block], fonts: PdfFonts, page: Page, *, to_write: bool) -> Any:
    """The laid-out fpdf2 document (not yet written out); `to_write`: one that will be."""
    if to_write:
        pdf = _written_pdf(fonts, page.paper)
    else:
        pdf = copy.deepcopy(_measuring_pdf(fonts, page.paper))
    side, top = page.margins
    pdf.set_auto_page_break(auto=True, margin=top)
    pdf.set_margins(side, top, side)
    family, bullet_mark = ("body", "•") if fonts.regular else ("helvetica", "-")
    fix = _text_fixer(fonts)
    name = next((block.text for block in blocks if block.kind == "name"), "")
    pdf.set_title(fix(name) or "Resume")
    pdf.set_creator("Job Application Agent")
    pdf.add_page()
    for block in blocks:
        look = page.look(block.kind)
        pdf.set_font(family, "B" if look.bold else "", look.size)
        if look.before:
            pdf.ln(look.before)
        text = fix(_shown(block, page.template))
        if block.kind == "bullet":
            pdf.set_x(pdf.l_margin + 2)
            pdf.cell(4, look.height, bullet_mark)
        if block.aside:
            _entry_line(pdf, family, look, text, fix(block.aside))
        else:
            pdf.multi_cell(0, look.height, text, align="L", new_x="LMARGIN", new_y="NEXT")
        if block.kind == "heading" and page.template.heading_rule:
            y = pdf.get_y()
            pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
            pdf.ln(1)
    return pdf


def _entry_line(pdf: Any, family: str, look: Look, text: str, dates: str) -> None:
    """An entry's line: its text wrapped short of the right margin, its dates ending at the
    right margin on the first line (the whole entry kept on one page)."""
    pdf.set_font(family, "", look.size)
    dates_width = pdf.get_string_width(dates) + 1
    width = pdf.w - pdf.l_margin - pdf.r_margin
    text_width = max(width - dates_width - 3, width / 3)
    pdf.set_font(family, "B" if look.bold else "", look.size)
    lines = pdf.multi_cell(text_width, look.height, text, dry_run=True, output="LINES")
    if pdf.will_page_break(look.height * max(1, len(lines))):
        pdf.add_page()
    top = pdf.get_y()
    pdf.multi_cell(text_width, look.height, text, align="L", new_x="LMARGIN", new_y="NEXT")
    bottom = pdf.get_y()
    pdf.set_font(family, "", look.size)
    # A cell keeps its text a cell margin from its edge: the dates' cell reaches past the
    # page margin by as much, so that they end on it.
    pdf.set_xy(pdf.w - pdf.r_margin - dates_width + pdf.c_margin, top)
    pdf.cell(dates_width, look.height, dates, align="R")
    pdf.set_xy(pdf.l_margin, bottom)


def render_pdf(
    blocks: list[Block], fonts: PdfFonts | None = None, page: Page | None = None
) -> bytes:
    """A PDF written by fpdf2, with a Unicode font when one is available."""
    document = _pdf_document(blocks, fonts or find_pdf_fonts(), page or Page(), to_write=True)
    return bytes(document.output())


def page_count(blocks: list[Block], fonts: PdfFonts, page: Page) -> int:
    """How many pages the blocks take on that page (the PDF's count)."""
    with _MEASURING:
        return _measured_pages(blocks, fonts, page)


def _fpdf_page_count(blocks: list[Block], fonts: PdfFonts, page: Page) -> int:
    """`page_count` as fpdf2 itself lays the whole document out, for comparison."""
    with _MEASURING:
        return _pdf_document(blocks, fonts, page, to_write=False).page


def _measured_pages(blocks: list[Block], fonts: PdfFonts, page: Page) -> int:
    """The page count of `_pdf_document`, from the same steps without writing a document:
    its lines from `_wrapped_lines`, its ordinate moved as fpdf2 moves it (the same sums in
    the same order, so the same rounding), a page added wherever fpdf2 adds one."""
    pdf = _measuring_pdf(fonts, page.paper)
    side, top = page.margins
    trigger = pdf.h - top  # set_auto_page_break's page_break_trigger
    fix = _text_fixer(fonts)
    pages, y = 1, top

    def room(y: float, height: float) -> tuple[int, float]:
        """A cell of that height at y: (pages added, y after them)."""
        if y + height > trigger:
            return 1, top
        return 0, y

    def lines_down(y: float, height: float, count: int, trailing_newline: bool):
        """multi_cell's lines: each checked twice for room (the cell's own check after the
        multi_cell's), then y one line down; one more line down after a final newline."""
        added = 0
        for _ in range(count):
            for _check in range(2):
                more, y = room(y, height)
                added += more
            y += height
        if trailing_newline:
            y += height
        return added, y

    for block in blocks:
        look = page.look(block.kind)
        height = look.height
        if look.before:
            y += look.before
        text = fix(_shown(block, page.template))
        x = side
        if block.kind == "bullet":
            x = side + 2
            more, y = room(y, height)
            pages += more
            x += 4
        if block.aside:
            dates_width = _string_width(fonts, look.size, fix(block.aside)) + 1
            width = pdf.w - side - side
            text_width = max(width - dates_width - 3, width / 3)
            count, trailing_newline = _block_lines(fonts, look.bold, look.size, text, text_width)
            if y + height * max(1, count) > trigger:
                pages, y = pages + 1, top
            top_of_entry = y
            more, y = lines_down(y, height, count, trailing_newline)
            pages += more + room(top_of_entry, height)[0]  # the dates' cell
        else:
            count, trailing_newline = _block_lines(
                fonts, look.bold, look.size, text, pdf.w - side - x
            )
            more, y = lines_down(y, height, count, trailing_newline)
            pages += more
        if block.kind == "heading" and page.template.heading_rule:
            y += 1
    return pages


def _family(fonts: PdfFonts) -> str:
    """The fpdf2 family a document with these fonts prints in."""
    return "body" if fonts.regular else "helvetica"


@lru_cache(maxsize=16384)
def _block_lines(
    fonts: PdfFonts, bold: bool, size: float, text: str, width: float
) -> tuple[int, bool]:
    """`_wrapped_lines` in the fonts' regular or bold face at that size, remembered (a
    tailoring measures the same lines again and again). Only called with _MEASURING held."""
    pdf = _measuring_pdf(fonts, DEFAULT_PAPER)
    pdf.set_font(_family(fonts), "B" if bold else "", size)
    return _wrapped_lines(pdf, text, width)


@lru_cache(maxsize=4096)
def _string_width(fonts: PdfFonts, size: float, text: str) -> float:
    """fpdf2's width (mm) of the text in the fonts' regular face at that size. Only called
    with _MEASURING held."""
    pdf = _measuring_pdf(fonts, DEFAULT_PAPER)
    pdf.set_font(_family(fonts), "", size)
    return pdf.get_string_width(text)


def _wrapped_lines(pdf: Any, text: str, width: float) -> tuple[int, bool]:
    """How many lines `pdf.multi_cell(width, h, text, align="L")` prints in the current
    font, and whether the last one ends with a newline (multi_cell then moves down once
    more). The word wrap of fpdf2's MultiLineBreak, measured with the same width sums;
    text it does not cover (fpdf2's other fragment kinds, spacing, shaping) is wrapped by
    fpdf2 itself."""
    from fpdf.enums import Align, WrapMode
    from fpdf.line_break import MultiLineBreak

    text = pdf.normalize_text(text).replace("\r", "")
    fragments = pdf._preload_font_styles(text, False)
    if not fragments:
        return 1, False
    counted = _counted_lines(fragments, width - pdf.c_margin - pdf.c_margin)
    if counted is not None:
        return counted if counted[0] else (1, False)
    breaker = MultiLineBreak(
        fragments, width, [pdf.c_margin, pdf.c_margin], align=Align.L, wrapmode=WrapMode.WORD
    )
    lines = []
    while (line := breaker.get_line()) is not None:
        lines.append(line)
    return (len(lines), lines[-1].trailing_nl) if lines else (1, False)


def _counted_lines(fragments: Any, max_width: float) -> tuple[int, bool] | None:
    """MultiLineBreak.get_line's WORD wrap (left-aligned, soft hyphens as break points) over
    plain fragments: (lines, last ends with a newline); None for text it does not cover.
    A line's width is fpdf2's: each run of one style summed in font units, scaled, and the
    runs added in order."""
    from fpdf.fonts import TTFFont
    from fpdf.line_break import BREAKING_SPACE_SYMBOLS_STR, Fragment

    runs = []
    for fragment in fragments:
        font = fragment.font
        if (
            type(fragment) is not Fragment
            or fragment.char_spacing != 0
            or fragment.font_stretching != 100
            or fragment.text_shaping_parameters
            or getattr(font, "is_symbol", False)
        ):
            return None
        by_code = isinstance(font, TTFFont)
        runs.append((fragment.characters, font.cw, by_code, fragment.font_size_pt, fragment.k))

    if len(runs) == 1 and not _SPECIAL_CHARACTERS.intersection(runs[0][0]):
        return _counted_plain_lines(runs[0], max_width)

    def advance(run: tuple, char: str) -> int:
        return run[1][ord(char)] if run[2] else run[1][char]

    def scaled(run: tuple, units: int) -> float:
        return units * run[3] * 0.001 / run[4]

    count = 0
    trailing_newline = False
    index, position = 0, 0
    forced_at = None
    total = len(fragments)
    while index < total:
        forced_before, forced_at = forced_at, None
        # The line being filled: the width of its finished runs, its last run's units.
        done: float = 0
        last_run = None  # index of the fragment the last run started from
        units = 0
        space_width = hyphen_width = None
        space_at = hyphen_at = None
        ended = False
        while index < total:
            run = runs[index]
            characters = run[0]
            if position >= len(characters):
                index, position = index + 1, 0
                continue
            char = characters[position]
            if char == "\n" or char == "\f":
                position += 1
                count += 1
                trailing_newline = char == "\n"
                ended = True
                break
            measured = "-" if char == "\u00ad" else char
            char_width = scaled(run, advance(run, measured))
            line_width = done + scaled(runs[last_run], units) if last_run is not None else 0
            if (line_width + char_width) - max_width > 1e-9:
                count += 1
                trailing_newline = False
                ended = True
                if char in BREAKING_SPACE_SYMBOLS_STR:
                    position += 1
                elif hyphen_at is not None or space_at is not None:
                    if hyphen_at is not None and (space_at is None or hyphen_width > space_width):
                        index, position = hyphen_at
                    else:
                        index, position = space_at
                    position += 1
                elif forced_before == (index, position):
                    return None  # fpdf2 raises: no room for a single character
                else:
                    forced_at = (index, position)
                break
            if last_run is None:
                last_run, units = index, 0
            elif last_run != index and not fragments[index].has_same_style(fragments[last_run]):
                done = done + scaled(runs[last_run], units)
                last_run, units = index, 0
                line_width = done + scaled(run, 0)
            if char in BREAKING_SPACE_SYMBOLS_STR:
                space_at, space_width = (index, position), line_width
                units += advance(run, char)
            elif char == "\u00a0":
                units += advance(run, " ")
            elif char == "\u00ad":
                hyphen_at, hyphen_width = (index, position), line_width
            else:
                units += advance(run, char)
            position += 1
        if not ended:
            if last_run is not None and done + scaled(runs[last_run], units):
                count += 1
                trailing_newline = False
            break
    return count, trailing_newline


def fitting_page(blocks: list[Block], fonts: PdfFonts, page: Page, limit: int | None) -> Page:
    """The loosest level of `page` at which the blocks take at most `limit` pages; the
    tightest level when none does, the page as given when there is no limit."""
    if limit is None:
        return page
    for level in range(page.level, len(TIGHTNESS)):
        candidate = Page(page.template, page.paper, level)
        if page_count(blocks, fonts, candidate) <= limit:
            return candidate
    return Page(page.template, page.paper, len(TIGHTNESS) - 1)


# Characters the plain wrap leaves to the general one: line and page breaks, no-break and
# soft hyphens, and the breaking spaces other than " ".
_SPECIAL_CHARACTERS = frozenset("\n\f\u00a0\u00ad\t\u200b\u2000\u2001\u2002\u2003\u2004\u2005")
_SPECIAL_CHARACTERS |= frozenset("\u2006\u2007\u2008\u2009\u200a\u205f\u3000")


def _counted_plain_lines(run: tuple, max_width: float) -> tuple[int, bool] | None:
    """`_counted_lines` for one run of one style with no character but " " to break at:
    fpdf2's test, `(width so far + next character's width) - max_width > 1e-9`, only grows
    with either width, so the characters before the line's width reaches `safe` (font
    units) cannot end it and are summed, not tested; from there each is tested."""
    characters, widths_by, by_code, size, k = run
    widths = (
        [widths_by[ord(c)] for c in characters] if by_code else [widths_by[c] for c in characters]
    )
    sums = [0, *accumulate(widths)]
    widest = max(widths)

    def over(units: int, width: int) -> bool:
        return (units * size * 0.001 / k + width * size * 0.001 / k) - max_width > 1e-9

    safe = _safe_units(over, widest)
    text = "".join(characters)
    total = len(characters)
    count, start = 0, 0
    forced_at = None
    while start < total:
        forced_before, forced_at = forced_at, None
        first = sums[start]
        position = max(start, bisect_right(sums, first + safe) - 1)
        while position < total and not over(sums[position] - first, widths[position]):
            position += 1
        if position == total:
            if (sums[total] - first) * size * 0.001 / k:
                count += 1
            break
        count += 1
        space = text.rfind(" ", start, position)
        if characters[position] == " ":
            start = position + 1
        elif space >= 0:
            start = space + 1
        elif forced_before == position:
            return None  # fpdf2 raises: no room for a single character
        else:
            start = forced_at = position
    return count, False


def _safe_units(over: Any, widest: int) -> int:
    """The most font units a line may hold for `over(units, widest)` to be false (-1 when
    none may)."""
    if over(0, widest):
        return -1
    low, high = 0, 1
    while not over(high, widest):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if over(middle, widest):
            high = middle
        else:
            low = middle
    return low


# Entry point ----------------------------------------------------------------------------------


def pdf_fonts_for(settings: Settings | None) -> PdfFonts:
    """The PDF fonts the settings name (RESUME_PDF_FONT...), or the system's."""
    if settings is None:
        return find_pdf_fonts()
    return find_pdf_fonts(
        settings.resume_pdf_font,
        settings.resume_pdf_bold_font,
        tuple(settings.resume_pdf_fallback_fonts),
    )


def page_targets(resume: dict[str, Any], fonts: PdfFonts) -> dict[str, int]:
    """Per template, the pages a resume's tailored versions may take: its source's page
    count, or for a source without pages (text), the pages it takes itself."""
    targets = {}
    for template in TEMPLATES.values():
        limit = page_limit(resume, template)
        if limit is None:
            blocks = layout(resume, template)
            limit = page_count(blocks, fonts, Page(template, paper_of(resume)))
        targets[template.name] = limit
    return targets


def fits(resume: dict[str, Any], targets: dict[str, int], fonts: PdfFonts) -> bool:
    """Whether the resume takes at most its target pages in every template, as tight as a
    template may print."""
    tightest = len(TIGHTNESS) - 1
    return all(
        page_count(
            layout(resume, TEMPLATES[name]),
            fonts,
            Page(TEMPLATES[name], paper_of(resume), tightest),
        )
        <= pages
        for name, pages in targets.items()
        if name in TEMPLATES
    )


def render_letter_pdf(
    letter: str, *, contact: dict[str, Any] | None = None, settings: Settings | None = None
) -> bytes:
    """A cover letter as a PDF in the resumes' default template and fonts: the writer's name
    and contact line (the resume's `contact` shape), then the letter, a blank line between
    its paragraphs."""
    blocks = _contact_blocks({"contact": contact or {}})
    paragraphs = [p for p in re.split(r"\n\s*\n", str(letter or "")) if clean_text(p)]
    for paragraph in paragraphs:
        if blocks:
            blocks.append(Block("text", " "))
        blocks += _text_blocks("text", paragraph)
    return render_pdf(blocks, pdf_fonts_for(settings), Page(template_named(None)))


def render(
    resume: dict[str, Any],
    fmt: str,
    *,
    settings: Settings | None = None,
    template: str | None = None,
) -> bytes:
    """The resume as `fmt` ("md", "docx" or "pdf") bytes in a template (the default when
    None), on its source's paper, as many pages as its source at most (tightened as
    needed); `settings` choose the PDF's fonts."""
    if fmt not in FORMATS:
        raise UnknownFormat(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    chosen = template_named(template)
    blocks = layout(resume, chosen)
    if fmt == "md":
        return render_markdown(blocks)
    fonts = pdf_fonts_for(settings)
    page = fitting_page(blocks, fonts, Page(chosen, paper_of(resume)), page_limit(resume, chosen))
    if fmt == "docx":
        return render_docx(blocks, page)
    return render_pdf(blocks, fonts, page)
