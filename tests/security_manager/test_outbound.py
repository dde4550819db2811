"""The guarded outbound client: public addresses only, checked on every redirect hop and when
the connection is made, with 127.0.0.1 reachable only on the ports a test allows.

A redirecting stand-in listens on the one allowed port; an internal service (a metadata
endpoint's stand-in) listens on a loopback port nobody allows, and must never see a request.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from urllib3.util import connection

from server.security_manager.outbound import (
    OutboundClient,
    OutboundPolicy,
    OutboundRefused,
    OutboundUnavailable,
)
from tests.internal_service_stand_in import InternalService


class Redirector:
    """`/to?target=<url>` answers 302 to the target; `/ok` answers JSON."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []  # (path, Host header)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                owner.requests.append((self.path, self.headers.get("Host", "")))
                parts = urlsplit(self.path)
                if parts.path == "/to":
                    self.send_response(302)
                    self.send_header("Location", parse_qs(parts.query)["target"][0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def redirector():
    server = Redirector()
    yield server
    server.stop()


@pytest.fixture
def internal():
    server = InternalService("127.0.0.1")
    yield server
    server.stop()


@pytest.fixture
def internal_elsewhere_on_loopback():
    server = InternalService("127.0.0.2")
    yield server
    server.stop()


@pytest.fixture
def connections(monkeypatch):
    """The addresses connections are opened to; none may leave this machine."""
    import ipaddress

    opened: list[tuple[str, int]] = []
    real = connection.create_connection

    def guarded(address, *args, **kwargs):
        opened.append((address[0], address[1]))
        if not ipaddress.ip_address(address[0].strip("[]")).is_loopback:
            raise OSError(f"test network guard: no connection to {address[0]}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(connection, "create_connection", guarded)
    return opened


def client_for(*ports: int, https_only: bool = False) -> OutboundClient:
    return OutboundClient(
        policy=OutboundPolicy(loopback_ports=frozenset(ports)),
        user_agent="test",
        timeout_seconds=3.0,
        max_bytes=1024 * 1024,
        max_redirects=3,
        https_only=https_only,
    )


def test_the_allowed_loopback_port_is_reached_through_a_redirect(redirector, connections):
    with client_for(redirector.port) as client:
        response = client.get(f"{redirector.base}/to?target=/ok")
    assert (response.status, response.json()) == (200, {"ok": True})
    assert [path for path, _host in redirector.requests] == ["/to?target=/ok", "/ok"]


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{internal}/latest/meta-data/",  # loopback, a port nobody allowed
        "http://127.0.0.2:{elsewhere}/latest/meta-data/",  # another loopback address
        "http://[::ffff:127.0.0.1]:{internal}/latest/meta-data/",  # IPv4-mapped
        "http://[::ffff:7f00:1]:{internal}/latest/meta-data/",  # the same, in hex
        "http://[2002:7f00:1::]:{internal}/latest/meta-data/",  # 6to4 carrying 127.0.0.1
        "http://[64:ff9b::7f00:1]:{internal}/latest/meta-data/",  # NAT64 carrying 127.0.0.1
        "http://[::127.0.0.1]:{internal}/latest/meta-data/",  # IPv4-compatible
        "http://[::1]:{internal}/latest/meta-data/",
        "http://0.0.0.0:{internal}/latest/meta-data/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[fd00:ec2::254]/latest/meta-data/",  # cloud metadata over IPv6
        "http://10.0.0.1/admin",
        "http://[fe80::1]/admin",
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo
    ],
)
def test_a_redirect_to_an_internal_address_is_refused_before_any_connection(
    redirector, internal, internal_elsewhere_on_loopback, connections, target
):
    url = target.format(internal=internal.port, elsewhere=internal_elsewhere_on_loopback.port)
    with client_for(redirector.port) as client, pytest.raises(OutboundRefused):
        client.get(f"{redirector.base}/to?target={url}")
    assert internal.requests == [] and internal_elsewhere_on_loopback.requests == []
    assert connections == [("127.0.0.1", redirector.port)]  # the first hop only


@pytest.mark.parametrize("target", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://a/"])
def test_a_redirect_to_another_scheme_is_refused(redirector, connections, target):
    with client_for(redirector.port) as client, pytest.raises(OutboundRefused):
        client.get(f"{redirector.base}/to?target={target}")
    assert connections == [("127.0.0.1", redirector.port)]


def test_a_name_that_resolves_to_an_internal_address_is_refused(internal, connections, monkeypatch):
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host == "metadata.example.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with client_for() as client, pytest.raises(OutboundRefused):
        client.get(f"http://metadata.example.test:{internal.port}/latest/meta-data/")
    assert internal.requests == [] and connections == []


def test_a_host_with_any_internal_address_is_refused(connections, monkeypatch):
    def resolve(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with client_for() as client, pytest.raises(OutboundRefused):
        client.get("https://mixed.example.test/")
    assert connections == []


def test_the_connection_goes_to_the_address_that_was_checked(internal, connections, monkeypatch):
    """A name that answers a public address to the check and an internal one afterwards (DNS
    rebinding) cannot move the connection: it goes to the address that was checked."""
    real = socket.getaddrinfo
    answers = iter(["93.184.215.14", "127.0.0.1", "127.0.0.1", "127.0.0.1"])

    def resolve(host, port, *args, **kwargs):
        if host == "rebind.example.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with client_for(internal.port) as client, pytest.raises(OutboundUnavailable):
        client.get(f"http://rebind.example.test:{internal.port}/latest/meta-data/")
    assert connections == [("93.184.215.14", internal.port)]
    assert internal.requests == []


def test_a_checked_name_keeps_its_host_header(redirector, connections, monkeypatch):
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host == "board.example.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with client_for(redirector.port) as client:
        client.get(f"http://board.example.test:{redirector.port}/ok")
    assert redirector.requests == [("/ok", f"board.example.test:{redirector.port}")]


def test_https_only_refuses_plain_http_outside_tests(connections):
    with client_for(https_only=True) as client, pytest.raises(OutboundRefused, match="https"):
        client.get("http://93.184.215.14/cv.pdf")
    assert connections == []


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.215.14", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("2002:5db8:d70e::", True),  # 6to4 carrying 93.184.215.14
        ("64:ff9b::5db8:d70e", True),  # NAT64 carrying 93.184.215.14
        ("::ffff:93.184.215.14", True),
        ("2002:a00:1::", False),  # 6to4 carrying 10.0.0.1
        ("2002:a9fe:a9fe::", False),  # 6to4 carrying 169.254.169.254
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 carrying 169.254.169.254
        ("::ffff:169.254.169.254", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("192.168.1.1", False),
        ("172.16.0.1", False),
        ("224.0.0.1", False),
        ("fc00::1", False),
        ("fec0::1", False),
        ("ff02::1", False),
        ("127.0.0.1", False),
    ],
)
def test_only_public_addresses_pass_whatever_form_they_are_written_in(address, allowed):
    assert (OutboundPolicy().address_problem(address, 443) is None) is allowed


def test_the_loopback_allowance_is_127_0_0_1_on_the_listed_ports_only():
    policy = OutboundPolicy(loopback_ports=frozenset({8080}))
    assert policy.address_problem("127.0.0.1", 8080) is None
    assert policy.address_problem("::ffff:127.0.0.1", 8080) is None
    for address, port in (("127.0.0.1", 8081), ("127.0.0.2", 8080), ("::1", 8080)):
        assert policy.address_problem(address, port) is not None, (address, port)
    assert policy.address_problem("2002:7f00:1::", 8080) is not None


def test_production_never_allows_loopback(settings):
    production = settings.model_copy(
        update={"env": "production", "outbound_allow_loopback_ports": (8080,)}
    )
    assert OutboundPolicy.of(production).loopback_ports == frozenset()
