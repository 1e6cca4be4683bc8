"""deploy/: the files an organisation installs, checked by the tools that will
read them — systemd, the server's settings loader, tor, and nginx in front of a
real ``testimony serve`` (deploy/README.md).

The nginx test runs the site file as shipped, with only its addresses, ports
and certificate paths replaced, and a client bound to 127.0.0.2: a witness's
upload and submission go through, a body too large is refused by nginx, the
server is never told who the client is, and that address is in no byte that
nginx or the server wrote. The onion test runs the same files with their
deadlines and the connection cap lowered (so that it takes seconds) and
speaks to the onion service's way in, the port ``deploy/tor/torrc`` points
at: it is nginx with the same limits, never the server's own port.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from testimony.crypto import hpke, receipts, submission
from testimony.service.api.errors import problem_document
from testimony.service.server import init_data_dir
from testimony.service.settings import Settings, load_settings
from tests.live_server import LiveServer, free_port, start_server
from tests.service.api.test_serving import Answer, closed_within, read_answer

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
NGINX = Path("/usr/sbin/nginx")
TOR = Path("/usr/sbin/tor")
CLIENT_ADDRESS = "127.0.0.2"
ONION_FRONT = "127.0.0.1:8081"
"""Where deploy/tor/torrc sends onion traffic: nginx's onion server."""
ORIGIN = "deploy.test/log"
TUS = {"Tus-Resumable": "1.0.0"}
DEADLINE = 30.0


def _tool(path: Path) -> Path:
    """``path``, or skip (fail in CI, where ``make test`` installs it)."""
    if path.exists():
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{path} is missing; `make deploy-deps` installs it")
    pytest.skip(f"{path} is not installed (make deploy-deps)")


# --- systemd, settings, tor ----------------------------------------------------------


def test_the_systemd_unit_verifies_and_runs_the_server_with_the_settings_file(
    tmp_path: Path,
) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = (DEPLOY / "testimony.service").read_text()
    exec_start = re.search(r"^ExecStart=(\S+) (.*)$", unit, re.MULTILINE)
    assert exec_start is not None
    assert exec_start.group(1) == "/opt/testimony/.venv/bin/testimony"
    assert exec_start.group(2) == "serve --config /etc/testimony/testimony.toml"
    # Hardening a reviewer would look for first.
    for line in (
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "StateDirectoryMode=0700",
        "UMask=0077",
        "Restart=on-failure",
    ):
        assert re.search(f"^{re.escape(line)}$", unit, re.MULTILINE), line
    # Verified with this checkout's own `testimony` in place of /opt's.
    local = tmp_path / "testimony.service"
    local.write_text(
        unit.replace(exec_start.group(1), str(Path(sys.executable).parent / "testimony"))
    )
    verified = subprocess.run(
        [analyze, "verify", str(local)], capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0, verified.stderr
    assert local.name not in verified.stderr, verified.stderr  # no warning about the unit


def test_the_settings_file_is_what_the_server_reads() -> None:
    settings = load_settings({}, environ={}, config=DEPLOY / "testimony.toml")
    assert settings.data_dir == Path("/var/lib/testimony")
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 2)
    assert settings.database_connections == 80
    assert (settings.pow_bits, settings.time_granularity_minutes) == (16, 60)
    # The server's own limits, as nginx's (testimony-front.conf).
    assert settings.max_header_bytes == 16384
    assert (settings.header_timeout_seconds, settings.body_timeout_seconds) == (20, 60)
    assert settings.keepalive_timeout_seconds == 15
    assert settings.max_connections == 0  # from LimitNOFILE in the unit


def test_both_ways_in_go_through_nginx_with_the_same_limits() -> None:
    """The proxies point at the server's address; the onion service points at
    nginx's onion server, never at the server; and both of nginx's servers
    take their limits and privacy settings from the one shared file."""
    site = (DEPLOY / "nginx" / "testimony.conf").read_text()
    front = (DEPLOY / "nginx" / "testimony-front.conf").read_text()
    torrc = (DEPLOY / "tor" / "torrc").read_text()
    assert "proxy_pass http://127.0.0.1:8000;" in front
    assert "proxy_pass" not in site
    ports = re.findall(r"^HiddenServicePort (\d+) (\S+)$", torrc, re.MULTILINE)
    assert ports == [("80", ONION_FRONT)]
    settings = [line for line in torrc.splitlines() if line and not line.startswith("#")]
    assert not [line for line in settings if ":8000" in line], "onion traffic must not skip nginx"
    servers = _servers(site)
    onion = [body for body in servers if f"listen {ONION_FRONT};" in body]
    https = [body for body in servers if "listen 443 ssl" in body]
    assert len(onion) == 1 and len(https) == 1
    for body in (onion[0], https[0]):
        assert "include /etc/nginx/snippets/testimony-front.conf;" in body
    for directive in (
        "client_header_timeout 20s;",
        "large_client_header_buffers 2 8k;",
        "client_body_timeout 60s;",
        "send_timeout 60s;",
        "keepalive_timeout 15s;",
        "limit_conn testimony_front 512;",
        "access_log off;",
        'proxy_set_header X-Forwarded-For "";',
    ):
        assert re.search(f"^{re.escape(directive)}$", front, re.MULTILINE), directive
    assert "limit_conn_zone $server_port zone=testimony_front:1m;" in site
    # nginx's own error answers are the server's problem documents.
    answers = re.findall(r"^    return (\d+) '(\{.*\})';$", front, re.MULTILINE)
    assert len(answers) == 6
    for status, text in answers:
        document = json.loads(text)
        expected = problem_document(document["code"], document["detail"])
        assert document == {**expected, "status": int(status)}, document
        assert expected["status"] == int(status) or document["code"] == "header-too-large"
    # The unit leaves the server file descriptors for its connection cap.
    unit = (DEPLOY / "testimony.service").read_text()
    assert re.search(r"^LimitNOFILE=16384$", unit, re.MULTILINE)


