"""The one client every outbound request goes through: job boards, job pages, resume links,
Mimikree, Recruitee and the alert webhook.

A URL the server fetches may come from a user (a resume link, a job page), from a board's
answer (a redirect) or from configuration, so every connection is checked as it is made: the
host is resolved, every address it resolves to must be public, and the socket connects to an
address that was checked, so a DNS answer that changes between the check and the connect
cannot steer it inside. IPv6 forms that carry an IPv4 address (IPv4-mapped, IPv4-compatible,
6to4, NAT64) are judged by the address they carry; Teredo is refused. Redirects are followed
by hand, each hop's URL checked and its connection checked again. Answers are capped in size
and time.

The one exception is for tests, whose stand-ins listen on 127.0.0.1:
`OUTBOUND_ALLOW_LOOPBACK_PORTS` lets connections reach 127.0.0.1 on exactly those ports (over
plain http too). Production refuses to start with it set.
"""

from __future__ import annotations

import ipaddress
import json as json_lib
import logging
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.client import RemoteDisconnected
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import connection

log = logging.getLogger("server.security.outbound")

REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_LOOPBACK = ipaddress.IPv4Address("127.0.0.1")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class OutboundError(Exception):
    """A request that could not be made or completed; the message is fit for the user.

    `request_sent`: the request went out whole and its answer is what failed (no answer in
    time, a connection closed before it, an answer that could not be read), so the other
    side may have acted on it: a caller that must not repeat the request learns it here.
    """

    request_sent = False


class OutboundRefused(OutboundError):  # noqa: N818 - reads as an outcome
    """The URL, or an address it leads to, is not one the server may reach."""


class OutboundUnavailable(OutboundError):  # noqa: N818
    """DNS, connection, TLS or protocol failure: the other side could not be read."""


class OutboundTimeout(OutboundUnavailable):  # noqa: N818
    """The other side did not answer in time."""


class OutboundTooLarge(OutboundError):  # noqa: N818
    """The answer is larger than the caller accepts."""


@dataclass(frozen=True)
class OutboundPolicy:
    """Which addresses connections may reach: public ones, and in tests 127.0.0.1 on the
    listed ports."""

    loopback_ports: frozenset[int] = frozenset()

    @classmethod
    def of(cls, settings: Any) -> OutboundPolicy:
        """The policy the settings ask for (never a loopback allowance in production)."""
        if settings.is_production:
            return cls()
        return cls(frozenset(settings.outbound_allow_loopback_ports))

    def address_problem(self, address: str, port: int) -> str | None:
        """Why a connection to this address may not be made, or None when it may."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return "not an IP address"
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped  # the same socket as the IPv4 address
            elif ip.teredo is not None:
                return "a Teredo tunnel address"
            else:
                carried = _carried_ipv4(ip)
                if carried is not None:
                    # 6to4, NAT64 and IPv4-compatible forms reach the IPv4 address they carry.
                    return None if _public(carried) else "carries a non-public IPv4 address"
        if ip == _LOOPBACK and port in self.loopback_ports:
            return None
        return None if _public(ip) else "a private, loopback or otherwise non-public address"


def _carried_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
    )


def checked_addresses(policy: OutboundPolicy, host: str, port: int) -> list[tuple]:
    """The host's addresses (getaddrinfo entries), after checking every one of them."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    refused = {a: p for a in addresses if (p := policy.address_problem(a, port))}
    if refused or not addresses:
        log.warning(
            "outbound connection refused",
            extra={"host": host, "port": port, "addresses": addresses},
        )
        raise OutboundRefused(
            f"The host {host!r} resolves to a private, loopback or otherwise non-public address"
        )
    return infos


class _GuardedConnectionMixin:
    """Resolves, checks and connects to a checked address: the check and the connect are one
    step, for every new connection of a pool (keep-alive reuses only checked sockets)."""

    policy: OutboundPolicy

    def _new_conn(self) -> socket.socket:
        host, port = self._dns_host, self.port  # type: ignore[attr-defined]
        try:
            infos = checked_addresses(self.policy, host, port)
        except (socket.gaierror, UnicodeError) as error:
            raise NameResolutionError(self.host, self, error) from error  # type: ignore[attr-defined,arg-type]
        last: OSError | None = None
        for _family, _type, _proto, _name, sockaddr in infos:
            try:
                sock = connection.create_connection(
                    (sockaddr[0], port),
                    self.timeout,  # type: ignore[attr-defined]
                    source_address=self.source_address,  # type: ignore[attr-defined]
                    socket_options=self.socket_options,  # type: ignore[attr-defined]
                )
            except TimeoutError as error:
                raise ConnectTimeoutError(self, f"Connection to {host} timed out") from error
            except OSError as error:
                last = error
                continue
            sys.audit("http.client.connect", self, self.host, port)  # type: ignore[attr-defined]
            return sock
        raise NewConnectionError(self, f"Failed to establish a new connection: {last}")  # type: ignore[arg-type]


def _pool_classes(policy: OutboundPolicy) -> dict[str, type]:
    http_connection = type(
        "GuardedHTTPConnection", (_GuardedConnectionMixin, HTTPConnection), {"policy": policy}
    )
    https_connection = type(
        "GuardedHTTPSConnection", (_GuardedConnectionMixin, HTTPSConnection), {"policy": policy}
    )
    return {
        "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_connection}),
        "https": type(
            "GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_connection}
        ),
    }


