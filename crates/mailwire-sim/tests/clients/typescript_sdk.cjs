// AgentMail's official TypeScript SDK against `mailwire dev`, with only the base URL
// changed: inboxes, pods, messages, threads, webhooks, and its WebSocket client
// receiving typed (camelCased) events, with no frame it fails to validate; then an
// agent's wider flow through every resource the SDK exposes: drafts, search,
// batches, label events, threads in every scope, webhook headers (delivered to a
// local receiver), allow and block lists, API keys and their scopes, domains,
// metrics, the organization and the agent sign-up.
//
// Every request the SDK sends is matched to its operation of AgentMail's published
// definition (tests/it/v0/endpoints.txt); the script ends by printing how many calls
// it made over how many operations.
//
// Run by tests/it/sdk.rs: node typescript_sdk.cjs HTTP_BASE WS_BASE API_KEY
"use strict";
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const { AgentMail, AgentMailClient, AgentMailError } = require("agentmail");

const [HTTP, WS, KEY] = process.argv.slice(2);
const environment = { http: HTTP, websockets: WS };

/** AgentMail's operations, from its published definition: [method, path segments]. */
const OPERATIONS = fs
  .readFileSync(path.join(__dirname, "..", "it", "v0", "endpoints.txt"), "utf8")
  .split("\n")
  .filter((line) => line.trim() && !line.startsWith("#"))
  .map((line) => {
    const [method, route] = line.split(/\s+/);
    return [method, route.replace(/^\/|\/$/g, "").split("/")];
  });

/** The definition's operation a request is, its most literal match. */
function operation(method, pathname) {
  const segments = pathname.replace(/^\/|\/$/g, "").split("/");
  let best = null;
  for (const [m, pattern] of OPERATIONS) {
    if (m !== method || pattern.length !== segments.length) continue;
    if (!pattern.every((p, i) => p.startsWith("{") || p === segments[i])) continue;
    const literal = pattern.filter((p) => !p.startsWith("{")).length;
    if (!best || literal > best[0]) best = [literal, `${m} /${pattern.join("/")}`];
  }
  return best && best[1];
}

/** Per request the SDK sent: [its operation or null, method, path]. */
const calls = [];
function counted(url, init) {
  const { pathname } = new URL(typeof url === "string" || url instanceof URL ? url : url.url);
  const method = ((init && init.method) || "GET").toUpperCase();
  const op = pathname.startsWith("/v0/") ? operation(method, pathname.slice(3)) : null;
  calls.push([op, method, pathname]);
  return fetch(url, init);
}

/** An SDK client with `apiKey`, its requests counted. */
const sdk = (apiKey, options = {}) => new AgentMailClient({ apiKey, environment, fetch: counted, ...options });
const client = sdk(KEY);

/** The simulator's own controls (not AgentMail's API). */
async function control(route, body) {
  const res = await fetch(HTTP + route, {
    method: "POST",
    headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.ok(res.ok, `${route}: ${res.status}`);
  return res.json();
}

async function download(url) {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return Buffer.from(await res.arrayBuffer()).toString();
}

/** A rejection check: an SDK error of `kind`, with `status` and the body's `name`. */
const failsWith = (kind, status, name) => (e) => {
  assert.ok(e instanceof kind, `${e && e.constructor && e.constructor.name}: ${e && e.message}`);
  if (status !== undefined) assert.equal(e.statusCode, status, JSON.stringify(e.body));
  if (name !== undefined) assert.equal(e.body && e.body.name, name, JSON.stringify(e.body));
  return true;
};
const notFound = failsWith(AgentMail.NotFoundError, 404);
const forbidden = failsWith(AgentMailError, 403, "ForbiddenError");
const invalid = failsWith(AgentMail.ValidationError, 400);

// The SDK reports frames it cannot type on the console: any such report fails.
const complaints = [];
for (const level of ["warn", "error"]) {
  const original = console[level];
  console[level] = (...args) => {
    complaints.push(args.map(String).join(" "));
    original(...args);
  };
}

setTimeout(() => {
  console.error("timed out");
  process.exit(2);
}, 60_000).unref();

/** The next `n` messages a socket receives. */
function collector(sock) {
  const queue = [];
  const waiting = [];
  sock.on("message", (m) => {
    const w = waiting.shift();
    if (w) w(m);
    else queue.push(m);
  });
  return () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r)));
}

