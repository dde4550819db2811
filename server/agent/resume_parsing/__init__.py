"""Resume parsing: a document read into a structured resume, in a sandboxed child process."""

from server.agent.resume_parsing.extraction import (
    DocumentUnreadable,
    ExtractionLimits,
    parse_document,
)
from server.agent.resume_parsing.structure import PARSER_VERSION, parse_resume_text

__all__ = [
    "PARSER_VERSION",
    "DocumentUnreadable",
    "ExtractionLimits",
    "parse_document",
    "parse_resume_text",
]
