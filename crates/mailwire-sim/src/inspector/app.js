// The inspector of `mailwire dev`: inboxes and their messages, the live event
// stream, every webhook delivery with its attempts, and chaos.
//
// Everything a message or an event carries is hostile input: it reaches the page
// through textContent and attributes only, and HTML bodies render in an iframe
// sandboxed without scripts.
"use strict";

(() => {
  // Errors are shown in the status line and kept here, never left uncaught.
  const errors = (window.__inspectorErrors = window.__inspectorErrors || []);
  window.addEventListener("error", (e) => {
    noteError(e.error || e.message);
  });
  window.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    noteError(e.reason);
  });

  function noteError(err) {
    const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    errors.push(text);
    showStatus(`Internal error: ${text}`, "error");
  }

  // Every type the WebSocket knows: naming them all selects everything, the
  // received mail held back by default (spam, blocked, unauthenticated) included.
  const EVENT_TYPES = [
    "message.received",
    "message.received.spam",
    "message.received.blocked",
    "message.received.unauthenticated",
    "message.security.completed",
    "message.security.review",
    "message.security.override",
    "message.sent",
    "message.delivered",
    "message.bounced",
    "message.complained",
    "message.rejected",
    "message.opened",
    "domain.verified",
    "calendar.event.created",
    "calendar.event.updated",
    "calendar.event.deleted",
    "calendar.event.responded",
    "calendar.event.starting",
    "calendar.event.ending",
  ];
  const MAX_EVENTS = 500;
  const HISTORY_PAGE = 1000;
  const WEBHOOKS_EVERY_MS = 1000;
  const POLL_EVERY_MS = 2000;
  const KEY_STORAGE = "mailwire.inspector.api_key";
  const VIEWS = ["mail", "events", "webhooks", "chaos"];
  // Remote content stays out of rendered mail (no tracking pixels, works offline).
  const HTML_POLICY =
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; ' +
    "img-src data:; style-src 'unsafe-inline'; font-src data:\">";

  const state = {
    key: "",
    needKey: false,
    started: false,
    view: "mail",
    inboxes: [],
    known: new Set(),
    inbox: null,
    query: "",
    messages: [],
    messageId: null,
    message: null,
    messageTab: null,
    raw: null,
    rawFor: null,
    headersFor: null,
    attachmentsFor: null,
    events: [],
    eventIndex: new Map(),
    lastEventId: null,
    ws: null,
    wsLive: false,
    wsAttempts: 0,
    reconnectTimer: null,
    pollTimer: null,
    webhooksTimer: null,
    openDetails: new Set(),
    chaosDirty: false,
    unreachable: false,
  };

  const $ = (id) => document.getElementById(id);

  // ---- small helpers -------------------------------------------------------

  /** An element with properties and children (strings become text nodes). */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [name, value] of Object.entries(props)) {
        if (value === undefined || value === null || value === false) continue;
        if (name === "text") node.textContent = String(value);
        else if (name === "class") node.className = value;
        else if (name === "data") {
          for (const [k, v] of Object.entries(value)) {
            if (v !== undefined && v !== null) node.dataset[k] = String(v);
          }
        } else if (name.startsWith("aria-") || name === "role" || name === "for") {
          node.setAttribute(name, String(value));
        } else node[name] = value;
      }
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  const arr = (v) => (Array.isArray(v) ? v : []);
  const lc = (s) => String(s ?? "").toLowerCase();
  const enc = encodeURIComponent;
  const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

  function asDate(ts) {
    if (ts === null || ts === undefined || ts === "") return null;
    const d = new Date(ts);
    return Number.isNaN(d.getTime()) ? null : d;
  }

  function fmtTime(d) {
    const now = new Date();
    const sameDay =
      d.getFullYear() === now.getFullYear() &&
      d.getMonth() === now.getMonth() &&
      d.getDate() === now.getDate();
    return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
  }

  /** A <time> for a timestamp (the raw text when it is not one). */
  function timeEl(ts, cls) {
    const d = asDate(ts);
    if (!d) return el("span", { class: cls, text: ts ? String(ts) : "" });
    return el("time", { class: cls, dateTime: d.toISOString(), title: d.toString(), text: fmtTime(d) });
  }

  function fmtSize(n) {
    if (typeof n !== "number" || !Number.isFinite(n)) return "";
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  }

  function addressText(v) {
    if (Array.isArray(v)) return v.map(addressText).filter(Boolean).join(", ");
    if (isObject(v)) {
      const email = v.email || v.address || "";
      return v.name ? `${v.name} <${email}>` : email;
    }
    return v === null || v === undefined ? "" : String(v);
  }

  /** Text with the search's `**` marks rendered as <mark>, all as text nodes. */
  function marked(text) {
    const parts = String(text).split("**");
    return parts.map((part, i) => (i % 2 === 1 ? el("mark", { text: part }) : part));
  }

  function labelsEl(labels) {
    const list = arr(labels).filter((l) => typeof l === "string");
    if (!list.length) return null;
    return el(
      "span",
      { class: "labels" },
      list.map((l) => el("span", { class: "label", data: { label: l }, text: l }))
    );
  }

  function showStatus(message, kind = "info") {
    const line = $("status");
    if (!line) return;
    line.textContent = message;
    line.dataset.kind = kind;
  }

  function clearStatus(ifKind) {
    const line = $("status");
    if (line && (!ifKind || line.dataset.kind === ifKind)) {
      line.textContent = "";
      delete line.dataset.kind;
    }
  }

  function report(err, what) {
    if (err instanceof ApiError && err.status === 401) return; // the key form says it
    const text = err instanceof Error ? err.message : String(err);
    showStatus(what ? `${what}: ${text}` : text, "error");
  }

  /** Runs `fn` (sync or async), its failure reported under `what`. */
  function run(what, fn) {
    return Promise.resolve()
      .then(fn)
      .catch((e) => report(e, what));
  }

  /** One run of `fn` at a time; calls made meanwhile fold into one more run. */
  function coalesced(what, fn) {
    let running = null;
    let again = false;
    return () => {
      if (running) {
        again = true;
        return running;
      }
      running = (async () => {
        try {
          do {
            again = false;
            await fn().catch((e) => report(e, what));
          } while (again);
        } finally {
          running = null;
        }
      })();
      return running;
    };
  }

  // Dynamic lists are rebuilt as data changes; the focused control is found again
  // by its `data-focus` key, so keyboard users keep their place.
  function captureFocus() {
    const active = document.activeElement;
    return active && active.dataset ? active.dataset.focus || null : null;
  }

  function restoreFocus(root, key) {
    if (!key) return;
    const active = document.activeElement;
    if (active && active !== document.body && active.isConnected) return;
    for (const node of root.querySelectorAll("[data-focus]")) {
      if (node.dataset.focus === key) {
        node.focus();
        return;
      }
    }
  }

  /** Makes `parent`'s children exactly `nodes`, moving only what must move. */
  function syncChildren(parent, nodes) {
    nodes.forEach((node, i) => {
      if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] || null);
    });
    while (parent.children.length > nodes.length) parent.lastElementChild.remove();
  }

  /** A <details> whose open state survives re-rendering (keyed by `key`). */
  function details(key, summary, body) {
    const d = el("details", { data: { openKey: key } }, el("summary", null, summary));
    const fill = () => {
      if (d.childElementCount < 2) d.append(typeof body === "function" ? body() : body);
    };
    if (state.openDetails.has(key)) {
      d.open = true;
      fill();
    }
    d.addEventListener("toggle", () => {
      if (d.open) {
        state.openDetails.add(key);
        fill();
      } else state.openDetails.delete(key);
    });
    return d;
  }

  // ---- the API key and requests ----------------------------------------------

  function storage(action, value) {
    try {
      if (action === "get") return window.localStorage.getItem(KEY_STORAGE) || "";
      if (action === "set") window.localStorage.setItem(KEY_STORAGE, value);
    } catch (_) {
      // Storage may be off (private mode, a file: page): the key lives in memory.
    }
    return "";
  }

  /** `?api_key=` of the page's URL (stored, then taken out of the address bar), or the stored key. */
  function readKey() {
    let url;
    try {
      url = new URL(window.location.href);
    } catch (_) {
      return storage("get");
    }
    const given = url.searchParams.get("api_key");
    if (given === null) return storage("get");
    storage("set", given);
    url.searchParams.delete("api_key");
    try {
      window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
    } catch (_) {
      // Not allowed here (a file: page): the key stays in the address bar.
    }
    return given;
  }

  class ApiError extends Error {
    constructor(status, name, message, path) {
      super(message);
      this.name = name;
      this.status = status;
      this.path = path;
    }
  }

  function withKey(path) {
    if (!state.key) return path;
    return `${path}${path.includes("?") ? "&" : "?"}api_key=${enc(state.key)}`;
  }

  /** A JSON request to the simulator; an ApiError (with the service's name and message) when it fails. */
  async function api(path, options = {}) {
    const init = { method: options.method || "GET", cache: "no-store", headers: {} };
    if (options.body !== undefined) {
      init.body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
      init.headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(withKey(path), init);
    } catch (e) {
      state.unreachable = true;
      throw new ApiError(0, "NetworkError", `the simulator cannot be reached (${e.message})`, path);
    }
    if (state.unreachable) {
      // Back: the line saying it could not be reached is out of date.
      state.unreachable = false;
      if ($("status").textContent.includes("cannot be reached")) clearStatus("error");
    }
    let text = "";
    try {
      text = await response.text();
    } catch (_) {
      text = "";
    }
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (_) {
        data = null;
      }
    }
    if (response.status === 401) {
      askForKey();
      throw new ApiError(401, "UnauthorizedError", "an API key is needed", path);
    }
    if (!response.ok) {
      const name = (isObject(data) && data.name) || `HTTP ${response.status}`;
      const message =
        (isObject(data) && data.message) || text.slice(0, 200) || response.statusText || "failed";
      throw new ApiError(response.status, name, `${name}: ${message} (${init.method} ${path})`, path);
    }
    return data;
  }

  /** Text behind a `download_url` (a link that needs no key), fetched from this origin. */
  async function download(url) {
    const target = sameOrigin(url);
    let response;
    try {
      response = await fetch(target, { cache: "no-store" });
    } catch (e) {
      throw new ApiError(0, "NetworkError", `download failed (${e.message})`, target);
    }
    if (!response.ok) throw new ApiError(response.status, "DownloadError", `download failed: HTTP ${response.status}`, target);
    return response.text();
  }

  /** The path of a link the simulator gave (it names the host the page reached it by). */
  function sameOrigin(url) {
    try {
      const u = new URL(url, window.location.href);
      return u.pathname + u.search;
    } catch (_) {
      return url;
    }
  }

  function askForKey() {
    if (state.needKey) return;
    state.needKey = true;
    stopLive();
    setConnection("offline", "offline");
    const form = $("key-form");
    form.hidden = false;
    showStatus(
      state.key ? "The API key was refused: enter another one." : "The simulator needs an API key.",
      "error"
    );
    $("key-input").focus();
  }

  function onKeySubmit(e) {
    e.preventDefault();
    const key = $("key-input").value.trim();
    if (!key) return;
    state.key = key;
    storage("set", key);
    state.needKey = false;
    $("key-form").hidden = true;
    $("key-input").value = "";
    clearStatus();
    run("start", start);
  }

  // ---- inboxes ----------------------------------------------------------------

  async function loadInboxes() {
    const all = [];
    let token = null;
    for (let pages = 0; pages < 20; pages++) {
      const query = new URLSearchParams({ limit: "100" });
      if (token) query.set("page_token", token);
      const page = await api(`/v0/inboxes?${query}`);
      all.push(...arr(page && page.inboxes).filter((i) => isObject(i) && i.inbox_id));
      token = page && page.next_page_token;
      if (!token) break;
    }
    state.inboxes = all;
    state.known = new Set(all.map((i) => lc(i.inbox_id)));
    renderInboxes();
    if (state.inbox && !state.known.has(lc(state.inbox))) selectInbox(null);
    if (!state.inbox && all.length) selectInbox(all[0].inbox_id);
  }
  const refreshInboxes = coalesced("Inboxes", loadInboxes);

  function renderInboxes() {
    const list = $("inboxes");
    const focus = captureFocus();
    const items = state.inboxes.map((inbox) => {
      const id = String(inbox.inbox_id);
      const current = lc(id) === lc(state.inbox);
      const name = inbox.display_name ? String(inbox.display_name) : "";
      return el(
        "li",
        { data: { inboxId: id } },
        el(
          "button",
          {
            type: "button",
            class: "row",
            "aria-current": current ? "true" : null,
            data: { focus: `inbox:${id}` },
          },
          el("span", { class: "primary", text: inbox.email || id }),
          name ? el("span", { class: "secondary", text: name }) : null,
          inbox.pod_id ? el("span", { class: "secondary small", text: `pod ${inbox.pod_id}` }) : null
        )
      );
    });
    list.replaceChildren(...items);
    $("inboxes-empty").hidden = items.length > 0;
    restoreFocus(list, focus);
  }

  function selectInbox(id) {
    const changed = lc(id) !== lc(state.inbox);
    state.inbox = id;
    for (const li of $("inboxes").children) {
      const button = li.firstElementChild;
      if (lc(li.dataset.inboxId) === lc(id)) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
    if (!changed) {
      if (id) refreshMessages();
      return;
    }
    state.messages = [];
    closeMessage();
    renderMessages();
    if (id) refreshMessages();
  }

  // ---- messages -----------------------------------------------------------------

  async function loadMessages() {
    const inbox = state.inbox;
    const q = state.query;
    if (!inbox) return;
    const base = `/v0/inboxes/${enc(inbox)}/messages`;
    let page;
    if (q) {
      page = await api(`${base}/search?${new URLSearchParams({ q, limit: "50" })}`);
    } else {
      // The inspector shows everything, what lists leave out by default included.
      const query = new URLSearchParams({
        limit: "50",
        include_spam: "true",
        include_blocked: "true",
        include_unauthenticated: "true",
        include_trash: "true",
      });
      page = await api(`${base}?${query}`);
    }
    if (inbox !== state.inbox || q !== state.query) return; // answered too late
    state.messages = arr(page && page.messages).filter((m) => isObject(m) && m.message_id);
    renderMessages();
  }
  const refreshMessages = coalesced("Messages", loadMessages);

  function renderMessages() {
    const list = $("messages");
    const focus = captureFocus();
    const items = state.messages.map((m) => {
      const id = String(m.message_id);
      const h = isObject(m.highlights) ? m.highlights : {};
      const subject = arr(h.subject)[0] ?? m.subject ?? "(no subject)";
      const preview = arr(h.text)[0] ?? m.preview ?? "";
      const labels = arr(m.labels);
      const attached = arr(m.attachments).length;
      return el(
        "li",
        { data: { messageId: id, threadId: m.thread_id } },
        el(
          "button",
          {
            type: "button",
            class: labels.includes("unread") ? "row unread" : "row",
            "aria-current": id === state.messageId ? "true" : null,
            data: { focus: `message:${id}` },
          },
          el(
            "span",
            { class: "line" },
            el("span", { class: "from" }, marked(arr(h.from)[0] ?? addressText(m.from))),
            timeEl(m.timestamp || m.created_at, "time")
          ),
          el(
            "span",
            { class: "line" },
            el("span", { class: "subject" }, marked(subject)),
            attached
              ? el("span", { class: "clip", text: attached === 1 ? "1 attachment" : `${attached} attachments` })
              : null
          ),
          preview ? el("span", { class: "preview" }, marked(preview)) : null,
          labelsEl(labels)
        )
      );
    });
    list.replaceChildren(...items);
    restoreFocus(list, focus);
    const info = $("messages-info");
    if (!state.inbox) info.textContent = "No inbox selected.";
    else if (state.query) info.textContent = `${items.length} result(s) for \u201c${state.query}\u201d`;
    else info.textContent = items.length ? `${items.length} message(s), newest first` : "No messages.";
  }

  function closeMessage() {
    state.messageId = null;
    state.message = null;
    state.raw = null;
    state.rawFor = null;
    state.headersFor = null;
    state.attachmentsFor = null;
    $("message-view").hidden = true;
    $("message-empty").hidden = false;
    $("html-frame")?.remove();
  }

  /**
   * A fresh frame for each message: `sandbox=""` allows nothing (no scripts, forms,
   * popups or same-origin access) and the policy keeps remote content out.
   */
  function showHtml(html) {
    $("html-frame")?.remove();
    $("html-empty").hidden = Boolean(html);
    if (!html) return;
    const frame = el("iframe", { id: "html-frame", title: "HTML body of the message" });
    frame.setAttribute("sandbox", "");
    frame.setAttribute("referrerpolicy", "no-referrer");
    frame.srcdoc = HTML_POLICY + html;
    $("pane-html").append(frame);
  }

  async function openMessage(id) {
    const inbox = state.inbox;
    if (!inbox) return;
    state.messageId = id;
    for (const li of $("messages").children) {
      const button = li.firstElementChild;
      if (li.dataset.messageId === id) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
    const m = await api(`/v0/inboxes/${enc(inbox)}/messages/${enc(id)}`);
    if (state.messageId !== id || state.inbox !== inbox) return;
    state.message = isObject(m) ? m : {};
    state.raw = null;
    state.rawFor = null;
    state.headersFor = null;
    state.attachmentsFor = null;
    renderMessage(state.message);
  }

  function renderMessage(m) {
    $("message-empty").hidden = true;
    $("message-view").hidden = false;
    $("message-subject").textContent = m.subject || "(no subject)";

    const meta = $("message-meta");
    const rows = [
      ["From", addressText(m.from)],
      ["To", addressText(m.to)],
      ["Cc", addressText(m.cc)],
      ["Bcc", addressText(m.bcc)],
      ["Reply-To", addressText(m.reply_to)],
      ["Date", m.timestamp ? timeEl(m.timestamp) : ""],
      ["Labels", labelsEl(m.labels)],
      ["Message-ID", m.message_id || ""],
      ["Thread", m.thread_id || ""],
      ["Size", fmtSize(m.size)],
    ];
    meta.replaceChildren(
      ...rows
        .filter(([, v]) => v)
        .flatMap(([name, value]) => [el("dt", { text: name }), el("dd", null, value)])
    );

    const html = typeof m.html === "string" ? m.html : "";
    showHtml(html);

    const text = typeof m.text === "string" ? m.text : "";
    $("text-body").textContent = text || "(this message has no text part)";

    const headers = isObject(m.headers) ? Object.entries(m.headers) : [];
    renderHeaders(headers);
    // Without the API's `headers`, the Headers tab reads them from the raw source.
    if (headers.length) state.headersFor = m.message_id;

    $("raw-body").textContent = "";
    $("raw-download").hidden = true;

    const attachments = arr(m.attachments).filter(isObject);
    $("attachments-count").textContent = attachments.length ? String(attachments.length) : "";
    renderAttachments(attachments, null);

    const tab = state.messageTab && (state.messageTab !== "html" || html) ? state.messageTab : html ? "html" : "text";
    selectMessageTab(tab, false);
  }

  function selectMessageTab(name, focus) {
    state.messageTab = name;
    selectTab($("message-tabs"), name, focus);
    if (name === "raw") run("Raw source", loadRaw);
    if (name === "headers") run("Headers", loadHeaders);
    if (name === "attachments") run("Attachments", loadAttachmentLinks);
  }

  /** The shown message's raw source (asked for once): `{text, url}`. */
  function rawSource() {
    const m = state.message;
    const inbox = state.inbox;
    const id = m.message_id;
    if (state.raw && state.raw.id === id) return state.raw.promise;
    const promise = (async () => {
      const answer = await api(`/v0/inboxes/${enc(inbox)}/messages/${enc(id)}/raw`);
      if (!isObject(answer) || !answer.download_url) throw new Error("no download_url in the answer");
      return { text: await download(answer.download_url), url: sameOrigin(answer.download_url) };
    })();
    state.raw = { id, promise };
    // A failure is not kept: the next look asks again.
    promise.catch(() => {
      if (state.raw && state.raw.promise === promise) state.raw = null;
    });
    return promise;
  }

  async function loadRaw() {
    const m = state.message;
    if (!m || !m.message_id || state.rawFor === m.message_id) return;
    const id = m.message_id;
    state.rawFor = id;
    $("raw-body").textContent = "Loading\u2026";
    try {
      const raw = await rawSource();
      if (state.messageId !== id) return;
      $("raw-body").textContent = raw.text;
      const link = $("raw-download");
      link.href = raw.url;
      link.hidden = false;
    } catch (e) {
      if (state.rawFor === id) state.rawFor = null;
      if (state.messageId === id) $("raw-body").textContent = "";
      throw e;
    }
  }

  function renderHeaders(headers, note) {
    $("headers-table").tBodies[0].replaceChildren(
      ...headers.flatMap(([name, value]) =>
        (Array.isArray(value) ? value : [value]).map((v) =>
          el(
            "tr",
            null,
            el("th", { scope: "row", text: name }),
            el("td", { text: typeof v === "string" ? v : JSON.stringify(v) })
          )
        )
      )
    );
    $("headers-table").hidden = headers.length === 0;
    $("headers-empty").hidden = headers.length > 0;
    $("headers-empty").textContent = note || "No headers.";
  }

  /** The header section of a raw message: [name, value] pairs, folded lines unfolded. */
  function parseHeaders(text) {
    const head = text.split(/\r?\n\r?\n/, 1)[0];
    const out = [];
    for (const line of head.split(/\r?\n/)) {
      if (/^[ \t]/.test(line) && out.length) out[out.length - 1][1] += ` ${line.trim()}`;
      else {
        const colon = line.indexOf(":");
        if (colon > 0) out.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
      }
    }
    return out;
  }

  async function loadHeaders() {
    const m = state.message;
    if (!m || !m.message_id || state.headersFor === m.message_id) return;
    const id = m.message_id;
    state.headersFor = id;
    renderHeaders([], "Loading\u2026");
    try {
      const raw = await rawSource();
      if (state.messageId === id) renderHeaders(parseHeaders(raw.text));
    } catch (e) {
      if (state.headersFor === id) state.headersFor = null;
      if (state.messageId === id) renderHeaders([]);
      throw e;
    }
  }

  function renderAttachments(attachments, links) {
    const list = $("attachments");
    list.replaceChildren(
      ...attachments.map((a) => {
        const id = a.attachment_id ? String(a.attachment_id) : "";
        const name = a.filename ? String(a.filename) : id || "attachment";
        const href = links && links.get(id);
        const details = [a.content_type, fmtSize(a.size), a.content_disposition].filter(Boolean).join(" \u00b7 ");
        return el(
          "li",
          { data: { attachmentId: id } },
          href
            ? el("a", { href, download: name, text: name })
            : el("span", { class: "filename", text: name }),
          el("span", { class: "muted small", text: details ? ` ${details}` : "" }),
          links && !href ? el("span", { class: "muted small", text: " (no link)" }) : null
        );
      })
    );
    $("attachments-empty").hidden = attachments.length > 0;
  }

  /** Download links of the shown message's attachments (each asked for its `download_url`). */
  async function loadAttachmentLinks() {
    const m = state.message;
    const inbox = state.inbox;
    if (!m || !m.message_id || state.attachmentsFor === m.message_id) return;
    const id = m.message_id;
    const attachments = arr(m.attachments).filter(isObject);
    if (!attachments.length) return;
    state.attachmentsFor = id;
    const links = new Map();
    const failures = [];
    await Promise.all(
      attachments
        .filter((a) => a.attachment_id)
        .map((a) =>
          api(`/v0/inboxes/${enc(inbox)}/messages/${enc(id)}/attachments/${enc(a.attachment_id)}`).then(
            (answer) => {
              if (isObject(answer) && answer.download_url) links.set(String(a.attachment_id), sameOrigin(answer.download_url));
            },
            (e) => failures.push(e)
          )
        )
    );
    if (state.messageId !== id) return;
    renderAttachments(attachments, links);
    if (failures.length) {
      state.attachmentsFor = null;
      throw failures[0];
    }
  }

  // ---- events -------------------------------------------------------------------

  /** The event's id and type, in AgentMail's envelope or the simple one. */
  function describeEvent(raw) {
    if (!isObject(raw)) return null;
    const id = raw.event_id ?? raw.id;
    const type = raw.event_type ?? (raw.type !== "event" ? raw.type : undefined);
    if (typeof id !== "string" || !id) return null;
    // The payload's own ids and time sit at the top or one object down
    // (`message`, `send`, `delivery`, ..., or the simple envelope's `data`).
    const places = [raw, ...Object.values(raw).filter(isObject)];
    if (isObject(raw.data)) places.push(...Object.values(raw.data).filter(isObject));
    const find = (key) => {
      for (const p of places) if (typeof p[key] === "string" && p[key]) return p[key];
      return null;
    };
    return {
      id,
      type: typeof type === "string" ? type : "(unknown)",
      inbox: find("inbox_id"),
      time: find("timestamp") || find("created_at") || find("updated_at"),
      arrived: new Date().toISOString(),
      raw,
      seen: 1,
      node: null,
    };
  }

  /**
   * Adds an event, once: the new event, or null for one already shown. `repeat`
   * counts a live repeat on the one shown (chaos's duplicates), which a replay
   * after a reconnect is not.
   */
  function addEvent(raw, repeat) {
    const event = describeEvent(raw);
    if (!event) return null;
    const known = state.eventIndex.get(event.id);
    if (known) {
      if (!repeat) return null;
      known.seen += 1;
      if (known.node) {
        const badge = known.node.querySelector(".seen");
        if (badge) {
          badge.textContent = `\u00d7${known.seen}`;
          badge.hidden = false;
        }
      }
      return null;
    }
    state.lastEventId = event.id;
    state.events.push(event);
    state.eventIndex.set(event.id, event);
    event.node = eventNode(event);
    $("events").prepend(event.node);
    while (state.events.length > MAX_EVENTS) {
      const old = state.events.shift();
      state.eventIndex.delete(old.id);
      if (old.node) old.node.remove();
    }
    $("events-empty").hidden = true;
    $("events-count").textContent = String(state.events.length);
    return event;
  }

  function eventNode(event) {
    const summary = [
      el("code", { class: "type", text: event.type }),
      el("span", { class: "id", text: event.id }),
      event.inbox ? el("span", { class: "inbox", text: event.inbox }) : null,
      timeEl(event.time || event.arrived, "time"),
      el("span", { class: "seen", hidden: true, title: "received more than once", text: "" }),
    ];
    return el(
      "li",
      { data: { eventId: event.id, eventType: event.type, inboxId: event.inbox } },
      details(`event:${event.id}`, summary, () => el("pre", { class: "body", text: JSON.stringify(event.raw, null, 2) }))
    );
  }

  /** What a new live event changes on the page. */
  function react(event) {
    if (event.inbox && !state.known.has(lc(event.inbox))) refreshInboxes();
    if (event.type.startsWith("message.") && event.inbox && lc(event.inbox) === lc(state.inbox)) {
      refreshMessages();
    }
    if (state.view === "webhooks") refreshWebhooks();
    if (state.view === "chaos") refreshChaos();
  }

  /**
   * The retained events after the last one seen (all of them the first time),
   * following the pages; `live` makes each new one act on the page.
   */
  async function loadEvents(live) {
    let after = state.lastEventId;
    for (let pages = 0; pages < 50; pages++) {
      const query = new URLSearchParams({ limit: String(HISTORY_PAGE) });
      if (after) query.set("after", after);
      let page;
      try {
        page = await api(`/_sim/events?${query}`);
      } catch (e) {
        if (e instanceof ApiError && e.status === 410 && after) {
          // The last event seen is no longer retained: some were missed.
          showStatus("Some events were missed (no longer retained); lists reloaded.", "info");
          after = null;
          reloadLists();
          continue;
        }
        throw e;
      }
      let events = arr(page && page.events);
      // Far behind: only the newest are worth showing.
      if (!live && events.length > MAX_EVENTS) events = events.slice(-MAX_EVENTS);
      for (const raw of events) {
        const event = addEvent(raw, false);
        if (event && live) react(event);
      }
      if (page && typeof page.next_after === "string") after = page.next_after;
      if (!page || !page.has_more) break;
    }
  }

  function reloadLists() {
    refreshInboxes();
    if (state.inbox) refreshMessages();
    if (state.view === "webhooks") refreshWebhooks();
  }

  // ---- the live stream ------------------------------------------------------

  function setConnection(stateName, text) {
    const c = $("connection");
    c.dataset.state = stateName;
    c.textContent = text;
  }

  function connect() {
    if (state.needKey || state.ws) return;
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const url = withKey(`${scheme}//${window.location.host}/v0`);
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      report(e, "Event stream");
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    let opened = false;
    setConnection("connecting", "connecting\u2026");
    ws.onopen = () => {
      opened = true;
      const subscribe = { type: "subscribe", event_types: EVENT_TYPES };
      // Resume after the last event seen: nothing is lost across a reconnect.
      if (state.lastEventId) subscribe.after = state.lastEventId;
      ws.send(JSON.stringify(subscribe));
    };
    ws.onmessage = (message) => {
      if (typeof message.data !== "string") return;
      try {
        onFrame(JSON.parse(message.data));
      } catch (e) {
        report(e, "Event stream");
      }
    };
    ws.onerror = () => {
      // A close follows, which reconnects.
    };
    ws.onclose = () => {
      if (state.ws !== ws) return;
      state.ws = null;
      state.wsLive = false;
      if (state.needKey) return;
      setConnection("offline", "reconnecting\u2026");
      // Never opened: maybe the key; a REST call tells (and asks for it).
      if (!opened) refreshInboxes();
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    if (state.needKey || state.reconnectTimer) return;
    const base = Math.min(10000, 500 * 2 ** state.wsAttempts);
    state.wsAttempts = Math.min(state.wsAttempts + 1, 10);
    const delay = base / 2 + Math.random() * (base / 2);
    state.reconnectTimer = setTimeout(() => {
      state.reconnectTimer = null;
      connect();
    }, delay);
  }

  function onFrame(frame) {
    if (!isObject(frame)) return;
    switch (frame.type) {
      case "subscribed":
        state.wsLive = true;
        state.wsAttempts = 0;
        setConnection("live", "live");
        return;
      case "resumed":
        return;
      case "gap":
        showStatus("Some events were missed while disconnected; lists reloaded.", "info");
        reloadLists();
        return;
      case "error":
        showStatus(`Event stream: ${frame.name || "error"}: ${frame.message || ""}`, "error");
        return;
      default: {
        const event = addEvent(frame, state.wsLive);
        if (event) react(event);
      }
    }
  }

  function stopLive() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    if (state.ws) {
      const ws = state.ws;
      state.ws = null;
      state.wsLive = false;
      try {
        ws.close();
      } catch (_) {
        // Closing a socket that never opened; nothing to do.
      }
    }
  }

  // While the WebSocket is down (chaos can refuse it), events come by polling.
  const pollEvents = coalesced("Events", () => loadEvents(true));
  function startPolling() {
    if (state.pollTimer) return;
    state.pollTimer = setInterval(() => {
      if (!state.needKey && !state.wsLive) pollEvents();
    }, POLL_EVERY_MS);
  }

  // ---- webhooks -----------------------------------------------------------------

  async function loadWebhooks() {
    const page = await api("/v0/webhooks?limit=100");
    const hooks = arr(page && page.webhooks).filter((w) => isObject(w) && w.webhook_id);
    const deliveries = await Promise.all(
      hooks.map((w) =>
        api(`/_sim/webhooks/${enc(w.webhook_id)}/deliveries?limit=50`).then(
          (answer) => ({ list: arr(answer && answer.deliveries).filter((d) => isObject(d) && d.delivery_id) }),
          (error) => {
            if (error instanceof ApiError && error.status === 401) throw error;
            return { error };
          }
        )
      )
    );
    renderWebhooks(hooks, deliveries);
  }
  const refreshWebhooks = coalesced("Webhooks", loadWebhooks);

  // Nodes built from the same data are kept, so focus and open details stay put.
  const webhookNodes = new Map();
  const deliveryNodes = new Map();

  function renderWebhooks(hooks, deliveries) {
    const list = $("webhooks");
    const focus = captureFocus();
    const seenDeliveries = new Set();
    const unknown = new Set();
    const items = hooks.map((hook, i) => {
      const id = String(hook.webhook_id);
      const result = deliveries[i] || { list: [] };
      const headKey = JSON.stringify(hook);
      let node = webhookNodes.get(id);
      if (!node || node.dataset.sig !== headKey) {
        node = webhookNode(hook);
        node.dataset.sig = headKey;
        webhookNodes.set(id, node);
      }
      const ul = node.querySelector("ul.deliveries");
      const problem = node.querySelector(".deliveries-error");
      problem.textContent = result.error ? `Deliveries unavailable: ${result.error.message}` : "";
      problem.hidden = !result.error;
      if (result.error) unknown.add(id);
      else {
        const nodes = result.list.map((d) => {
          const key = `${id}/${d.delivery_id}`;
          seenDeliveries.add(key);
          const sig = JSON.stringify(d);
          let dn = deliveryNodes.get(key);
          if (!dn || dn.dataset.sig !== sig) {
            dn = deliveryNode(id, d);
            dn.dataset.sig = sig;
            deliveryNodes.set(key, dn);
          }
          return dn;
        });
        syncChildren(ul, nodes);
        node.querySelector(".deliveries-empty").hidden = nodes.length > 0;
      }
      return node;
    });
    syncChildren(list, items);
    const hookIds = new Set(hooks.map((h) => String(h.webhook_id)));
    for (const id of webhookNodes.keys()) if (!hookIds.has(id)) webhookNodes.delete(id);
    // Deliveries no longer listed are forgotten (those of a webhook whose list
    // could not be read this time are kept).
    for (const key of deliveryNodes.keys()) {
      if (!seenDeliveries.has(key) && !unknown.has(key.slice(0, key.indexOf("/")))) deliveryNodes.delete(key);
    }
    $("webhooks-empty").hidden = items.length > 0;
    restoreFocus(list, focus);
  }

  function webhookNode(hook) {
    const types = arr(hook.event_types);
    const enabled = hook.enabled !== false;
    const scope = [
      arr(hook.inbox_ids).length ? `inboxes: ${arr(hook.inbox_ids).join(", ")}` : "",
      arr(hook.pod_ids).length ? `pods: ${arr(hook.pod_ids).join(", ")}` : "",
      hook.inbox_id ? `inbox: ${hook.inbox_id}` : "",
      hook.pod_id ? `pod: ${hook.pod_id}` : "",
    ].filter(Boolean);
    const headingId = `webhook-${String(hook.webhook_id).replace(/[^A-Za-z0-9_-]/g, "_")}`;
    return el(
      "li",
      { class: "webhook", data: { webhookId: hook.webhook_id, enabled: String(enabled) }, "aria-labelledby": headingId },
      el(
        "div",
        { class: "webhook-head" },
        el("h3", { id: headingId, class: "url", text: hook.url || "(no url)" }),
        el("span", { class: enabled ? "badge ok" : "badge off", text: enabled ? "enabled" : "disabled" }),
        el("span", { class: "muted small", text: String(hook.webhook_id) })
      ),
      el(
        "p",
        { class: "small" },
        "Events: ",
        types.length ? types.map((t) => el("code", { class: "type", text: String(t) })) : "all",
        scope.length ? el("span", { class: "muted", text: ` \u00b7 ${scope.join(" \u00b7 ")}` }) : null,
        hook.created_at ? el("span", { class: "muted" }, " \u00b7 created ", timeEl(hook.created_at)) : null
      ),
      el("p", { class: "deliveries-error error-text", hidden: true }),
      el("p", { class: "deliveries-empty empty", text: "No deliveries yet.", hidden: true }),
      el("ul", { class: "deliveries", "aria-label": `Deliveries to ${hook.url || hook.webhook_id}` })
    );
  }

  function deliveryNode(webhookId, d) {
    const id = String(d.delivery_id);
    const attempts = arr(d.attempts).filter(isObject);
    return el(
      "li",
      {
        class: "delivery",
        data: {
          deliveryId: id,
          state: d.state,
          eventId: d.event_id,
          eventType: d.event_type,
          redeliveryOf: d.redelivery_of || null,
        },
      },
      el(
        "div",
        { class: "delivery-head" },
        el("span", { class: `badge state-${String(d.state || "unknown").replace(/[^a-z_]/g, "")}`, text: d.state || "unknown" }),
        el("code", { class: "type", text: d.event_type || "" }),
        el("span", { class: "id", text: d.event_id || "" }),
        el("span", { class: "muted small" }, id, " \u00b7 ", timeEl(d.created_at)),
        d.redelivery_of ? el("span", { class: "muted small", text: `redelivery of ${d.redelivery_of}` }) : null,
        d.next_attempt_at ? el("span", { class: "next small" }, "next attempt ", timeEl(d.next_attempt_at)) : null,
        el("button", {
          type: "button",
          class: "redeliver",
          text: "Redeliver",
          "aria-label": `Redeliver ${d.event_type || "event"} ${d.event_id || ""} (${id})`,
          data: { webhookId, deliveryId: id, focus: `redeliver:${webhookId}/${id}` },
        })
      ),
      attempts.length
        ? el("ol", { class: "attempts", "aria-label": "Attempts" }, attempts.map((a) => attemptNode(id, a)))
        : el("p", { class: "muted small", text: "No attempt yet." })
    );
  }

  function attemptNode(deliveryId, a) {
    const status = typeof a.status === "number" ? a.status : null;
    const ok = status !== null && status >= 200 && status < 300;
    const outcome = status !== null ? `HTTP ${status}` : a.error ? String(a.error) : "no answer";
    const latency = typeof a.latency_ms === "number" ? `${a.latency_ms.toFixed(1)} ms` : "";
    const body = typeof a.response_body === "string" ? a.response_body : "";
    return el(
      "li",
      { class: ok ? "attempt ok" : "attempt failed", data: { number: a.number, status: status ?? "" } },
      el("span", { class: "number", text: `#${a.number ?? "?"}` }),
      timeEl(a.at, "time"),
      el("span", { class: "outcome", text: outcome }),
      status !== null && a.error ? el("span", { class: "muted", text: String(a.error) }) : null,
      latency ? el("span", { class: "muted", text: latency }) : null,
      body
        ? details(`body:${deliveryId}/${a.number}`, "Response body", () => el("pre", { class: "body", text: body }))
        : null
    );
  }

  async function redeliver(button) {
    const { webhookId, deliveryId } = button.dataset;
    button.disabled = true;
    try {
      const answer = await api(
        `/_sim/webhooks/${enc(webhookId)}/deliveries/${enc(deliveryId)}/redeliver`,
        { method: "POST" }
      );
      const created = isObject(answer) && answer.delivery_id ? ` as ${answer.delivery_id}` : "";
      showStatus(`Redelivering ${deliveryId}${created}.`);
      await refreshWebhooks();
    } finally {
      button.disabled = false;
    }
  }

  function startWebhooksTimer() {
    if (state.webhooksTimer) return;
    state.webhooksTimer = setInterval(() => {
      if (!state.needKey && state.view === "webhooks") refreshWebhooks();
    }, WEBHOOKS_EVERY_MS);
  }

  function stopWebhooksTimer() {
    clearInterval(state.webhooksTimer);
    state.webhooksTimer = null;
  }

  // ---- chaos ------------------------------------------------------------------

  const CHAOS_EXAMPLE = { seed: 1, webhook_failure_rate: 0.3, webhook_max_failures: 2 };

  async function loadChaos() {
    const answer = await api("/_sim/chaos");
    renderChaos(answer);
  }
  const refreshChaos = coalesced("Chaos", loadChaos);

  function renderChaos(answer) {
    const chaos = isObject(answer) && "chaos" in answer ? answer.chaos : answer;
    const stats = isObject(answer) ? answer.stats : undefined;
    $("chaos-current").textContent = chaos ? JSON.stringify(chaos, null, 2) : "off";
    $("chaos-stats").textContent = stats === undefined ? "" : JSON.stringify(stats, null, 2);
    if (!state.chaosDirty) $("chaos-input").value = JSON.stringify(chaos || CHAOS_EXAMPLE, null, 2);
  }

  async function applyChaos() {
    const input = $("chaos-input");
    let settings;
    try {
      settings = JSON.parse(input.value);
    } catch (e) {
      input.setAttribute("aria-invalid", "true");
      throw new Error(`not JSON: ${e.message}`);
    }
    if (!isObject(settings)) {
      input.setAttribute("aria-invalid", "true");
      throw new Error("the settings must be a JSON object");
    }
    input.removeAttribute("aria-invalid");
    const answer = await api("/_sim/chaos", { method: "POST", body: settings });
    state.chaosDirty = false;
    renderChaos(answer);
    showStatus("Chaos applied.");
  }

  async function clearChaos() {
    const answer = await api("/_sim/chaos", { method: "DELETE" });
    state.chaosDirty = false;
    $("chaos-input").removeAttribute("aria-invalid");
    renderChaos(answer);
    showStatus("Chaos cleared.");
  }

  // ---- views and tabs ---------------------------------------------------------

  /** Selects a tab of a role=tablist (and shows its panel). */
  function selectTab(tablist, name, focus) {
    for (const tab of tablist.querySelectorAll('[role="tab"]')) {
      const on = (tab.dataset.tab || tab.dataset.view) === name;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      const panel = $(tab.getAttribute("aria-controls"));
      if (panel) panel.hidden = !on;
      if (on && focus) tab.focus();
    }
  }

  /** Arrow keys, Home and End move between tabs (the ARIA tabs pattern). */
  function tabKeys(tablist, activate) {
    tablist.addEventListener("keydown", (e) => {
      const tabs = [...tablist.querySelectorAll('[role="tab"]')];
      const at = tabs.indexOf(document.activeElement);
      if (at < 0) return;
      let next = null;
      if (e.key === "ArrowRight") next = (at + 1) % tabs.length;
      else if (e.key === "ArrowLeft") next = (at - 1 + tabs.length) % tabs.length;
      else if (e.key === "Home") next = 0;
      else if (e.key === "End") next = tabs.length - 1;
      if (next === null) return;
      e.preventDefault();
      activate(tabs[next].dataset.tab || tabs[next].dataset.view);
    });
  }

  function setView(name, focus) {
    if (!VIEWS.includes(name)) name = "mail";
    state.view = name;
    selectTab($("views"), name, focus);
    try {
      const hash = name === "mail" ? "" : `#${name}`;
      if (window.location.hash !== hash) {
        window.history.replaceState(window.history.state, "", window.location.pathname + window.location.search + hash);
      }
    } catch (_) {
      // Not allowed here (a file: page): the view is not kept in the address.
    }
    if (name === "webhooks") {
      startWebhooksTimer();
      if (state.started) refreshWebhooks();
    } else stopWebhooksTimer();
    if (name === "chaos" && state.started) refreshChaos();
  }

  // ---- start ------------------------------------------------------------------

  async function start() {
    if (state.needKey) return;
    showStatus("Loading\u2026");
    await loadInboxes();
    state.started = true;
    await loadEvents(false).catch((e) => report(e, "Events"));
    // The WebSocket only once the key is known good: a refused handshake cannot be
    // told apart from a dead server.
    connect();
    startPolling();
    if (state.view === "webhooks") refreshWebhooks();
    if (state.view === "chaos") refreshChaos();
    clearStatus("info");
  }

  function wire() {
    $("key-form").addEventListener("submit", onKeySubmit);
    $("refresh-inboxes").addEventListener("click", () => refreshInboxes());

    $("inboxes").addEventListener("click", (e) => {
      const li = e.target.closest("li[data-inbox-id]");
      if (li) selectInbox(li.dataset.inboxId);
    });
    $("messages").addEventListener("click", (e) => {
      const li = e.target.closest("li[data-message-id]");
      if (li) run("Message", () => openMessage(li.dataset.messageId));
    });

    let searchTimer = null;
    const search = () => {
      clearTimeout(searchTimer);
      const q = $("search").value.trim();
      if (q === state.query) return;
      state.query = q;
      refreshMessages();
    };
    $("search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      search();
    });
    $("search").addEventListener("input", () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(search, 300);
    });

    const views = $("views");
    views.addEventListener("click", (e) => {
      const tab = e.target.closest('[role="tab"]');
      if (tab) setView(tab.dataset.view, false);
    });
    tabKeys(views, (name) => setView(name, true));

    const tabs = $("message-tabs");
    tabs.addEventListener("click", (e) => {
      const tab = e.target.closest('[role="tab"]');
      if (tab) selectMessageTab(tab.dataset.tab, false);
    });
    tabKeys(tabs, (name) => selectMessageTab(name, true));

    $("clear-events").addEventListener("click", () => {
      for (const event of state.events) event.node = null;
      state.events = [];
      state.eventIndex.clear();
      $("events").replaceChildren();
      $("events-empty").hidden = false;
      $("events-count").textContent = "";
    });

    $("refresh-webhooks").addEventListener("click", () => refreshWebhooks());
    $("webhooks").addEventListener("click", (e) => {
      const button = e.target.closest("button.redeliver");
      if (button && !button.disabled) run("Redeliver", () => redeliver(button));
    });

    $("chaos-input").addEventListener("input", () => {
      state.chaosDirty = true;
    });
    $("chaos-form").addEventListener("submit", (e) => {
      e.preventDefault();
      run("Chaos", applyChaos);
    });
    $("chaos-clear").addEventListener("click", () => run("Chaos", clearChaos));
  }

  function boot() {
    state.key = readKey();
    wire();
    setView(window.location.hash.replace(/^#/, ""), false);
    run("Start", start);
  }

  try {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", () => {
        try {
          boot();
        } catch (e) {
          noteError(e);
        }
      });
    } else boot();
  } catch (e) {
    noteError(e);
  }
})();