async function main() {
  // A wrong key is the service's 401.
  const bad = sdk("am_wrong", { maxRetries: 0 });
  await assert.rejects(bad.inboxes.list(), (e) => e.statusCode === 401);

  const pod = await client.pods.create({ name: "agents" });
  assert.ok(pod.podId);
  const a = await client.inboxes.create({ username: "ts-a", displayName: "A" });
  assert.equal(a.inboxId, "ts-a@agentmail.to");
  const b = await client.pods.inboxes.create(pod.podId, { username: "ts-b" });
  assert.equal(b.podId, pod.podId);
  const page = await client.inboxes.list({ limit: 1 });
  assert.equal(page.count, 1);
  assert.equal(page.inboxes[0].inboxId, b.inboxId);
  assert.ok(page.nextPageToken);
  const next = await client.inboxes.list({ limit: 1, pageToken: page.nextPageToken });
  assert.equal(next.inboxes[0].inboxId, a.inboxId);
  await assert.rejects(client.inboxes.get("nobody@agentmail.to"), (e) => e.statusCode === 404);

  const hook = await client.webhooks.create({ url: "http://127.0.0.1:9/hook", eventTypes: ["message.received"] });
  assert.ok(hook.secret.startsWith("whsec_"));
  assert.deepEqual(hook.eventTypes, ["message.received"]);
  assert.equal((await client.webhooks.list()).webhooks.length, 1);
  const narrowed = await client.webhooks.update(hook.webhookId, { addInboxIds: [b.inboxId] });
  assert.deepEqual(narrowed.inboxIds, [b.inboxId]);
  await client.webhooks.delete(hook.webhookId);
  await assert.rejects(client.webhooks.get(hook.webhookId), (e) => e.statusCode === 404);

  const inboxSock = await client.websockets.connect();
  const outboxSock = await client.websockets.connect();
  await inboxSock.waitForOpen();
  await outboxSock.waitForOpen();
  const inbox = collector(inboxSock);
  const outbox = collector(outboxSock);
  inboxSock.sendSubscribe({ type: "subscribe", inboxIds: [b.inboxId] });
  outboxSock.sendSubscribe({
    type: "subscribe",
    inboxIds: [a.inboxId],
    eventTypes: ["message.sent", "message.delivered", "message.bounced"],
  });
  const subscribed = await inbox();
  assert.equal(subscribed.type, "subscribed");
  assert.deepEqual(subscribed.inboxIds, [b.inboxId]);
  assert.equal((await outbox()).type, "subscribed");

  const sent = await client.inboxes.messages.send(a.inboxId, { to: b.inboxId, subject: "Hello", text: "Hi B" });
  const received = await inbox();
  // camelCase keys: the SDK typed the frame.
  assert.equal(received.eventType, "message.received", JSON.stringify(received));
  assert.equal(received.message.inboxId, b.inboxId);
  assert.equal(received.message.subject, "Hello");
  assert.equal(received.thread.messageCount, 1);
  const s = await outbox();
  assert.equal(s.eventType, "message.sent", JSON.stringify(s));
  assert.equal(s.send.messageId, sent.messageId);
  const d = await outbox();
  assert.equal(d.eventType, "message.delivered", JSON.stringify(d));
  assert.deepEqual(d.delivery.recipients, [b.inboxId]);

  await client.inboxes.messages.send(a.inboxId, { to: "bounce@simulator.amazonses.com", subject: "x", text: "x" });
  assert.equal((await outbox()).eventType, "message.sent");
  const bounce = await outbox();
  assert.equal(bounce.eventType, "message.bounced", JSON.stringify(bounce));
  assert.equal(bounce.bounce.recipients[0].address, "bounce@simulator.amazonses.com");

  const list = await client.inboxes.messages.list(b.inboxId);
  assert.equal(list.count, 1);
  const msg = await client.inboxes.messages.get(b.inboxId, list.messages[0].messageId);
  assert.equal(msg.text, "Hi B");
  const labels = await client.inboxes.messages.update(b.inboxId, msg.messageId, { addLabels: ["done"], removeLabels: ["unread"] });
  assert.deepEqual(labels.labels, ["received", "done"]);
  const reply = await client.inboxes.messages.reply(b.inboxId, msg.messageId, { text: "Thanks" });
  assert.equal(reply.threadId, msg.threadId);
  const threads = await client.inboxes.threads.list(b.inboxId);
  assert.equal(threads.count, 1);
  assert.equal(threads.threads[0].messageCount, 2);
  const thread = await client.inboxes.threads.get(b.inboxId, msg.threadId);
  assert.deepEqual(thread.messages.map((m) => m.subject), ["Hello", "Re: Hello"]);
  const all = await client.threads.list();
  assert.ok(all.threads.some((t) => t.inboxId === a.inboxId));

  inboxSock.close();
  outboxSock.close();
  assert.deepEqual(complaints, []);

  // Drafts: a reply draft takes its subject and thread from its message; sent once.
  const draft = await client.inboxes.drafts.create(b.inboxId, { inReplyTo: msg.messageId, to: ["dave@example.com"], text: "Draft" });
  assert.equal(draft.subject, "Re: Hello");
  assert.equal(draft.inReplyTo, msg.messageId);
  const edited = await client.inboxes.drafts.update(b.inboxId, draft.draftId, { text: "Final", addLabels: ["q3"] });
  assert.equal(edited.text, "Final");
  assert.deepEqual(edited.labels, ["q3"]);
  assert.deepEqual((await client.drafts.list()).drafts.map((d) => d.draftId), [draft.draftId]);
  const out = await client.inboxes.drafts.send(b.inboxId, draft.draftId, {}, { idempotencyKey: "ts-draft" });
  assert.equal(out.threadId, msg.threadId);
  const again = await client.inboxes.drafts.send(b.inboxId, draft.draftId, {}, { idempotencyKey: "ts-draft" });
  assert.equal(again.messageId, out.messageId);
  assert.equal((await client.drafts.list()).count, 0);

  // The wider flow.
  const ctx = { pod, a, b, msg };
  await identity();
  await metrics(ctx);
  await webhooks(ctx);
  await messagesExtra(ctx);
  await threadsExtra(ctx);
  await draftsExtra(ctx);
  await lists(ctx);
  await apiKeys(ctx);
  await domains(ctx);
  await podsExtra(ctx);
  await agent();
  assert.deepEqual(complaints, []);

  const unknown = [...new Set(calls.filter(([op]) => !op).map(([, m, p]) => `${m} ${p}`))];
  assert.deepEqual(unknown, [], "requests outside the definition");
  const covered = new Set(calls.map(([op]) => op));
  console.log(`typescript sdk: ${calls.length} calls over ${covered.size} operations`);
  const missed = OPERATIONS.map(([m, p]) => `${m} /${p.join("/")}`).filter((op) => !covered.has(op));
  if (missed.length) console.log(`typescript sdk: not exposed by the SDK or not called: ${missed.sort().join(", ")}`);
  console.log("typescript sdk: ok");
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
