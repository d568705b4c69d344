"""`internal_error` (a 500 is always a bug) quotes a request id that the log line carries
too, so a user's report leads to the traceback."""

from __future__ import annotations

import logging
import re


def test_an_unexpected_exception_answers_500_with_a_request_id_in_body_and_log(tmp_path,
                                                                                caplog):
    from chat import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite'}"})

    @app.get("/boom")
    def boom():
        raise RuntimeError("a bug")

    with caplog.at_level(logging.ERROR, logger="chat.errors"):
        response = app.test_client().get("/boom")
    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["code"] == "internal_error"
    request_id = re.search(r"request id ([0-9a-f]{16})", error["message"]).group(1)
    assert any(request_id in record.getMessage() for record in caplog.records)
    assert "a bug" not in error["message"]  # details stay in the log