@dataclass(frozen=True)
class Response:
    """A complete answer: status, headers, the (decoded) body, and the URL that gave it."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json_lib.loads(self.body)


class OutboundClient:
    """Makes checked requests (see the module docstring); one per task, closed after it."""

    def __init__(
        self,
        *,
        policy: OutboundPolicy,
        user_agent: str,
        timeout_seconds: float,
        max_bytes: int,
        max_redirects: int = 0,
        https_only: bool = False,
        connect_timeout_seconds: float | None = None,
        headers: Mapping[str, str] | None = None,
        connections_per_host: int = 4,
    ) -> None:
        self.policy = policy
        self.timeout_seconds = timeout_seconds
        self.connect_timeout_seconds = connect_timeout_seconds
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.https_only = https_only
        self.headers = {
            "User-Agent": user_agent,
            "Accept-Encoding": "gzip, deflate",
            **(headers or {}),
        }
        self._pools = urllib3.PoolManager(num_pools=16, maxsize=connections_per_host, retries=False)
        self._pools.pool_classes_by_scheme = _pool_classes(policy)  # type: ignore[assignment]

    def __enter__(self) -> OutboundClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pools.clear()

    def get(self, url: str, **kwargs: Any) -> Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response:
        return self.request("POST", url, **kwargs)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        fields: Sequence[tuple[str, Any]] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_seconds: float | None = None,
        max_bytes: int | None = None,
    ) -> Response:
        """One request, redirects followed (up to `max_redirects`, each hop checked).

        `json` sends a JSON body, `fields` a multipart form (a value may be a
        `(filename, data, content type)` file), `content` bytes as they are (with the caller's
        Content-Type). Raises `OutboundRefused`,
        `OutboundUnavailable` (`OutboundTimeout`) or `OutboundTooLarge`.
        """
        deadline = time.monotonic() + (timeout_seconds or self.timeout_seconds)
        limit = max_bytes or self.max_bytes
        sent_headers = {**self.headers, **(headers or {})}
        body: bytes | None = content
        if json is not None:
            body = json_lib.dumps(json).encode()
            sent_headers["Content-Type"] = "application/json"
        elif fields is not None:
            body, content_type = urllib3.encode_multipart_formdata(list(fields))
            sent_headers["Content-Type"] = content_type
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        for _hop in range(self.max_redirects + 1):
            self._check_url(url)
            response = self._send(method, url, body, sent_headers, deadline)
            try:
                location = response.headers.get("Location")
                if response.status not in REDIRECTS or not self.max_redirects:
                    data = self._read(response, limit, deadline)
                    return Response(response.status, response.headers, data, url)
                if not location:
                    raise OutboundUnavailable("redirected without a Location")
            finally:
                response.release_conn()
            url = urljoin(url, location)
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, body = "GET", None
                sent_headers.pop("Content-Type", None)
        raise OutboundRefused(f"The link redirected more than {self.max_redirects} times")

    def _check_url(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise OutboundRefused("The link is not a valid URL") from None
        scheme = parts.scheme.lower()
        allowed = {"https"} if self.https_only and not self.policy.loopback_ports else None
        if scheme not in (allowed or {"https", "http"}):
            raise OutboundRefused(
                "Only https links are accepted" if allowed else "Only http and https links work"
            )
        if not parts.hostname:
            raise OutboundRefused("The link has no host")
        if parts.username is not None or parts.password is not None:
            raise OutboundRefused("Links with a user name or password are not accepted")

    def _send(self, method: str, url: str, body, headers, deadline: float):
        remaining = max(deadline - time.monotonic(), 0.05)
        connect = min(remaining, self.connect_timeout_seconds or remaining)
        try:
            return self._pools.urlopen(
                method,
                url,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
                timeout=urllib3.Timeout(connect=connect, read=remaining),
            )
        except NewConnectionError as error:  # before timeouts: urllib3 derives it from one
            log.info("outbound connection failed", extra={"url": url, "error": repr(error)[:300]})
            raise OutboundUnavailable(_failure(error)) from None
        except Urllib3Timeout as error:
            raise _answer_lost(OutboundTimeout("timed out"), error) from None
        except Urllib3Error as error:
            log.info("outbound request failed", extra={"url": url, "error": repr(error)[:300]})
            raise _answer_lost(OutboundUnavailable(_failure(error)), error) from None

    @staticmethod
    def _read(response, limit: int, deadline: float) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise OutboundTooLarge(f"The answer is larger than {limit} bytes")
        received = bytearray()
        try:
            for chunk in response.stream(_CHUNK, decode_content=True):
                received.extend(chunk)
                if len(received) > limit:
                    raise OutboundTooLarge(f"The answer is larger than {limit} bytes")
                if time.monotonic() > deadline:
                    raise OutboundTimeout("timed out")
        except OutboundError as error:  # the request was answered: it was sent
            error.request_sent = True
            raise
        except Urllib3Timeout:
            raise _sent(OutboundTimeout("timed out")) from None
        except Urllib3Error as error:
            raise _sent(OutboundUnavailable(_failure(error))) from None
        return bytes(received)


def _sent(error: OutboundError) -> OutboundError:
    error.request_sent = True
    return error


def _answer_lost(error: OutboundError, cause: Exception) -> OutboundError:
    """`error`, marked sent when urllib3's `cause` came after the request went out: waiting
    for the answer timed out, or the connection closed before one came."""
    waited = isinstance(cause, ReadTimeoutError)
    dropped = isinstance(cause, ProtocolError) and isinstance(
        cause.__context__ or (cause.args[1] if len(cause.args) > 1 else None), RemoteDisconnected
    )
    return _sent(error) if waited or dropped else error


def _failure(error: Exception) -> str:
    cause = error
    while isinstance(cause, Urllib3Error) and getattr(cause, "reason", None) is not None:
        cause = cause.reason  # type: ignore[assignment]
    if isinstance(cause, NameResolutionError):
        return "the host name could not be resolved"
    if isinstance(cause, NewConnectionError):
        return "the connection was refused or failed"
    return type(cause).__name__
