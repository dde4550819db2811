"""Bodies of the backup routes (`/api/admin/backups`)."""

from apiflask import Schema
from apiflask.fields import Boolean, Integer, List, Nested, String
from apiflask.validators import OneOf

from server.backup_manager import BACKUP_TYPES, DEFAULT_BACKUP_TYPE
from server.schemas.common import StrictSchema, UtcDateTime

BACKUP_STATUSES = ["running", "completed", "failed"]
STORAGES = ["local", "s3", "local+s3"]


class BackupCreateIn(StrictSchema):
    type = String(
        load_default=DEFAULT_BACKUP_TYPE,
        validate=OneOf(list(BACKUP_TYPES)),
        metadata={
            "description": "`full` is the database, the files and the logs; without a body "
            "(`curl -X POST .../backups/create`): `database`"
        },
    )


class BackupJobOut(Schema):
    job_id = String(required=True, metadata={"format": "uuid"})
    backup_id = String(required=True)
    status = String(required=True)
    status_url = String(required=True)


class BackupOut(Schema):
    id = String(required=True)
    type = String(required=True, validate=OneOf(list(BACKUP_TYPES)))
    status = String(required=True, validate=OneOf(BACKUP_STATUSES))
    created_at = UtcDateTime(required=True)
    size_bytes = Integer(allow_none=True)
    sha256 = String(
        allow_none=True,
        metadata={"description": "SHA-256 of the manifest (which lists each file's)"},
    )
    storage = String(allow_none=True, validate=OneOf(STORAGES))
    encrypted = Boolean(required=True)
    verified = Boolean(required=True)
    verified_at = UtcDateTime(allow_none=True)
    verify_error = String(allow_none=True)
    error = String(allow_none=True)


class BackupListOut(Schema):
    backups = List(Nested(BackupOut), required=True)
