// The web page: sign in with a /web code, chat with streamed answers, documents with live
// indexing progress. Plain DOM, no build step; every text from the server goes in as text.
"use strict";

const $ = (id) => document.getElementById(id);
let texts = {};

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (!response.ok) throw Object.assign(new Error(response.statusText), { status: response.status });
  return response;
}

function post(path, body, type = "application/json") {
  return api(path, { method: "POST", headers: { "Content-Type": type }, body });
}

async function loadTexts() {
  const answer = await (await api("/api/texts")).json();
  texts = answer.texts;
  document.documentElement.lang = answer.locale;
  document.title = texts.page_title;
  for (const node of document.querySelectorAll("[data-text]")) node.textContent = texts[node.dataset.text];
  for (const node of document.querySelectorAll("[data-placeholder]")) node.placeholder = texts[node.dataset.placeholder];
  for (const node of document.querySelectorAll("[data-label]")) node.setAttribute("aria-label", texts[node.dataset.label]);
}

// Text with its links made clickable (YouTube citations carry &t= timestamps).
function linked(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(/https?:\/\/[^\s)"”]+/g)) {
    fragment.append(text.slice(last, match.index));
    const link = Object.assign(document.createElement("a"), { href: match[0], textContent: match[0], target: "_blank", rel: "noopener" });
    fragment.append(link);
    last = match.index + match[0].length;
  }
  fragment.append(text.slice(last));
  return fragment;
}

function entry(kind, text = "") {
  const item = document.createElement("li");
  item.className = kind;
  item.append(linked(text));
  $("log").append(item);
  item.scrollIntoView({ block: "end" });
  return item;
}

function showNotice(notice) {
  const item = entry(`notice${notice.is_error ? " is-error" : ""}`, notice.text);
  if (notice.status_key) item.dataset.statusKey = notice.status_key;
  if (notice.file_base64) {
    const bytes = Uint8Array.from(atob(notice.file_base64), (c) => c.charCodeAt(0));
    const link = Object.assign(document.createElement("a"), {
      href: URL.createObjectURL(new Blob([bytes])), download: notice.file_name, textContent: `${texts.page_download}: ${notice.file_name}`,
    });
    item.append(document.createElement("br"), link);
  }
  return item;
}

function showSources(item, sources) {
  if (!sources.length) return;
  const details = document.createElement("details");
  details.append(Object.assign(document.createElement("summary"), { textContent: `${texts.page_sources} (${sources.length})` }));
  sources.forEach((source, index) => {
    const passage = document.createElement("details");
    const title = document.createElement("summary");
    title.append(`[${index + 1}] `, linked(source.cite));
    const whole = document.createElement("div");
    whole.textContent = source.text;
    passage.append(title, whole);
    details.append(passage);
  });
  item.append(details);
}

// Server-sent events from a fetch body (EventSource cannot POST).
async function* readEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(frame);
      const data = /^data: (.*)$/m.exec(frame);
      if (event && data) yield [event[1], JSON.parse(data[1])];
    }
  }
}

async function send(text) {
  entry("me", text);
  let answer = null;
  let hasJob = false;
  try {
    const response = await post("/api/chat", JSON.stringify({ text }));
    for await (const [kind, data] of readEvents(response)) {
      if (kind === "delta") {
        answer ??= entry("answer");
        answer.append(data.text);
      } else if (kind === "done") {
        answer ??= entry("answer");
        answer.replaceChildren(linked(data.text));
        showSources(answer, data.sources);
        answer.dataset.done = "true";
        answer = null;
      } else if (kind === "notice") {
        answer = null;
        showNotice(data);
        hasJob ||= Boolean(data.status_key);
      }
    }
  } catch (error) {
    showNotice({ text: texts.page_error, is_error: true });
  }
  if (hasJob || text.startsWith("/forget")) loadDocuments();
}

async function upload(file) {
  entry("me", file.name);
  try {
    const response = await post(`/api/documents?name=${encodeURIComponent(file.name)}`, file, file.type || "application/octet-stream");
    for (const notice of await response.json()) showNotice(notice);
  } catch (error) {
    showNotice({ text: texts.page_error, is_error: true });
  }
  loadDocuments();
}

const progress = new Map(); // status key (document id) → latest progress line

function showProgress(update) {
  progress.set(update.status_key, update.text);
  const status = document.querySelector(`#log [data-status-key="${CSS.escape(update.status_key)}"]`);
  if (status) status.replaceChildren(linked(update.text));
  else showNotice({ text: update.text, status_key: update.status_key });
  loadDocuments();
}

async function loadDocuments() {
  const documents = await (await api("/api/documents")).json();
  $("no-documents").hidden = documents.length > 0;
  $("documents").replaceChildren(...documents.map((doc) => {
    const item = document.createElement("li");
    item.dataset.id = doc.id;
    const meta = Object.assign(document.createElement("div"), { className: `meta status-${doc.status}` });
    meta.textContent = [doc.kind, texts[`status_${doc.status}`] || doc.status, doc.short_id].join(" · ");
    item.append(linked(doc.title), meta);
    if (doc.status !== "ready" && progress.has(doc.id)) {
      item.append(Object.assign(document.createElement("span"), { className: "progress", textContent: progress.get(doc.id) }));
    }
    return item;
  }));
}

function listenForProgress() {
  const source = new EventSource("/api/events");
  source.addEventListener("progress", (event) => showProgress(JSON.parse(event.data)));
}

async function loadAdmin() {
  const figures = await (await api("/api/admin")).json();
  $("admin-stats").textContent = figures.stats;
  $("admin-jobs").textContent = figures.jobs;
  $("admin").hidden = false;
}

async function signIn(code) {
  $("sign-in-error").textContent = "";
  try {
    await post("/api/sign-in", JSON.stringify({ code }));
  } catch (error) {
    $("sign-in-error").textContent = error.status === 429 ? texts.page_too_many_tries : texts.page_sign_in_failed;
    return;
  }
  history.replaceState(null, "", "/");
  await start();
}

async function start() {
  let me;
  try {
    me = await (await api("/api/me")).json();
  } catch (error) {
    await loadTexts();
    $("sign-in").hidden = false;
    const code = new URLSearchParams(location.search).get("code");
    if (code) {
      $("code").value = code;
      await signIn(code);
    }
    return;
  }
  await loadTexts(); // the user's own language, now that we know who it is
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("who").textContent = me.name;
  await loadDocuments();
  listenForProgress();
  if (me.is_admin) await loadAdmin();
  $("message").focus();
}

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("code").value);
});
$("message-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("message").value.trim();
  $("message").value = "";
  if (text) send(text);
});
$("link-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const url = $("link").value.trim();
  $("link").value = "";
  if (url) send(url);
});
$("file").addEventListener("change", () => {
  const file = $("file").files[0];
  $("file").value = "";
  if (file) upload(file);
});
$("sign-out").addEventListener("click", async () => {
  await post("/api/sign-out", "{}");
  location.reload();
});
start();
