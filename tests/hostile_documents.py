"""Hostile documents, small on disk and costly to read, built here rather than shipped: a PDF
of text operators, a DOCX table of vertically merged cells, a DOCX whose XML expands to tens of
megabytes yet passes the upload's compression-ratio check."""

from __future__ import annotations

import functools
import io
import zlib


def pdf_with_content(content: bytes) -> bytes:
    """A one-page PDF whose page content stream is `content`, Flate-compressed."""
    stream = zlib.compress(content)  # the default level: 9 is 30x slower on repeats
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@functools.cache
def cpu_bomb_pdf() -> bytes:
    """Small on disk, but hundreds of thousands of text operators to interpret, each glyph at
    its own place (a reader may merge glyphs drawn over each other)."""
    return pdf_with_content(
        b"".join(
            b"BT /F1 1 Tf 1 0 0 1 %d %d Tm (a) Tj ET\n" % (i % 600, i // 600)
            for i in range(300_000)
        )
    )


@functools.cache
def merged_cells_docx(rows: int = 900, columns: int = 60) -> bytes:
    """A DOCX holding one table of rows x columns cells, each merged with the cell above (each
    holds a random number, so the archive passes the upload's compression-ratio check)."""
    import random

    rng = random.Random(11)  # noqa: S311 - filler text

    def cell(merge: bytes) -> bytes:
        text = str(rng.randrange(10**6)).encode()
        return (
            b"<w:tc><w:tcPr>"
            + merge
            + b"</w:tcPr><w:p><w:r><w:t>"
            + text
            + b"</w:t></w:r></w:p></w:tc>"
        )

    first = b"<w:tr>" + b"".join(cell(b'<w:vMerge w:val="restart"/>') for _ in range(columns))
    rest = b"".join(
        b"<w:tr>" + b"".join(cell(b"<w:vMerge/>") for _ in range(columns)) + b"</w:tr>"
        for _ in range(rows - 1)
    )
    table = b"<w:tbl>" + first + b"</w:tr>" + rest + b"</w:tbl>"
    return docx_with_body(b"<w:p><w:r><w:t>Jane Roe</w:t></w:r></w:p>" + table)


@functools.cache
def expanding_docx(megabytes: int = 45) -> bytes:
    """A DOCX whose XML expands to `megabytes` MB yet passes the upload's compression-ratio
    check (about 1:17: each paragraph carries a random number)."""
    import random

    rng = random.Random(7)  # noqa: S311 - filler text
    paragraphs = []
    size = 0
    while size < megabytes * 1_000_000:
        number = str(rng.randrange(10**6)).encode()
        paragraph = b"<w:p><w:r><w:t>Experience with distributed systems " + number
        paragraph += b"</w:t></w:r></w:p>"
        paragraphs.append(paragraph)
        size += len(paragraph)
    return docx_with_body(b"".join(paragraphs))


def docx_with_body(body: bytes) -> bytes:
    import zipfile

    namespace = b"http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    document = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<w:document xmlns:w="' + namespace + b'"><w:body>' + body + b"</w:body></w:document>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
        )
        archive.writestr("word/document.xml", document)
    return buffer.getvalue()
