"""A small curated vocabulary of skills, tools and practices, for the offline engine.

Each term has a canonical spelling, a category and the aliases that mean it; matching is
case-insensitive except for aliases that are ordinary words in lower case ("Go", "Spring").
An alias marked "=" matches only as written; one marked "~" is a related word, not a spelling
of the term ("containerization" for Docker): it shows the term is related when matching a
requirement to evidence, but it never lets anyone write the term's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache


@dataclass(frozen=True)
class Term:
    canonical: str
    category: str  # language, framework, database, cloud, tool, practice, domain
    aliases: tuple[str, ...] = ()


def _t(canonical: str, category: str, *aliases: str) -> Term:
    return Term(canonical, category, aliases)


TERMS: tuple[Term, ...] = (
    # Languages
    _t("Python", "language", "python3"),
    _t("Java", "language"),
    _t("JavaScript", "language", "JS", "ECMAScript"),
    _t("TypeScript", "language", "TS"),
    _t("Go", "language", "Golang", "=Go"),
    _t("Rust", "language", "=Rust"),
    _t("C++", "language", "cpp"),
    _t("C#", "language", "csharp"),
    _t("C", "language", "=C"),
    _t("Ruby", "language"),
    _t("PHP", "language"),
    _t("Kotlin", "language"),
    _t("Swift", "language", "=Swift"),
    _t("Scala", "language"),
    _t("R", "language", "=R"),
    _t("SQL", "language"),
    _t("Bash", "language", "shell scripting"),
    _t("HTML", "language", "HTML5"),
    _t("CSS", "language", "CSS3"),
    # Frameworks and libraries
    _t("Django REST Framework", "framework", "DRF"),
    _t("Django", "framework"),
    _t("FastAPI", "framework"),
    _t("Flask", "framework"),
    _t("SQLAlchemy", "framework"),
    _t("Celery", "framework"),
    _t("asyncio", "framework"),
    _t("Spring Boot", "framework"),
    _t("Spring", "framework", "=Spring"),
    _t("Node.js", "framework", "NodeJS", "=Node"),
    _t("Express", "framework", "Express.js", "=Express"),
    _t("React", "framework", "React.js", "ReactJS"),
    _t("React Native", "framework"),
    _t("Next.js", "framework", "NextJS"),
    _t("Vue.js", "framework", "Vue", "VueJS"),
    _t("Angular", "framework", "=Angular"),
    _t("Svelte", "framework"),
    _t("Redux", "framework"),
    _t("GraphQL", "framework"),
    _t("REST APIs", "practice", "REST", "RESTful", "REST API", "RESTful APIs"),
    _t("gRPC", "framework"),
    _t("Tailwind CSS", "framework", "Tailwind"),
    _t("CSS-in-JS", "framework"),
    _t("Storybook", "tool"),
    _t("Jest", "tool"),
    _t("Vitest", "tool"),
    _t("Playwright", "tool"),
    _t("Cypress", "tool"),
    _t("Selenium", "tool"),
    _t("pytest", "tool"),
    _t("JUnit", "tool"),
    _t("pandas", "framework"),
    _t("NumPy", "framework"),
    _t("scikit-learn", "framework", "sklearn"),
    _t("TensorFlow", "framework"),
    _t("PyTorch", "framework"),
    _t("Spark", "framework", "Apache Spark", "~PySpark", "=Spark"),
    _t("Airflow", "tool", "Apache Airflow"),
    _t(".NET", "framework", "dotnet", "~ASP.NET"),
    _t("Ruby on Rails", "framework", "Rails", "Ruby-on-Rails"),
    _t("Laravel", "framework"),
    # Data stores and messaging
    _t("PostgreSQL", "database", "Postgres", "psql"),
    _t("MySQL", "database"),
    _t("SQLite", "database"),
    _t("MongoDB", "database", "Mongo"),
    _t("Redis", "database"),
    _t("Elasticsearch", "database", "Elastic Search", "~OpenSearch"),
    _t("Cassandra", "database"),
    _t("DynamoDB", "database"),
    _t("Snowflake", "database"),
    _t("BigQuery", "database"),
    _t("Kafka", "tool", "Apache Kafka"),
    _t("RabbitMQ", "tool"),
    # Cloud and infrastructure
    _t("AWS", "cloud", "Amazon Web Services"),
    _t("ECS", "cloud", "Elastic Container Service"),
    _t("EKS", "cloud"),
    _t("EC2", "cloud"),
    _t("S3", "cloud"),
    _t("RDS", "cloud"),
    _t("ElastiCache", "cloud"),
    _t("Lambda", "cloud", "AWS Lambda", "=Lambda"),
    _t("GCP", "cloud", "Google Cloud", "Google Cloud Platform"),
    _t("Azure", "cloud", "Microsoft Azure"),
    _t("Docker", "tool", "~containerization"),
    _t("Kubernetes", "tool", "k8s"),
    _t("Helm", "tool"),
    _t("Terraform", "tool"),
    _t("Ansible", "tool"),
    _t("Linux", "tool"),
    _t("Nginx", "tool"),
    _t("Git", "tool"),
    _t("GitHub Actions", "tool"),
    _t("CircleCI", "tool"),
    _t("Jenkins", "tool"),
    _t("GitLab CI", "tool"),
    _t("CI/CD", "practice", "continuous integration", "continuous delivery"),
    _t("Datadog", "tool"),
    _t("OpenTelemetry", "tool"),
    _t("Prometheus", "tool"),
    _t("Grafana", "tool"),
    _t("Sentry", "tool"),
    # Practices and domains
    _t("Microservices", "practice", "microservice"),
    _t("Event-driven architecture", "practice", "event-driven"),
    _t("Distributed systems", "practice", "distributed system"),
    _t("System design", "practice"),
    _t("Data modeling", "practice", "data modelling"),
    _t("Query optimization", "practice", "query optimisation"),
    _t("Indexing", "practice", "indexing strategies"),
    _t("Caching", "practice", "cache", "caches"),
    _t("Observability", "practice"),
    _t("On-call", "practice", "on-call rotations", "on call"),
    _t("Runbooks", "practice", "runbook"),
    _t("Postmortems", "practice", "postmortem", "post-mortems"),
    _t("Test-driven development", "practice", "TDD"),
    _t("Unit testing", "practice", "unit tests"),
    _t("End-to-end testing", "practice", "end-to-end tests", "e2e testing"),
    _t("Agile", "practice", "~Scrum"),
    _t("Code review", "practice", "code reviews"),
    _t("Accessibility", "practice", "a11y", "~WCAG", "~WCAG 2.1 AA"),
    _t("Server-side rendering", "practice", "SSR", "~streaming SSR"),
    _t("Core Web Vitals", "practice"),
    _t("Design systems", "practice", "design-system", "design system"),
    _t("Performance optimization", "practice", "~performance budgets"),
    _t("Machine learning", "domain", "ML"),
    _t("Data engineering", "domain", "~ETL", "~data pipelines"),
    _t("Security", "domain", "application security", "AppSec"),
    _t("Mentoring", "practice", "mentorship"),
)


@dataclass(frozen=True)
class Match:
    term: Term
    start: int
    end: int
    text: str  # the words as written
    related: bool = False  # matched by a related word ("~"), not a spelling of the term


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], Term, str, bool], ...]:
    """(pattern, term, needle, related): the pattern can only match text whose case-folded
    form contains the needle, a cheap test that spares most searches on long texts."""
    patterns = []
    for term in TERMS:
        aliases = [term.canonical, *term.aliases]
        if f"={term.canonical}" in aliases:
            aliases.remove(term.canonical)
        for alias in aliases:
            related = alias.startswith("~")
            words = alias.removeprefix("=").removeprefix("~")
            # Ordinary words ("=Spring") and names of one or two letters ("C", "TS") match
            # only as written.
            case_sensitive = alias.startswith("=") or len(words) <= 2
            # Word edges that also respect "C++", "C#", ".NET" and "Node.js".
            # A one-letter name followed by a hyphen is a word ("C-level"), not the language,
            # and one joined by "&" is an abbreviation ("R&D", "P&L").
            after = r"[\w+#&-]" if len(words) == 1 else r"[\w+#]"
            before = r"[\w+#/.&-]" if len(words) == 1 else r"[\w+#/.-]"
            regex = rf"(?<!{before}){re.escape(words)}(?!{after}|\.\w)"
            flags = 0 if case_sensitive else re.IGNORECASE
            patterns.append((re.compile(regex, flags), term, words.casefold(), related))
    return tuple(patterns)


def find_terms(text: str) -> list[Match]:
    """Every vocabulary term in `text`, in order, longest first where names overlap."""
    found: list[Match] = []
    folded = text.casefold()
    for pattern, term, needle, related in _patterns():
        if needle not in folded:
            continue
        for m in pattern.finditer(text):
            found.append(Match(term, m.start(), m.end(), m.group(0), related))
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    chosen: list[Match] = []
    last_end = -1
    for match in found:
        if match.start >= last_end:
            chosen.append(match)
            last_end = match.end
    return chosen


def canonical_terms(text: str) -> list[str]:
    """The canonical names of the terms in `text`, each once, in order of first mention."""
    seen: dict[str, None] = {}
    for match in find_terms(text):
        seen.setdefault(match.term.canonical, None)
    return list(seen)


def spelled_terms(text: str) -> list[str]:
    """The canonical names of the terms `text` spells (by name or a spelling, not a related
    word), each once: the names an edit may write on this text's evidence."""
    return list(dict.fromkeys(m.term.canonical for m in find_terms(text) if not m.related))


def canonical_name(phrase: str) -> str | None:
    """The canonical name when `phrase` as a whole names one term ("Postgres" → PostgreSQL)."""
    matches = find_terms(phrase.strip())
    if len(matches) == 1 and matches[0].text.lower() == phrase.strip().lower():
        return matches[0].term.canonical
    return None


@lru_cache(maxsize=8192)
def terms_of(text: str) -> frozenset[str]:
    """The terms `text` names, by canonical name (cached: the same lines are asked about
    often)."""
    return frozenset(canonical_terms(text))


@lru_cache(maxsize=4096)
def _canonical(keyword: str) -> str | None:
    return canonical_name(keyword)


def keyword_in(text: str, keyword: str) -> bool:
    """Whether `text` names the keyword: a vocabulary term in any of its spellings or related
    words, any other keyword as written (case aside)."""
    canonical = _canonical(keyword)
    if canonical:
        return canonical in terms_of(text)
    pattern = rf"(?<![\w]){re.escape(keyword.strip())}(?![\w])"
    return bool(keyword.strip()) and re.search(pattern, text, re.IGNORECASE) is not None
