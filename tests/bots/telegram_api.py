"""A small fake Telegram Bot API on 127.0.0.1: the only part of Telegram the tests replace.

It answers `POST /bot<token>/<method>` like the real API (`{"ok": true, "result": ...}`),
keeps the messages the bot sent with their edits, records every call, enforces the rules
the adapter must respect (4096 characters, "message is not modified") and can be told to
fail a method once, e.g. with flood control (429) or a formatting error (400). Files
added with `add_file` are served like Telegram's: `getFile`, then
`GET /file/bot<token>/<file_path>` (recorded as a `download` call).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

TOKEN = "4242:TEST-TOKEN"
BOT_ID = 4242
BOT_USERNAME = "test_bot"
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "Test Bot", "username": BOT_USERNAME}
MAX_TEXT_CHARS = 4096
# The official Bot API lets bots download files up to 20 MB.
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
POLL_WAIT_SECONDS = 0.05

# PTB sends form fields with non-string values JSON-encoded; these come back as numbers.
_INT_PARAMS = {
    "chat_id",
    "message_id",
    "message_thread_id",
    "offset",
    "limit",
    "timeout",
    "user_id",
}


@dataclass
class ApiCall:
    """One request the bot made, and when (monotonic seconds)."""

    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass
class SentMessage:
    """A message the bot sent, as it looks now (after its edits)."""

    chat_id: int
    message_id: int
    text: str
    entities: list[dict[str, Any]]
    reply_to_message_id: int | None
    edit_count: int = 0


@dataclass
class _Failure:
    status: int
    description: str
    retry_after: int | None


@dataclass
class FakeBotApi:
    """Start with `await api.start()`, point the bot at `api.base_url`, `await api.close()`."""

    calls: list[ApiCall] = field(default_factory=list)
    messages: dict[tuple[int, int], SentMessage] = field(default_factory=dict)
    reject_entities: bool = False  # answer every formatted send/edit with "can't parse entities"
    # Files the bot may download: file_id → (file_path, bytes).
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    # A server in --local mode: getFile answers with a path under this folder, any size.
    local_root: Path | None = None
    # Flood control per group chat: at most this many sends and edits in any window.
    group_max_messages: int | None = None
    group_window_seconds: float = 1.0
    flood_refusals: int = 0
    # Users who administer every group, for getChatMember.
    chat_admins: set[int] = field(default_factory=set)
    _failures: dict[str, deque[_Failure]] = field(default_factory=lambda: defaultdict(deque))
    _message_ids: itertools.count = field(default_factory=lambda: itertools.count(10_000))
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._download)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(
        self, method: str, *, status: int, description: str, retry_after: int | None = None
    ) -> None:
        """Answer the next call of `method` with this error instead of success."""
        self._failures[method].append(_Failure(status, description, retry_after))

    def add_file(self, file_id: str, data: bytes, *, file_name: str = "file") -> None:
        """Make a file downloadable by its id (its bytes may exceed what getFile allows)."""
        self.files[file_id] = (f"documents/{file_id}_{file_name}", data)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [call.params for call in self.calls if call.method == method]

    def sent_to(self, chat_id: int) -> list[SentMessage]:
        """The bot's messages in a chat, oldest first, each in its latest version."""
        return [m for (chat, _), m in sorted(self.messages.items()) if chat == chat_id]

    def texts_in(self, chat_id: int) -> list[str]:
        return [m.text for m in self.sent_to(chat_id)]

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await _read_params(request)
        self.calls.append(ApiCall(method, params))
        if self._failures[method]:
            failure = self._failures[method].popleft()
            return _error(failure.status, failure.description, failure.retry_after)
        if self._is_flooding(method, params):
            self.flood_refusals += 1
            return _error(429, "Too Many Requests: retry after 1", 1)
        if method == "getUpdates":
            # Long polling that never has news: wait a little so a polling bot does not spin.
            await asyncio.sleep(POLL_WAIT_SECONDS)
            return _ok([])
        answer = getattr(self, f"_api_{method}", None)
        if answer is None:
            return _ok(True)
        return answer(params)

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return web.Response(status=401)
        file_path = request.match_info["file_path"]
        self.calls.append(ApiCall("download", {"file_path": file_path}))
        for path, data in self.files.values():
            if path == file_path:
                return web.Response(body=data, content_type="application/octet-stream")
        return _error(404, "Not Found")

    def _is_flooding(self, method: str, params: dict[str, Any]) -> bool:
        """Whether this send or edit breaks the group's flood limit (like Telegram's 20/min)."""
        chat_id = params.get("chat_id")
        if self.group_max_messages is None or method not in ("sendMessage", "editMessageText"):
            return False
        if not isinstance(chat_id, int) or chat_id > 0:
            return False
        since = time.monotonic() - self.group_window_seconds
        recent = [
            c
            for c in self.calls[:-1]
            if c.at >= since
            and c.method in ("sendMessage", "editMessageText")
            and c.params.get("chat_id") == chat_id
        ]
        return len(recent) >= self.group_max_messages

    def _api_getFile(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        file_id = params.get("file_id")
        if file_id not in self.files:
            return _error(400, "Bad Request: invalid file_id")
        path, data = self.files[file_id]
        if self.local_root is not None:
            local = self.local_root / path
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
            path = str(local)  # local mode: an absolute path the bot reads itself
        elif len(data) > MAX_DOWNLOAD_BYTES:
            return _error(400, "Bad Request: file is too big")
        return _ok(
            {
                "file_id": file_id,
                "file_unique_id": f"unique-{file_id}",
                "file_size": len(data),
                "file_path": path,
            }
        )

    def _api_sendDocument(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        chat_id = params["chat_id"]
        message_id = next(self._message_ids)
        return _ok(
            {
                "message_id": message_id,
                "date": 0,
                "chat": {"id": chat_id, "type": "private"},
                "from": BOT_USER,
                "document": {"file_id": f"sent-{message_id}", "file_unique_id": f"u{message_id}"},
            }
        )

    def _api_getChatMember(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        user_id = int(params["user_id"])
        status = "administrator" if user_id in self.chat_admins else "member"
        user = {"id": user_id, "is_bot": False, "first_name": f"user {user_id}"}
        member: dict[str, Any] = {"status": status, "user": user}
        if status == "administrator":
            rights = (
                "can_be_edited can_manage_chat can_delete_messages can_manage_video_chats "
                "can_restrict_members can_promote_members can_change_info can_invite_users "
                "can_post_stories can_edit_stories can_delete_stories is_anonymous"
            )
            member |= dict.fromkeys(rights.split(), False)
        return _ok(member)

    def _api_getMe(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        return _ok(
            BOT_USER
            | {
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )

    def _api_sendMessage(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        problem = self._check_text(params)
        if problem:
            return problem
        chat_id = params["chat_id"]
        reply = params.get("reply_parameters") or {}
        message = SentMessage(
            chat_id=chat_id,
            message_id=next(self._message_ids),
            text=params["text"],
            entities=params.get("entities") or [],
            reply_to_message_id=reply.get("message_id") or params.get("reply_to_message_id"),
        )
        self.messages[(chat_id, message.message_id)] = message
        return _ok(_message_json(message))

    def _api_editMessageText(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        message = self.messages.get((params.get("chat_id"), params.get("message_id")))
        if message is None:
            return _error(400, "Bad Request: message to edit not found")
        problem = self._check_text(params)
        if problem:
            return problem
        entities = params.get("entities") or []
        if params["text"] == message.text and entities == message.entities:
            return _error(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        message.text, message.entities = params["text"], entities
        message.edit_count += 1
        return _ok(_message_json(message))

    def _check_text(self, params: dict[str, Any]) -> web.Response | None:
        text = params.get("text") or ""
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > MAX_TEXT_CHARS:
            return _error(400, "Bad Request: message is too long")
        if self.reject_entities and params.get("entities"):
            return _error(400, "Bad Request: can't parse entities: can't find end of the entity")
        return None


async def _read_params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        return await request.json()
    form = await request.post()
    params: dict[str, Any] = {}
    for key, value in form.items():
        if not isinstance(value, str):
            continue  # an uploaded file; nothing in these tests sends one
        params[key] = _decode(key, value)
    return params


def _decode(key: str, value: str) -> Any:
    if key in _INT_PARAMS:
        try:
            return int(value)
        except ValueError:
            return value
    if key != "text" and value and value[0] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _message_json(message: SentMessage) -> dict[str, Any]:
    data: dict[str, Any] = {
        "message_id": message.message_id,
        "date": int(time.time()),
        "chat": {"id": message.chat_id, "type": "private" if message.chat_id > 0 else "supergroup"},
        "from": BOT_USER,
        "text": message.text,
    }
    if message.entities:
        data["entities"] = message.entities
    if message.edit_count:
        data["edit_date"] = int(time.time())
    return data


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)
