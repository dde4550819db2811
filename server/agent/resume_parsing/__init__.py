"""Resume parsing: text from a document (in a sandboxed child process), then structure."""

from server.agent.resume_parsing.extraction import (
    DocumentUnreadable,
    ExtractedText,
    ExtractionLimits,
    extract_text,
)
from server.agent.resume_parsing.structure import PARSER_VERSION, parse_resume_text

__all__ = [
    "PARSER_VERSION",
    "DocumentUnreadable",
    "ExtractedText",
    "ExtractionLimits",
    "extract_text",
    "parse_document",
    "parse_resume_text",
]


def parse_document(*, extension: str, data: bytes, limits: ExtractionLimits) -> dict:
    """The structured resume of a validated upload; raises `DocumentUnreadable` (422)."""
    extracted = extract_text(extension=extension, data=data, limits=limits)
    parsed = parse_resume_text(extracted.text, markdown=extension == "md")
    parsed["source"] = {"format": extension, "pages": extracted.pages}
    return parsed
