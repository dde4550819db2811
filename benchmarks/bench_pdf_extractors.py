"""Which PDF text extractor reads the real-resume corpus best (`python -m benchmarks pdf_extractors`).

Every candidate turns each corpus PDF into text; the same structure parser reads that text and
the same scorer as `make eval` (tests/parse_accuracy.py) counts the fields it gets exactly
right. The candidates: pypdf (plain and its layout mode), pdfminer.six, poppler's `pdftotext`
(reading order and `-layout`), PDFium's plain text (pypdfium2), and PDFium with this
project's layout pass (`pdf_layout.py`: gaps, icon fonts, running lines, wrapped bullets and
link annotations), the extractor the service uses. A candidate whose tool is not installed
is reported as such (pdfminer.six is not a dependency: `pip install pdfminer.six`; poppler is
Debian's `poppler-utils`). Prints one line per candidate with accuracy and seconds per PDF.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import time

from server.agent.resume_parsing.pdf_layout import read_pdf
from server.agent.resume_parsing.structure import parse_resume_text
from tests.parse_accuracy import key_fields_line, score_resume, summary_line
from tests.resume_corpus import load_expected


def _pypdf(data: bytes, mode: str = "plain") -> str:
    from pypdf import PdfReader

    pages = PdfReader(io.BytesIO(data)).pages
    return "\n".join(page.extract_text(extraction_mode=mode) or "" for page in pages)


def _pdfminer(data: bytes) -> str:
    from pdfminer.high_level import extract_text

    return extract_text(io.BytesIO(data))


def _pdftotext(data: bytes, *options: str) -> str:
    command = ["pdftotext", *options, "-enc", "UTF-8", "-", "-"]
    return subprocess.run(command, input=data, capture_output=True, check=True).stdout.decode()


def _pdfium_plain(data: bytes) -> str:
    import pypdfium2

    document = pypdfium2.PdfDocument(data)
    return "\n".join(page.get_textpage().get_text_range() for page in document)


CANDIDATES = {
    "pypdf": lambda data: (_pypdf(data), []),
    "pypdf-layout": lambda data: (_pypdf(data, "layout"), []),
    "pdfminer.six": lambda data: (_pdfminer(data), []),
    "pdftotext": lambda data: (_pdftotext(data), []),
    "pdftotext-layout": lambda data: (_pdftotext(data, "-layout"), []),
    "pypdfium2-plain": lambda data: (_pdfium_plain(data), []),
    "pypdfium2+layout": lambda data: (lambda r: (r["text"], r["links"]))(read_pdf(data, 30)),
}


def _available(name: str) -> bool:
    if name.startswith("pdftotext"):
        return shutil.which("pdftotext") is not None
    if name == "pdfminer.six":
        try:
            import pdfminer  # noqa: F401
        except ImportError:
            return False
    return True


def run(args) -> list[str]:
    logging.disable(logging.WARNING)
    corpus = [r for r in load_expected() if r.path.suffix == ".pdf" and r.path.is_file()]
    lines = [f"pdf_extractors.corpus pdfs={len(corpus)}"]
    for name, extract in CANDIDATES.items():
        if not _available(name):
            lines.append(f"pdf_extractors.{name} not installed")
            continue
        scores, seconds = [], 0.0
        for resume in corpus:
            data = resume.path.read_bytes()
            started = time.perf_counter()
            text, links = extract(data)
            seconds += time.perf_counter() - started
            scores.append(score_resume(resume, parse_resume_text(text, links=links)))
        figures = summary_line(scores).removeprefix("eval.parse.fields ").split(" goal")[0]
        keys = key_fields_line(scores).removeprefix("eval.parse.resumes ")
        lines.append(
            f"pdf_extractors.{name} {figures} {keys} "
            f"seconds_per_pdf={seconds / max(len(corpus), 1):.3f}"
        )
    return lines
