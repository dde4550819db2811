"""Multipart parts whose names cannot be read are refused like any other unknown part."""

import pytest

from tests.helpers import error_of


@pytest.mark.parametrize("name", ["x\ny", "\r"])
def test_a_part_with_a_line_break_in_its_name_is_a_json_422(client, name):
    account = client.create_account()
    response = client.post(
        "/api/user/resumes",
        token=account.access_token,
        data={name: "1", "other": "2"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert (
        "other: Unknown field: send the file in the multipart/form-data field `file`"
        in (error["message"])
    )
    assert "(a part without a readable name): Unknown field: send the file" in error["message"]
