"""A PDF's text as a reader sees it, from the position of every character (PDFium).

PDFium (`pypdfium2`) gives each character with its box, font and whether PDFium generated it
(a space or line break it inferred). From those this module rebuilds the lines of each page:

- wide gaps inside a line (a right-aligned date, the next skill chip) become a tab, so the
  structure parser can tell a line's fields apart while single spaces stay inside a field;
- characters of icon fonts (Font Awesome and the like), private-use glyphs and emoji are
  dropped, so an icon is never read as a letter;
- a line that repeats at the top or bottom of several pages (a running header or footer,
  page numbers included) is dropped, as is a bare page number;
- a line that continues a bullet (it starts at the bullet's text, past the bullet glyph: a
  hanging indent) or a full-width line of a paragraph is joined to it, and a word hyphenated
  at the line break is joined again;
- the link annotations (mailto:, tel:, https:) are kept with the text they cover.

Standard library and pypdfium2 only: it runs inside the extraction child under its limits.
"""

from __future__ import annotations

import ctypes
import re
import statistics
import unicodedata
from dataclasses import dataclass, field

ICON_FONT = re.compile(
    r"awesome|icons?\b|icomoon|fontello|glyphicon|ionicons|octicons|devicons|academicons"
    r"|simple-?icons|material-?(?:icons|symbols)|wingding|dingbat|zapf|symbola|emoji",
    re.IGNORECASE,
)
HYPHEN_MARK = "\ufffe"  # PDFium's mark for a hyphen it found at the end of a line
BULLETS = "•▪◦●○■□➢►▸‣⁃∙·*+-–—"
PAGE_NUMBER = re.compile(r"(?:page\s*)?\d{1,3}(?:\s*(?:/|of)\s*\d{1,3})?", re.IGNORECASE)
# A hyphen at a line break is kept when the first part is a prefix of a compound word.
COMPOUND_PREFIXES = {
    "multi", "cross", "cloud", "self", "non", "high", "well", "end", "real", "full", "open",
    "third", "first", "long", "short", "low", "state", "data", "event", "user", "client",
    "server", "front", "back", "off", "cost", "time", "mission", "fast", "large", "small", "top",
}  # fmt: skip


CONTINUING_WORDS = {
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "by", "at", "from",
    "as", "into", "via", "including", "across", "over", "under", "between", "&",
}  # fmt: skip


@dataclass
class _Char:
    text: str
    left: float
    right: float
    bottom: float
    top: float
    size: float


@dataclass
class Line:
    page: int
    chars: list[_Char] = field(default_factory=list)
    text: str = ""
    left: float = 0.0
    right: float = 0.0
    top: float = 0.0
    bottom: float = 0.0
    size: float = 0.0
    bullet_text_left: float | None = None  # where the text after a bullet glyph starts

    @property
    def height(self) -> float:
        return max(self.top - self.bottom, self.size, 1.0)


def _font_name(raw, textpage, index: int, buffer) -> str:
    flags = ctypes.c_int()
    raw.FPDFText_GetFontInfo(textpage, index, buffer, len(buffer), ctypes.byref(flags))
    return buffer.value.decode("latin-1", "replace")


def _symbol(code: int) -> bool:
    """Private-use glyphs (icon fonts), emoji and pictographs: never a letter of the text."""
    if 0xE000 <= code <= 0xF8FF or code >= 0x1F000 or code in (0xFE0F, 0x200D, 0x20E3):
        return True
    return unicodedata.category(chr(code)) == "So" and chr(code) not in BULLETS + "●➢►"


