"""The page count the renderer measures without writing a PDF is the one fpdf2's own layout
gives, resume by resume, template by template, level by level and on both papers; and
written PDFs, which share the fonts read once, each carry their own text and fonts."""

from __future__ import annotations

import copy
import functools
import io
import itertools
import random
import re
import threading

import pypdf
import pytest

from server.agent import rendering
from server.agent.rendering import PAPERS, TEMPLATES, TIGHTNESS, Block, Page, PdfFonts
from tests.resume_corpus import as_parsed, expected_by_file

FONTS = rendering.find_pdf_fonts()
LATIN1_ONLY = PdfFonts(None, None)
LIBERATION = "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"
LIBERATION_BOLD = "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
TIGHTEST = len(TIGHTNESS) - 1


def corpus() -> list[tuple[str, dict]]:
    return [(name, as_parsed(expected)) for name, expected in expected_by_file().items()]


def assert_same_pages(blocks: list[Block], fonts: PdfFonts, page: Page, what: str) -> int:
    fast = rendering.page_count(blocks, fonts, page)
    reference = rendering._fpdf_page_count(blocks, fonts, page)
    assert fast == reference, f"{what} {page.template.name} {page.paper} level {page.level}"
    return fast


@functools.cache
def reference_pdf(fonts: PdfFonts):
    """A document of its own with the fonts loaded and a page to print on."""
    pdf = rendering._blank_pdf(fonts, "a4")
    pdf.add_page()
    return pdf


def fpdf_lines(fonts: PdfFonts, bold: bool, size: float, text: str, width: float) -> int:
    """How many lines fpdf2's multi_cell prints the text in."""
    pdf = reference_pdf(fonts)
    pdf.set_font(rendering._family(fonts), "B" if bold else "", size)
    return len(pdf.multi_cell(width, 5, text, align="L", dry_run=True, output="LINES"))


def outcome(function, *args):
    """What the function returns, or the name of the error it raises."""
    try:
        return function(*args)
    except Exception as error:  # noqa: BLE001 - both sides must fail alike
        return type(error).__name__


def measured_lines(fonts: PdfFonts, bold: bool, size: float, text: str, width: float):
    """The measured line count (or the error measuring raises, fpdf2's own when a line has
    no room for a single character)."""
    with rendering._MEASURING:
        counted = outcome(rendering._block_lines, fonts, bold, size, text, width)
    return counted if isinstance(counted, str) else counted[0]


# Every (template, paper, level) a page can be laid out in. The suite checks each corpus
# resume in two of them, in turn, so that every one is checked; the `pdf_layout` benchmark
# compares every resume in every one (its `differ=` figure).
LAYOUTS = [
    (template, paper, level)
    for template in TEMPLATES.values()
    for paper in PAPERS
    for level in range(len(TIGHTNESS))
]


def test_every_corpus_resume_counts_the_pages_fpdf2_lays_out_in_every_template_level_and_paper():
    resumes = corpus()
    assert 2 * len(resumes) >= len(LAYOUTS)
    checked = set()
    for index, (name, resume) in enumerate(resumes):
        for turn in (index, index + len(resumes)):
            template, paper, level = LAYOUTS[turn % len(LAYOUTS)]
            blocks = rendering.layout(resume, template)
            assert_same_pages(blocks, FONTS, Page(template, paper, level), name)
            checked.add((template.name, paper, level))
    assert len(checked) == len(LAYOUTS)


def test_every_corpus_line_wraps_into_as_many_lines_as_fpdf2_wraps_it():
    fix = rendering._text_fixer(FONTS)
    for index, (_name, resume) in enumerate(corpus()):
        paper = sorted(PAPERS)[index % len(PAPERS)]
        for template in TEMPLATES.values():
            for level in (0, TIGHTEST):
                page = Page(template, paper, level)
                side, _top = page.margins
                width = PAPERS[paper][0] - 2 * side
                for block in rendering.layout(resume, template):
                    look = page.look(block.kind)
                    text = fix(rendering._shown(block, template))
                    with rendering._MEASURING:
                        fast = rendering._block_lines(FONTS, look.bold, look.size, text, width)
                    assert fast[0] == fpdf_lines(FONTS, look.bold, look.size, text, width), text


