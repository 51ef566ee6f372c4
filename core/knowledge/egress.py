"""A loopback HTTP proxy that holds libraries which fetch by themselves to `HostGuard`.

yt-dlp follows redirects and opens the media, caption and fragment URLs it finds on its
own, so checking the link a person sent is not enough: an allowed page could redirect to
a private address. Every fetch yt-dlp makes therefore goes through this proxy (its
`proxy` option; it then never resolves or dials a host itself):

- `CONNECT host:port` (https) and absolute-form requests (plain http) are the only ways
  out; each names its host, which `HostGuard` resolves and checks, and the proxy dials
  the very addresses it checked. A redirect is a new request, so every hop is checked.
- A refused host, one that does not resolve and one that does not answer all get the
  same `502 Bad Gateway`: the answer says nothing about what sits behind an address.

The proxy runs on its own event loop in a thread for the length of one blocking call,
listening on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import httpx

from core.knowledge.web import HostGuard, IPAddress, UrlRefused, parse_url

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 20.0
HEAD_TIMEOUT_SECONDS = 20.0
MAX_HEAD_BYTES = 64 * 1024
COPY_CHUNK_BYTES = 64 * 1024
START_TIMEOUT_SECONDS = 10.0
BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
TUNNEL_OPEN = b"HTTP/1.1 200 Connection established\r\n\r\n"
# Headers meant for the proxy or for one connection only; the origin never sees them.
HOP_BY_HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "upgrade"}
)


@contextmanager
def guarded_proxy(allowed_hosts: Sequence[str] = ()) -> Iterator[str]:
    """The URL of a proxy that lets out only what `HostGuard` allows, for one call."""
    proxy = _EgressProxy(HostGuard.allowing(allowed_hosts))
    port = proxy.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proxy.stop()


class _EgressProxy:
    """The proxy's event loop and thread; see the module docstring."""

    def __init__(self, guard: HostGuard) -> None:
        self._guard = guard
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    def start(self) -> int:
        """Starts listening on a free loopback port and returns it."""
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        return started.result(timeout=START_TIMEOUT_SECONDS)

    def stop(self) -> None:
        """Closes the listener and every open connection, then the loop."""
        try:
            stopped = asyncio.run_coroutine_threadsafe(self._close(), self._loop)
            stopped.result(timeout=START_TIMEOUT_SECONDS)
        except concurrent.futures.TimeoutError:
            logger.warning("The egress proxy did not close in time")
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=START_TIMEOUT_SECONDS)
            if not self._thread.is_alive():
                self._loop.close()

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", 0, limit=MAX_HEAD_BYTES
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._connections:
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Tracks the connection so `stop` can end it, then serves it."""
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._connections.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One request (or one tunnel) per client connection."""
        target = "?"
        try:
            async with asyncio.timeout(HEAD_TIMEOUT_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, target, version = request_line.split(" ", 2)
            if method.upper() == "CONNECT":
                upstream_reader, upstream_writer = await self._open(parse_url(f"https://{target}"))
                writer.write(TUNNEL_OPEN)
            else:
                url = parse_url(target)
                if url.scheme != "http":
                    raise UrlRefused("bad_url", "https goes through CONNECT")
                upstream_reader, upstream_writer = await self._open(url)
                upstream_writer.write(_origin_request(method, url, version, header_lines))
        except (UrlRefused, OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
            # Logged for the operator; the client only ever learns "bad gateway".
            logger.info("Egress proxy refused %s: %s", target, exc)
            writer.write(BAD_GATEWAY)
            await writer.drain()
            return
        try:
            await _relay(reader, writer, upstream_reader, upstream_writer)
        finally:
            upstream_writer.close()

    async def _open(self, url: httpx.URL) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connects to the first answering address the guard allowed for this host."""
        port = url.port or (443 if url.scheme == "https" else 80)
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
            addresses: list[IPAddress] = await self._guard.addresses(url)
            failure: OSError | None = None
            for address in addresses:
                try:
                    return await asyncio.open_connection(str(address), port)
                except OSError as exc:
                    failure = exc
        assert failure is not None
        raise failure


def _origin_request(method: str, url: httpx.URL, version: str, header_lines: list[str]) -> bytes:
    """The client's request as the origin expects it: path only, one request, no proxy headers."""
    headers = [
        line
        for line in header_lines
        if line and line.split(":", 1)[0].strip().lower() not in HOP_BY_HOP_HEADERS
    ]
    path = url.raw_path.decode("ascii") or "/"
    lines = [f"{method} {path} {version}", *headers, "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


async def _relay(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream_reader: asyncio.StreamReader,
    upstream_writer: asyncio.StreamWriter,
) -> None:
    """Copies bytes both ways until either side closes."""
    copies = {
        asyncio.create_task(_copy(client_reader, upstream_writer)),
        asyncio.create_task(_copy(upstream_reader, client_writer)),
    }
    try:
        await asyncio.wait(copies, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for copy in copies:
            copy.cancel()
        await asyncio.gather(*copies, return_exceptions=True)


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One direction of a relay."""
    try:
        while chunk := await reader.read(COPY_CHUNK_BYTES):
            writer.write(chunk)
            await writer.drain()
    except OSError as exc:
        logger.debug("Egress relay ended: %s", exc)