def _page_chars(raw, textpage) -> list[_Char | None]:
    """The characters of a page in PDFium's order; None stands for a line break.

    A run of an icon font's characters is an icon, dropped, unless it is long and printable:
    then it is the text the PDF gives for the icon (`/ActualText`, "tel:(+82) 10-...").
    """
    count = raw.FPDFText_CountChars(textpage)
    buffer = ctypes.create_string_buffer(128)
    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    chars: list[_Char | None] = []
    icon_run: list[_Char] = []

    def flush_icons() -> None:
        printed = [c for c in icon_run if c.text.strip()]
        if len(printed) >= 4 and not any(_symbol(ord(c.text)) for c in printed):
            chars.extend(icon_run)
        icon_run.clear()

    for index in range(count):
        code = raw.FPDFText_GetUnicode(textpage, index)
        if code in (10, 13):
            flush_icons()
            if chars and chars[-1] is not None:
                chars.append(None)
            continue
        if code == 0 or 0xD800 <= code <= 0xDFFF or _symbol(code):
            continue
        if code == 2:  # some producers' mark for a hyphen at a line break
            code = 0xFFFE
        generated = code != 0xFFFE and raw.FPDFText_IsGenerated(textpage, index) == 1
        raw.FPDFText_GetCharBox(
            textpage,
            index,
            ctypes.byref(left),
            ctypes.byref(right),
            ctypes.byref(bottom),
            ctypes.byref(top),
        )
        size = raw.FPDFText_GetFontSize(textpage, index)
        if generated or code == 32:
            char = _Char(" ", left.value, left.value, bottom.value, top.value, 0.0)
        else:
            char = _Char(chr(code), left.value, right.value, bottom.value, top.value, size)
        icon = not generated and ICON_FONT.search(_font_name(raw, textpage, index, buffer))
        if icon:
            icon_run.append(char)
            continue
        flush_icons()
        chars.append(char)
    flush_icons()
    return chars


def _split_lines(page: int, chars: list[_Char | None]) -> list[Line]:
    """Characters into lines: at PDFium's line breaks, and where the baseline jumps back."""
    lines: list[Line] = []
    current = Line(page)
    previous: _Char | None = None
    for char in chars:
        if char is None:
            lines.append(current)
            current, previous = Line(page), None
            continue
        visible = char.text != " "
        if visible and previous is not None:
            height = max(previous.size, char.size, 1.0)
            if abs(char.bottom - previous.bottom) > 0.6 * height and char.left < previous.left:
                lines.append(current)
                current = Line(page)
        current.chars.append(char)
        if visible:
            previous = char
    lines.append(current)
    return [line for line in (_finish(line) for line in lines) if line.text]


def _finish(line: Line) -> Line:
    visible = [c for c in line.chars if c.text != " "]
    if not visible:
        return line
    sizes = [c.size for c in visible if c.size > 0] or [10.0]
    line.size = statistics.median(sizes)
    line.left = visible[0].left
    line.right = max(c.right for c in visible)
    line.top = max(c.top for c in visible)
    line.bottom = min(c.bottom for c in visible)
    _small_caps(visible)
    # Gaps between words: a field gap (a right-aligned date, the next skill chip) is wide
    # against the font, or against the line's other word spaces; a justified line
    # stretches all its spaces alike (a gap is wide against the line's median word space).
    gaps: list[tuple[str, float]] = []
    last: _Char | None = None
    pending_space = False
    for char in line.chars:
        if char.text == " ":
            pending_space = True
            continue
        if last is not None:
            gap = char.left - last.right
            # PDFium infers most spaces; a gap it missed between two words is wider than
            # the tightest letter pairs (digits are set tighter apart than they look).
            letters = char.text.isalpha() and last.text.isalpha()
            spaced = pending_space or gap > (0.28 if letters else 0.45) * line.size
            gaps.append(("space" if spaced else "", gap))
        last, pending_space = char, False
    word_gaps = [gap for kind, gap in gaps if kind]
    typical = statistics.median(word_gaps) if word_gaps else 0.0
    pieces: list[str] = [visible[0].text]
    for index, (char, (kind, gap)) in enumerate(zip(visible[1:], gaps, strict=True)):
        wide = gap > 1.2 * line.size or (gap > 0.6 * line.size and gap > 2 * typical)
        if kind and wide and not (index == 0 and visible[0].text in BULLETS):
            pieces.append("\t")
        elif kind:
            pieces.append(" ")
        pieces.append(char.text)
    text = "".join(pieces)
    text = re.sub(r" ?\t[ \t]*", "\t", text).strip()
    line.text = text
    if text[:1] in BULLETS and (len(text) == 1 or text[1] in " \t"):
        after = next((c for c in visible[1:]), None)
        line.bullet_text_left = after.left if after is not None else None
    return line


