"""Which job-keyword extractor finds a posting's keywords best (`python -m benchmarks keyword_extractors`).

Every candidate reads the 28 real job descriptions of nine fields that `make eval` uses
(tests/jd_corpus.py) and is scored against the same hand-labelled keywords with the same
matching as the evaluation (tests/eval/test_keywords.py): recall and precision per job, the
mean per field, and the average the mean over fields. The candidates:

- `ours`: the offline engine's keywords (`server/agent/engines/keywords.py`), the baseline;
- `yake_topN`: YAKE, an unsupervised statistical extractor (`pip install yake`, not a
  dependency), phrases of up to three words, cut at N = as many as ours found for that posting
  (`yake_top_ours`) or a fixed 10, 20 and 30;
- `ours+yake_topK`: ours, then YAKE's best K phrases that name nothing ours found (union);
- `ours&yake_topM`: ours, keeping only the keywords that name one of YAKE's best M phrases
  (ours filtered by YAKE's ranking);
- `ours_reranked_P%`: ours, keeping the P% of its keywords that YAKE ranks best (in their
  order), a gentler filter.

Prints one line per candidate with the average recall and precision, the goal-weighted sum
(recall/80% + precision/70%) and per-field figures, then seconds per description.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from statistics import mean

from server.agent.engines.local import LocalEngine
from tests.eval.test_keywords import GOAL_PRECISION, GOAL_RECALL, same, scored
from tests.jd_corpus import JobDescription, load

YAKE_MAX_WORDS = 3
FIXED_CUTS = (10, 20, 30)
UNION_CUTS = (5, 10)
FILTER_CUTS = (30, 60)
RERANK_SHARES = (0.8, 0.9)


def _yake_ranked(text: str, top: int = 400) -> list[str]:
    import yake

    extractor = yake.KeywordExtractor(lan="en", n=YAKE_MAX_WORDS, dedupLim=0.9, top=top)
    return [phrase for phrase, _score in extractor.extract_keywords(text)]


def _yake_installed() -> bool:
    try:
        import yake  # noqa: F401
    except ImportError:
        return False
    return True


def _field_figures(rows: list[tuple[str, float, float]]) -> dict[str, tuple[float, float]]:
    fields = sorted({field for field, _r, _p in rows})
    return {
        field: (
            mean(r for f, r, _p in rows if f == field),
            mean(p for f, _r, p in rows if f == field),
        )
        for field in fields
    }


def _line(name: str, rows: list[tuple[str, float, float]], seconds: float) -> str:
    per_field = _field_figures(rows)
    recall = mean(r for r, _p in per_field.values())
    precision = mean(p for _r, p in per_field.values())
    weighted = recall / GOAL_RECALL + precision / GOAL_PRECISION
    fields = " ".join(f"{field}={r:.0%}/{p:.0%}" for field, (r, p) in per_field.items())
    return (
        f"keyword_extractors.{name} recall={recall:.0%} precision={precision:.0%} "
        f"goal_weighted={weighted:.2f} seconds_per_description={seconds:.3f} "
        f"fields(recall/precision): {fields}"
    )


def _union(ours: list[str], ranked: list[str], k: int) -> list[str]:
    extra = [phrase for phrase in ranked if not any(same(phrase, kept) for kept in ours)]
    return ours + extra[:k]


def _filtered(ours: list[str], ranked: list[str], m: int) -> list[str]:
    top = ranked[:m]
    return [kw for kw in ours if any(same(kw, phrase) for phrase in top)]


def _reranked(ours: list[str], ranked: list[str], share: float) -> list[str]:
    def rank(keyword: str) -> int:
        return next((i for i, phrase in enumerate(ranked) if same(keyword, phrase)), len(ranked))

    best = set(sorted(ours, key=rank)[: max(1, round(len(ours) * share))])
    return [keyword for keyword in ours if keyword in best]


def run(args) -> list[str]:
    logging.disable(logging.WARNING)
    jobs: list[JobDescription] = load()
    engine = LocalEngine()
    lines = [
        f"keyword_extractors.corpus descriptions={len(jobs)} "
        f"fields={len({job.field for job in jobs})}"
    ]
    ours: dict[str, list[str]] = {}
    started = time.perf_counter()
    for job in jobs:
        found = engine.extract_requirements(job_description=job.text, job_title=job.title)
        ours[job.name] = found["keywords"]
    ours_seconds = (time.perf_counter() - started) / len(jobs)
    candidates: dict[str, tuple[Callable[[JobDescription], list[str]], float]] = {
        "ours": (lambda job: ours[job.name], ours_seconds)
    }
    if _yake_installed():
        ranked: dict[str, list[str]] = {}
        started = time.perf_counter()
        for job in jobs:
            text = f"{job.title}\n{job.text}" if job.title else job.text
            ranked[job.name] = _yake_ranked(text)
        yake_seconds = (time.perf_counter() - started) / len(jobs)
        both = ours_seconds + yake_seconds
        candidates["yake_top_ours"] = (
            lambda job: ranked[job.name][: len(ours[job.name])],
            yake_seconds,
        )
        for n in FIXED_CUTS:
            candidates[f"yake_top{n}"] = (lambda job, n=n: ranked[job.name][:n], yake_seconds)
        for k in UNION_CUTS:
            candidates[f"ours+yake_top{k}"] = (
                lambda job, k=k: _union(ours[job.name], ranked[job.name], k),
                both,
            )
        for m in FILTER_CUTS:
            candidates[f"ours&yake_top{m}"] = (
                lambda job, m=m: _filtered(ours[job.name], ranked[job.name], m),
                both,
            )
        for share in RERANK_SHARES:
            candidates[f"ours_reranked_{share:.0%}"] = (
                lambda job, share=share: _reranked(ours[job.name], ranked[job.name], share),
                both,
            )
    for name, (extract, seconds) in candidates.items():
        rows = []
        for job in jobs:
            recall, precision = scored(extract(job), job.keywords)
            rows.append((job.field, recall, precision))
        lines.append(_line(name, rows, seconds))
    if not _yake_installed():
        lines.append("keyword_extractors.yake not installed (pip install yake)")
    return lines
