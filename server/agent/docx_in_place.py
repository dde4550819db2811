"""A tailored resume written into the user's own DOCX: their styles, fonts, page setup and
layout stay, and only what the tailoring changed is changed.

The tailored structure and the structure parsed from the same document are compared: the
summary's text, each role's bullets (reordered, rewritten, left out), the skills' order and
the projects kept. Each is found in the document by its text (whitespace and bullet marks
aside), in document order; a paragraph's text is replaced run by run, so the words that stay
keep their formatting and new words take the formatting of the words they follow. A change
that cannot be found in the document raises `NotInDocument`: the caller then renders a
template instead, rather than send a document that says something else than the tailoring.
"""

from __future__ import annotations

import copy
import io
import re
from typing import Any

_SPACE = re.compile(r"\s+")
_MARKS = " \t•·▪●◦‣∙*-–—"


class NotInDocument(ValueError):  # noqa: N818 - reads as what happened
    """A change of the tailoring has no place in the document."""


def _key(text: str) -> str:
    """Text as compared with a paragraph's: spaces collapsed, list marks and case aside."""
    return _SPACE.sub(" ", str(text or "")).strip().lstrip(_MARKS).strip().casefold()


class _Document:
    """The document's paragraphs in reading order (body and table cells), found by text."""

    def __init__(self, data: bytes) -> None:
        import docx

        self.document = docx.Document(io.BytesIO(data))
        self.paragraphs = list(self._all_paragraphs())
        self.claimed: set[int] = set()

    def _all_paragraphs(self):
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        def walk(container):
            for block in container.iter_inner_content():
                if isinstance(block, Paragraph):
                    yield block
                elif isinstance(block, Table):
                    for row in block.rows:
                        for cell in row.cells:
                            yield from walk(cell)

        yield from walk(self.document)

    def find(self, text: str, *, after: int = -1) -> int:
        """The index of the first unclaimed paragraph after `after` whose text is `text`
        (then any unclaimed one); claims it. NotInDocument when there is none."""
        wanted = _key(text)
        order = [*range(after + 1, len(self.paragraphs)), *range(0, after + 1)]
        for index in order:
            if index not in self.claimed and _key(self.paragraphs[index].text) == wanted:
                self.claimed.add(index)
                return index
        raise NotInDocument(f"no paragraph reads {text[:60]!r}")

    def find_list(self, parts: list[str], label: str | None) -> int:
        """The first unclaimed paragraph that lists `parts` in that order, with nothing else
        but separators and the label ("Languages: Go, SQL"); claims it."""
        for index, paragraph in enumerate(self.paragraphs):
            if index in self.claimed:
                continue
            text, position, rest = paragraph.text, 0, []
            for part in parts:
                found = text.find(part, position)
                if found < 0:
                    break
                rest.append(text[position:found])
                position = found + len(part)
            else:
                leftover = "".join([*rest, text[position:]])
                if label:
                    leftover = leftover.replace(label, "", 1)
                if not leftover.strip(" \t,;|•·/:-–—()"):
                    self.claimed.add(index)
                    return index
        raise NotInDocument(f"no paragraph lists {', '.join(parts)[:60]!r}")

    def save(self) -> bytes:
        buffer = io.BytesIO()
        self.document.save(buffer)
        return buffer.getvalue()


def set_text(paragraph: Any, text: str) -> None:
    """Replace a paragraph's text, keeping each run's formatting for the words that stay: the
    changed middle goes into the run where the change starts."""
    runs = paragraph.runs
    old = "".join(run.text for run in runs)
    if not runs or old != paragraph.text:
        # Hyperlinks or fields hold part of the text: the first run takes it all.
        for extra in runs[1:]:
            extra._r.getparent().remove(extra._r)
        if runs:
            runs[0].text = text
        else:
            paragraph.add_run(text)
        return
    start = 0
    while start < min(len(old), len(text)) and old[start] == text[start]:
        start += 1
    end = 0
    while end < min(len(old), len(text)) - start and old[-1 - end] == text[-1 - end]:
        end += 1
    middle = text[start : len(text) - end]
    offset, first, last = 0, None, None
    for number, run in enumerate(runs):
        length = len(run.text)
        if first is None and (start < offset + length or number == len(runs) - 1):
            first = (number, start - offset)
        if last is None and (len(old) - end <= offset + length):
            last = (number, len(old) - end - offset)
        offset += length
    assert first is not None and last is not None
    (a, a_at), (b, b_at) = first, last
    if a == b:
        run = runs[a]
        run.text = run.text[:a_at] + middle + run.text[b_at:]
        return
    runs[a].text = runs[a].text[:a_at] + middle
    runs[b].text = runs[b].text[b_at:]
    for between in runs[a + 1 : b]:
        between._r.getparent().remove(between._r)