def _reading_order(lines: list[Line]) -> list[Line]:
    """Lines printed above a page's first line in drawing order (a name drawn last) moved
    to the top of that page."""
    if not lines:
        return lines
    first_top = lines[0].top
    above = sorted((line for line in lines[1:] if line.bottom > first_top), key=lambda x: -x.top)
    if not above:
        return lines
    return [*above, *(line for line in lines if line not in above)]


def _small_caps(chars: list[_Char]) -> None:
    """Capitals drawn at the height of small letters (a small-caps font) read as small letters,
    so "SOFTWARE ENGINEER" in small caps reads "Software Engineer" as the reader sees it."""
    capitals = [c for c in chars if c.text.isupper() and c.top > c.bottom]
    letters = sum(c.text.isalpha() for c in chars)
    if len(capitals) < 4 or len(capitals) < 0.7 * letters:
        return
    by_size: dict[float, float] = {}
    for char in capitals:
        key = round(char.size, 1)
        by_size[key] = max(by_size.get(key, -1e9), char.top)
    for char in capitals:
        # Tops, not heights: a Q or J reaches below the line, every capital to the cap height.
        if char.top < by_size[round(char.size, 1)] - 0.12 * max(char.size, 1.0):
            char.text = char.text.lower()


def _key(text: str) -> str:
    return re.sub(r"\d+", "#", re.sub(r"\s+", " ", text)).strip().lower()


def _drop_running(lines: list[Line], heights: dict[int, float], pages: int) -> list[Line]:
    """Without the running headers and footers, and bare page numbers."""
    band = {page: 0.08 * height for page, height in heights.items()}

    def marginal(line: Line) -> bool:
        height = heights.get(line.page, 792.0)
        return line.bottom < band.get(line.page, 60) or line.top > height - band.get(line.page, 60)

    seen: dict[str, set[int]] = {}
    for line in lines:
        if marginal(line):
            seen.setdefault(_key(line.text), set()).add(line.page)
    kept = []
    for line in lines:
        if marginal(line):
            if PAGE_NUMBER.fullmatch(line.text.strip()):
                continue
            if pages > 1 and len(seen.get(_key(line.text), ())) > 1:
                continue
        kept.append(line)
    return kept or lines  # a page's only line is its content, not a running header


def _join_text(first: str, second: str) -> str:
    for mark in (HYPHEN_MARK, "\u00ad", "-"):
        if first.endswith(mark) and second[:1].isalpha():
            stem = first[: -len(mark)]
            word = re.search(r"([A-Za-z]+)$", stem)
            keep = mark == "-" or (word is not None and word.group(1).lower() in COMPOUND_PREFIXES)
            if mark == "-" and word is not None and second[:1].islower():
                keep = word.group(1).lower() in COMPOUND_PREFIXES or not stem[-1:].isalpha()
                if not keep and len(word.group(1)) > 1:
                    return stem + second
            return stem + ("-" if keep else "") + second
    return f"{first} {second}"


def _continues(previous: Line, line: Line, column_right: float) -> bool:
    """Whether `line` wraps the text of `previous` (same bullet or same paragraph)."""
    if line.page != previous.page or line.bullet_text_left is not None:
        return False
    if "\t" in line.text or "\t" in previous.text:
        return False
    if line.text.isupper() and len(line.text.split()) <= 4:
        return False  # a heading in capitals
    gap = previous.bottom - line.top
    height = max(previous.height, line.height)
    if gap > 0.9 * height or gap < -0.5 * height or abs(line.size - previous.size) > 0.6:
        return False
    indent = previous.bullet_text_left
    if indent is not None:
        return abs(line.left - indent) <= 2.5 or (line.left > indent and line.left - indent < 30)
    if abs(line.left - previous.left) > 2.0:
        return False
    width = column_right - previous.left
    if width <= 0 or previous.right < column_right - 0.12 * width:
        return False
    # A full line followed by one that starts a new item (a list drawn without glyphs) is
    # not a wrap: the text must read on across the break.
    first, last = line.text[:1], previous.text.rstrip()
    return (
        first.islower()
        or last.endswith((".", ",", ";", ":", "&", "/", "-", "(", HYPHEN_MARK, "\u00ad"))
        or last.rsplit(" ", 1)[-1].lower() in CONTINUING_WORDS
    )


