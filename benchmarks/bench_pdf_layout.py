"""Resume PDF page counts and rendering against fpdf2's own layout (`python -m benchmarks pdf_layout`).

Three workloads, each timed both ways in the same run:

- `page_count`: every real-corpus resume (tests/resume_corpus.py) in every template, at every
  tightness level, on both papers: the measured count (`rendering.page_count`, its line cache
  emptied first) against fpdf2 laying the whole document out (`_fpdf_page_count`, what
  page_count did before). The counts must agree; a disagreement is printed and fails the run.
- `keep_page_count`: a tailoring's page fitting (`page_count.keep_page_count`) of each corpus
  resume grown by 40 bullets, with its source's page count kept, using each page count in turn.
- `render_pdf`: writing each corpus resume's PDF with the fonts read once and shared
  (`render_pdf`) against reading the TrueType files for every document (fpdf2's add_font).

Prints `pdf_layout.<workload> fpdf_seconds=... measured_seconds=... ratio=...` (ratio: how
many times faster).
"""

from __future__ import annotations

import copy
import logging
import re
import time
from contextlib import contextmanager

from server.agent import page_count, rendering
from tests.resume_corpus import as_parsed, expected_by_file


@contextmanager
def _swapped(name: str, replacement):
    original = getattr(rendering, name)
    setattr(rendering, name, replacement)
    try:
        yield
    finally:
        setattr(rendering, name, original)


def _empty_caches() -> None:
    rendering._block_lines.cache_clear()
    rendering._string_width.cache_clear()


def _grown(resume: dict, bullets: int) -> dict:
    grown = copy.deepcopy(resume)
    grown["experience"][0]["bullets"] += [
        f"Moved reporting job {i} onto the shared queue and cut its run time"
        for i in range(bullets)
    ]
    return grown


def _undated(pdf: bytes) -> bytes:
    """The PDF without its creation date and the file id made from it."""
    return re.sub(rb"/CreationDate \([^)]*\)|/ID \[<[0-9A-F]*><[0-9A-F]*>\]", b"", pdf)


def _line(name: str, fpdf_seconds: float, measured_seconds: float, extra: str = "") -> str:
    return (
        f"pdf_layout.{name} fpdf_seconds={fpdf_seconds:.2f} "
        f"measured_seconds={measured_seconds:.3f} ratio={fpdf_seconds / measured_seconds:.1f}"
        + (f" {extra}" if extra else "")
    )


def run(args) -> list[str]:
    logging.disable(logging.WARNING)
    fonts = rendering.find_pdf_fonts()
    resumes = [as_parsed(expected) for expected in expected_by_file().values()]
    lines = [f"pdf_layout.corpus resumes={len(resumes)} font={fonts.regular}"]

    work = [
        (rendering.layout(resume, template), rendering.Page(template, paper, level))
        for resume in resumes
        for template in rendering.TEMPLATES.values()
        for paper in rendering.PAPERS
        for level in range(len(rendering.TIGHTNESS))
    ]
    rendering.page_count(*work[0][:1], fonts, work[0][1])  # fonts read before timing
    started = time.perf_counter()
    reference = [rendering._fpdf_page_count(blocks, fonts, page) for blocks, page in work]
    fpdf_seconds = time.perf_counter() - started
    _empty_caches()
    started = time.perf_counter()
    measured = [rendering.page_count(blocks, fonts, page) for blocks, page in work]
    measured_seconds = time.perf_counter() - started
    started = time.perf_counter()
    [rendering.page_count(blocks, fonts, page) for blocks, page in work]
    warm_seconds = time.perf_counter() - started
    differ = sum(a != b for a, b in zip(reference, measured, strict=True))
    lines.append(
        _line(
            "page_count",
            fpdf_seconds,
            measured_seconds,
            f"counts={len(work)} differ={differ} warm_seconds={warm_seconds:.3f}",
        )
    )

    sources = [
        {**resume, "source": {"format": "pdf", "pages": 1, "paper": "letter"}}
        for resume in resumes
        if resume["experience"]
    ]

    def fit_all() -> list:
        return [
            page_count.keep_page_count(
                source, _grown(source, 40), requirements=[], keywords=[], fonts=fonts
            )
            for source in sources
        ]

    counted = []
    with _swapped("page_count", lambda *a: counted.append(1) or rendering._fpdf_page_count(*a)):
        started = time.perf_counter()
        reference_fits = fit_all()
        fpdf_seconds = time.perf_counter() - started
    _empty_caches()
    started = time.perf_counter()
    measured_fits = fit_all()
    measured_seconds = time.perf_counter() - started
    lines.append(
        _line(
            "keep_page_count",
            fpdf_seconds,
            measured_seconds,
            f"tailorings={len(sources)} page_counts={len(counted)} "
            f"same_result={reference_fits == measured_fits}",
        )
    )
    differ += reference_fits != measured_fits

    documents = [
        (rendering.layout(resume, rendering.CLASSIC), rendering.Page(rendering.CLASSIC, paper))
        for resume in resumes
        for paper in rendering.PAPERS
    ]
    with _swapped("_written_pdf", rendering._blank_pdf):
        started = time.perf_counter()
        parsed_each_time = [rendering.render_pdf(b, fonts, p) for b, p in documents]
        fpdf_seconds = time.perf_counter() - started
    rendering.render_pdf(*documents[0][:1], fonts, documents[0][1])
    started = time.perf_counter()
    shared = [rendering.render_pdf(b, fonts, p) for b, p in documents]
    measured_seconds = time.perf_counter() - started
    same_bytes = sum(
        _undated(a) == _undated(b) for a, b in zip(parsed_each_time, shared, strict=True)
    )
    lines.append(
        _line(
            "render_pdf",
            fpdf_seconds,
            measured_seconds,
            f"documents={len(documents)} same_bytes_but_date_and_id={same_bytes}",
        )
    )
    if differ:
        raise SystemExit(f"pdf_layout: the measured page counts differ from fpdf2's: {differ}")
    return lines
