"""Free text that is stored and shown again: HTML removed with nh3, control characters dropped."""

from __future__ import annotations

import re
import unicodedata

import nh3

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def sanitise_text(value: str) -> str:
    """Strip every HTML tag (scripts with their content) and control characters.

    The result is HTML-safe text: `&`, `<` and `>` come back as entities, so a client may put
    it into a page as is.
    """
    without_controls = _CONTROL.sub("", unicodedata.normalize("NFC", value))
    return nh3.clean(without_controls, tags=set()).strip()


def sanitise_filename(filename: str, *, max_length: int = 255) -> str:
    """A user's filename kept as metadata only: no path, no markup, bounded length."""
    name = re.split(r"[\\/]", sanitise_text(filename or ""))[-1].strip().lstrip(".")
    if len(name) > max_length:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: max_length - len(ext) - 1] + dot + ext) if dot else name[:max_length]
    return name or "upload"
