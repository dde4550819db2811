"""What a sent application carries: the resume under the applicant's name."""

import pytest

from server.agent.submission import Candidate, resume_as_sent
from server.core.mailer import Attachment


def candidate(name: str, filename: str) -> Candidate:
    cv = Attachment(filename, b"%PDF-1.7", "application/pdf")
    return Candidate(name, "a@example.com", None, "Dear team", cv, [])


@pytest.mark.parametrize(
    ("name", "filename", "sent_as"),
    [
        ("Ada Lovelace", "ada-lovelace-tailored.pdf", "Ada-Lovelace-Resume.pdf"),
        ("José María O'Neil", "cv.DOCX", "José-María-O-Neil-Resume.docx"),
        ("  ", "upload.pdf", "Resume.pdf"),
        ("Grace Hopper", "resume", "Grace-Hopper-Resume"),
    ],
)
def test_the_resume_is_sent_as_first_last_resume(name, filename, sent_as):
    sent = resume_as_sent(candidate(name, filename))
    assert sent.filename == sent_as
    assert (sent.data, sent.content_type) == (b"%PDF-1.7", "application/pdf")