def padded(resume: dict, bullets: int) -> dict:
    """The resume with `bullets` more bullets on its first role, each a little longer."""
    grown = copy.deepcopy(resume)
    grown["experience"][0]["bullets"] += [
        "Moved the reporting pipeline onto a shared queue " + "and more " * (i % 9)
        for i in range(bullets)
    ]
    return grown


def test_adding_bullets_one_at_a_time_crosses_page_boundaries_at_the_bullet_fpdf2_does():
    resume = next(resume for _name, resume in corpus() if resume["experience"])
    classic, compact = TEMPLATES["classic"], TEMPLATES["compact"]
    for page in (Page(classic, "a4", 0), Page(compact, "letter", TIGHTEST)):
        counts = []
        while len(counts) < 2 or counts[-1] == counts[0]:
            blocks = rendering.layout(padded(resume, len(counts)), page.template)
            counts.append(assert_same_pages(blocks, FONTS, page, f"+{len(counts)}"))


def test_cutting_bullets_one_at_a_time_matches_fpdf2_down_to_no_bullets():
    name, resume = max(corpus(), key=lambda item: len(str(item[1])))
    cut = copy.deepcopy(resume)
    for step in itertools.count():
        template, paper, level = LAYOUTS[step % len(LAYOUTS)]
        blocks = rendering.layout(cut, template)
        assert_same_pages(blocks, FONTS, Page(template, paper, level), f"{name} -{step}")
        roles = [role for role in cut["experience"] if role["bullets"]]
        if not roles:
            break
        roles[-1]["bullets"].pop()


ALPHABET = (
    ["word", "the", "a", "engineering", "Kubernetes", "x" * 40, "W" * 90, "ünïcödé"]
    + ["Привет", "Ελληνικά", "日本語のテキスト", "→", "★", "e\u0301", "\u00ad", "soft\u00adhyphen"]
    + ["\u00a0", "\n", "\t", "\u2009", "\u200b", "  ", "{nb}", "—", "", "."]
)


def generated_text(rng: random.Random) -> str:
    parts = [rng.choice(ALPHABET) for _ in range(rng.randint(0, 60))]
    return "".join(part + (" " if rng.random() < 0.7 else "") for part in parts)


@pytest.mark.parametrize(
    "fonts",
    [FONTS, LATIN1_ONLY, PdfFonts(LIBERATION, LIBERATION_BOLD, (DEJAVU,))],
    ids=["unicode", "latin1", "with-fallback"],
)
def test_generated_text_wraps_and_pages_as_fpdf2_does(fonts):
    rng = random.Random(20261208)
    fix = rendering._text_fixer(fonts)
    for _ in range(50):
        text = fix(generated_text(rng))
        bold = rng.random() < 0.3
        size = rng.choice([8.6, 9.0, 10.0, 10.5, 18.0])
        width = rng.uniform(20, 180)
        with rendering._MEASURING:
            fast = rendering._block_lines(fonts, bold, size, text, width)
        assert fast[0] == fpdf_lines(fonts, bold, size, text, width), repr(text)
    for round_ in range(4):
        blocks = [Block("name", "Ada Lovelace"), Block("heading", "Experience")]
        for _ in range(rng.randint(5, 40)):
            kind = rng.choice(["text", "bullet", "entry", "meta", "heading"])
            aside = generated_text(rng)[:30] if kind == "entry" and rng.random() < 0.7 else ""
            blocks.append(Block(kind, generated_text(rng), aside))  # type: ignore[arg-type]
        for template in TEMPLATES.values():
            for level in (0, TIGHTEST):
                assert_same_pages(blocks, fonts, Page(template, "a4", level), f"round {round_}")


