"""SQLAlchemy 2 typed models. Import models from here so Alembic sees every table."""

from server.core.extensions import db
from server.models.applicant import ApplicantProfile, Project
from server.models.application import (
    Application,
    ApplicationScreenshot,
    ApplicationState,
    ApplicationSubmission,
    SavedAnswer,
    SubmissionChannel,
)
from server.models.backup import Backup
from server.models.base import utcnow
from server.models.job import Job, JobPriority, JobStatus, SideEffect, SideEffectState
from server.models.posting import Posting
from server.models.security import (
    IpBlock,
    LoginFailure,
    OneTimeToken,
    Resume,
    ResumeParseStatus,
    SecurityEvent,
    TokenRevocation,
    UserCredential,
)
from server.models.tailored_resume import TailoredResume
from server.models.user import Role, User

__all__ = [
    "db",
    "utcnow",
    "Backup",
    "ApplicantProfile",
    "Application",
    "ApplicationState",
    "ApplicationSubmission",
    "ApplicationScreenshot",
    "SavedAnswer",
    "SubmissionChannel",
    "Project",
    "IpBlock",
    "LoginFailure",
    "Job",
    "JobPriority",
    "JobStatus",
    "OneTimeToken",
    "Posting",
    "Resume",
    "ResumeParseStatus",
    "Role",
    "SecurityEvent",
    "SideEffect",
    "SideEffectState",
    "TailoredResume",
    "TokenRevocation",
    "User",
    "UserCredential",
]
