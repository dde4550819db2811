"""A tailored resume prints on no more pages than its source.

A renderer first tightens (smaller type and spacing, within limits: `rendering.TIGHTNESS`);
when even the tightest level of some template needs more pages than the source had, the
bullets that show the least of the job's requirements are left out, one at a time, and each
is listed as a change. A bullet that alone names one of the job's keywords, and a role's last
bullet, are never left out.
"""

from __future__ import annotations

import copy
from typing import Any

from server.agent import rendering
from server.agent.engines.matching import relevance
from server.agent.engines.vocabulary import keyword_in


def _shown_text(resume: dict[str, Any]) -> str:
    return "\n".join(block.text for block in rendering.layout(resume))


def keep_page_count(
    source: dict[str, Any],
    tailored: dict[str, Any],
    *,
    requirements: list[dict[str, Any]],
    keywords: list[str],
    fonts: rendering.PdfFonts,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The tailored resume fitted to its source's page count in every template (recorded in
    its `source.fit_pages`), and the bullets left out to fit, as changes."""
    targets = rendering.page_targets(source, fonts)
    fitted = copy.deepcopy(tailored)
    fitted["source"] = {**(fitted.get("source") or {}), "fit_pages": targets}
    if rendering.fits(fitted, targets, fonts):
        return fitted, []
    order = _leaving_order(fitted, requirements, keywords)
    # The fewest bullets to leave out (in that order) for the resume to fit: found by halving,
    # since each try lays the resume out in every template.
    low, high = 1, len(order)
    if not rendering.fits(_without(fitted, order), targets, fonts):
        low = high  # even without all of them it does not fit: the renderer prints tightest
    while low < high:
        middle = (low + high) // 2
        if rendering.fits(_without(fitted, order[:middle]), targets, fonts):
            high = middle
        else:
            low = middle + 1
    most = max(targets.values())
    changes = [
        {
            "section": f"experience[{role}].bullets",
            "action": "drop",
            "before": bullet,
            "after": None,
            "keywords": [],
            "reason": f"keeps the resume to {most} page{'s' if most > 1 else ''}, as its "
            "source: of its bullets, this one shows the least of the job's requirements",
        }
        for role, bullet in order[:low]
    ]
    return _without(fitted, order[:low]), changes


def _without(resume: dict[str, Any], leaving: list[tuple[int, str]]) -> dict[str, Any]:
    """The resume without those bullets ((role, text) pairs)."""
    result = copy.deepcopy(resume)
    for role, bullet in leaving:
        result["experience"][role]["bullets"].remove(bullet)
    return result


def _leaving_order(
    resume: dict[str, Any], requirements: list[dict[str, Any]], keywords: list[str]
) -> list[tuple[int, str]]:
    """(role, bullet) in the order they may be left out: the one that shows the least of the
    job's requirements first (among equals, older roles and later bullets first); never a
    role's last bullet, nor one that alone names a job keyword the resume shows."""
    scratch = copy.deepcopy(resume)
    scores: dict[str, float] = {}
    order: list[tuple[int, str]] = []
    while True:
        text = _shown_text(scratch)
        shown = [k for k in keywords if keyword_in(text, k)]
        candidates = []
        for role, job in enumerate(scratch["experience"]):
            bullets = job["bullets"]
            if len(bullets) < 2:
                continue
            for index, bullet in enumerate(bullets):
                rest = text.replace(bullet, "", 1)
                if any(keyword_in(bullet, k) and not keyword_in(rest, k) for k in shown):
                    continue
                if bullet not in scores:
                    scores[bullet] = relevance(bullet, requirements)
                candidates.append((scores[bullet], -role, -index, role, index))
        if not candidates:
            return order
        *_rank, role, index = min(candidates)
        order.append((role, scratch["experience"][role]["bullets"].pop(index)))
