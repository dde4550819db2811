"""Reading a rendered PDF back as a reader sees it, with PDFium (pypdfium2): its pages as
images, and its printed lines with where they start and end on the page."""

from __future__ import annotations

from dataclasses import dataclass

import pypdfium2 as pdfium

MM = 72 / 25.4  # PDF points per millimetre


@dataclass(frozen=True)
class Line:
    """One printed line: its page (from 0), text, and its left, right, bottom and top edges
    in points from the page's bottom-left corner."""

    page: int
    text: str
    left: float
    right: float
    bottom: float
    top: float


def page_count(data: bytes) -> int:
    return len(pdfium.PdfDocument(data))


def page_size_mm(data: bytes) -> tuple[float, float]:
    width, height = pdfium.PdfDocument(data)[0].get_size()
    return round(width / MM, 1), round(height / MM, 1)


def lines(data: bytes) -> list[Line]:
    """Every printed line, top to bottom, page by page: PDFium's runs of text, joined when
    they sit on one line (their heights overlap by half)."""
    found: list[Line] = []
    document = pdfium.PdfDocument(data)
    for number in range(len(document)):
        text_page = document[number].get_textpage()
        runs = []
        for index in range(text_page.count_rects()):
            left, bottom, right, top = text_page.get_rect(index)
            text = text_page.get_text_bounded(left, bottom, right, top).strip()
            if text:
                runs.append(Line(number, text, left, right, bottom, top))
        runs.sort(key=lambda run: (-(run.bottom + run.top) / 2, run.left))
        page_lines: list[Line] = []
        for run in runs:
            last = page_lines[-1] if page_lines else None
            overlap = last and min(last.top, run.top) - max(last.bottom, run.bottom)
            if last and overlap >= 0.5 * min(last.top - last.bottom, run.top - run.bottom):
                first, second = sorted((last, run), key=lambda r: r.left)
                page_lines[-1] = Line(
                    number,
                    f"{first.text} {second.text}",
                    first.left,
                    max(first.right, second.right),
                    min(first.bottom, second.bottom),
                    max(first.top, second.top),
                )
            else:
                page_lines.append(run)
        found += page_lines
    return found


def ink_outside(data: bytes, *, side_mm: float, top_mm: float) -> list[tuple[int, str]]:
    """(page, where) for each page whose image has ink in a margin band: left, right, top or
    bottom (a line that runs over, or text printed off the page)."""
    spills = []
    document = pdfium.PdfDocument(data)
    for number in range(len(document)):
        image = document[number].render(scale=2).to_pil().convert("L")
        width, height = image.size
        scale = width / document[number].get_size()[0]
        side, top = int(side_mm * MM * scale) - 2, int(top_mm * MM * scale) - 2
        bands = {
            "left": (0, 0, side, height),
            "right": (width - side, 0, width, height),
            "top": (0, 0, width, top),
            "bottom": (0, height - top, width, height),
        }
        for where, box in bands.items():
            if image.crop(box).getextrema()[0] < 200:
                spills.append((number, where))
    return spills
