"""The page in a real browser: Debian's Chromium driven by Playwright, against the real core.

Playwright never downloads a browser here: it drives /usr/bin/chromium (bootstrap installs
it). `UPDATE_WEB_SCREENSHOT=1` also saves the final page as docs/web.png for the README.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from core.deps import CoreDeps
from core.service import ChatService
from tests.bots.web.conftest import web_code
from tests.factories import attachment, collect, private, run_jobs, with_files
from tests.fakes import EchoChatModel
from tests.knowledge_fixtures import pdf_bytes

CHROMIUM = "/usr/bin/chromium"
# Headless and offline: without the networking flags Chromium keeps calling Google's hosts.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "web.png"
WAIT_MS = 15_000

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed"
)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1200, "height": 760}, locale="en-US")
    context.set_default_timeout(WAIT_MS)
    yield await context.new_page()
    await context.close()


async def test_sign_in_chat_upload_and_cited_answer(
    web: str,
    page: Page,
    service: ChatService,
    deps: CoreDeps,
    chat_model: EchoChatModel,
    tmp_path: Path,
) -> None:
    # Someone else's document, which the page must not reach.
    theirs = attachment("bia.txt", b"Bia grows figs.", "text/plain")
    await collect(service.handle(with_files(private("bia"), theirs)))
    [bia_document] = await deps.knowledge.documents.list(["cli:bia"])

    await page.goto(web)
    await page.fill("#code", await web_code(service, "ana"))
    await page.click("#sign-in-form button")
    await expect(page.locator("#who")).to_have_text("Ana")

    # The answer streams: it is shown in several steps before it is complete.
    await page.evaluate(
        """() => {
            window.answerSteps = 0;
            new MutationObserver(() => window.answerSteps++)
                .observe(document.getElementById("log"), {childList: true, subtree: true});
        }"""
    )
    await page.fill("#message", "hello there")
    await page.press("#message", "Enter")
    answer = page.locator("#log li.answer[data-done]")
    await expect(answer).to_have_text("echo: hello there")
    assert await page.evaluate("window.answerSteps") >= 3

    await page.set_input_files(
        "#file", files=[{"name": "facts.pdf", "mimeType": "application/pdf", "buffer": pdf_bytes()}]
    )
    status = page.locator("#log li[data-status-key]")
    await expect(status).to_have_count(1)
    before = await status.inner_text()
    await run_jobs(deps)  # the worker indexes it; progress reaches the page live
    await expect(status).not_to_have_text(before)
    await expect(page.locator("#documents li .status-ready")).to_have_count(1)

    chat_model.reply = "The lighthouse on Cape Orla was painted red in 1911 [1]."
    await page.fill("#message", "When was the lighthouse on Cape Orla painted red?")
    await page.press("#message", "Enter")
    cited = answer.nth(1)
    await expect(cited).to_contain_text("painted red in 1911 [1]")
    await cited.locator("details > summary").first.click()
    citation = cited.locator("details details").first
    await expect(citation.locator("summary")).to_contain_text("facts, p. 1")
    await citation.locator("summary").click()
    await expect(citation.locator("div")).to_contain_text("Cape Orla was painted red in 1911")

    refused = await page.evaluate(
        "id => fetch('/api/documents/' + id).then(r => r.status)", bia_document.id
    )
    assert refused == 404
    await expect(page.locator("#documents li")).to_have_count(1)

    shot = await page.screenshot(path=tmp_path / "web.png")
    assert shot.startswith(b"\x89PNG")
    if os.environ.get("UPDATE_WEB_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.write_bytes(shot)


async def test_a_wrong_code_is_refused_in_portuguese(web: str, browser: Browser) -> None:
    context = await browser.new_context(locale="pt-BR")
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    await page.goto(f"{web}/?code=WRONG234")
    await expect(page.locator("#sign-in-error")).to_contain_text("Esse código está errado")
    await expect(page.locator("#app")).to_be_hidden()
    await context.close()