def test_widths_a_billionth_of_a_millimetre_either_side_of_a_line_wrap_as_fpdf2_wraps_them():
    """fpdf2 breaks a line when it is wider than its room by more than 1e-9 mm: widths at
    that edge must break (or not) in the same place."""
    rng = random.Random(3)
    words = "a I the of data engineering Kubernetes WWWWW iiiii mmmmm, é Привет".split()
    pdf = reference_pdf(FONTS)
    for _ in range(60):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(2, 30)))
        bold, size = rng.random() < 0.5, rng.choice([8.6, 9, 10, 9.45, 12])
        pdf.set_font(rendering._family(FONTS), "B" if bold else "", size)
        edge = pdf.get_string_width(text[: rng.randint(1, len(text))]) + 2 * pdf.c_margin
        for delta in (-2e-9, -1e-9, -5e-10, -1e-12, 0, 1e-12, 5e-10, 1e-9, 1.5e-9, 2e-9):
            assert measured_lines(FONTS, bold, size, text, edge + delta) == outcome(
                fpdf_lines, FONTS, bold, size, text, edge + delta
            ), (text, delta)


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages).replace(
        "\n", ""
    )


def embedded_fonts(data: bytes) -> list[str]:
    """The base names of the fonts the PDF embeds a file of."""
    names = []
    for page in pypdf.PdfReader(io.BytesIO(data)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", []):
                descriptor = descendant.get_object()["/FontDescriptor"].get_object()
                if "/FontFile2" in descriptor:
                    names.append(str(font["/BaseFont"]))
    return names


def undated(data: bytes) -> bytes:
    """The PDF without its creation date and the file id made from it."""
    return re.sub(rb"/CreationDate \([^)]*\)|/ID \[<[0-9A-F]*><[0-9A-F]*>\]", b"", data)


def one_resume_pdf(name: str, bullet: str) -> bytes:
    blocks = [Block("name", name), Block("heading", "Experience"), Block("bullet", bullet)]
    return rendering.render_pdf(blocks, FONTS, Page())


def assert_own_document(data: bytes, name: str, bullet: str) -> None:
    text = pdf_text(data).replace(" ", "")
    assert name.replace(" ", "") in text
    assert bullet.replace(" ", "") in text
    fonts = embedded_fonts(data)
    assert fonts, "no embedded font"
    # A subset font is named with a six-letter tag: ABCDEF+DejaVuSans.
    assert all(len(font.split("+")[0]) == 7 and "+" in font for font in fonts), fonts


def test_documents_written_one_after_the_other_each_carry_their_own_text_and_subset_fonts():
    assert FONTS.regular, "no Unicode TrueType font: apt-get install fonts-dejavu-core"
    first = one_resume_pdf("Ada Lovelace", "Wrote the first program")
    second = one_resume_pdf("Grace Hopper", "Ζήτω Привет built compilers")
    assert_own_document(first, "Ada Lovelace", "Wrote the first program")
    assert_own_document(second, "Grace Hopper", "Ζήτω Привет built compilers")
    again = one_resume_pdf("Ada Lovelace", "Wrote the first program")
    assert undated(again) == undated(first)


def test_documents_written_in_parallel_threads_each_carry_their_own_text_and_subset_fonts():
    assert FONTS.regular, "no Unicode TrueType font: apt-get install fonts-dejavu-core"
    people = [
        (f"Person {i}", f"Ran project {'Ωμέγα' if i % 2 else 'Alpha'} number {i}") for i in range(8)
    ]
    results: dict[int, bytes] = {}
    start = threading.Barrier(len(people))

    def write(index: int) -> None:
        start.wait()
        for _ in range(3):
            results[index] = one_resume_pdf(*people[index])

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(people))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, (name, bullet) in enumerate(people):
        assert_own_document(results[index], name, bullet)