def _servers(site: str) -> list[str]:
    """The bodies of the top-level ``server { ... }`` blocks of an nginx file."""
    bodies = []
    for start in (m.end() for m in re.finditer(r"^server \{$", site, re.MULTILINE)):
        depth, index = 1, start
        while depth:
            depth += {"{": 1, "}": -1}.get(site[index], 0)
            index += 1
        bodies.append(site[start : index - 1])
    return bodies


def test_tor_accepts_the_onion_service(tmp_path: Path) -> None:
    tor = _tool(TOR)
    service_dir = tmp_path / "onion"
    torrc = tmp_path / "torrc"
    text = (DEPLOY / "tor" / "torrc").read_text()
    torrc.write_text(
        text.replace("/var/lib/tor/testimony/", f"{service_dir}/")
        + f"DataDirectory {tmp_path / 'data'}\nSocksPort 0\n"
    )
    checked = subprocess.run(
        [str(tor), "--verify-config", "-f", str(torrc)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Configuration was valid" in checked.stdout


# --- nginx in front of a real server ------------------------------------------------------


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certificate, key) files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "testimony.test")])
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
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _site(
    prefix: Path,
    *,
    https_port: int,
    http_port: int,
    upstream: str,
    onion_port: int | None = None,
    limits: dict[str, str] | None = None,
) -> Path:
    """deploy/nginx/testimony.conf and testimony-front.conf, with only addresses,
    ports and paths replaced (and the directives of ``limits``, if given)."""
    cert, key = _certificate(prefix)
    log = str(prefix / "testimony-error.log")
    front = (DEPLOY / "nginx" / "testimony-front.conf").read_text()
    for old, new in {
        "/var/log/nginx/testimony-error.log": log,
        "http://127.0.0.1:8000": upstream,
        **(limits or {}),
    }.items():
        assert old in front, old
        front = front.replace(old, new)
    front_path = prefix / "testimony-front.conf"
    front_path.write_text(front)
    site = (DEPLOY / "nginx" / "testimony.conf").read_text()
    replacements = {
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;": "",
        f"listen {ONION_FRONT};": f"listen 127.0.0.1:{onion_port or free_port()};",
        "/etc/letsencrypt/live/testimony.example.org/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/testimony.example.org/privkey.pem": str(key),
        "/var/log/nginx/testimony-error.log": log,
        "/etc/nginx/snippets/testimony-front.conf": str(front_path),
    }
    for old, new in replacements.items():
        assert old in site, old
        site = site.replace(old, new)
    path = prefix / "site.conf"
    path.write_text(site)
    return path


