"""Safe link fetching against a real HTTP server on 127.0.0.1; nothing leaves loopback."""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpcore
import pytest
from aiohttp import web

import core.knowledge.web as fetching
from core.knowledge.web import (
    DOCX,
    USER_AGENT,
    FetchedDocument,
    UrlRefused,
    fetch_url,
    find_urls,
    is_public_address,
)

LOOPBACK_HOSTS = ["127.0.0.1", "localhost"]
MAX_BYTES = 64 * 1024
TIMEOUT_SECONDS = 5.0
SHORT_TIMEOUT_SECONDS = 0.5
# A refusal made before connecting takes milliseconds; a connect attempt would take longer.
QUICK_SECONDS = 1.0
HTML_PAGE = b"<html><head><title>Ol\xc3\xa1</title></head><body>Bom dia</body></html>"
BIG_CHUNK = b"x" * 16 * 1024
HANG_SECONDS = 30


class Server:
    """A loopback web server whose routes misbehave in the ways links can."""

    def __init__(self) -> None:
        self.port = 0
        self.headers: dict[str, dict[str, str]] = {}
        self.server_names: list[str | None] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.headers[request.path] = dict(request.headers)
        route = ROUTES.get(request.path)
        if route is None:
            return web.Response(status=404, text="not here")
        response = route(self, request)
        return await response if inspect.isawaitable(response) else response


def html(body: bytes = HTML_PAGE) -> web.Response:
    return web.Response(body=body, content_type="text/html", charset="utf-8")


def redirect(location: str, status: int = 302) -> web.Response:
    return web.Response(status=status, headers={"Location": location})


