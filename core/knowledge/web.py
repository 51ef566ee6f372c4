"""Fetch the web pages people link in chat, safely enough to run next to private services.

A link in a chat message is untrusted input that makes *us* open a connection, so this
module guards against server-side request forgery and hostile servers:

- Only http(s) URLs without credentials are fetched.
- Every hop (the first request and each redirect) resolves its host with the event
  loop's `getaddrinfo` and refuses it when any address is not public (loopback, private,
  link-local, CGNAT, multicast, reserved, IPv4 embedded in IPv6, cloud metadata ...),
  unless the host is in `URL_ALLOWED_HOSTS` (`host` allows all its ports, `host:port`
  that port only). `HostGuard` is that rule; libraries that fetch by themselves (yt-dlp)
  reach the network only through `core.knowledge.egress`, which applies it too.
- The connection goes to the very addresses that were checked (see `_PinnedBackend`),
  so a DNS server that answers differently a second time (DNS rebinding) gains nothing.
- Redirects are followed by hand, bodies are streamed and capped, the whole fetch has
  one deadline, and no cookies, proxies from the environment or credentials are used.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import re
import socket
import ssl
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import PurePosixPath

import httpcore
import httpx

from core.errors import ReasonedError
from core.i18n import file_size

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

USER_AGENT = "chat-assistant/0.1 (+self-hosted bot)"
ACCEPT = (
    "text/html,application/xhtml+xml;q=0.9,application/pdf;q=0.9,"
    "text/markdown;q=0.8,text/plain;q=0.8,text/csv;q=0.7,"
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document;q=0.7,*/*;q=0.1"
)
# No brotli/zstd: one compressed chunk must not expand into much more than max_bytes.
ACCEPT_ENCODING = "gzip, deflate"
REQUEST_HEADERS = {"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING}

MAX_URLS_PER_MESSAGE = 5
MAX_URL_CHARS = 2048
MAX_FILE_NAME_CHARS = 120
DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HTTP_ERROR_MIN_STATUS = 400

REFUSAL_REASONS = frozenset(
    {
        "bad_url",
        "private_address",
        "unresolvable",
        "unreachable",
        "timeout",
        "too_large",
        "too_many_redirects",
        "http_error",
        "not_a_document",
    }
)

HTML = "text/html"
MARKDOWN = "text/markdown"
CSV = "text/csv"
TSV = "text/tab-separated-values"
PLAIN_TEXT = "text/plain"
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# The types a fetched document may have, each with its usual file name extensions
# (the first is the one appended to names that lack one).
DOCUMENT_EXTENSIONS: dict[str, tuple[str, ...]] = {
    HTML: (".html", ".htm", ".xhtml"),
    MARKDOWN: (".md", ".markdown"),
    CSV: (".csv",),
    TSV: (".tsv",),
    PLAIN_TEXT: (".txt", ".text"),
    PDF: (".pdf",),
    DOCX: (".docx",),
}
DOCUMENT_TYPES = frozenset(DOCUMENT_EXTENSIONS)
# Other names servers use for the same types.
TYPE_ALIASES = {
    "application/xhtml+xml": HTML,
    "text/x-markdown": MARKDOWN,
    "application/csv": CSV,
    "application/x-pdf": PDF,
}
# Types that say nothing about the content; the URL's extension decides instead.
GENERIC_TYPES = frozenset(
    {
        "",
        "application/octet-stream",
        "binary/octet-stream",
        "application/download",
        "application/x-download",
        "application/force-download",
    }
)
TYPE_BY_EXTENSION = {
    extension: media_type
    for media_type, extensions in DOCUMENT_EXTENSIONS.items()
    for extension in extensions
}

# A link starts at http(s):// and runs to whitespace or a character no link contains.
_URL_PATTERN = re.compile(r"(?<![\w/])https?://[^\s<>\"`“”«»]+", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?'\""
# What a host may be once httpx has IDNA-encoded it: a DNS name or an IP literal.
_HOST_PATTERN = re.compile(rb"[a-z0-9_.-]+|[0-9a-f:.]+")
_UNSAFE_FILE_NAME_CHARS = re.compile(r"[^\w.\-() ]+")
# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits.
_NAT64_NETWORK = ipaddress.IPv6Network("64:ff9b::/96")


class UrlRefused(ReasonedError):
    """A link that will not be fetched or could not be."""


@dataclass(frozen=True)
class FetchedDocument:
    """A fetched page or file; `content_type` is one of `DOCUMENT_TYPES`."""

    url: str
    content_type: str
    file_name: str
    data: bytes


def find_urls(text: str) -> list[str]:
    """http(s) links in a chat message, in order, deduplicated, trailing punctuation
    stripped; at most `MAX_URLS_PER_MESSAGE`."""
    urls: list[str] = []
    for match in _URL_PATTERN.finditer(text):
        url = _strip_trailing_punctuation(match.group())
        if url.split("://", 1)[1] and url not in urls:
            urls.append(url)
        if len(urls) == MAX_URLS_PER_MESSAGE:
            break
    return urls


def _strip_trailing_punctuation(url: str) -> str:
    """Drops sentence punctuation after a link, keeping the `)` of `/wiki/Foo_(bar)`."""
    while url:
        last = url[-1]
        if last in _TRAILING_PUNCTUATION or (last == ")" and url.count("(") < url.count(")")):
            url = url[:-1]
        else:
            break
    return url


def is_public_address(address: IPAddress) -> bool:
    """Whether an address is on the public internet; `is_global` alone lets multicast,
    reserved and IPv4-in-IPv6 forms through."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public_address(embedded)
        tunnelled = address.sixtofour or (address.teredo[1] if address.teredo else None)
        if tunnelled is not None and not is_public_address(tunnelled):
            return False
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address that an IPv4-mapped or NAT64 address reaches, which decides."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64_NETWORK:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class HostGuard:
    """The rule every connection made for a link obeys, whoever makes it: the host's
    addresses must all be public, unless `URL_ALLOWED_HOSTS` names the host."""

    allowed: frozenset[str]

    @classmethod
    def allowing(cls, hosts: Iterable[str]) -> HostGuard:
        """A guard for `URL_ALLOWED_HOSTS` entries: `host`, `host:port` or `[v6]:port`."""
        return cls(_normalise_hosts(hosts))

    async def addresses(self, url: httpx.URL) -> list[IPAddress]:
        """Every address the URL's host resolves to, refusing it when one is not public."""
        host = url.raw_host.decode("ascii")
        addresses = await _resolve(host, url.port or DEFAULT_PORTS[url.scheme])
        if not self.allowed & _host_keys(url):
            for address in addresses:
                if not is_public_address(address):
                    raise UrlRefused("private_address", f"{host} resolves to {address}")
        return addresses


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to the addresses that `fetch_url` resolved and checked for a host.

    httpcore hands its network backend the host name from the URL; a normal backend would
    resolve it again, and a rebinding DNS server could then answer with 127.0.0.1. This one
    looks the name up in the pins instead and dials the checked IP. Because the URL itself
    keeps the name, the Host header, TLS SNI and certificate verification all still use
    the real host name, with no request rewriting.
    """

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._pins: dict[str, tuple[str, ...]] = {}

    def pin(self, host: str, addresses: Iterable[IPAddress]) -> None:
        """Routes later connections to `host` to these (already checked) addresses."""
        self._pins[host.lower()] = tuple(str(address) for address in addresses)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Dials each pinned address in turn; an unpinned host is never dialled."""
        addresses = self._pins.get(host.lower())
        if not addresses:
            raise httpcore.ConnectError(f"{host} was not checked before connecting")
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never used: links only reach TCP hosts."""
        raise httpcore.ConnectError("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        """Delegates to the real backend (httpcore sleeps between retries)."""
        await self._inner.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """httpx's default verifying TLS context, built once: loading the CA bundle takes ~50 ms."""
    return httpx.create_ssl_context(trust_env=False)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool built on `_PinnedBackend`.

    httpx offers no `network_backend` argument, so the pool it builds is replaced by an
    equal one (same TLS defaults, no proxy, no retries) that uses the pinned backend.
    """

    def __init__(self, backend: _PinnedBackend) -> None:
        super().__init__(verify=_ssl_context(), trust_env=False, retries=0)
        if not isinstance(self._pool, httpcore.AsyncConnectionPool):
            raise RuntimeError("httpx changed its transport; pinned connections need review")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(),
            http1=True,
            http2=False,
            retries=0,
            network_backend=backend,
        )


async def fetch_url(
    url: str,
    *,
    allowed_hosts: Sequence[str] = (),
    max_bytes: int,
    timeout_seconds: float,
    max_redirects: int = 5,
) -> FetchedDocument:
    """Fetches one document a person linked, or raises `UrlRefused` saying why not."""
    backend = _PinnedBackend()
    guard = HostGuard.allowing(allowed_hosts)
    try:
        first = parse_url(url)
        async with asyncio.timeout(timeout_seconds), _client(backend, timeout_seconds) as client:
            return await _follow(client, backend, first, guard, max_bytes, max_redirects)
    except TimeoutError as exc:
        refusal = UrlRefused("timeout", f"no document within {timeout_seconds:g} s")
        logger.info("Refused a link: %s", refusal)
        raise refusal from exc
    except UrlRefused as refusal:
        logger.info("Refused a link: %s", refusal)
        raise


@asynccontextmanager
async def _client(
    backend: _PinnedBackend, timeout_seconds: float
) -> AsyncIterator[httpx.AsyncClient]:
    """A one-fetch client: pinned connections, no redirects, env proxies or cookies."""
    async with httpx.AsyncClient(
        transport=_PinnedTransport(backend),
        headers=REQUEST_HEADERS,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(timeout_seconds),
    ) as client:
        yield client


async def _follow(
    client: httpx.AsyncClient,
    backend: _PinnedBackend,
    url: httpx.URL,
    guard: HostGuard,
    max_bytes: int,
    max_redirects: int,
) -> FetchedDocument:
    """Requests `url` and each redirect after it, checking every hop before connecting."""
    redirects = 0
    while True:
        # Pinning what was checked: the connection goes to these very addresses.
        backend.pin(url.raw_host.decode("ascii"), await guard.addresses(url))
        logger.debug("Fetching %s (redirect %d)", url, redirects)
        with _transport_errors():
            async with client.stream("GET", url) as response:
                location = _redirect_location(response)
                if location is None:
                    return await _read_document(response, max_bytes)
        if redirects == max_redirects:
            raise UrlRefused("too_many_redirects", f"more than {max_redirects} redirects")
        redirects += 1
        url = parse_url(location, base=url)


async def check_url(url: str, *, allowed_hosts: Sequence[str] = ()) -> None:
    """Refuse a link before queueing it, as `fetch_url` would refuse its first hop.

    Whoever opens it later (yt-dlp) goes through `core.knowledge.egress`, which checks
    that hop and every redirect again.
    """
    await HostGuard.allowing(allowed_hosts).addresses(parse_url(url))


def parse_url(text: str, *, base: httpx.URL | None = None) -> httpx.URL:
    """A fetchable http(s) URL, or `bad_url`; `base` resolves relative redirects."""
    if len(text) > MAX_URL_CHARS:
        raise UrlRefused("bad_url", f"longer than {MAX_URL_CHARS} characters")
    try:
        url = base.join(text.strip()) if base is not None else httpx.URL(text.strip())
    except (httpx.InvalidURL, ValueError) as exc:
        raise UrlRefused("bad_url", str(exc)) from exc
    if url.scheme not in DEFAULT_PORTS:
        raise UrlRefused("bad_url", f"scheme {url.scheme!r} is not http(s)")
    if not url.raw_host:
        raise UrlRefused("bad_url", "no host")
    if not _HOST_PATTERN.fullmatch(url.raw_host.lower()):
        raise UrlRefused("bad_url", f"odd characters in host {url.host!r}")
    if url.userinfo:
        raise UrlRefused("bad_url", "credentials in the URL")
    return url


def _normalise_hosts(hosts: Iterable[str]) -> frozenset[str]:
    """Allow-list entries in the form `_host_keys` produces: lower case, IPv6 unbracketed."""
    normalised = set()
    for host in hosts:
        entry = host.strip().lower()
        if entry.startswith("[") and entry.endswith("]"):
            entry = entry[1:-1]
        if entry:
            normalised.add(entry)
    return frozenset(normalised)


def _host_keys(url: httpx.URL) -> set[str]:
    """The ways an allow-list may name this URL's host: bare, or with its port."""
    port = url.port or DEFAULT_PORTS[url.scheme]
    keys = set()
    for host in {url.raw_host.decode("ascii").lower(), url.host.lower()}:
        keys.add(host)
        keys.add(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    return keys


async def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host resolves to, without blocking the event loop."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UrlRefused("unresolvable", f"{host}: {exc}") from exc
    except UnicodeError as exc:
        raise UrlRefused("bad_url", f"{host}: {exc}") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canonical, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UrlRefused("unresolvable", f"{host}: no addresses")
    return addresses


@contextmanager
def _transport_errors() -> Iterator[None]:
    """Turns httpx failures into refusals the caller can explain to a person."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise UrlRefused("timeout", type(exc).__name__) from exc
    except httpx.ConnectError as exc:
        raise UrlRefused("unreachable", str(exc) or type(exc).__name__) from exc
    except httpx.InvalidURL as exc:
        raise UrlRefused("bad_url", str(exc)) from exc
    except httpx.RequestError as exc:
        raise UrlRefused("unreachable", f"{type(exc).__name__}: {exc}") from exc


def _redirect_location(response: httpx.Response) -> str | None:
    """Where a redirect points, or None when this response is the answer."""
    if response.status_code in REDIRECT_STATUSES:
        return response.headers.get("location") or None
    return None


async def _read_document(response: httpx.Response, max_bytes: int) -> FetchedDocument:
    """Checks status, type and size from the headers, then streams at most `max_bytes`."""
    status = response.status_code
    if status >= HTTP_ERROR_MIN_STATUS or not 200 <= status < 300:
        raise UrlRefused("http_error", f"HTTP {status} {response.reason_phrase}".strip())
    content_type = _document_type(response.headers.get("content-type", ""), response.url.path)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise UrlRefused(
            "too_large",
            f"Content-Length {declared} > {max_bytes} bytes",
            size=file_size(int(declared)),
            limit=file_size(max_bytes),
        )
    data = await _read_capped(response, max_bytes)
    return FetchedDocument(
        url=str(response.url),
        content_type=content_type,
        file_name=_file_name(response.url.path, content_type),
        data=data,
    )


def _document_type(header: str, path: str) -> str:
    """The document's media type, trusting the URL's extension only over generic types."""
    media_type = header.split(";", 1)[0].strip().lower()
    media_type = TYPE_ALIASES.get(media_type, media_type)
    by_extension = TYPE_BY_EXTENSION.get(PurePosixPath(path).suffix.lower())
    # Servers send Markdown and CSV/TSV as text/plain; the extension is more specific.
    if by_extension and (media_type in GENERIC_TYPES or media_type == PLAIN_TEXT):
        return by_extension
    if media_type in DOCUMENT_TYPES:
        return media_type
    raise UrlRefused("not_a_document", f"content type {media_type or 'missing'!r}")


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """The (decoded) body, refusing it as soon as it grows past `max_bytes`."""
    data = bytearray()
    with _transport_errors():
        async for chunk in response.aiter_bytes():
            if len(data) + len(chunk) > max_bytes:
                limit = file_size(max_bytes)
                raise UrlRefused(
                    "too_large", f"body passed {max_bytes} bytes", size=f"> {limit}", limit=limit
                )
            data += chunk
    return bytes(data)


def _file_name(path: str, content_type: str) -> str:
    """A safe file name from the URL path, ending in an extension that fits the type."""
    last_segment = path.rsplit("/", 1)[-1]
    name = _UNSAFE_FILE_NAME_CHARS.sub("_", last_segment).strip("._ ")[:MAX_FILE_NAME_CHARS]
    extensions = DOCUMENT_EXTENSIONS[content_type]
    if not name:
        return "page.html" if content_type == HTML else f"document{extensions[0]}"
    if PurePosixPath(name).suffix.lower() not in extensions:
        name += extensions[0]
    return name
