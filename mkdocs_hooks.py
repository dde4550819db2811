"""MkDocs hooks for the documentation site (mkdocs.yml, `hooks:`)."""

from __future__ import annotations


def on_page_content(html: str, **_kwargs) -> str:
    """A pipe inside a table cell's code is written `\\|` (as GitHub reads it); Python-Markdown
    keeps the backslash in code, so it is dropped here."""
    return html.replace("\\|", "|")
