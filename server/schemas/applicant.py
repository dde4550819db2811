"""Bodies of the applicant profile and project routes."""

from apiflask import Schema
from apiflask.fields import URL, Boolean, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range, Regexp
from marshmallow import ValidationError, validates_schema

from server.schemas.admin import PageMeta, PageQuery
from server.schemas.auth import UserOut
from server.schemas.common import StrictSchema, UtcDateTime

WORK_AUTHORIZATION_STATUSES = [
    "citizen",
    "permanent_resident",
    "work_visa",
    "needs_sponsorship",
    "not_authorized",
]
SALARY_PERIODS = ["year", "month", "hour"]
DECLINE = "decline_to_answer"
EEO_CHOICES = {
    "gender": ["female", "male", "non_binary", "other", DECLINE],
    "race_ethnicity": [
        "american_indian_or_alaska_native",
        "asian",
        "black_or_african_american",
        "hispanic_or_latino",
        "native_hawaiian_or_pacific_islander",
        "white",
        "two_or_more_races",
        DECLINE,
    ],
    "veteran_status": ["protected_veteran", "not_a_protected_veteran", DECLINE],
    "disability_status": ["yes", "no", DECLINE],
}
# "YYYY-MM" or "YYYY", as the resume parser writes dates.
_YEAR_MONTH = Regexp(r"^(19|20)\d{2}(-(0[1-9]|1[0-2]))?$", error="use YYYY or YYYY-MM")
_PHONE = Regexp(r"^\+?[0-9 ()./-]{5,40}$", error="digits, spaces and + ( ) . / - only")
_WEB_URL = {
    "schemes": {"http", "https"},
    "validate": Length(max=2048),
    "metadata": {"format": "uri"},
}


class LinkSchema(StrictSchema):
    label = String(
        required=True,
        validate=Length(min=1, max=50),
        metadata={"description": "What it is: LinkedIn, GitHub, Portfolio, ..."},
    )
    url = URL(required=True, **_WEB_URL)


class WorkAuthorizationSchema(StrictSchema):
    country = String(
        required=True,
        validate=Regexp(r"^[A-Z]{2}$", error="an ISO 3166-1 alpha-2 code such as US"),
    )
    status = String(required=True, validate=OneOf(WORK_AUTHORIZATION_STATUSES))


class SalaryExpectationSchema(StrictSchema):
    minimum = Integer(strict=True, required=True, validate=Range(min=0, max=100_000_000))
    maximum = Integer(strict=True, validate=Range(min=0, max=100_000_000))
    currency = String(
        required=True, validate=Regexp(r"^[A-Z]{3}$", error="an ISO 4217 code such as USD")
    )
    period = String(load_default="year", validate=OneOf(SALARY_PERIODS))

    @validates_schema
    def _ordered(self, data, **_kwargs):
        if data.get("maximum") is not None and data["maximum"] < data["minimum"]:
            raise ValidationError("must not be below minimum", field_name="maximum")


EeoSchema = type(
    "EeoSchema",
    (StrictSchema,),
    {
        "__doc__": "Optional voluntary self-identification; only sent where a form asks.",
        **{
            name: String(allow_none=True, validate=OneOf(choices))
            for name, choices in EEO_CHOICES.items()
        },
    },
)


class ApplicantFields(Schema):
    """What applications need beyond the resume. Every field may be null (not given)."""

    phone = String(allow_none=True, validate=_PHONE)
    location = String(allow_none=True, validate=Length(min=1, max=200))
    links = List(Nested(LinkSchema), validate=Length(max=20))
    work_authorization = List(
        Nested(WorkAuthorizationSchema),
        validate=Length(max=50),
        metadata={"description": "Per country: may the applicant work there, and how"},
    )
    requires_sponsorship = Boolean(allow_none=True, truthy={True}, falsy={False})
    willing_to_relocate = Boolean(allow_none=True, truthy={True}, falsy={False})
    salary_expectation = Nested(SalaryExpectationSchema, allow_none=True)
    notice_period_days = Integer(strict=True, allow_none=True, validate=Range(min=0, max=365))
    eeo = Nested(EeoSchema, allow_none=True)


class ProfilePatchIn(ApplicantFields, StrictSchema):
    """Fields to change; absent fields stay as they are, null clears one."""

    name = String(validate=Length(min=1, max=200))

    @validates_schema
    def _not_empty(self, data, **_kwargs):
        if not data:
            raise ValidationError("give at least one field to change")


class ProfileOut(UserOut, ApplicantFields):
    """The caller's account and applicant profile."""

    unreadable_fields = List(
        String(),
        required=True,
        metadata={
            "description": "Encrypted fields stored under a key the server no longer holds: "
            "answered as null; send a new value or null to replace or clear one",
            "example": [],
        },
    )


class ProjectIn(StrictSchema):
    name = String(required=True, validate=Length(min=1, max=200))
    description = String(load_default="", validate=Length(max=10_000))
    technologies = List(
        String(validate=Length(min=1, max=100)), load_default=list, validate=Length(max=50)
    )
    url = URL(allow_none=True, **_WEB_URL)
    start_date = String(allow_none=True, validate=_YEAR_MONTH)
    end_date = String(allow_none=True, validate=_YEAR_MONTH)
    highlights = List(
        String(validate=Length(min=1, max=1000)), load_default=list, validate=Length(max=30)
    )

    @validates_schema
    def _dates_in_order(self, data, **_kwargs):
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and end < start:
            raise ValidationError("must not be before start_date", field_name="end_date")


class ProjectPatchIn(ProjectIn):
    """Fields to change; absent fields stay as they are."""

    name = String(validate=Length(min=1, max=200))
    description = String(validate=Length(max=10_000))
    technologies = List(String(validate=Length(min=1, max=100)), validate=Length(max=50))
    highlights = List(String(validate=Length(min=1, max=1000)), validate=Length(max=30))


class ProjectOut(Schema):
    id = Integer(required=True)
    name = String(required=True)
    description = String(required=True)
    technologies = List(String(), required=True)
    url = String(allow_none=True, metadata={"format": "uri"})
    start_date = String(allow_none=True)
    end_date = String(allow_none=True)
    highlights = List(String(), required=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)


class ProjectListQuery(PageQuery):
    pass


class ProjectPageOut(Schema):
    items = List(Nested(ProjectOut), required=True)
    meta = Nested(PageMeta, required=True)
