"""A Recruitee careers-site stand-in on 127.0.0.1: the keyless candidates API.

`POST /{company}/api/offers/{offer_slug}/candidates` takes the multipart form the real API
takes (`candidate[name]`, `candidate[email]`, `candidate[phone]`, `candidate[cover_letter]`,
the file `candidate[cv]`, `candidate[open_question_answers_attributes][i][...]`). By default
name, email, phone and cv are required, as on Recruitee; a missing one answers 422 with
`errors`, a success 201 with the created `candidate`. `fail_next` scripts a 500 or a 429;
`delay_seconds` makes every answer that late; `answer_delay_seconds` makes a success answer
that late after the candidate was created (a board that answers too late).
Every request is recorded with its form fields and files.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

_PATH = re.compile(r"^/(?P<company>[a-z0-9-]+)/api/offers/(?P<slug>[A-Za-z0-9_-]+)/candidates$")


class RecruiteeStandIn:
    def __init__(self):
        self.requests: list[dict[str, Any]] = []
        self.required = ["name", "email", "phone", "cv"]
        self._failures: list[int] = []
        self.delay_seconds = 0.0
        self.answer_delay_seconds = 0.0
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.port = self._server.server_port
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> RecruiteeStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def fail_next(self, status: int) -> None:
        self._failures.append(status)

    def candidates(self) -> list[dict[str, Any]]:
        """The requests that created a candidate."""
        return [r for r in self.requests if r["status"] == 201]

    def _app(self, environ, start_response):
        time.sleep(self.delay_seconds)
        request = Request(environ)
        match = _PATH.match(request.path)
        if request.method != "POST" or not match:
            return Response(status=404)(environ, start_response)
        form = list(request.form.items(multi=True))
        files = {
            name: {
                "filename": upload.filename,
                "content_type": upload.mimetype,
                "data": upload.read(),
            }
            for name, upload in request.files.items()
        }
        record = {
            "company": match["company"],
            "slug": match["slug"],
            "content_type": request.mimetype,
            "user_agent": request.headers.get("User-Agent"),
            "form": form,
            "files": files,
        }
        if self._failures:
            status = self._failures.pop(0)
            record["status"] = status
            self.requests.append(record)
            return self._json(status, {"error": "scripted failure"}, environ, start_response)
        fields = dict(form)
        missing = [
            name
            for name in self.required
            if not (fields.get(f"candidate[{name}]") or f"candidate[{name}]" in files)
        ]
        if missing:
            record["status"] = 422
            self.requests.append(record)
            errors = {name: ["can't be blank"] for name in missing}
            return self._json(422, {"errors": errors}, environ, start_response)
        record["status"] = 201
        self.requests.append(record)
        time.sleep(self.answer_delay_seconds)
        candidate = {
            "id": 1000 + len(self.candidates()),
            "name": fields["candidate[name]"],
            "email": fields["candidate[email]"],
        }
        return self._json(201, {"candidate": candidate}, environ, start_response)

    @staticmethod
    def _json(status, body, environ, start_response):
        response = Response(json.dumps(body), status=status, mimetype="application/json")
        return response(environ, start_response)
