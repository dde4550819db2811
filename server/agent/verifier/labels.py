"""Patterns that name what kind of claim a phrase makes: degrees, institutions, certifications,
employers. They label what the gate found and bind phrases to the source lines that must hold
them together; they never let a word through on their own.
"""

from __future__ import annotations

import re

CLAIM_KINDS = (
    "employer",
    "name",
    "title",
    "date",
    "degree",
    "institution",
    "certification",
    "number",
    "skill",
    "action",
    "combination",
    "look-alike",
    "symbol",
    "word",
)

DEGREE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (level, re.compile(pattern))
    for level, pattern in (
        (
            "doctorate",
            r"(?i:\bph\.?\s?d\b\.?|\bdoctorate\b|\bdoctoral\b|\bdoctor of\b|\bd\.?phil\b"
            r"|\bed\.?d\b|\bpharm\.?d\b|\bpsy\.?d\b)",
        ),
        ("professional", r"\b(?:J\.?D\.?|M\.?D\.?|D\.?D\.?S\.?|D\.?V\.?M\.?)(?![\w.])"),
        ("mba", r"(?i:\bm\.?b\.?a\b\.?|\bemba\b|\bmasters? of business administration\b)"),
        (
            "master",
            r"(?i:\bmaster'?s?\b|\bm\.s\.?(?:c\.?)?|\bmsc\b|\bm\.?eng\b|\bm\.?ed\b|\bmph\b"
            r"|\bmpa\b|\bmfa\b|\bmsn\b|\bllm\b|\bm\.?phil\b)|\bM\.A\.|\bMS\b|\bMA\b",
        ),
        (
            "bachelor",
            r"(?i:\bbachelor'?s?\b|\bb\.s\.?(?:c\.?)?|\bbsc\b|\bb\.?eng\b|\bbba\b|\bbfa\b|\bbsn\b"
            r"|\bb\.?com\b|\bllb\b|\bundergraduate degree\b)|\bB\.A\.|\bBS\b|\bBA\b",
        ),
        ("associate", r"(?i:\bassociate'?s? (?:degree|of)\b|\ba\.a\.s?\b|\baas\b)"),
        (
            "postgraduate diploma",
            r"(?i:\b(?:post-?graduate|graduate) (?:diploma|certificate)\b|\bpg ?dip\b|\bpgdip\b)",
        ),
        ("diploma", r"(?i:\bdiploma\b)"),
        ("high school", r"(?i:\bhigh school\b|\bged\b|\bsecondary school\b|\ba-levels?\b)"),
    )
)

_CAP = r"[A-Z][\w&.'-]*"
INSTITUTION = re.compile(
    rf"(?:{_CAP}\s+){{0,4}}(?:University|College|Institute|Polytechnic|Academy|School)"
    rf"(?:\s+(?:of|for|at)(?:\s+the)?(?:\s+{_CAP}){{1,4}}|(?:\s+{_CAP}){{0,4}})"
)
CERTIFICATION = re.compile(
    rf"(?:{_CAP}\s+){{0,4}}(?i:certified|certifications?|certificates?|licensed|licen[cs]e)"
    rf"\b(?:\s+{_CAP}){{0,5}}"
    r"|\b(?:PMP|CISSP|CISA|CISM|CKA|CKAD|CKS|CPA|CFA|CMA|CCNA|CCNP|CompTIA|PE|PHR|SPHR|"
    r"SHRM-CP|SHRM-SCP|RN|LPN|BLS|ACLS|PALS|CNA|CDL|OSHA|CSM|PSM|ITIL|EA|CFP|CIA|ACCA|CIMA)\b"
)
LEGAL_SUFFIXES = frozenset(
    "inc inc. llc ltd ltd. corp corp. corporation company co co. group labs technologies gmbh "
    "ag sa plc llp lp".split()
)
EMPLOYER_CUES = frozenset({"at", "joined", "@"})


def degree_mentions(text: str) -> list[tuple[str, int, int]]:
    """(level, start, end) of each degree `text` names, in order, overlaps resolved to the
    first (and most specific) level."""
    found: list[tuple[str, int, int]] = []
    for level, pattern in DEGREE_PATTERNS:
        for match in pattern.finditer(text):
            if not any(s < match.end() and match.start() < e for _l, s, e in found):
                found.append((level, match.start(), match.end()))
    return sorted(found, key=lambda item: item[1])


def degree_levels(text: str) -> set[str]:
    """The degree levels `text` names."""
    return {level for level, _start, _end in degree_mentions(text)}
