"""One validator for every upload: extension allowlist, magic bytes, size and ZIP limits.

The client's Content-Type and filename are never trusted: the type comes from the bytes, and
must agree with the extension. DOCX files are checked through the ZIP central directory (entry
count, total uncompressed size, compression ratio, required parts) before anything opens them.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from server.core.errors import ApiError

ALLOWED_EXTENSIONS = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "txt": "text/plain; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
}
EXECUTABLE_MAGIC = (
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "an ELF executable"),
    (b"\xca\xfe\xba\xbe", "a Mach-O or Java class file"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (b"\xce\xfa\xed\xfe", "a Mach-O executable"),
    (b"#!", "a script"),
)
DOCX_MAX_ENTRIES = 1000
DOCX_MAX_UNCOMPRESSED = 50 * 1024 * 1024
DOCX_MAX_RATIO = 100
DOCX_REQUIRED_PARTS = ("[Content_Types].xml", "word/document.xml")


class UploadRejected(ApiError):
    status_code, code = 422, "invalid_upload"


class UnsupportedFileType(ApiError):
    status_code, code = 415, "unsupported_file_type"


class UploadTooLarge(ApiError):
    status_code, code = 413, "payload_too_large"


@dataclass(frozen=True)
class CheckedFile:
    extension: str
    content_type: str


def extension_of(filename: str) -> str:
    """The lower-case extension of a filename, without the dot ('' when there is none)."""
    base = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    return base.rsplit(".", 1)[-1].lower() if "." in base else ""


def _check_docx(data: bytes) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise UploadRejected("The file is not a valid DOCX document (broken ZIP)") from None
    with archive:
        entries = archive.infolist()
        if len(entries) > DOCX_MAX_ENTRIES:
            raise UploadRejected(f"The DOCX document has too many parts (over {DOCX_MAX_ENTRIES})")
        total = sum(entry.file_size for entry in entries)
        if total > DOCX_MAX_UNCOMPRESSED:
            raise UploadRejected("The DOCX document expands to more than 50 MiB")
        for entry in entries:
            if entry.file_size > DOCX_MAX_RATIO * max(
                entry.compress_size, 1
            ) and entry.file_size > (1024 * 1024):
                raise UploadRejected(
                    "The DOCX document is compressed suspiciously well (ZIP bomb?)"
                )
        names = {entry.filename for entry in entries}
        missing = [part for part in DOCX_REQUIRED_PARTS if part not in names]
        if missing:
            raise UploadRejected(f"The file is not a DOCX document (missing {', '.join(missing)})")


def _check_text(data: bytes) -> None:
    if b"\x00" in data:
        raise UploadRejected("A text file must not contain NUL bytes (is it binary?)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise UploadRejected("A text file must be UTF-8 encoded") from None


def validate_upload(*, filename: str, data: bytes, max_bytes: int) -> CheckedFile:
    """Check an upload and say what it really is; raises 413, 415 or 422 with a reason."""
    extension = extension_of(filename)
    if extension not in ALLOWED_EXTENSIONS:
        allowed = ", ".join(f".{ext}" for ext in ALLOWED_EXTENSIONS)
        raise UnsupportedFileType(f"Only {allowed} files are accepted")
    if len(data) > max_bytes:
        raise UploadTooLarge(f"The file is larger than {max_bytes} bytes")
    if not data:
        raise UploadRejected("The file is empty")
    for magic, kind in EXECUTABLE_MAGIC:
        if data.startswith(magic):
            raise UnsupportedFileType(f"The file is {kind}, not a .{extension} document")
    if extension == "pdf":
        if not data.startswith(b"%PDF-"):
            raise UnsupportedFileType("The file is not a PDF document (no %PDF- header)")
    elif extension == "docx":
        if not data.startswith(b"PK\x03\x04"):
            raise UnsupportedFileType("The file is not a DOCX document (not a ZIP container)")
        _check_docx(data)
    else:
        _check_text(data)
    return CheckedFile(extension=extension, content_type=ALLOWED_EXTENSIONS[extension])