async def hang(server: Server, request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(HANG_SECONDS)
    return html()


async def drip(server: Server, request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    for _ in range(HANG_SECONDS * 20):
        await response.write(b".")
        await asyncio.sleep(0.05)
    return response


async def endless(server: Server, request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/html"})
    await response.prepare(request)
    while True:  # until the client hangs up
        await response.write(BIG_CHUNK)


async def declared_huge(server: Server, request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/pdf"})
    response.content_length = 10**10
    await response.prepare(request)
    await response.write(BIG_CHUNK)
    await asyncio.sleep(HANG_SECONDS)
    return response


def with_type(content_type: str) -> web.Response:
    return web.Response(body=b"%PDF-1.4 or whatever", headers={"Content-Type": content_type})


def echo_header(name: str, request: web.Request) -> web.Response:
    return web.Response(text=request.headers.get(name, "none"), content_type="text/plain")


ROUTES: dict[str, Any] = {
    "/": lambda s, r: html(),
    "/artigo": lambda s, r: html(),
    "/index.php": lambda s, r: html(),
    "/start": lambda s, r: redirect("/hop1"),
    "/hop1": lambda s, r: redirect(s.url("/dir/hop2"), 301),
    "/dir/hop2": lambda s, r: redirect("../final.html", 307),
    "/final.html": lambda s, r: html(),
    "/loop": lambda s, r: redirect("/loop"),
    "/no-location": lambda s, r: web.Response(status=302),
    "/to": lambda s, r: redirect(r.query["target"]),
    "/cookie": lambda s, r: web.Response(
        status=302, headers={"Location": "/cookie-echo", "Set-Cookie": "sid=1"}
    ),
    "/cookie-echo": lambda s, r: echo_header("Cookie", r),
    "/host-echo": lambda s, r: echo_header("Host", r),
    "/slow": hang,
    "/drip": drip,
    "/huge": endless,
    "/huge.pdf": declared_huge,
    "/image.png": lambda s, r: with_type("image/png"),
    "/video": lambda s, r: with_type("video/mp4"),
    "/blob": lambda s, r: with_type("application/octet-stream"),
    "/files/Relatório 2024.pdf": lambda s, r: with_type("application/octet-stream"),
    "/notes.md": lambda s, r: with_type("text/plain; charset=utf-8"),
    "/letter": lambda s, r: with_type(DOCX),
    "/error": lambda s, r: web.Response(status=500),
}


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[Server]:
    """One loopback server for the module; slow handlers are cancelled when clients leave."""
    server = Server()
    runner = web.AppRunner(server.app(), handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    yield server
    await runner.cleanup()


@pytest.fixture(autouse=True)
async def no_dns_queries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails a test that would make the system resolver ask a DNS server (off loopback)."""
    loop = asyncio.get_running_loop()
    real_getaddrinfo = loop.getaddrinfo

    async def guard(host: str, *args: Any, **kwargs: Any) -> Any:
        if not answers_locally(host):
            raise AssertionError(f"would have sent a DNS query for {host}")
        return await real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", guard)


def answers_locally(host: str) -> bool:
    """Whether getaddrinfo answers without DNS: numeric forms (inet_aton's too) and localhost."""
    if host == "localhost":
        return True
    try:
        socket.inet_aton(host)
        return True
    except OSError:
        pass
    try:
        ipaddress.IPv6Address(host)
        return True
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def connects(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Records every address httpcore dials, and fails a test that dialled off loopback."""
    dialled: list[str] = []
    real_connect = httpcore.AnyIOBackend.connect_tcp

    async def spy(self: httpcore.AnyIOBackend, host: str, port: int, **kwargs: Any) -> Any:
        dialled.append(host)
        if not ipaddress.ip_address(host).is_loopback:
            raise AssertionError(f"tried to connect to {host}")
        return await real_connect(self, host, port, **kwargs)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", spy)
    yield dialled
    assert all(ipaddress.ip_address(host).is_loopback for host in dialled)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate (and key) for docs.example, made by the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=docs.example"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-addext", "subjectAltName=DNS:docs.example"),
            *("-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")),
        ],
        check=True,
        capture_output=True,
    )
    return folder


@pytest.fixture(scope="module")
async def tls_server(certificate: Path) -> AsyncIterator[Server]:
    """The same routes over TLS; `server_names` collects the SNI each handshake carried."""
    server = Server()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")
    context.sni_callback = lambda sock, name, ctx: server.server_names.append(name)
    runner = web.AppRunner(server.app(), handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    server.port = runner.addresses[0][1]
    yield server
    await runner.cleanup()


@pytest.fixture
def trust_certificate(certificate: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes fetches trust the test certificate instead of the public CAs."""
    context = ssl.create_default_context(cafile=certificate / "cert.pem")
    monkeypatch.setattr(fetching, "_ssl_context", lambda: context)


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Answers names from `answers` (each lookup takes the next address); returns the log."""
    asked: list[str] = []
    remaining = {name: iter(addresses) for name, addresses in answers.items()}

    async def resolve(host: str, port: int, **kwargs: Any) -> Any:
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(remaining[host]), port))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", resolve)
    return asked


async def fetch(url: str, **options: Any) -> FetchedDocument:
    options = {
        "allowed_hosts": LOOPBACK_HOSTS,
        "max_bytes": MAX_BYTES,
        "timeout_seconds": TIMEOUT_SECONDS,
    } | options
    return await fetch_url(url, **options)


async def refusal(url: str, **options: Any) -> UrlRefused:
    with pytest.raises(UrlRefused) as caught:
        await fetch(url, **options)
    return caught.value


# find_urls


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Olha isso: https://exemplo.com.br/página, é ótimo!", ["https://exemplo.com.br/página"]),
        (
            "Leia https://a.example/x. Depois http://b.example/y?",
            ["https://a.example/x", "http://b.example/y"],
        ),
        ('Ela disse "https://a.example/q?x=1&y=2"; pronto', ["https://a.example/q?x=1&y=2"]),
        ("(ver https://a.example/doc)", ["https://a.example/doc"]),
        (
            "https://pt.wikipedia.org/wiki/Python_(linguagem)!",
            ["https://pt.wikipedia.org/wiki/Python_(linguagem)"],
        ),
        ("[texto](https://a.example/md)", ["https://a.example/md"]),
        ("https://a.example https://a.example e de novo https://a.example", ["https://a.example"]),
        ("HTTPS://A.EXAMPLE/Caps", ["HTTPS://A.EXAMPLE/Caps"]),
        ("sem links aqui, nem ftp://x.example nem http:// sozinho", []),
        ("<https://a.example/angle>", ["https://a.example/angle"]),
    ],
)
def test_find_urls(text: str, expected: list[str]) -> None:
    assert find_urls(text) == expected


def test_find_urls_keeps_at_most_five() -> None:
    text = " ".join(f"https://site{n}.example/" for n in range(8))
    assert find_urls(text) == [f"https://site{n}.example/" for n in range(5)]


# Address checks


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808"])
def test_public_addresses_pass(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "224.0.0.1",  # multicast: is_global says True
        "ff02::1",
        "240.0.0.1",
        "255.255.255.255",
        "100.64.0.1",
        "::ffff:10.0.0.1",
        "::7f00:1",  # IPv4-compatible
        "2002:7f00:1::",  # 6to4 around loopback
        "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
        "fec0::1",  # site-local
        "fd00::1",
        "fe80::1",
    ],
)
def test_non_public_addresses_fail(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8080/",
        "http://[::1]/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://0x7f.1/",
        "https://127.1:8443/",
    ],
)
async def test_private_addresses_are_refused_without_allow_list(url: str) -> None:
    assert (await refusal(url, allowed_hosts=())).reason == "private_address"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/file.pdf",
        "javascript:alert(1)",
        "http://user:pass@example.com/",
        "http://user@example.com/",
        "http:///no-host",
        "https://",
        "http://exa mple.com/",
        "http://ex%41mple.com/",
        "http://example.com/" + "a" * 3000,
    ],
)
async def test_bad_urls_are_refused(url: str) -> None:
    assert (await refusal(url)).reason == "bad_url"


async def test_unresolvable_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # Answer here rather than asking the system resolver, which would send a DNS query.
    async def no_such_host(host: str, *args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_host)
    assert (await refusal("https://nonexistent.invalid/doc")).reason == "unresolvable"


# Fetching from the loopback server


async def test_fetches_an_html_page(server: Server) -> None:
    document = await fetch(server.url("/"))
    assert document == FetchedDocument(
        url=server.url("/"), content_type="text/html", file_name="page.html", data=HTML_PAGE
    )
    sent = server.headers["/"]
    assert sent["User-Agent"] == USER_AGENT
    assert "text/html" in sent["Accept"] and "application/pdf" in sent["Accept"]
    assert "Authorization" not in sent and "Cookie" not in sent


@pytest.mark.parametrize(
    ("path", "content_type", "file_name"),
    [
        ("/artigo", "text/html", "artigo.html"),
        ("/index.php", "text/html", "index.php.html"),
        ("/files/Relat%C3%B3rio%202024.pdf", "application/pdf", "Relatório 2024.pdf"),
        ("/notes.md", "text/markdown", "notes.md"),
        ("/letter", DOCX, "letter.docx"),
    ],
)
async def test_names_and_types_documents(
    server: Server, path: str, content_type: str, file_name: str
) -> None:
    document = await fetch(server.url(path))
    assert (document.content_type, document.file_name) == (content_type, file_name)


async def test_allow_list_accepts_host_with_port(server: Server) -> None:
    document = await fetch(server.url("/"), allowed_hosts=[f"127.0.0.1:{server.port}"])
    assert document.data == HTML_PAGE
    other_port = await refusal(server.url("/"), allowed_hosts=["127.0.0.1:1"])
    assert other_port.reason == "private_address"


async def test_allowing_a_host_and_port_keeps_its_other_ports_closed(
    server: Server, connects: list[str]
) -> None:
    allowed = [f"127.0.0.1:{server.port}"]
    refused = await refusal(server.url("/to?target=http://127.0.0.1:1/"), allowed_hosts=allowed)
    assert refused.reason == "private_address"
    assert connects == ["127.0.0.1"]


async def test_allow_list_is_case_insensitive(server: Server) -> None:
    url = f"http://LocalHost:{server.port}/"
    assert (await fetch(url, allowed_hosts=["LOCALHOST"])).data == HTML_PAGE


async def test_follows_a_redirect_chain(server: Server) -> None:
    document = await fetch(server.url("/start"))
    assert document.url == server.url("/final.html")
    assert document.file_name == "final.html"
    assert {"/start", "/hop1", "/dir/hop2", "/final.html"} <= server.headers.keys()


async def test_stops_after_max_redirects(server: Server) -> None:
    assert (await refusal(server.url("/loop"), max_redirects=2)).reason == "too_many_redirects"
    assert (await refusal(server.url("/start"), max_redirects=2)).reason == "too_many_redirects"
    assert (await fetch(server.url("/start"), max_redirects=3)).data == HTML_PAGE


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00::1]:8080/",
        "http://localhost/admin",  # allowed only by name below, so not allowed here
    ],
)
async def test_redirect_to_private_address_is_refused_before_connecting(
    server: Server, target: str, connects: list[str]
) -> None:
    refused = await refusal(server.url(f"/to?target={target}"), allowed_hosts=["127.0.0.1"])
    assert refused.reason == "private_address"
    assert connects == ["127.0.0.1"]


@pytest.mark.parametrize("target", ["file:///etc/passwd", "javascript:alert(1)", "gopher://x/"])
async def test_redirect_to_other_schemes_is_refused(server: Server, target: str) -> None:
    assert (await refusal(server.url(f"/to?target={target}"))).reason == "bad_url"


async def test_redirect_without_location_is_an_error(server: Server) -> None:
    assert (await refusal(server.url("/no-location"))).reason == "http_error"


async def test_cookies_are_not_kept_across_hops(server: Server) -> None:
    assert (await fetch(server.url("/cookie"))).data == b"none"


async def test_connects_to_the_checked_address_not_a_second_answer(
    server: Server, monkeypatch: pytest.MonkeyPatch, connects: list[str]
) -> None:
    # A rebinding DNS server: the first answer is checked, later ones would differ.
    asked = fake_dns(monkeypatch, {"docs.example": ["127.0.0.1", "10.0.0.1"]})
    url = f"http://docs.example:{server.port}/host-echo"
    document = await fetch(url, allowed_hosts=["docs.example"])
    assert document.data == f"docs.example:{server.port}".encode()
    assert asked == ["docs.example"]
    assert connects == ["127.0.0.1"]


async def test_huge_streamed_body_is_cut_off(server: Server) -> None:
    assert (await refusal(server.url("/huge"))).reason == "too_large"


async def test_declared_length_is_refused_before_reading(server: Server) -> None:
    assert (await refusal(server.url("/huge.pdf"))).reason == "too_large"


async def test_small_limit_applies_to_an_ordinary_page(server: Server) -> None:
    refused = await refusal(server.url("/"), max_bytes=len(HTML_PAGE) - 1)
    assert refused.reason == "too_large"


@pytest.mark.parametrize("path", ["/slow", "/drip"])
async def test_whole_fetch_has_one_deadline(server: Server, path: str) -> None:
    started = time.monotonic()
    refused = await refusal(server.url(path), timeout_seconds=SHORT_TIMEOUT_SECONDS)
    assert refused.reason == "timeout"
    assert time.monotonic() - started < SHORT_TIMEOUT_SECONDS + QUICK_SECONDS


@pytest.mark.parametrize(("path", "status"), [("/missing", "404"), ("/error", "500")])
async def test_http_errors_carry_the_status(server: Server, path: str, status: str) -> None:
    refused = await refusal(server.url(path))
    assert refused.reason == "http_error"
    assert status in refused.detail


@pytest.mark.parametrize("path", ["/image.png", "/video", "/blob"])
async def test_media_and_unknown_binaries_are_not_documents(server: Server, path: str) -> None:
    assert (await refusal(server.url(path))).reason == "not_a_document"


async def test_closed_port_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert (await refusal(f"http://127.0.0.1:{port}/")).reason == "unreachable"


async def test_tls_uses_the_host_name_while_dialling_the_checked_address(
    tls_server: Server,
    trust_certificate: None,
    monkeypatch: pytest.MonkeyPatch,
    connects: list[str],
) -> None:
    fake_dns(monkeypatch, {"docs.example": ["127.0.0.1"]})
    url = f"https://docs.example:{tls_server.port}/host-echo"
    document = await fetch(url, allowed_hosts=["docs.example"])
    assert document.data == f"docs.example:{tls_server.port}".encode()
    assert tls_server.server_names[-1] == "docs.example"
    assert connects == ["127.0.0.1"]


async def test_tls_certificate_must_match_the_host_name(
    tls_server: Server, trust_certificate: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, {"other.example": ["127.0.0.1"]})
    url = f"https://other.example:{tls_server.port}/"
    refused = await refusal(url, allowed_hosts=["other.example"])
    assert refused.reason == "unreachable"
    assert "certificate" in refused.detail.lower()
