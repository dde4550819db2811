"""Which Mimikree account answers for a user: the one they linked, else the deployment's."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from server.agent.mimikree import MimikreeCredentials, ask, job_cache_key
from server.core.extensions import db
from server.models import UserCredential
from server.services.mimikree import credentials_for
from tests.mimikree_stand_in import MimikreeStandIn


@pytest.fixture
def mimikree():
    stand_in = MimikreeStandIn().start()
    stand_in.answers = {"Have you used Kafka?": "Yes, at Acme."}
    yield stand_in
    stand_in.stop()


def link(client, account, **body):
    response = client.put("/api/user/credentials/mimikree", token=account.access_token, json=body)
    assert response.status_code == 200


def test_a_linked_account_is_used_and_its_answers_come_back(client, settings, mimikree, redis_conn):
    account = client.create_account()
    link(client, account, username="jane@example.com", secret="correct horse")
    credentials = credentials_for(account.id, settings)
    assert credentials == MimikreeCredentials("jane@example.com", "correct horse", "user")
    answers = ask(
        settings.replace(
            mimikree_base_url=mimikree.base_url, outbound_allow_loopback_ports=(mimikree.port,)
        ),
        credentials,
        ["Have you used Kafka?"],
        job_cache_key("Kafka engineer"),
        redis_conn,
    )
    assert answers == [{"question": "Have you used Kafka?", "answer": "Yes, at Acme."}]


def test_a_linked_account_without_a_username_logs_in_with_the_users_email(client, settings):
    account = client.create_account()
    link(client, account, secret="s3cret")
    assert credentials_for(account.id, settings) == MimikreeCredentials(
        account.email, "s3cret", "user"
    )


def test_without_a_linked_account_the_deployment_account_is_used(client, settings):
    account = client.create_account()
    deployment = settings.replace(mimikree_email="ops@example.com", mimikree_password="pw")
    assert credentials_for(account.id, deployment) == MimikreeCredentials(
        "ops@example.com", "pw", "deployment"
    )


def test_a_linked_account_wins_over_the_deployment_account(client, settings):
    account = client.create_account()
    link(client, account, username="jane@example.com", secret="correct horse")
    deployment = settings.replace(mimikree_email="ops@example.com", mimikree_password="pw")
    assert credentials_for(account.id, deployment).source == "user"


def test_no_account_anywhere_means_none(client, settings):
    account = client.create_account()
    assert credentials_for(account.id, settings) is None


def test_another_users_link_is_never_used(client, settings):
    alice, bob = client.create_account(), client.create_account()
    link(client, alice, username="alice@example.com", secret="alice pw")
    assert credentials_for(bob.id, settings) is None


def test_an_undecryptable_secret_falls_back_to_the_deployment_account(client, settings):
    account = client.create_account()
    link(client, account, username="jane@example.com", secret="correct horse")
    db.session.execute(update(UserCredential).values(secret_encrypted="not-a-fernet-token"))
    db.session.commit()
    deployment = settings.replace(mimikree_email="ops@example.com", mimikree_password="pw")
    assert credentials_for(account.id, deployment).source == "deployment"
    assert credentials_for(account.id, settings) is None