def _move(elements: list[Any], order: list[Any]) -> None:
    """Put `order` (the same elements, or fewer) into the places `elements` held, in document
    order; an element left out of `order` is removed."""
    markers = []
    for element in elements:
        marker = copy.deepcopy(element)
        element.addprevious(marker)
        markers.append(marker)
    for element in elements:
        element.getparent().remove(element)
    for marker, element in zip(markers, order, strict=False):
        marker.addnext(element)
    for marker in markers:
        marker.getparent().remove(marker)


def tailor_in_place(
    data: bytes, *, source: dict[str, Any], tailored: dict[str, Any], diff: list[dict[str, Any]]
) -> bytes:
    """The user's DOCX (`data`, whose parse is `source`) with the tailoring's changes."""
    document = _Document(data)
    _summary(document, source, tailored)
    _bullets(document, source, tailored, diff)
    _skills(document, source, tailored)
    _projects(document, source, tailored)
    return document.save()


def _summary(document: _Document, source: dict[str, Any], tailored: dict[str, Any]) -> None:
    before, after = str(source.get("summary") or ""), str(tailored.get("summary") or "")
    if _key(before) == _key(after):
        return
    if before:
        # The summary may span several paragraphs: the first takes the new text.
        indexes, joined = [], ""
        for index, paragraph in enumerate(document.paragraphs):
            text = _key(paragraph.text)
            if text and _key(before).startswith(_key(f"{joined} {text}")):
                indexes.append(index)
                joined = f"{joined} {text}".strip()
                if joined == _key(before):
                    break
            elif indexes:
                indexes, joined = [], ""
        if joined != _key(before):
            raise NotInDocument("the summary is not in the document as parsed")
        last = document.paragraphs[indexes[-1]]
        if after.startswith(before.rstrip()) and len(indexes) >= 1:
            set_text(last, last.text + after[len(before.rstrip()) :])
        else:
            set_text(document.paragraphs[indexes[0]], after)
            for index in indexes[1:]:
                element = document.paragraphs[index]._p
                element.getparent().remove(element)
        document.claimed.update(indexes)
        return
    _insert_summary(document, source, after)


def _insert_summary(document: _Document, source: dict[str, Any], text: str) -> None:
    """A summary the source had not: a heading like the document's first section heading
    and a paragraph like its first body paragraph, before that first heading."""
    headings = [
        str(section.get("heading") or "")
        for section in source.get("sections") or []
        if isinstance(section, dict) and section.get("heading")
    ]
    if not headings:
        raise NotInDocument("the document has no section heading to put a summary before")
    first = document.find(headings[0])
    heading = document.paragraphs[first]
    later = [p for p in document.paragraphs[first + 1 :] if p.text.strip() and p.runs]
    body = next((p for p in later if _is_body_text(p)), later[0] if later else None)
    if body is None:
        raise NotInDocument("the document has no paragraph to model a summary on")
    new_heading = copy.deepcopy(heading._p)
    new_body = copy.deepcopy(body._p)
    heading._p.addprevious(new_heading)
    heading._p.addprevious(new_body)
    from docx.text.paragraph import Paragraph

    set_text(Paragraph(new_heading, heading._parent), _heading_like(headings[0], "Summary"))
    summary = Paragraph(new_body, body._parent)
    numbering = summary._p.pPr.numPr if summary._p.pPr is not None else None
    if numbering is not None:
        numbering.getparent().remove(numbering)  # a summary is no list item
    set_text(summary, text)


def _is_body_text(paragraph: Any) -> bool:
    """A plain paragraph of text: no heading or list style, no numbering, not all bold."""
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    numbered = paragraph._p.pPr is not None and paragraph._p.pPr.numPr is not None
    all_bold = all(run.bold for run in paragraph.runs if run.text.strip())
    return not style.startswith(("Heading", "Title", "List")) and not numbered and not all_bold


def _heading_like(model: str, word: str) -> str:
    """`word` in the case the document's headings use."""
    if model.isupper():
        return word.upper()
    return word


