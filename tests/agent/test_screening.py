"""Screening answers from the account: boards ask for the first and the last name apart."""

from __future__ import annotations

from server.agent.screening import answer_questions, missing_required


def question(label: str, qid: str) -> dict:
    return {"id": qid, "label": label, "type": "text", "required": True, "options": []}


def answers_for(name: str) -> dict[str, object]:
    questions = [
        question("First Name", "first"),
        question("Last Name", "last"),
        question("Surname", "surname"),
        question("Given name", "given"),
    ]
    answered = answer_questions(
        questions,
        profile={"name": name, "email": "ana@example.com"},
        resume={},
        posting={"location": "Berlin, Germany"},
        cover_letter="",
    )
    return {a["question_id"]: (a["answer"], a["source"]) for a in answered}, missing_required(
        answered
    )


def test_first_and_last_name_questions_are_answered_from_the_accounts_name():
    answers, missing = answers_for("Ana María de la Cruz")
    assert answers == {
        "first": ("Ana", "account.name"),
        "last": ("María de la Cruz", "account.name"),
        "surname": ("María de la Cruz", "account.name"),
        "given": ("Ana", "account.name"),
    }
    assert missing == []


def test_a_one_word_name_leaves_them_for_the_user():
    answers, missing = answers_for("Prince")
    assert answers["first"] == (None, None) and answers["last"] == (None, None)
    assert missing == ["First Name", "Last Name", "Surname", "Given name"]
