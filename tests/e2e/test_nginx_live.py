"""The documented nginx (``ops/nginx/careledger.conf``) in front of the portal, for real.

The configuration is the shipped one with only its deployment-specific values
replaced (ports, certificate, upstream, and the agency network, which becomes
two loopback addresses). Clients bind to different loopback source addresses,
so nginx and the portal see them as different machines.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
from werkzeug.serving import make_server

from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.demo.directory import DemoDirectory, create_demo_accounts
from supervisor.web.app import create_app
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parents[2]
AGENCY_A, AGENCY_B, OUTSIDER = "127.0.0.2", "127.0.0.4", "127.0.0.3"


def _nginx() -> str:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(found, os.X_OK):
        pytest.fail("nginx is required for this test: apt-get install nginx")
    return found


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"the shipped nginx configuration no longer has {old!r}"
    return text.replace(old, new)


def _site(https_port: int, http_port: int, backend: int, cert: Path, key: Path) -> str:
    text = (REPOSITORY / "ops/nginx/careledger.conf").read_text(encoding="utf-8")
    text = _replace(text, "listen 80;", f"listen 127.0.0.1:{http_port};")
    text = re.sub(r"listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl", text)
    assert f"127.0.0.1:{https_port} ssl" in text
    text = _replace(text, "server 127.0.0.1:8000", f"server 127.0.0.1:{backend}")
    text = _replace(text, "/etc/ssl/careledger/fullchain.pem", str(cert))
    text = _replace(text, "/etc/ssl/careledger/privkey.pem", str(key))
    # The agency's network: two loopback addresses stand for it.
    return _replace(text, "allow 10.0.0.0/8;", f"allow {AGENCY_A}; allow {AGENCY_B};")


@dataclass
class Site:
    port: int
    accounts: dict[str, str]


class Browser:
    """An HTTPS client from one source address, keeping its cookies."""

    def __init__(self, port: int, source: str) -> None:
        self.port, self.source = port, source
        self.cookies: dict[str, str] = {}
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE  # the test's own throwaway certificate

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str]:
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.port, source_address=(self.source, 0), context=self.context
        )
        headers = {"Host": "ledger.example.gov.cn"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            for name, value in answer.getheaders():
                if name.lower() == "set-cookie":
                    cookie = value.split(";", 1)[0]
                    key, _, content = cookie.partition("=")
                    self.cookies[key] = content
            return answer.status, answer.read().decode("utf-8", "replace")
        finally:
            connection.close()

    def csrf(self) -> str:
        status, page = self.request("GET", "/portal/login")
        assert status == 200, page
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found, page
        return found.group(1)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    nginx = _nginx()
    settings = Settings(data_dir=tmp_path / "var", trusted_proxy_hops=1)
    initialise(settings)
    accounts = create_demo_accounts(settings.data_dir)
    app = create_app(settings, sign_in=DemoDirectory(settings.data_dir))
    backend_port = free_port()
    backend = make_server("127.0.0.1", backend_port, app, threaded=True)
    serving = threading.Thread(target=backend.serve_forever, daemon=True)
    serving.start()

    folder = tmp_path / "nginx"
    folder.mkdir()
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=ledger.example.gov.cn", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    https_port, http_port = free_port(), free_port()
    (folder / "careledger.conf").write_text(
        _site(https_port, http_port, backend_port, cert, key), encoding="utf-8"
    )
    temp = "".join(
        f"{kind}_temp_path {folder}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    (folder / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        f"events {{}}\nhttp {{\naccess_log {folder}/access.log;\n{temp}"
        f"include {folder}/careledger.conf;\n}}\n",
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [nginx, "-c", str(folder / "nginx.conf"), "-p", str(folder), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                pytest.fail(f"nginx did not start: {process.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("nginx did not listen within 10 s")
                time.sleep(0.05)
        yield Site(https_port, accounts)
    finally:
        process.terminate()
        process.wait(timeout=10)
        backend.shutdown()


def test_the_sign_in_page_is_behind_the_agency_allow_list(site: Site) -> None:
    outsider = Browser(site.port, OUTSIDER)
    status, _ = outsider.request("GET", "/portal/login")
    assert status == 403
    assert outsider.request("POST", "/portal/login", {"username": "x", "password": "y"})[0] == 403
    assert Browser(site.port, AGENCY_A).request("GET", "/portal/login")[0] == 200


def test_a_guesser_at_one_address_never_locks_out_a_regulator_at_another(site: Site) -> None:
    guesser = Browser(site.port, AGENCY_A)
    token = guesser.csrf()
    for guess in range(5):
        status, page = guesser.request(
            "POST",
            "/portal/login",
            {"username": f"ghost{guess}", "password": "guess", "csrf_token": token},
        )
        assert status == 401, page  # refused by the portal, not stopped by nginx
    status, _ = guesser.request(
        "POST",
        "/portal/login",
        {
            "username": "demo-regulator",
            "password": site.accounts["demo-regulator"],
            "csrf_token": token,
        },
    )
    assert status == 429  # the guesser's address waits (the portal's throttle or nginx's)

    regulator = Browser(site.port, AGENCY_B)
    status, _ = regulator.request(
        "POST",
        "/portal/login",
        {
            "username": "demo-regulator",
            "password": site.accounts["demo-regulator"],
            "csrf_token": regulator.csrf(),
        },
    )
    assert status == 302
    assert regulator.request("GET", "/portal/")[0] == 200
