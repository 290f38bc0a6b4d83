// The article's Node code (article/websocket.mjs and article/webhook.mjs, its text as
// published) against `mailwire dev --envelope simple`. Two substitutions point it at
// the simulator and nothing else changes: the service's base URL
// (`wss://myagentmail.com`) and the port its Express app listens on (3000, which a
// test machine may not have free). The functions the article leaves to the reader
// (`handleInboundEmail`, `handleBounce`, `handleDeliveryConfirmation`, `connect`)
// are defined here and record who called them with what.
//
// Run by tests/it/sdk.rs: node article.mjs HTTP_BASE WS_BASE NODE_DIR, with
// MYAGENTMAIL_API_KEY and WEBHOOK_SECRET set. NODE_DIR holds node_modules with `ws`
// and `express`; the article's files are written there to run, so their imports
// resolve.
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const [HTTP, WS, NODE_DIR] = process.argv.slice(2);
const KEY = process.env.MYAGENTMAIL_API_KEY;
const here = path.dirname(fileURLToPath(import.meta.url));

setTimeout(() => {
  console.error("timed out; calls so far:", JSON.stringify(calls));
  process.exit(2);
}, 60_000).unref();

// --- what the article leaves to the reader -------------------------------------
const calls = [];
let wake = () => {};
function record(name) {
  return (data) => {
    // Which of the article's two programs called: its file is on the stack.
    const stack = new Error().stack;
    const via = stack.includes("article-websocket") ? "ws" : stack.includes("article-webhook") ? "webhook" : "?";
    calls.push({ name, via, data });
    wake();
  };
}
globalThis.handleInboundEmail = record("inbound");
globalThis.handleBounce = record("bounce");
globalThis.handleDeliveryConfirmation = record("delivered");
globalThis.connect = () => {};

async function until(check) {
  while (!check()) {
    await new Promise((resolve) => (wake = resolve));
  }
}

// --- run the article's code, pointed at the simulator ----------------------------
const freePort = await new Promise((resolve) => {
  const s = net.createServer().listen(0, "127.0.0.1", () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

function load(file, from, to) {
  const text = fs.readFileSync(path.join(here, "article", file), "utf8");
  assert.equal(text.split(from).length, 2, `${file} holds ${from} once`);
  const out = path.join(NODE_DIR, `article-${path.basename(file, ".mjs")}-${process.pid}.mjs`);
  fs.writeFileSync(out, text.replace(from, to));
  process.on("exit", () => fs.rmSync(out, { force: true }));
  return pathToFileURL(out).href;
}

// Both programs announce readiness their own way: a console line, a listening server.
let opened = false;
const log = console.log;
console.log = (...args) => {
  if (String(args[0]).startsWith("Connected")) opened = true;
  log(...args);
  wake();
};
let listening = false;
const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function (...args) {
  this.once("listening", () => {
    listening = true;
    wake();
  });
  return listen.apply(this, args);
};

await import(load("websocket.mjs", "wss://myagentmail.com", WS));
await import(load("webhook.mjs", "app.listen(3000)", `app.listen(${freePort})`));
await until(() => opened && listening);

async function call(method, route, body, headers = {}) {
  const res = await fetch(HTTP + route, {
    method,
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${route}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// The article's registration (its curl), with its URL pointed at the local handler.
await call(
  "POST",
  "/v1/webhooks",
  {
    url: `http://127.0.0.1:${freePort}/webhooks/email`,
    events: ["message.received", "message.bounced"],
    secret: "your-webhook-secret",
  },
  { "X-API-Key": KEY },
);

const bearer = { Authorization: `Bearer ${KEY}` };
// An email arrives; then a bounce posted raw, with spacing, a float and escapes that
// `JSON.stringify` writes differently: the webhook must still verify.
await call(
  "POST",
  "/_sim/inboxes/agent%40myagentmail.com/messages",
  { from: "alice@example.com", to: "agent@myagentmail.com", subject: "Hello", text: "Can we meet?" },
  bearer,
);
await call(
  "POST",
  "/_sim/events",
  '{ "id" : "evt_raw_bounce", "type": "message.bounced",\n  "data": {"inbox_id": "agent@myagentmail.com", "score": 1.50, "note": "caf\\u00e9 \\/ ok",\n  "recipients": [{"address": "gone@example.com", "status": "5.1.1"}]} }',
  bearer,
);
// A send: delivered to one recipient, bounced by the designated address.
await call(
  "POST",
  "/v0/inboxes/agent%40myagentmail.com/messages/send",
  { to: ["bob@example.com"], subject: "Re: Hello", text: "Tuesday?" },
  bearer,
);
await call(
  "POST",
  "/v0/inboxes/agent%40myagentmail.com/messages/send",
  { to: "bounce@simulator.amazonses.com", subject: "x", text: "x" },
  bearer,
);

const count = (name, via) => calls.filter((c) => c.name === name && c.via === via).length;
await until(
  () =>
    count("inbound", "ws") === 1 &&
    count("bounce", "ws") === 2 &&
    count("delivered", "ws") === 1 &&
    count("inbound", "webhook") === 1 &&
    count("bounce", "webhook") === 2,
);
const inbound = calls.filter((c) => c.name === "inbound");
for (const c of inbound) assert.equal(c.data.subject, "Hello");
const raw = calls.filter((c) => c.name === "bounce" && c.data.note !== undefined);
assert.equal(raw.length, 2);
for (const c of raw) assert.equal(c.data.note, "café / ok");
const delivered = calls.find((c) => c.name === "delivered");
assert.deepEqual(delivered.data.recipients, ["bob@example.com"]);
assert.equal(calls.filter((c) => c.via === "?").length, 0);
log("article: ok");
process.exit(0);
