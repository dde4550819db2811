"""The verifier: the one gate between an engine's words and anything stored, shown or sent
about a person (tailored resumes, cover letters, screening answers).

Default deny: `verify(sentence, scope)` keeps a sentence only when every content word in it is
accounted for by the person's own material in scope (see `gate`). Builders of scopes for a
bullet, a project line, or the whole resume with the user's answers and profile are in
`scope`.
"""

from server.agent.verifier.gate import Claim, Verdict, report, verify, verify_text
from server.agent.verifier.labels import CLAIM_KINDS, degree_levels
from server.agent.verifier.scope import (
    Scope,
    Source,
    bullet_scope,
    profile_sources,
    project_scope,
    resume_scope,
)
from server.agent.verifier.text import display_form, split_sentences

__all__ = [
    "CLAIM_KINDS",
    "Claim",
    "Scope",
    "Source",
    "Verdict",
    "bullet_scope",
    "degree_levels",
    "display_form",
    "profile_sources",
    "project_scope",
    "report",
    "resume_scope",
    "split_sentences",
    "verify",
    "verify_text",
]