@contextlib.contextmanager
def _nginx(prefix: Path, site: Path, https_port: int) -> Iterator[subprocess.Popen[bytes]]:
    conf = prefix / "nginx.conf"
    temp = {name: prefix / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for folder in temp.values():
        folder.mkdir()
    conf.write_text(
        f"""daemon off;
user root;
pid {prefix / "nginx.pid"};
error_log {prefix / "main-error.log"} emerg;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {site};
}}
"""
    )
    checked = subprocess.run(
        [str(NGINX), "-t", "-p", str(prefix), "-c", str(conf)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    output = (prefix / "nginx-output.txt").open("wb")
    process = subprocess.Popen(
        [str(NGINX), "-p", str(prefix), "-c", str(conf)], stdout=output, stderr=output
    )
    try:
        _await_port(process, https_port)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=DEADLINE)
        output.close()


def _await_port(process: subprocess.Popen[bytes], port: int) -> None:
    """Return once ``port`` accepts a connection; fail if ``process`` exits first."""
    deadline = time.monotonic() + DEADLINE
    while True:
        assert process.poll() is None, "nginx exited at startup"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        assert time.monotonic() < deadline, "nginx did not listen in time"
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.05)  # returns early only if nginx died


@pytest.mark.slow
def test_a_witness_submits_through_nginx_and_leaves_no_address(tmp_path: Path) -> None:
    _tool(NGINX)
    data_dir = tmp_path / "data"
    intake_public = hpke.public_key(os.urandom(32))
    init_data_dir(Settings(data_dir=data_dir), intake_public, origin=ORIGIN)
    live: LiveServer = start_server(data_dir, tmp_path / "server-output.txt")
    log_key = live.log_key()
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    https_port, http_port = free_port(), free_port()
    site = _site(prefix, https_port=https_port, http_port=http_port, upstream=live.url)
    context = ssl.create_default_context(cafile=str(prefix / "cert.pem"))
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS, verify=context)
    spoofed = {
        "X-Forwarded-For": CLIENT_ADDRESS,
        "X-Real-IP": CLIENT_ADDRESS,
        "Forwarded": f"for={CLIENT_ADDRESS}",
        "User-Agent": f"agent {CLIENT_ADDRESS}",
    }
    try:
        with (
            _nginx(prefix, site, https_port),
            httpx.Client(
                base_url=f"https://127.0.0.1:{https_port}",
                transport=transport,
                headers=spoofed,
                timeout=DEADLINE,
            ) as http,
        ):
            health = http.get("/healthz")
            assert health.status_code == 200
            assert health.headers["server"] == "nginx"  # no version
            assert health.headers["strict-transport-security"] == "max-age=63072000"
            assert health.headers["referrer-policy"] == "no-referrer"  # the server's own
            assert "set-cookie" not in health.headers

            # Plain HTTP is sent to HTTPS.
            plain = httpx.get(f"http://127.0.0.1:{http_port}/healthz", follow_redirects=False)
            assert plain.status_code == 301
            assert plain.headers["location"].startswith("https://")

            # A 9 MiB attachment in two PATCHes (the clients send 8 MiB each).
            attachment = submission.seal_attachment(
                os.urandom(9 << 20), name="street.mp4", media_type="video/mp4"
            )
            blob = attachment.ciphertext
            created = http.post(
                "/api/v1/uploads/",
                headers={
                    **TUS,
                    "Upload-Length": str(len(blob)),
                    "Upload-Metadata": "sha256 "
                    + base64.b64encode(hashlib.sha256(blob).hexdigest().encode()).decode(),
                },
            )
            assert created.status_code == 201, created.text
            location = created.headers["location"]
            offset = 0
            while offset < len(blob):
                answer = http.patch(
                    location,
                    content=blob[offset : offset + (8 << 20)],
                    headers={
                        **TUS,
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream",
                    },
                )
                assert answer.status_code == 204, answer.text
                offset = int(answer.headers["upload-offset"])

            manifest = {
                "v": 1,
                "form": {"id": "kordai-2020", "version": 1, "sha256": "00" * 32},
                "lang": "ru",
                "answers": {},
                "attachments": [attachment.descriptor],
                "consent": {"share_with": [], "contact": False},
            }
            request = submission.seal_submission(intake_public, manifest).request(
                attachments=[attachment.blob]
            )
            answer = http.post("/api/v1/submissions", json=request)
            assert answer.status_code == 201, answer.text
            receipts.verify_receipt(answer.json(), log_key, origin=ORIGIN, request=request)

            # A body beyond client_max_body_size is refused by nginx, not passed on.
            too_large = http.post(
                "/api/v1/submissions",
                content=b"x" * (17 << 20),
                headers={"Content-Type": "application/json"},
            )
            assert too_large.status_code == 413
    finally:
        server_output = live.stop()

    needle = CLIENT_ADDRESS.encode()
    written = [
        path
        for folder in (prefix, data_dir)
        for path in folder.rglob("*")
        if path.is_file() and path.name not in ("site.conf", "nginx.conf", "testimony-front.conf")
    ]
    assert any(path.name == "testimony.sqlite3" for path in written)
    for path in written:
        assert needle not in path.read_bytes(), f"{path} holds the client's address"
    assert CLIENT_ADDRESS not in server_output
    # Nothing of the upload was spooled to nginx's temporary folders.
    assert not [p for p in (prefix / "body").rglob("*") if p.is_file()]
    assert not [p for p in (prefix / "proxy").rglob("*") if p.is_file()]
    assert json.loads(health.text) == {"status": "ok"}


# --- the onion service's way in -------------------------------------------------------

SHORT_LIMITS = {
    "client_header_timeout 20s;": "client_header_timeout 2s;",
    "client_body_timeout 60s;": "client_body_timeout 2s;",
    "keepalive_timeout 15s;": "keepalive_timeout 2s;",
    "limit_conn testimony_front 512;": "limit_conn testimony_front 2;",
}
"""The deadlines and the cap lowered so that the onion test takes seconds."""
SHORT = 2.0
SLACK = 4.0


