"""Reading a resume (PDF, DOCX, TXT or Markdown) into its structure, in a separate process
under resource limits.

The parent (`extraction.py`) starts this file with `python -I`, sends the document on stdin and
reads one JSON object from stdout. The limits are set before any byte of the document is read,
so a hostile file (or text that makes a heuristic slow) can exhaust only this process. Standard
library plus pypdfium2 (PDFium) and python-docx; `structure.py` is loaded from beside this file, because
importing the server package here would cost memory and time under the limits.
"""

import importlib.util
import io
import json
import os
import resource
import sys
from pathlib import Path

MAX_TEXT_CHARS = 500_000


def _limit(kind: int, value: int) -> None:
    soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value if kind != resource.RLIMIT_CPU else value + 1))


# The reader yields the processor to the web processes: a hostile document costs its uploader
# waiting time, not other users' response times.
NICENESS = 10


def _apply_limits(cpu_seconds: int, memory_bytes: int) -> None:
    os.nice(NICENESS)
    _limit(resource.RLIMIT_CPU, cpu_seconds)
    _limit(resource.RLIMIT_AS, memory_bytes)
    _limit(resource.RLIMIT_FSIZE, 0)  # writes nothing to disk
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_NOFILE, 32)


def _load(name: str):
    """A module beside this file, loaded without importing the server package."""
    spec = importlib.util.spec_from_file_location(
        f"resume_{name}", Path(__file__).with_name(f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def _pdf_text(data: bytes, max_pages: int) -> dict:
    """The PDF's text laid out as read (see pdf_layout.py), its page count, paper and links."""
    try:
        result = _load("pdf_layout").read_pdf(data, max_pages)
    except (
        RuntimeError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        OSError,
    ) as exc:
        return {
            "error": "unreadable",
            "message": f"The PDF could not be read ({type(exc).__name__})",
        }
    if "error" in result:
        return result
    width, height = result.pop("size") or (0.0, 0.0)
    result["paper"] = _paper(width * 25.4 / 72, height * 25.4 / 72) if width else None
    return result


# Paper sizes in millimetres (width, height, portrait): a document on either keeps it.
_PAPERS = {"a4": (210.0, 297.0), "letter": (215.9, 279.4)}


def _paper(width_mm: float, height_mm: float) -> str | None:
    """ "letter" or "a4" for a page of about that size (either way round), else None."""
    short, long = sorted((width_mm, height_mm))
    for name, (w, h) in _PAPERS.items():
        if abs(short - w) <= 6 and abs(long - h) <= 6:
            return name
    return None


def _docx_pages(document) -> int | None:
    """The page count Word recorded in the document's properties (docProps/app.xml)."""
    import re

    for part in document.part.package.iter_parts():
        if str(part.partname) == "/docProps/app.xml":
            found = re.search(rb"<(?:\w+:)?Pages>(\d{1,4})</", part.blob)
            return int(found[1]) or None if found else None
    return None


def _docx_paragraph(paragraph) -> str:
    # A run of spaces alone between two runs of text sets fields apart (a label and its items,
    # a title and its dates): read it as a gap (a tab), as a PDF's wide space is.
    pieces = [getattr(item, "text", "") or "" for item in paragraph.iter_inner_content()]
    text = "".join(
        "\t" if not piece.strip() and piece and 0 < i < len(pieces) - 1 else piece
        for i, piece in enumerate(pieces)
    )
    properties = paragraph._p.pPr
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    is_list = (properties is not None and properties.numPr is not None) or "List" in style
    if is_list and text.strip():
        return "• " + text
    if style.startswith("Heading") or style == "Title":
        return text.strip()
    return text


def _docx_text(data: bytes) -> dict:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
        lines = []
        for section in document.sections[:1]:
            lines.extend(_docx_paragraph(p) for p in section.header.paragraphs)
        for block in document.iter_inner_content():
            if isinstance(block, Paragraph):
                lines.append(_docx_paragraph(block))
            elif isinstance(block, Table):
                for row in block.rows:
                    cells = []
                    for cell in row.cells:
                        value = " ".join(p.text.strip() for p in cell.paragraphs if p.text.strip())
                        if value and value not in cells:
                            cells.append(value)
                    lines.append(" | ".join(cells))
        section = document.sections[0] if document.sections else None
        paper = None
        if section is not None and section.page_width and section.page_height:
            paper = _paper(section.page_width.mm, section.page_height.mm)
        pages = _docx_pages(document)
    except Exception as exc:  # noqa: BLE001 - any failure of a hostile file is "unreadable"
        return {
            "error": "unreadable",
            "message": f"The DOCX could not be read ({type(exc).__name__})",
        }
    return {"text": "\n".join(lines), "pages": pages, "paper": paper}


def _structure(text: str, markdown: bool, links: list[dict]) -> dict:
    return _load("structure").parse_resume_text(text, markdown=markdown, links=links)


def _read(kind: str, data: bytes, max_pages: int) -> dict:
    if kind == "pdf":
        return _pdf_text(data, max_pages)
    if kind == "docx":
        return _docx_text(data)
    return {"text": data.decode("utf-8", "replace").lstrip("\ufeff"), "pages": None}


def main() -> int:
    kind, cpu_seconds, memory_bytes, max_pages = sys.argv[1], *map(int, sys.argv[2:5])
    _apply_limits(cpu_seconds, memory_bytes)
    data = sys.stdin.buffer.read()
    try:
        result = _read(kind, data, max_pages)
        if "text" in result:
            result["text"] = result["text"][:MAX_TEXT_CHARS]
            if not result["text"].strip():
                result = {"error": "no_text", "message": "no text"}
            else:
                links = result.pop("links", [])
                result["parsed"] = _structure(result.pop("text"), kind == "md", links)
    except MemoryError:
        return 3
    except RecursionError:
        result = {"error": "unreadable", "message": "The document is nested too deeply"}
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
