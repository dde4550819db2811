"""Bodies of the user routes: account changes, stored credentials, resumes."""

from apiflask import Schema
from apiflask.fields import UUID, Dict, Email, File, Integer, List, Nested, String
from apiflask.validators import Length, OneOf
from marshmallow import ValidationError, pre_load

from server.models import ResumeParseStatus
from server.schemas.common import StrictSchema, UtcDateTime
from server.security_manager.uploads import ALLOWED_EXTENSIONS

# The services a user may store a credential for.
KNOWN_SERVICES = ("mimikree", "greenhouse", "lever", "ashby", "recruitee", "remoteok")
PASSWORD = {"required": True, "validate": Length(min=1, max=1024)}
UNNAMED_PART = "(a part without a readable name)"


class PasswordChangeIn(StrictSchema):
    current_password = String(**PASSWORD)
    new_password = String(**PASSWORD)


class EmailChangeIn(StrictSchema):
    new_email = Email(required=True, validate=Length(max=320))
    current_password = String(**PASSWORD)


class AccountDeleteIn(StrictSchema):
    current_password = String(**PASSWORD)


class CredentialIn(StrictSchema):
    username = String(validate=Length(min=1, max=320))
    secret = String(required=True, validate=Length(min=1, max=4096))


class CredentialOut(Schema):
    """A stored credential without its secret."""

    service = String(required=True, validate=OneOf(KNOWN_SERVICES))
    username = String(allow_none=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)


class CredentialListOut(Schema):
    items = List(Nested(CredentialOut), required=True)


SEND_IN_FILE_FIELD = "send the file in the multipart/form-data field `file`"


class ResumeUploadIn(StrictSchema):
    file = File(
        required=True,
        metadata={"description": "PDF, DOCX, TXT or MD"},
        error_messages={
            "required": f"No file: {SEND_IN_FILE_FIELD}",
            "invalid": f"Not a file part (no filename): {SEND_IN_FILE_FIELD}",
        },
    )

    @pre_load
    def _exactly_one_file_part(self, data, **_kwargs):
        # Multipart bodies reach the schema through a proxy that hides unknown parts, so
        # check the raw parts here: one `file`, nothing else.
        parts = getattr(data, "data", data)
        # A part whose name Werkzeug could not read (a line break in it) comes with no name.
        errors = {
            name if isinstance(name, str) else UNNAMED_PART: [
                f"Unknown field: {SEND_IN_FILE_FIELD}"
            ]
            for name in set(parts.keys()) - {"file"}
        }
        if hasattr(parts, "getlist") and len(parts.getlist("file")) > 1:
            errors["file"] = ["send exactly one file"]
        if errors:
            raise ValidationError(errors)
        return data


class ResumeLinkIn(StrictSchema):
    url = String(
        required=True,
        validate=Length(min=1, max=2048),
        metadata={
            "description": "A Google Docs link (fetched through its public DOCX export) or a "
            "direct https link to a PDF or DOCX"
        },
    )


class ResumeIntakeDoc(Schema):
    """The request body as documented: multipart with `file`, or JSON with `url`."""

    file = File(metadata={"description": "multipart/form-data: PDF, DOCX, TXT or MD"})
    url = String(
        validate=Length(min=1, max=2048),
        metadata={"description": "application/json: a Google Docs or direct PDF/DOCX link"},
    )


class ParseErrorOut(Schema):
    code = String(
        required=True,
        validate=OneOf(["resume_no_text", "resume_too_complex", "resume_unreadable"]),
    )
    message = String(required=True)


class ResumeOut(Schema):
    id = UUID(required=True)
    original_filename = String(required=True, metadata={"description": "as uploaded, metadata"})
    content_type = String(
        required=True,
        validate=OneOf(list(ALLOWED_EXTENSIONS.values())),
        metadata={"description": "detected from the bytes"},
    )
    size_bytes = Integer(required=True)
    sha256 = String(required=True)
    created_at = UtcDateTime(required=True)
    parse_status = String(
        required=True,
        validate=OneOf([status.value for status in ResumeParseStatus]),
        metadata={
            "description": "`pending` until the `resume_parsing` job has read the document, "
            "then `parsed`, or `failed` (see `parse_error`)"
        },
    )
    parse_error = Nested(
        ParseErrorOut,
        allow_none=True,
        required=True,
        metadata={"description": "Why the document could not be read (null unless failed)"},
    )
    parse_job_id = String(
        allow_none=True,
        required=True,
        metadata={"description": "The parsing job (`GET /api/jobs/{job_id}/status`)"},
    )


class ResumeDetailOut(ResumeOut):
    parsed = Dict(
        allow_none=True,
        required=True,
        metadata={
            "description": "The structured resume (contact, summary, experience, education, "
            "skills, projects, certifications, other_sections, raw_text, parser_version); "
            "null until `parse_status` is `parsed`"
        },
    )


class ResumeListOut(Schema):
    items = List(Nested(ResumeOut), required=True)
