"""Units of the security manager: password policy and hashing, sanitising, encryption, uploads."""

import io
import zipfile

import pytest
from cryptography.fernet import Fernet

from server.core.config import ConfigError, load_settings
from server.security_manager import encryption, passwords, sanitising, uploads
from server.security_manager.audit import unpinned_requirements
from tests.helpers import make_docx, make_pdf

MIN = 12


def problem(password, email="alice.smith@example.com"):
    return passwords.password_problem(password, email=email, min_length=MIN)


def test_one_character_short_is_refused_and_the_minimum_is_accepted():
    assert "at least 12 characters" in problem("x7#kq!vz9@b")
    assert problem("x7#kq!vz9@bm") is None


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "a" + "Bq9 zeta lantern ok " * 3 + "xyz",  # 64 characters
        "🐴🔋📎 correct horse battery staple 🐴🔋📎",
        "всё будет хорошо завтра утром",
        "lowercase only and spaces is fine",
    ],
)
def test_long_unicode_and_plain_passphrases_are_accepted(password):
    assert problem(password) is None


@pytest.mark.parametrize(
    "password",
    [
        "qwerty123456",
        "1q2w3e4r5t6y",
        "password1234",
        "Password1234!",
        "monkeymonkeymonkey",
        "aaaaaaaaaaaaa",
    ],
)
def test_common_passwords_are_refused_with_a_reason(password):
    assert "too common" in problem(password)


def test_the_shipped_list_has_at_least_ten_thousand_entries():
    assert len(passwords.common_passwords()) >= 10_000


def test_passwords_with_the_email_name_or_product_name_are_refused():
    assert "email name" in problem("my name is alice.smith ok")
    assert "email name" in problem("smith family holidays")
    assert "name of this service" in problem("I love Job Agent so much")


def test_long_utf8_passwords_verify_exactly_and_never_truncate():
    password = "ü" * 100  # 200 UTF-8 bytes, well over bcrypt's 72
    hashed = passwords.hash_password(password, rounds=4)
    assert passwords.verify_password(password, hashed)
    assert not passwords.verify_password("ü" * 99, hashed)
    assert not passwords.verify_password(password.upper(), hashed)
    assert not passwords.verify_password("x", "not a bcrypt hash")
    assert passwords.hash_cost(hashed) == 4 and passwords.needs_rehash(hashed, rounds=12)


def test_pepper_is_part_of_the_hash():
    hashed = passwords.hash_password("some passphrase here", rounds=4, pepper="pepper-1")
    assert passwords.verify_password("some passphrase here", hashed, pepper="pepper-1")
    assert not passwords.verify_password("some passphrase here", hashed, pepper="pepper-2")


def test_sanitise_text_strips_markup_and_controls():
    assert sanitising.sanitise_text("<script>alert(1)</script>Ann <b>Lee</b>") == "Ann Lee"
    assert sanitising.sanitise_text("a\x00b\x1bc") == "abc"
    assert sanitising.sanitise_text('<img src=x onerror="x()">') == ""
    assert sanitising.sanitise_text("1 < 2") == "1 &lt; 2"


def test_sanitise_filename_keeps_only_a_harmless_name():
    assert sanitising.sanitise_filename("../../etc/passwd") == "passwd"
    assert sanitising.sanitise_filename("C:\\Users\\me\\cv.pdf") == "cv.pdf"
    assert sanitising.sanitise_filename("<b>cv</b>.pdf") == "cv.pdf"
    assert sanitising.sanitise_filename("") == "upload"
    assert len(sanitising.sanitise_filename("a" * 400 + ".pdf")) == 255


def test_encryption_round_trips_and_detects_tampering():
    keys = (Fernet.generate_key().decode(),)
    token = encryption.encrypt("s3cret", keys=keys)
    assert "s3cret" not in token
    assert encryption.decrypt(token, keys=keys) == "s3cret"
    tampered = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(encryption.DecryptionFailed):
        encryption.decrypt(tampered, keys=keys)


def test_key_rotation_keeps_old_data_readable_then_moves_it_to_the_new_key():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = encryption.encrypt("board-key", keys=(old,))
    assert encryption.decrypt(token, keys=(new, old)) == "board-key"
    rotated = encryption.rotate(token, keys=(new, old))
    assert encryption.decrypt(rotated, keys=(new,)) == "board-key"
    with pytest.raises(encryption.DecryptionFailed):
        encryption.decrypt(token, keys=(new,))


