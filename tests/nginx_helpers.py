"""Run the repository's nginx.conf in tests: test certificates, unprivileged ports, own paths.

`render_nginx_conf` changes only what a test machine needs changed (listen addresses, the
upstream port, certificate, log and temp paths); everything else is nginx.conf as shipped.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "nginx.conf"


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        raise RuntimeError(
            "nginx is not installed: apt-get update -qq && apt-get install -y -qq nginx "
            "(.ci/run installs it)"
        )
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_test_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1: (certificate, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class NginxSite:
    prefix: Path
    conf: Path
    http_port: int
    https_port: int
    cert: Path


def render_nginx_conf(
    prefix: Path, *, app_port: int, more_app_ports: tuple[int, ...] = ()
) -> NginxSite:
    """nginx.conf with test certificates, loopback ports and paths under `prefix`; the
    upstream lists `app_port` and `more_app_ports` (one `server` line each)."""
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "logs").mkdir(exist_ok=True)
    (prefix / "temp").mkdir(exist_ok=True)
    cert, key = write_test_certificate(prefix / "tls")
    http_port, https_port = free_port(), free_port()
    text = NGINX_CONF.read_text()
    replacements = {
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;": "",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "listen [::]:443 ssl;": "",
        "server 127.0.0.1:5000;": "\n        ".join(
            f"server 127.0.0.1:{port};" for port in (app_port, *more_app_ports)
        ),
        "/etc/ssl/job-agent/fullchain.pem": str(cert),
        "/etc/ssl/job-agent/privkey.pem": str(key),
        "/var/log/nginx/": f"{prefix}/logs/",
        "/var/www/letsencrypt": f"{prefix}/acme",
    }
    for old, new in replacements.items():
        assert old in text, f"nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    temp_paths = "".join(
        f"    {kind}_temp_path {prefix}/temp/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = text.replace("http {\n", "http {\n" + temp_paths, 1)
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    return NginxSite(prefix, conf, http_port, https_port, cert)


def nginx_command(site: NginxSite, *extra: str, directives: str = "") -> list[str]:
    """nginx with its own prefix, pid file and error log, on the rendered configuration."""
    return [
        nginx_binary(),
        "-p",
        str(site.prefix),
        "-c",
        str(site.conf),
        "-g",
        f"pid {site.prefix}/nginx.pid; error_log {site.prefix}/logs/error.log; {directives}",
        *extra,
    ]


def start_nginx(site: NginxSite) -> subprocess.Popen:
    process = subprocess.Popen(
        nginx_command(site, directives="daemon off;"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx stopped: {process.stdout.read()}")
        try:
            socket.create_connection(("127.0.0.1", site.https_port), timeout=0.5).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("nginx did not listen within 15 s")