def _merge_wrapped(lines: list[Line]) -> list[Line]:
    """Wrapped lines joined to the bullet or paragraph line they continue."""
    rights: dict[tuple[int, int], float] = {}
    for line in lines:
        key = (line.page, round(line.left))
        rights[key] = max(rights.get(key, 0.0), line.right)

    def column_right(line: Line) -> float:
        return max(
            (
                right
                for (page, left), right in rights.items()
                if page == line.page and abs(left - line.left) <= 3
            ),
            default=line.right,
        )

    merged: list[Line] = []
    for line in lines:
        previous = merged[-1] if merged else None
        if previous is not None and _continues(previous, line, column_right(previous)):
            previous.text = _join_text(previous.text, line.text)
            previous.right, previous.bottom = line.right, line.bottom
            continue
        merged.append(line)
    return merged


def _clean_text(text: str) -> str:
    text = text.replace(HYPHEN_MARK, "-")
    # Some fonts map their hyphen to U+00AD (soft hyphen): between letters or digits it is
    # a printed hyphen.
    text = re.sub(r"(?<=\S)\u00ad(?=\S)", "-", text)
    text = re.sub(r"(?<=\s)\u00ad(?=\s)", "-", text)
    text = text.replace("\u00ad", "")
    text = unicodedata.normalize("NFKC", text)
    return text.replace("\u2010", "-").replace("\u2011", "-")


def _links(raw, document, page, textpage) -> list[dict[str, str]]:
    found = []
    position = ctypes.c_int(0)
    link = raw.FPDF_LINK()
    rect = raw.FS_RECTF()
    while raw.FPDFLink_Enumerate(page, ctypes.byref(position), ctypes.byref(link)):
        action = raw.FPDFLink_GetAction(link)
        if not action or raw.FPDFAction_GetType(action) != raw.PDFACTION_URI:
            continue
        size = raw.FPDFAction_GetURIPath(document, action, None, 0)
        if not 0 < size <= 2048:
            continue
        buffer = ctypes.create_string_buffer(size)
        raw.FPDFAction_GetURIPath(document, action, buffer, size)
        uri = buffer.value.decode("latin-1", "replace").strip()
        if not re.match(r"(?:https?|mailto|tel):", uri, re.IGNORECASE):
            continue
        text = ""
        if raw.FPDFLink_GetAnnotRect(link, ctypes.byref(rect)):
            length = raw.FPDFText_GetBoundedText(
                textpage, rect.left, rect.top, rect.right, rect.bottom, None, 0
            )
            if 0 < length < 500:
                out = (ctypes.c_ushort * (length + 1))()
                raw.FPDFText_GetBoundedText(
                    textpage, rect.left, rect.top, rect.right, rect.bottom, out, length
                )
                text = bytes(out)[: 2 * length].decode("utf-16-le", "replace")
        found.append({"uri": uri, "text": _clean_text(" ".join(text.split()))})
    return found


def read_pdf(data: bytes, max_pages: int) -> dict:
    """{"text", "pages", "paper" (width, height in points), "links"} or {"error", "message"}."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            return {"error": "encrypted", "message": "The PDF is password-protected"}
        return {"error": "unreadable", "message": "The PDF could not be read (PdfiumError)"}
    count = len(document)
    if count > max_pages:
        return {
            "error": "too_many_pages",
            "message": f"The PDF has {count} pages; at most {max_pages} are read",
        }
    lines: list[Line] = []
    heights: dict[int, float] = {}
    links: list[dict[str, str]] = []
    size = None
    for number in range(count):
        page = document[number]
        width, height = page.get_size()
        size = size or (width, height)
        heights[number] = height
        textpage = page.get_textpage()
        lines.extend(_reading_order(_split_lines(number, _page_chars(raw, textpage.raw))))
        links.extend(_links(raw, document.raw, page.raw, textpage.raw))
    lines = _merge_wrapped(_drop_running(lines, heights, count))
    text = "\n".join(_clean_text(line.text) for line in lines)
    return {"text": text, "pages": count, "size": size, "links": links}