def test_a_non_fernet_secret_is_stretched_into_a_key():
    keys = ("a long random secret that is not a fernet key " * 2,)
    assert encryption.decrypt(encryption.encrypt("x", keys=keys), keys=keys) == "x"


def check(filename, data, max_bytes=1024 * 1024):
    return uploads.validate_upload(filename=filename, data=data, max_bytes=max_bytes)


def test_valid_documents_pass_with_the_type_read_from_the_bytes():
    assert check("cv.pdf", make_pdf()).content_type == "application/pdf"
    assert check("cv.DOCX", make_docx()).extension == "docx"
    assert check("cv.md", "# Me\n\nÜber".encode()).content_type.startswith("text/markdown")
    assert check("cv.txt", b"plain text").content_type.startswith("text/plain")


@pytest.mark.parametrize(
    ("filename", "data", "error"),
    [
        ("cv.exe", b"MZ\x90\x00", uploads.UnsupportedFileType),
        ("cv", make_pdf(), uploads.UnsupportedFileType),
        ("cv.pdf", b"MZ\x90\x00\x03" + b"\x00" * 50, uploads.UnsupportedFileType),
        ("cv.pdf", b"\x7fELF\x02\x01", uploads.UnsupportedFileType),
        ("cv.pdf", b"<html><script>alert(1)</script></html>", uploads.UnsupportedFileType),
        ("cv.docx", make_pdf(), uploads.UnsupportedFileType),
        ("cv.docx", b"PK\x03\x04 broken", uploads.UploadRejected),
        ("cv.txt", b"text\x00with nul", uploads.UploadRejected),
        ("cv.txt", b"\xff\xfe latin junk \xe9", uploads.UploadRejected),
        ("cv.txt", b"", uploads.UploadRejected),
        ("cv.pdf", make_pdf() + b"x" * 2000, uploads.UploadTooLarge),
    ],
)
def test_bad_uploads_are_refused_with_a_reason(filename, data, error):
    with pytest.raises(error) as caught:
        check(filename, data, max_bytes=1024)
    assert caught.value.message


def zip_bomb(size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\x00" * size)
    return buffer.getvalue()


def test_docx_limits_are_checked_before_opening():
    with pytest.raises(uploads.UploadRejected, match="compressed suspiciously"):
        check("bomb.docx", zip_bomb(20 * 1024 * 1024))
    with pytest.raises(uploads.UploadRejected, match="too many parts"):
        check("many.docx", make_docx(extra_entries=uploads.DOCX_MAX_ENTRIES))
    no_content_types = io.BytesIO()
    with zipfile.ZipFile(no_content_types, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    with pytest.raises(uploads.UploadRejected, match="Content_Types"):
        check("plain.docx", no_content_types.getvalue())


def test_unpinned_requirements_are_found(tmp_path):
    path = tmp_path / "req.txt"
    path.write_text(
        "# comment\nflask==3.1.3\nrequests>=2\ngunicorn==1; sys_platform != 'win32'\nnh3\n"
    )
    assert unpinned_requirements(path) == ["requests>=2", "nh3"]


def test_lockout_tiers_and_lists_are_parsed():
    base = {"JWT_SECRET_KEY": "k" * 40, "ENCRYPTION_KEY": "e" * 40}
    settings = load_settings(
        {**base, "LOGIN_LOCKOUT_TIERS": "10:900,3:60", "IP_ALLOWLIST": "10.0.0.0/8, 127.0.0.1"}
    )
    assert settings.login_lockout_tiers == ((3, 60), (10, 900))
    assert settings.ip_allowlist == ("10.0.0.0/8", "127.0.0.1")
    assert load_settings(base).login_lockout_tiers == ((5, 60), (10, 900), (20, 3600))
    with pytest.raises(ConfigError, match="LOGIN_LOCKOUT_TIERS"):
        load_settings({**base, "LOGIN_LOCKOUT_TIERS": "five:sixty"})
    with pytest.raises(ConfigError, match="PASSWORD_MIN_LENGTH"):
        load_settings({**base, "PASSWORD_MIN_LENGTH": "6"})
