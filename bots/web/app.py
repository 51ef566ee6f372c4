"""The web page's HTTP API: a FastAPI app over the core, as thin as the chat adapters.

Every route that shows or changes data takes the identity from the session cookie alone
(`Visitor`), never from a parameter, and asks the core with that identity's private chat:
the page sees exactly what that chat sees. Messages and typed `/commands` go through
`ChatService.handle`, so limits, quotas and commands are the other front ends' own.
Writes must come from the page itself: the cookie is SameSite=Strict and the Origin of
every POST must be this site's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from bots.web.events import ProgressFanOut, chat_events, notice_json, progress_events
from core.commands import COMMANDS, CommandContext, command_from_text
from core.deps import CoreDeps
from core.i18n import preferred_locale, texts_starting
from core.knowledge.documents import Document, scope_for
from core.service import ChatService
from core.types import Attachment, Incoming, Notice
from core.users import UserRecord
from core.web_access import WebIdentity

SESSION_COOKIE = "assistant_session"
STATIC_DIR = Path(__file__).parent / "static"
# The page loads nothing from elsewhere and runs no inline script.
CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
# Longer than any chat platform's message (Telegram: 4096): a paste, not a document.
MAX_MESSAGE_CHARS = 16_000


def create_app(deps: CoreDeps) -> FastAPI:
    """The page and its API over one opened core."""
    app = FastAPI(title="chat-assistant", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.deps = deps
    app.state.service = ChatService(deps)
    app.state.progress = ProgressFanOut(deps)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _deps(request: Request) -> CoreDeps:
    deps: CoreDeps = request.app.state.deps
    return deps


def _service(request: Request) -> ChatService:
    service: ChatService = request.app.state.service
    return service


def _progress(request: Request) -> ProgressFanOut:
    progress: ProgressFanOut = request.app.state.progress
    return progress


Deps = Annotated[CoreDeps, Depends(_deps)]
Service = Annotated[ChatService, Depends(_service)]
Progress = Annotated[ProgressFanOut, Depends(_progress)]


@dataclass(frozen=True)
class Visitor:
    """The signed-in chat identity, as the core knows it (linked person included)."""

    who: WebIdentity
    person: str
    language_hint: str | None

    def incoming(self, text: str = "", *, attachments: tuple[Attachment, ...] = ()) -> Incoming:
        """A message from this identity's private chat; a typed `/cmd` is a command."""
        command = command_from_text(text)
        return self.who.incoming(
            "" if command else text.strip(),
            command=command,
            attachments=attachments,
            language_hint=self.language_hint,
            person=self.person,
        )

    @property
    def scope(self) -> str:
        """The private knowledge this identity sees (its person's, once linked)."""
        return scope_for(self.incoming())


async def _visitor(request: Request, deps: Deps) -> Visitor:
    """The session's identity; 401 without a valid session cookie."""
    who = await deps.web_access.identity(request.cookies.get(SESSION_COOKIE, ""))
    if who is None:
        raise HTTPException(401, "not signed in")
    language = preferred_locale(request.headers.get("accept-language"))
    return Visitor(who, await deps.people.person_of(who.key), language)


async def _same_origin(request: Request, deps: Deps) -> None:
    """Refuse writes sent by other sites (CSRF), beside the SameSite=Strict cookie."""
    allowed = {request.headers.get("host", "")}
    if deps.settings.web_public_url:
        allowed.add(urlsplit(deps.settings.web_public_url).netloc)
    origin = request.headers.get("origin", "")
    if not origin or urlsplit(origin).netloc not in allowed:
        raise HTTPException(403, "cross-site request refused")


SignedIn = Annotated[Visitor, Depends(_visitor)]
SAME_ORIGIN = [Depends(_same_origin)]
router = APIRouter()


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The single page; everything else is its API."""
    return FileResponse(
        STATIC_DIR / "index.html", headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY}
    )


class SignIn(BaseModel):
    code: str = Field(max_length=32)


@router.post("/api/sign-in", dependencies=SAME_ORIGIN)
async def sign_in(body: SignIn, request: Request, response: Response, deps: Deps) -> dict[str, str]:
    """Trades a /web code for a session cookie."""
    client = request.client.host if request.client else "unknown"
    if not await deps.web_access.may_try(client):
        raise HTTPException(429, "too many tries")
    token = await deps.web_access.sign_in(body.code)
    if token is None:
        raise HTTPException(400, "wrong, used or expired code")
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=deps.web_access.session_ttl_seconds,
        httponly=True,
        samesite="strict",
        secure=deps.settings.web_public_url.startswith("https://"),
    )
    return {"status": "signed in"}


@router.post("/api/sign-out", dependencies=SAME_ORIGIN)
async def sign_out(request: Request, response: Response, deps: Deps) -> dict[str, str]:
    """Ends the session here and in Redis."""
    await deps.web_access.sign_out(request.cookies.get(SESSION_COOKIE, ""))
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return {"status": "signed out"}


@router.get("/api/texts")
async def texts(request: Request, deps: Deps, service: Service) -> dict[str, Any]:
    """The page's labels: the signed-in user's language, else the browser's."""
    locale = preferred_locale(request.headers.get("accept-language"))
    who = await deps.web_access.identity(request.cookies.get(SESSION_COOKIE, ""))
    if who is not None:
        user = await deps.users.touch(who.incoming().user)
        locale = service.resolve_locale(user, who.incoming(language_hint=locale))
    locale = locale or deps.settings.default_locale
    return {
        "locale": locale,
        "texts": texts_starting("page_", locale) | texts_starting("status_", locale),
    }


