"""ENCRYPTION_KEY across every encrypted column: the registry, the census and the rotation."""

from __future__ import annotations

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, event, text

from server.core.extensions import db
from server.security_manager import encryption
from server.services import encryption_keys
from tests.conftest import TEST_DATABASE_URL


def test_every_column_named_encrypted_is_in_the_registry(app):
    named = {
        f"{table.name}.{column.name}"
        for table in db.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("_encrypted")
    }
    registered = {f"{c.table.name}.{c.name}" for c in encryption.encrypted_columns()}
    assert (
        named
        == registered
        == {
            "applicant_profiles.eeo_encrypted",
            "user_credentials.secret_encrypted",
        }
    )


def _with_eeo(client, answers):
    account = client.create_account()
    patched = client.request(
        "PATCH", "/api/user/profile", json={"eeo": answers}, headers=account.headers
    )
    assert patched.status_code == 200, patched.get_json()
    return account


def _stored_eeo(user_id: int) -> str:
    db.session.rollback()
    return db.session.scalar(
        text("SELECT eeo_encrypted FROM applicant_profiles WHERE user_id = :id"), {"id": user_id}
    )


def test_the_census_tells_the_newest_an_older_and_a_lost_key_apart(app, client, make_app):
    old = app.config["SETTINGS"].encryption_key
    new, lost = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    under_old = _with_eeo(client, {"gender": "female"})
    under_lost = _with_eeo(client, {"gender": "male"})
    db.session.execute(
        text("UPDATE applicant_profiles SET eeo_encrypted = :token WHERE user_id = :id"),
        {"token": encryption.encrypt("{}", keys=(lost,)), "id": under_lost.id},
    )
    db.session.commit()
    with make_app(encryption_key=f"{new},{old}").app_context():
        encryption_keys.rotate_all()  # under_old moves to the new key; under_lost cannot
        _with_eeo(client, {"gender": "other"})  # written by a process with the old key alone
        counts = {c.column: c for c in encryption_keys.census()}
    eeo = counts["applicant_profiles.eeo_encrypted"]
    assert (eeo.newest, eeo.older, eeo.unreadable) == (1, 1, 1)
    assert eeo.unreadable_rows == [f"user_id {under_lost.id}"]
    assert encryption.key_index(_stored_eeo(under_old.id), keys=(new, old)) == 0


def test_a_value_its_owner_changes_during_the_rotation_is_kept_as_written(app, client, make_app):
    old = app.config["SETTINGS"].encryption_key
    new = Fernet.generate_key().decode()
    account = _with_eeo(client, {"gender": "female"})
    owners_write = encryption.encrypt('{"gender": "male"}', keys=(new, old))
    owner = create_engine(TEST_DATABASE_URL)
    wrote: list[bool] = []

    def owner_writes_just_before(_conn, _cursor, statement, *_args):
        if statement.startswith("UPDATE applicant_profiles") and not wrote:
            wrote.append(True)
            with owner.begin() as connection:  # another request, committed first
                connection.execute(
                    text("UPDATE applicant_profiles SET eeo_encrypted = :t WHERE user_id = :id"),
                    {"t": owners_write, "id": account.id},
                )

    with make_app(encryption_key=f"{new},{old}").app_context():
        event.listen(db.engine, "before_cursor_execute", owner_writes_just_before)
        try:
            outcome = encryption_keys.rotate_all()
        finally:
            event.remove(db.engine, "before_cursor_execute", owner_writes_just_before)
    owner.dispose()
    eeo = next(done for done in outcome.rotated if done.column.startswith("applicant"))
    assert (eeo.rotated, eeo.changed_meanwhile) == (0, 1)
    assert outcome.complete
    assert _stored_eeo(account.id) == owners_write
