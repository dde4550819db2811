"""Hosted application forms on 127.0.0.1, modelled on the real markup of each ATS.

Sources for every shape are listed in tests/browser/SOURCES.md. Each form is served at its
vendor's path shape, submits the way the vendor's does (a native multipart POST, a `type=button`
that runs a stubbed invisible captcha, a script's JSON POST), and every submission is recorded
with its fields and files. Also served: the classic Greenhouse form with a cover-letter upload
and one that saves a draft as the applicant types, a form with a visible CAPTCHA, a posting that
redirects to a private address, one that never loads, a Workday account wall and an upload
the page rejects.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.ats_forms import PAGES

JOB_ID = "4012345"
LEVER_POSTING = "9f1c2a6e-3b8d-4f7a-9c51-2d7e8b6a4f10"
ASHBY_POSTING = "5b0e9d8c-7a6f-4e3d-8c2b-1a0f9e8d7c6b"
WORKABLE_SHORTCODE = "63E337FA43"
SMARTRECRUITERS_PUBLICATION = "0c4b3a29-1f8e-4d7c-b6a5-948372615abc"

# ATS name -> the path of its apply page on the stand-in.
PATHS = {
    "greenhouse": f"/acme/jobs/{JOB_ID}",
    "greenhouse_new": f"/globex/jobs/{JOB_ID}",
    "lever": f"/initech/{LEVER_POSTING}/apply",
    "ashby": f"/umbrella/{ASHBY_POSTING}/application",
    "workable": f"/hooli/j/{WORKABLE_SHORTCODE}/apply/",
    "smartrecruiters": (
        f"/oneclick-ui/company/Vandelay/publication/{SMARTRECRUITERS_PUBLICATION}?dcr_ci=Vandelay"
    ),
    "captcha": "/wonka/jobs/4099999",
    "private_redirect": "/cyberdyne/jobs/4066666",
    "never_loads": "/soylent/jobs/4077777",
    "workday": "/en-US/careers/job/London/Backend-Engineer_R-1234",
    "upload_rejected": f"/massive/{LEVER_POSTING}/apply",
    "closed": "/acme/jobs/4000000",
    "greenhouse_letter_file": f"/piedpiper/jobs/{JOB_ID}",
    "greenhouse_draft": f"/initrode/jobs/{JOB_ID}",
}


class AtsStandIn:
    """One HTTP server for all the forms; `submissions` holds what each one received."""

    def __init__(self, *, never_loads_seconds: float = 30.0, niceness: int = 0):
        self.submissions: list[dict[str, Any]] = []
        self.page_loads: list[str] = []
        self.never_loads_seconds = never_loads_seconds
        self._release = threading.Event()
        # Draft saves (greenhouse_draft) wait while `hold_drafts` is set; `drafts` counts them.
        self.drafts: list[str] = []
        self.hold_drafts = threading.Event()
        self._drafts_released = threading.Event()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.port = self._server.server_port
        self.base_url = f"http://127.0.0.1:{self.port}"
        # A real form is served by another machine: a benchmark gives the stand-in the lowest
        # priority (`niceness`, inherited by the threads that answer requests), so the CPU it
        # spends here does not count against the service measured beside it.
        self.niceness = niceness
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> AtsStandIn:
        self._thread.start()
        return self

    def _serve(self) -> None:
        if self.niceness:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.niceness)
        self._server.serve_forever()

    def stop(self) -> None:
        self._release.set()
        self.release_drafts()
        self._server.shutdown()

    def release_drafts(self) -> None:
        """Answer the held draft saves, and hold no more."""
        self.hold_drafts.clear()
        self._drafts_released.set()

    def url(self, ats: str) -> str:
        return self.base_url + PATHS[ats]

    def received(self, ats: str) -> list[dict[str, Any]]:
        return [s for s in self.submissions if s["ats"] == ats]

    def _record(self, ats: str, fields: list[tuple[str, str]], files: dict) -> None:
        self.submissions.append({"ats": ats, "fields": fields, "files": files})

    def _app(self, environ, start_response):
        request = Request(environ)
        response = self._route(request)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:  # noqa: PLR0911 - one branch per page
        path = request.path
        full = request.full_path.rstrip("?")
        if request.method == "GET":
            self.page_loads.append(full)
        if path == PATHS["never_loads"]:
            self._release.wait(self.never_loads_seconds)
            return Response("late", mimetype="text/html")
        if path == PATHS["private_redirect"]:
            return Response(status=302, headers={"Location": "http://10.0.0.7/internal/apply"})
        if path == PATHS["closed"]:
            return Response(status=302, headers={"Location": "/acme?error=true"})
        if request.method == "GET":
            for name, page_path in PATHS.items():
                if full == page_path or path == page_path.split("?")[0]:
                    if name in PAGES:
                        return self._html(PAGES[name])
            if path == f"{PATHS['lever'].removesuffix('/apply')}/thanks":
                return self._html(PAGES["lever_thanks"])
            if path == f"{PATHS['greenhouse_new']}/confirmation":
                return self._html(PAGES["greenhouse_new_confirmation"])
            if path == "/acme":
                return self._html("<title>Acme jobs</title><p>Job not found</p>")
            return Response("not found", status=404)
        if path == f"{PATHS['greenhouse_draft']}/draft":
            self.drafts.append(full)
            if self.hold_drafts.is_set():
                self._drafts_released.wait(120)
            return Response(status=204)
        # Native form posts (multipart, as the browser sends them).
        fields = list(request.form.items(multi=True))
        files = {
            name: {
                "filename": upload.filename,
                "content_type": upload.mimetype,
                "data": upload.read(),
            }
            for name, upload in request.files.items()
            if upload.filename
        }
        if path == PATHS["greenhouse"]:
            self._record("greenhouse", fields, files)
            return self._html(PAGES["greenhouse_confirmation"])
        if path == PATHS["lever"]:
            if not dict(fields).get("h-captcha-response"):
                return self._html("There was an error verifying your application.", 400)
            self._record("lever", fields, files)
            return Response(status=303, headers={"Location": PATHS["lever"][:-6] + "/thanks"})
        if path in (PATHS["greenhouse_letter_file"], PATHS["greenhouse_draft"]):
            name = next(n for n, p in PATHS.items() if p == path)
            self._record(name, fields, files)
            return self._html(PAGES["greenhouse_confirmation"])
        if path == PATHS["captcha"]:
            self._record("captcha", fields, files)
            return self._html(PAGES["greenhouse_confirmation"])
        if path == PATHS["upload_rejected"]:
            self._record("upload_rejected", fields, files)
            return self._html(PAGES["lever_thanks"])
        # Script submits: JSON, files as base64.
        for name, api in (
            ("greenhouse_new", f"{PATHS['greenhouse_new']}/applications"),
            ("ashby", "/api/non-user-graphql"),
            ("workable", f"/api/v1/jobs/{WORKABLE_SHORTCODE}/apply"),
            ("smartrecruiters", "/oneclick-ui/api/apply"),
        ):
            if path == api:
                body = json.loads(request.get_data() or b"{}")
                decoded = {
                    key: {
                        "filename": value["filename"],
                        "content_type": value["type"],
                        "data": base64.b64decode(value["base64"]),
                    }
                    for key, value in (body.get("files") or {}).items()
                }
                self._record(name, [(k, v) for k, v in body.get("fields", [])], decoded)
                return Response(json.dumps({"ok": True}), mimetype="application/json")
        return Response("not found", status=404)

    @staticmethod
    def _html(text: str, status: int = 200) -> Response:
        return Response(text, status=status, mimetype="text/html")
