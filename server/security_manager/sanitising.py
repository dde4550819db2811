"""Free text that is stored and shown again: HTML removed with nh3, control characters dropped."""

from __future__ import annotations

import re
import unicodedata

import nh3

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Bidirectional overrides and isolates: they make "cod.exe" display as "exe.doc".
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NOT_IN_A_NAME = {"Cc", "Cs", "Zl", "Zp"}  # controls (C0, C1, tab, newlines), surrogates


def sanitise_text(value: str) -> str:
    """Strip every HTML tag (scripts with their content) and control characters.

    The result is HTML-safe text: `&`, `<` and `>` come back as entities, so a client may put
    it into a page as is.
    """
    without_controls = _CONTROL.sub("", unicodedata.normalize("NFC", value))
    return nh3.clean(without_controls, tags=set()).strip()


def strip_control_characters(text: str) -> str:
    """`text` without control characters of any kind (tab and line breaks included).

    What a header value or a one-line name can carry: a newline in a filename would break
    the Content-Disposition header of every download.
    """
    return "".join(
        char
        for char in text
        if unicodedata.category(char) not in _NOT_IN_A_NAME and char not in _BIDI_CONTROLS
    )


def sanitise_filename(filename: str, *, max_length: int = 255) -> str:
    """A user's filename kept as metadata only: one line, no path, no markup, bounded length."""
    one_line = strip_control_characters(filename or "")
    name = re.split(r"[\\/]", sanitise_text(one_line))[-1].strip().lstrip(".")
    if len(name) > max_length:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: max_length - len(ext) - 1] + dot + ext) if dot else name[:max_length]
    return name or "upload"