def _raw(port: int, data: bytes) -> Answer:
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        sock.sendall(data)
        return read_answer(sock)


@pytest.mark.slow
def test_onion_traffic_meets_nginx_with_the_same_limits(tmp_path: Path) -> None:
    """What tor hands on (plain HTTP from 127.0.0.1) meets nginx, not the
    server: a header too large, a request nginx cannot read, a body too large
    and too many requests at once are answered with problem documents; a
    slow head and a stalled body are cut at their deadlines; a request within
    the limits reaches the server."""
    _tool(NGINX)
    data_dir = tmp_path / "data"
    init_data_dir(Settings(data_dir=data_dir), hpke.public_key(os.urandom(32)), origin=ORIGIN)
    live: LiveServer = start_server(data_dir, tmp_path / "server-output.txt")
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    https_port, http_port, onion_port = free_port(), free_port(), free_port()
    site = _site(
        prefix,
        https_port=https_port,
        http_port=http_port,
        upstream=live.url,
        onion_port=onion_port,
        limits=SHORT_LIMITS,
    )
    onion = f"http://127.0.0.1:{onion_port}"
    try:
        with _nginx(prefix, site, https_port) as process:
            _await_port(process, onion_port)
            health = httpx.get(onion + "/healthz", timeout=DEADLINE)
            assert health.status_code == 200
            assert health.json() == {"status": "ok"}
            assert health.headers["server"] == "nginx"  # no version
            assert health.headers["referrer-policy"] == "no-referrer"  # the server's own
            assert "strict-transport-security" not in health.headers  # no TLS on this way in

            # A header line over 8 KiB, a head over 16 KiB: 431, from nginx.
            for headers in (
                b"X-Pad: " + b"a" * 9000 + b"\r\n",
                (b"X-Pad: " + b"a" * 7000 + b"\r\n") * 3,
            ):
                answer = _raw(
                    onion_port, b"GET /healthz HTTP/1.1\r\nHost: t.onion\r\n" + headers + b"\r\n"
                )
                assert answer.status == 431, answer
                assert answer.problem()["code"] == "header-too-large"
            # A request line nginx cannot read: 400.
            answer = _raw(onion_port, b"GET / HTTP/1.1 extra\r\nHost: t.onion\r\n\r\n")
            assert answer.status == 400
            assert answer.problem()["code"] == "malformed-http"
            # A body over client_max_body_size: 413, never passed on.
            answer = _raw(
                onion_port,
                b"POST /api/v1/submissions HTTP/1.1\r\nHost: t.onion\r\n"
                b"Content-Type: application/json\r\nContent-Length: 20000000\r\n\r\n",
            )
            assert answer.status == 413
            assert answer.problem()["code"] == "request-too-large"

            # Slow heads are closed at client_header_timeout.
            slow = [
                socket.create_connection(("127.0.0.1", onion_port), timeout=5) for _ in range(5)
            ]
            started = time.monotonic()
            try:
                for sock in slow:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t.onion\r\nX-Slow: a")
                for sock in slow:
                    assert closed_within(sock, SHORT + SLACK - (time.monotonic() - started))
            finally:
                for sock in slow:
                    sock.close()
            assert SHORT - 0.5 <= time.monotonic() - started < SHORT + SLACK

            # Two requests in flight (bodies that stall) fill the cap: a third
            # is refused with 503; the stalled bodies end at client_body_timeout.
            stalled = [
                socket.create_connection(("127.0.0.1", onion_port), timeout=5) for _ in range(2)
            ]
            try:
                for sock in stalled:
                    sock.sendall(
                        b"POST /api/v1/submissions HTTP/1.1\r\nHost: t.onion\r\n"
                        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
                    )
                sent = time.monotonic()
                deadline = sent + SHORT
                while True:  # nginx counts a request once it has read its head
                    answer = _raw(onion_port, b"GET /healthz HTTP/1.1\r\nHost: t.onion\r\n\r\n")
                    if answer.status == 503 or time.monotonic() > deadline:
                        break
                assert answer.status == 503, answer
                assert answer.problem()["code"] == "unavailable"
                for sock in stalled:  # reset_timedout_connection: a reset, no answer
                    assert closed_within(sock, SHORT + SLACK - (time.monotonic() - sent))
                assert SHORT - 0.5 <= time.monotonic() - sent < SHORT + SLACK
            finally:
                for sock in stalled:
                    sock.close()
            # The cap is given back.
            assert httpx.get(onion + "/healthz", timeout=DEADLINE).status_code == 200
    finally:
        output = live.stop()
    assert "Traceback" not in output
