"""A webhook over TLS: the POST goes to the address that was checked, while SNI,
the Host header and the certificate check use the URL's host name (a local HTTPS
server with a certificate made for the test; no broker)."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess

import pytest
from aiohttp import web

from processors.delivery import http
from producers.safety import AddressPolicy

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")


@pytest.fixture
def certificate(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return key, cert


async def _serve(routes: dict, tls: ssl.SSLContext | None = None):
    """A local receiver on a free port: (runner, port)."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_post(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


async def _post_each(runner, urls: list[str], policy: AddressPolicy, timeout_s: float = 10.0) -> list:
    """POST {"n": i} to each URL in turn with one pooled client; then close the client and the receiver."""
    client = http.new_client(timeout_s)
    try:
        return [await http.post(client, url, b'{"n": %d}' % i, {}, policy) for i, url in enumerate(urls)]
    finally:
        await client.close()
        await runner.cleanup()


def test_tls_post_checks_the_certificate_against_the_url_host(certificate, monkeypatch):
    key, cert = certificate
    trusting = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(http, "tls_context", lambda: trusting)
    policy = AddressPolicy.from_allow_list(["127.0.0.0/8", "::1"])

    async def go():
        seen: list = []

        async def hook(request: web.Request) -> web.Response:
            seen.append((request.host, await request.read()))
            return web.Response(status=202, text="ok")

        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(str(cert), str(key))
        runner, port = await _serve({"/hook": hook}, server_tls)
        # The same server, reached second by a name its certificate does not carry: refused, not sent.
        ok, wrong = await _post_each(runner, [f"https://localhost:{port}/hook", f"https://127.0.0.1:{port}/hook"], policy)
        return ok, wrong, seen

    ok, wrong, seen = asyncio.run(go())
    assert (ok.status, ok.error) == (202, None)
    assert wrong.status is None and "certificate" in (wrong.error or "").lower()
    assert len(seen) == 1
    host, body = seen[0]
    assert host.startswith("localhost:") and body == b'{"n": 0}'


def test_an_error_answer_is_bounded_and_the_redirect_not_followed(monkeypatch):
    policy = AddressPolicy.from_allow_list(["127.0.0.0/8"])

    async def go():
        hits: list[str] = []

        async def moved(request):
            hits.append("moved")
            raise web.HTTPFound("/elsewhere")

        async def elsewhere(request):
            hits.append("elsewhere")
            return web.Response(text="followed")

        async def broken(request):
            return web.Response(status=500, text="x" * 1_000_000)

        runner, port = await _serve({"/moved": moved, "/elsewhere": elsewhere, "/broken": broken})
        redirect, error = await _post_each(runner, [f"http://127.0.0.1:{port}/moved", f"http://127.0.0.1:{port}/broken"], policy)
        return redirect, error, hits

    redirect, error, hits = asyncio.run(go())
    assert redirect.status == 302 and hits == ["moved"]
    assert error.status == 500 and error.error.startswith("HTTP 500: xxx") and len(error.error) <= http.MAX_ERROR_BODY + 20


def test_a_receiver_that_never_answers_times_out(monkeypatch):
    policy = AddressPolicy.from_allow_list(["127.0.0.0/8"])

    async def go():
        async def silent(reader, writer):
            await asyncio.sleep(30)

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = http.new_client(0.5)
        try:
            return await http.post(client, f"http://127.0.0.1:{port}/hook", b"{}", {}, policy)
        finally:
            await client.close()
            server.close()

    answer = asyncio.run(go())
    assert answer.status is None and answer.error == "timeout"
