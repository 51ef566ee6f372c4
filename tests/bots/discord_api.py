"""A small fake of Discord's REST API on 127.0.0.1: the only thing Discord tests replace.

discord.py builds every URL, webhook and interaction callbacks included, from
`discord.http.Route.BASE`; point that at `FakeDiscordApi.base_url` and the real client
talks to this server. It records each request and answers the way Discord does, keeping
the messages the bot sent (as last edited) so tests can read what a user would see.
It is the CDN too: `add_attachment` serves a file at the URL its attachment payload names.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

API_PREFIX = "/api/v10"
CDN_PREFIX = "/attachments"
EPHEMERAL_FLAG = 64
# Interaction callback types, as Discord numbers them.
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5

Handler = Callable[[web.Request, "RecordedRequest", dict[str, str]], Awaitable[web.Response]]


@dataclass(frozen=True)
class RecordedRequest:
    """One call the bot made: path without the /api/v10 prefix, JSON body (multipart too)."""

    method: str
    path: str
    json: Any
    query: dict[str, str]
    file_names: tuple[str, ...] = ()


@dataclass
class _Failure:
    method: str
    path: re.Pattern[str]
    status: int
    retry_after_seconds: float
    times: int


@dataclass
class FakeDiscordApi:
    """Serves the handful of endpoints the adapter uses; see `_routes` for the list."""

    bot_user: dict[str, Any]
    application_id: int
    requests: list[RecordedRequest] = field(default_factory=list)
    unhandled: list[RecordedRequest] = field(default_factory=list)
    # Every message the bot created, by id, as last edited, in creation order.
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Which channel an interaction token answers in (Discord knows; tests tell us).
    interaction_channels: dict[str, str] = field(default_factory=dict)
    # Attachment files by CDN path, and the paths the bot downloaded.
    files: dict[str, bytes] = field(default_factory=dict)
    downloads: list[str] = field(default_factory=list)
    base_url: str = ""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(7_000_000_000))
    _originals: dict[str, str] = field(default_factory=dict)
    _failures: list[_Failure] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Listen on a free loopback port; returns the value for `Route.BASE`."""
        app = web.Application()
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._dispatch)
        app.router.add_get(CDN_PREFIX + "/{tail:.*}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}{API_PREFIX}"
        return self.base_url

    @property
    def cdn_url(self) -> str:
        return self.base_url.removesuffix(API_PREFIX) + CDN_PREFIX

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # What tests use

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        *,
        status: int = 429,
        retry_after_seconds: float = 0.05,
        times: int = 1,
    ) -> None:
        """Answer the next `times` matching requests with an error (a 429 by default)."""
        failure = _Failure(method, re.compile(path_pattern), status, retry_after_seconds, times)
        self._failures.append(failure)

    def add_attachment(self, channel_id: int | str, file_name: str, data: bytes) -> str:
        """Serve `data` as an attachment in a channel; returns its URL."""
        path = f"/{channel_id}/{next(self._ids)}/{file_name}"
        self.files[path] = data
        return self.cdn_url + path

    def calls(self, method: str, path_pattern: str = "") -> list[RecordedRequest]:
        """Recorded requests with this method whose path matches the pattern (fully)."""
        pattern = re.compile(path_pattern or ".*")
        return [r for r in self.requests if r.method == method and pattern.fullmatch(r.path)]

    def channel_messages(self, channel_id: int | str) -> list[dict[str, Any]]:
        """What the bot shows in a channel now, oldest first."""
        return [m for m in self.messages.values() if m["channel_id"] == str(channel_id)]

    def contents(self, channel_id: int | str) -> list[str]:
        return [m["content"] for m in self.channel_messages(channel_id)]

    async def wait_for(self, predicate: Callable[[], bool], timeout_seconds: float = 5.0) -> None:
        """Wait until `predicate()` holds, re-checking after every request."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout_seconds)

    # The server

    def _routes(self) -> list[tuple[str, str, Handler]]:
        webhook = r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)"
        return [
            ("GET", r"/users/@me", self._me),
            ("GET", r"/oauth2/applications/@me", self._application),
            ("PUT", r"/applications/(?P<app>\d+)(/guilds/(?P<guild>\d+))?/commands", self._sync),
            ("POST", r"/channels/(?P<channel>\d+)/typing", self._no_content),
            ("POST", r"/channels/(?P<channel>\d+)/messages", self._create_message),
            ("PATCH", r"/channels/(?P<channel>\d+)/messages/(?P<message>\d+)", self._edit),
            ("POST", r"/interactions/(?P<id>\d+)/(?P<token>[^/]+)/callback", self._callback),
            ("PATCH", webhook + r"/messages/(?P<message>@original|\d+)", self._webhook_edit),
            ("DELETE", webhook + r"/messages/(?P<message>@original|\d+)", self._webhook_delete),
            ("POST", webhook, self._webhook_send),
        ]

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        recorded = await _record(request)
        try:
            failure = self._take_failure(recorded)
            if failure is not None:
                return _error(failure.status, failure.retry_after_seconds)
            for method, pattern, handler in self._routes():
                match = re.fullmatch(pattern, recorded.path)
                if method == recorded.method and match:
                    self.requests.append(recorded)
                    return await handler(request, recorded, match.groupdict())
            self.unhandled.append(recorded)
            return _json({"message": "404: Not Found", "code": 0}, status=404)
        finally:
            async with self._changed:
                self._changed.notify_all()

    async def _download(self, request: web.Request) -> web.Response:
        path = request.path.removeprefix(CDN_PREFIX)
        self.downloads.append(path)
        data = self.files.get(path)
        if data is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=data, content_type="application/octet-stream")

    def _take_failure(self, recorded: RecordedRequest) -> _Failure | None:
        for failure in self._failures:
            if failure.method == recorded.method and failure.path.fullmatch(recorded.path):
                self.requests.append(recorded)
                failure.times -= 1
                if failure.times == 0:
                    self._failures.remove(failure)
                return failure
        return None

    async def _me(self, _r: web.Request, _rec: RecordedRequest, _p: dict[str, str]) -> web.Response:
        return _json(self.bot_user)

    async def _application(
        self, _r: web.Request, _rec: RecordedRequest, _p: dict[str, str]
    ) -> web.Response:
        return _json(
            {
                "id": str(self.application_id),
                "name": self.bot_user["username"],
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": {**self.bot_user, "id": "1", "bot": False},
                "verify_key": "0" * 64,
                "flags": 0,
            }
        )

    async def _sync(
        self, _r: web.Request, recorded: RecordedRequest, params: dict[str, str]
    ) -> web.Response:
        synced = []
        for command in recorded.json:
            entry = {**command, "id": str(next(self._ids)), "application_id": params["app"]}
            if params.get("guild"):
                entry["guild_id"] = params["guild"]
            entry.setdefault("version", "1")
            synced.append(entry)
        return _json(synced)

    async def _no_content(
        self, _r: web.Request, _rec: RecordedRequest, _p: dict[str, str]
    ) -> web.Response:
        return web.Response(status=204)

    async def _create_message(
        self, _r: web.Request, recorded: RecordedRequest, params: dict[str, str]
    ) -> web.Response:
        body = recorded.json or {}
        message = self._new_message(params["channel"], body)
        if body.get("message_reference"):
            message["message_reference"] = body["message_reference"]
            message["type"] = 19
        return _json(message)

    async def _edit(
        self, _r: web.Request, recorded: RecordedRequest, params: dict[str, str]
    ) -> web.Response:
        message = self.messages.get(params["message"])
        if message is None or message["channel_id"] != params["channel"]:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        return _json(self._apply_edit(message, recorded.json or {}))

    async def _callback(
        self, _r: web.Request, recorded: RecordedRequest, params: dict[str, str]
    ) -> web.Response:
        body = recorded.json or {}
        data = body.get("data") or {}
        flags = data.get("flags", 0)
        interaction: dict[str, Any] = {
            "id": params["id"],
            "type": 2,
            "response_message_loading": body["type"] == DEFERRED_CHANNEL_MESSAGE,
            "response_message_ephemeral": bool(flags & EPHEMERAL_FLAG),
        }
        resource: dict[str, Any] = {"type": body["type"]}
        if body["type"] == CHANNEL_MESSAGE:
            channel = self.interaction_channels.get(params["token"], "0")
            message = self._new_message(channel, data)
            self._originals[params["token"]] = message["id"]
            interaction["response_message_id"] = message["id"]
            resource["message"] = message
        return _json({"interaction": interaction, "resource": resource})

    async def _webhook_edit(
        self, _r: web.Request, recorded: RecordedRequest, params: dict[str, str]
    ) -> web.Response:
        token, message_id = params["token"], params["message"]
        if message_id == "@original":
            if token not in self._originals:
                # The deferred "thinking…" placeholder becomes a real message on first edit.
                channel = self.interaction_channels.get(token, "0")
                self._originals[token] = self._new_message(channel, {})["id"]
            message_id = self._originals[token]
        message = self.messages.get(message_id)
        if message is None:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        return _json(self._apply_edit(message, recorded.json or {}))

    async def _webhook_delete(
        self, _r: web.Request, _rec: RecordedRequest, params: dict[str, str]
    ) -> web.Response:
        message_id = params["message"]
        if message_id == "@original":
            message_id = self._originals.pop(params["token"], "")
        self.messages.pop(message_id, None)
        return web.Response(status=204)

    async def _webhook_send(
        self, _r: web.Request, recorded: RecordedRequest, params: dict[str, str]
    ) -> web.Response:
        channel = self.interaction_channels.get(params["token"], "0")
        message = self._new_message(channel, recorded.json or {})
        message["webhook_id"] = params["app"]
        if recorded.query.get("wait", "").lower() not in ("1", "true"):
            return web.Response(status=204)
        return _json(message)

    def _new_message(self, channel_id: str, body: dict[str, Any]) -> dict[str, Any]:
        message_id = str(next(self._ids))
        message = {
            "id": message_id,
            "channel_id": str(channel_id),
            "author": self.bot_user,
            "content": body.get("content") or "",
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": body.get("flags", 0),
            "allowed_mentions": body.get("allowed_mentions"),
        }
        self.messages[message_id] = message
        return message

    def _apply_edit(self, message: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        if "content" in body:
            message["content"] = body["content"] or ""
        if "allowed_mentions" in body:
            message["allowed_mentions"] = body["allowed_mentions"]
        message["edited_timestamp"] = _now()
        return message


async def _record(request: web.Request) -> RecordedRequest:
    path = request.path.removeprefix(API_PREFIX)
    query = dict(request.query)
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        raw = form.get("payload_json")
        names = tuple(value.filename for value in form.values() if isinstance(value, web.FileField))
        body = json.loads(raw) if isinstance(raw, str) else None
        return RecordedRequest(request.method, path, body, query, names)
    text = await request.text()
    return RecordedRequest(request.method, path, json.loads(text) if text else None, query)


def _error(status: int, retry_after_seconds: float) -> web.Response:
    if status != 429:
        return _json({"message": "error", "code": 0}, status=status)
    # No `Via` header: discord.py then surfaces the 429 instead of retrying by itself.
    body = {"message": "You are being rate limited.", "retry_after": retry_after_seconds}
    headers = {"Retry-After": str(retry_after_seconds)}
    return _json({**body, "global": False}, status=429, headers=headers)


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly `application/json`, as Discord sends it: discord.py parses nothing else.
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _now() -> str:
    return datetime.now(UTC).isoformat()
