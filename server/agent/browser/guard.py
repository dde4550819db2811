"""What a page may reach: public http(s) addresses only, every request made by us.

Every request a page makes (navigations, redirects, frames, sub-resources, form posts, XHR)
is intercepted and made by the service's guarded client (`server.security_manager.outbound`):
the host is resolved, every address checked, the socket connects to a checked address, and the
answer is handed back to the browser. Redirects go back to the browser one hop at a time, so
each hop is checked again. Chromium itself connects nowhere (its proxy is a dead port), so
anything the interception does not see (WebSockets, WebRTC) fails. Downloads are refused, and
a top-level navigation to anything but http(s) (`file:`, `data:`) stops the session.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from server.security_manager.outbound import (
    REDIRECTS,
    OutboundClient,
    OutboundError,
    OutboundPolicy,
    OutboundRefused,
    OutboundTimeout,
    checked_addresses,
)

log = logging.getLogger("server.agent.browser.guard")

MAX_RESPONSE_BYTES = 15 * 2**20
_PORTS = {"http": 80, "https": 443}
# Hop-by-hop headers, and those the client sets itself or that no longer hold once the body
# is decoded.
_DROP_REQUEST = frozenset(
    {"host", "content-length", "connection", "accept-encoding", "transfer-encoding", "upgrade"}
)
_DROP_RESPONSE = frozenset(
    {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive"}
)


@dataclass
class Blocked:
    url: str
    reason: str
    navigation: bool


@dataclass
class NetworkGuard:
    """Makes a context's requests through the guarded client and keeps what it refused."""

    policy: OutboundPolicy
    user_agent: str
    timeout_seconds: float
    blocked: list[Blocked] = field(default_factory=list)
    requests: int = 0
    _client: OutboundClient | None = None
    _redirect_target: str | None = None

    def attach(self, context: Any) -> None:
        """Route every request of the context through `handle`; WebSockets are refused."""
        self._client = OutboundClient(
            policy=self.policy,
            user_agent=self.user_agent,
            timeout_seconds=self.timeout_seconds,
            max_bytes=MAX_RESPONSE_BYTES,
            max_redirects=0,
        )
        context.route("**/*", self.handle)
        context.route_web_socket("**/*", lambda socket: socket.close())
        context.on("page", self._watch_page)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def take_redirect(self) -> str | None:
        """Where the last top-level redirect sends the page (once), or None."""
        target, self._redirect_target = self._redirect_target, None
        return target

    def navigation_blocked(self) -> Blocked | None:
        """The first top-level navigation the guard refused, if any."""
        return next((b for b in self.blocked if b.navigation), None)

    def _watch_page(self, page: Any) -> None:
        page.on("dialog", lambda dialog: dialog.dismiss())
        page.on("download", lambda download: self._refuse_download(download))
        page.on("framenavigated", lambda frame: self._check_frame(page, frame))

    def _refuse_download(self, download: Any) -> None:
        self.blocked.append(Blocked(download.url, "downloads are not allowed", False))
        download.cancel()

    def _check_frame(self, page: Any, frame: Any) -> None:
        try:
            self._judge_frame(page, frame)
        except Exception as error:  # noqa: BLE001 - the page closed meanwhile
            log.info("frame check dropped", extra={"error": str(error)[:200]})

    def _judge_frame(self, page: Any, frame: Any) -> None:
        scheme = urlsplit(frame.url).scheme.lower()
        if scheme in ("http", "https") or frame.url in ("about:blank", "about:srcdoc"):
            return
        top = frame == page.main_frame
        self.blocked.append(Blocked(frame.url[:200], f"{scheme}: navigation", top))
        if top:
            page.goto("about:blank")

    def handle(self, route: Any) -> None:
        """Make the request with the guarded client and fulfil it, or abort it."""
        try:
            self._handle(route)
        except Exception as error:  # noqa: BLE001 - a page closed under it; never let one through
            log.info("browser request dropped", extra={"error": str(error)[:200]})
            try:
                route.abort("failed")
            except Exception:  # noqa: BLE001, S110 - already gone
                pass

    def _handle(self, route: Any) -> None:
        request = route.request
        navigation = request.is_navigation_request() and request.frame.parent_frame is None
        url = request.url
        self.requests += 1
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            self._refuse(route, url, "not an http(s) address", navigation)
            return
        headers = {
            name: value
            for name, value in request.all_headers().items()
            if name.lower() not in _DROP_REQUEST and not name.startswith(":")
        }
        if "user-agent" in headers:  # the browser's own, in the client's spelling
            headers["User-Agent"] = headers.pop("user-agent")
        body = request.post_data_buffer
        try:
            answer = self._client.request(request.method, url, content=body, headers=headers)
        except OutboundRefused as refused:
            self._refuse(route, url, str(refused), navigation)
            return
        except OutboundTimeout:
            route.abort("timedout")
            return
        except OutboundError as error:
            log.info("browser request failed", extra={"url": url[:200], "error": str(error)})
            route.abort("failed")
            return
        location = answer.headers.get("Location")
        if answer.status in REDIRECTS and location:
            self._redirect(route, url, urljoin(url, location), request.is_navigation_request())
            return
        disposition = answer.headers.get("Content-Disposition", "")
        if disposition.lower().startswith("attachment"):
            self._refuse(route, url, "downloads are not allowed", False)
            return
        out: dict[str, str] = {}
        for name, value in answer.headers.items():
            if name.lower() in _DROP_RESPONSE:
                continue
            key = name.lower()
            out[key] = f"{out[key]}\n{value}" if key in out else value
        route.fulfill(status=answer.status, headers=out, body=answer.body)

    def _redirect(self, route: Any, url: str, target: str, navigation: bool) -> None:
        """Chromium does not intercept the hop after a fulfilled redirect, so a frame is sent
        on by a refresh (its next request comes back here and is checked like any other), and a
        sub-resource's hop is refused."""
        top = navigation and route.request.frame.parent_frame is None
        if not navigation:
            self._refuse(route, target, "a sub-resource redirect", False)
            return
        if urlsplit(target).scheme.lower() not in ("http", "https"):
            self._refuse(route, target, "a redirect to a non-http(s) address", top)
            return
        if top:
            parts = urlsplit(target)
            try:
                checked_addresses(
                    self.policy, parts.hostname or "", parts.port or _PORTS[parts.scheme]
                )
            except (OutboundRefused, OSError, UnicodeError) as refused:
                self._refuse(route, target, str(refused), True)
                return
            self._redirect_target = target
        body = (
            '<!doctype html><meta http-equiv="refresh" content="0;url='
            + html.escape(target, quote=True)
            + '">'
        )
        route.fulfill(status=200, content_type="text/html", body=body)

    def _refuse(self, route: Any, url: str, reason: str, navigation: bool) -> None:
        log.warning(
            "browser request refused",
            extra={"url": url[:200], "reason": reason, "navigation": navigation},
        )
        self.blocked.append(Blocked(url[:200], reason, navigation))
        route.abort("blockedbyclient")