def _bullets(
    document: _Document, source: dict[str, Any], tailored: dict[str, Any], diff: list[dict]
) -> None:
    rewrites = {
        (change["section"], change["after"]): change["before"]
        for change in diff
        if change.get("action") == "rewrite" and ".bullets[" in str(change.get("section"))
    }
    cursor = -1
    for role, (old, new) in enumerate(
        zip(source.get("experience") or [], tailored.get("experience") or [], strict=False)
    ):
        before = [str(b) for b in old.get("bullets") or []]
        after = [str(b) for b in new.get("bullets") or []]
        if not before:
            continue
        found = [document.find(bullet, after=cursor) for bullet in before]
        cursor = max(found)
        if before == after:
            continue
        unused = dict(enumerate(before))
        chosen = []
        for bullet in after:
            original = next((j for j, text in unused.items() if text == bullet), None)
            if original is None:
                written = next(
                    (
                        before_text
                        for (path, after_text), before_text in rewrites.items()
                        if path.startswith(f"experience[{role}].") and after_text == bullet
                    ),
                    None,
                )
                original = next((j for j, text in unused.items() if text == written), None)
                if original is None:
                    raise NotInDocument(f"bullet {bullet[:60]!r} comes from no bullet")
                set_text(document.paragraphs[found[original]], bullet)
            del unused[original]
            chosen.append(document.paragraphs[found[original]]._p)
        slots = [document.paragraphs[index]._p for index in sorted(found)]
        _move(slots, chosen)


def _skills(document: _Document, source: dict[str, Any], tailored: dict[str, Any]) -> None:
    before = [g for g in source.get("skills") or [] if isinstance(g, dict)]
    after = [g for g in tailored.get("skills") or [] if isinstance(g, dict)]
    if [g.get("items") for g in before] == [g.get("items") for g in after]:
        return
    by_category = {(g.get("category"), tuple(sorted(g.get("items") or []))): g for g in after}
    places = []
    for group in before:
        items = [str(i) for i in group.get("items") or []]
        new = by_category.get((group.get("category"), tuple(sorted(items))))
        if new is None:
            raise NotInDocument("the skills changed more than their order")
        try:
            index = document.find_list(items, group.get("category"))
        except NotInDocument:
            # One skill per paragraph: the paragraphs move.
            found = [document.find(item) for item in items]
            by_item = {
                item: document.paragraphs[i]._p for item, i in zip(items, found, strict=True)
            }
            _move(
                [document.paragraphs[i]._p for i in sorted(found)],
                [by_item[item] for item in new["items"]],
            )
            places.append(None)
            continue
        paragraph = document.paragraphs[index]
        text, position, pieces = paragraph.text, 0, []
        for item in items:
            at = text.find(item, position)
            pieces.append((at, at + len(item)))
            position = at + len(item)
        rebuilt, last = [], 0
        for (start, end), item in zip(pieces, new["items"], strict=True):
            rebuilt += [text[last:start], item]
            last = end
        set_text(paragraph, "".join([*rebuilt, text[last:]]))
        places.append(paragraph._p)
    order = [before.index(g) for g in sorted(before, key=lambda g: _rank(g, after))]
    if order != list(range(len(before))) and all(p is not None for p in places):
        elements = list(dict.fromkeys(places))
        if len(elements) == len(places):
            _move(elements, [places[k] for k in order])


def _rank(group: dict[str, Any], after: list[dict[str, Any]]) -> int:
    for position, candidate in enumerate(after):
        same_items = sorted(candidate.get("items") or []) == sorted(group.get("items") or [])
        if candidate.get("category") == group.get("category") and same_items:
            return position
    return len(after)


def _projects(document: _Document, source: dict[str, Any], tailored: dict[str, Any]) -> None:
    """Projects left out lose their paragraphs (name line and bullets); the kept ones stay
    where the document has them."""
    kept = {str(p.get("name")) for p in tailored.get("projects") or [] if isinstance(p, dict)}
    for project in source.get("projects") or []:
        if not isinstance(project, dict) or str(project.get("name")) in kept:
            continue
        name = str(project.get("name") or "")
        start = next(
            (
                i
                for i, paragraph in enumerate(document.paragraphs)
                if name and _key(paragraph.text).startswith(_key(name))
            ),
            None,
        )
        if start is None:
            raise NotInDocument(f"project {name[:60]!r} is not in the document")
        elements = [document.paragraphs[start]._p]
        for bullet in project.get("bullets") or []:
            elements.append(document.paragraphs[document.find(str(bullet), after=start)]._p)
        for element in elements:
            if element.getparent() is not None:
                element.getparent().remove(element)