@router.get("/api/me")
async def me(visitor: SignedIn, deps: Deps) -> dict[str, Any]:
    """Who the page is signed in as, and whether they see the admin figures."""
    user = await _user(deps, visitor)
    return {
        "identity": visitor.who.key,
        "name": visitor.who.display_name or visitor.who.key,
        "is_admin": user.is_admin,
    }


class Message(BaseModel):
    text: str = Field(max_length=MAX_MESSAGE_CHARS)


@router.post("/api/chat", dependencies=SAME_ORIGIN)
async def chat(body: Message, visitor: SignedIn, service: Service) -> StreamingResponse:
    """One message or command; the answer streams back as server-sent events."""
    return StreamingResponse(
        chat_events(service, visitor.incoming(body.text)),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
    )


@router.get("/api/events")
async def events(visitor: SignedIn, progress: Progress) -> StreamingResponse:
    """Progress of this identity's jobs started from the page, as server-sent events."""
    return StreamingResponse(
        progress_events(progress, visitor.who.key),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
    )


@router.get("/api/documents")
async def documents(visitor: SignedIn, deps: Deps) -> list[dict[str, Any]]:
    """The documents of this identity's private scope, newest first."""
    return [_document(d) for d in await deps.knowledge.documents.list([visitor.scope])]


@router.get("/api/documents/{document_id}")
async def document(document_id: str, visitor: SignedIn, deps: Deps) -> dict[str, Any]:
    """One document with its summary; another scope's is as absent as a missing one."""
    found = await deps.knowledge.documents.get(document_id)
    if found is None or found.scope != visitor.scope:
        raise HTTPException(404, "no such document")
    return _document(found) | {
        "summary": found.summary or "",
        "questions": found.suggested_questions,
    }


@router.post("/api/documents", dependencies=SAME_ORIGIN)
async def upload(
    name: str, request: Request, visitor: SignedIn, deps: Deps, service: Service
) -> list[dict[str, Any]]:
    """A file as the request body (`?name=`): taken in as if sent in the private chat."""
    declared = int(request.headers.get("content-length") or 0)
    limit = deps.settings.knowledge_max_file_bytes

    async def fetch() -> bytes:
        # Read no further than one byte past the limit: the core refuses it by its size.
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > limit:
                break
        return bytes(data)

    mime_type = request.headers.get("content-type", "application/octet-stream")
    attachment = Attachment(name, mime_type, declared, f"web:{name}", fetch=fetch)
    return [
        notice_json(event)
        async for event in service.handle(visitor.incoming(attachments=(attachment,)))
        if isinstance(event, Notice)
    ]


@router.get("/api/sources")
async def sources(visitor: SignedIn, deps: Deps) -> list[dict[str, str]]:
    """The passages behind the last answer (what /sources shows), whole."""
    key = visitor.incoming().conversation_key
    return await deps.knowledge.retrieval.last_sources(key)


@router.get("/api/admin")
async def admin(visitor: SignedIn, deps: Deps, service: Service) -> dict[str, str]:
    """Admins only: the figures of /stats and /jobs."""
    user = await _user(deps, visitor)
    if not user.is_admin:
        raise HTTPException(403, "admins only")
    incoming = visitor.incoming()
    context = CommandContext(incoming, user, service.resolve_locale(user, incoming), deps)
    figures = {name: await COMMANDS[name](context) for name in ("stats", "jobs")}
    return {name: f.text if isinstance(f, Notice) else f for name, f in figures.items()}


async def _user(deps: CoreDeps, visitor: Visitor) -> UserRecord:
    return await deps.users.touch(visitor.incoming().user)


def _document(document: Document) -> dict[str, Any]:
    return {
        "id": document.id,
        "short_id": document.short_id,
        "title": document.title,
        "kind": document.kind,
        "size_bytes": document.size_bytes,
        "chunks": document.chunk_count,
        "status": document.status,
        "error": document.error or "",
        "source_url": document.source_url or "",
        "created_at": document.created_at.isoformat() if document.created_at else "",
    }
