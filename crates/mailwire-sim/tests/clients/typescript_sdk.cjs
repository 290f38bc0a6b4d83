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

// --- the agent's wider flow, one function per resource -----------------------------

const b64 = (text) => Buffer.from(text).toString("base64");
const sum = (points) => (points || []).reduce((n, p) => n + p.count, 0);
const last = (series, kind) => series[kind][series[kind].length - 1].value;

/** Who the key is, and its organization's counts. */
async function identity() {
  const me = await client.auth.me();
  assert.equal(me.scopeType, "organization");
  assert.equal(me.scopeId, me.organizationId);
  assert.equal(me.podId, undefined);
  const org = await client.organizations.get();
  assert.equal(org.organizationId, me.organizationId);
  assert.deepEqual([org.inboxCount, org.domainCount], [2, 0]);
}

/** Counts of what was published so far, per scope, and cumulative usage. */
async function metrics({ pod, a, b }) {
  // A sent two (the hello, the bounced one); B two (the reply, the draft).
  const aSent = await client.inboxes.metrics.queryEvents(a.inboxId, { eventTypes: ["message.sent"] });
  assert.equal(sum(aSent["message.sent"]), 2, JSON.stringify(aSent));
  assert.equal(aSent["message.received"], undefined, "only the types asked for");
  const podIn = await client.pods.metrics.queryEvents(pod.podId, { eventTypes: ["message.received"], period: 3600 });
  assert.equal(sum(podIn["message.received"]), 1, JSON.stringify(podIn));
  const all = await client.metrics.queryEvents({ eventTypes: ["message.sent", "message.bounced"] });
  assert.equal(sum(all["message.sent"]), 4, JSON.stringify(all));
  assert.equal(sum(all["message.bounced"]), 1, JSON.stringify(all));
  await assert.rejects(client.metrics.queryEvents({ period: 0 }), invalid);

  const usage = await client.inboxes.metrics.queryUsage(b.inboxId);
  assert.equal(last(usage, "message_count"), 3, JSON.stringify(usage));
  assert.equal(last(usage, "message_count"), (await client.inboxes.messages.list(b.inboxId)).count);
  assert.equal(last(usage, "thread_count"), (await client.inboxes.threads.list(b.inboxId)).count);
  assert.ok(last(usage, "storage_bytes") > 0 && usage.pod_count === undefined, JSON.stringify(usage));
  const inPod = await client.pods.metrics.queryUsage(pod.podId, { usageTypes: ["inbox_count"] });
  assert.equal(last(inPod, "inbox_count"), 1);
  const org = await client.metrics.queryUsage({ usageTypes: ["inbox_count", "pod_count"] });
  assert.equal(last(org, "inbox_count"), 2);
  assert.equal(last(org, "pod_count"), (await client.pods.list()).count);
}

/** A local receiver of webhook deliveries: each with its path, its headers and
 *  whether its Svix signature verifies with one of `secrets`. */
async function receiver(secrets) {
  const deliveries = [];
  const waiting = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const signed = Buffer.concat([Buffer.from(`${req.headers["svix-id"]}.${req.headers["svix-timestamp"]}.`), body]);
      const given = String(req.headers["svix-signature"] || "").split(" ");
      const ok = secrets.some((s) => {
        const key = Buffer.from(s.replace(/^whsec_/, ""), "base64");
        return given.includes("v1," + crypto.createHmac("sha256", key).update(signed).digest("base64"));
      });
      res.writeHead(204).end();
      const d = { path: req.url, ok, headers: req.headers, body: JSON.parse(body) };
      const w = waiting.shift();
      if (w) w(d);
      else deliveries.push(d);
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    next: () => (deliveries.length ? Promise.resolve(deliveries.shift()) : new Promise((r) => waiting.push(r))),
    pending: () => deliveries.length,
    close: () => new Promise((r) => server.close(r)),
  };
}

/** Webhooks in every scope with custom delivery headers, one delivered with its
 *  header; read, edited, deleted. No webhook is left at the end. */
async function webhooks({ pod, a, b }) {
  const secrets = [];
  const hooks = await receiver(secrets);
  const hook = await client.webhooks.create({
    url: hooks.base + "/org",
    eventTypes: ["message.received"],
    inboxIds: [a.inboxId],
    headers: { "X-Token": "t0k3n" },
  });
  secrets.push(hook.secret);
  assert.ok(!JSON.stringify(hook).includes("t0k3n"), "values never shown");
  assert.deepEqual((await client.webhooks.getHeaders(hook.webhookId)).headerNames, ["x-token"]);
  await control(`/_sim/inboxes/${a.inboxId}/messages`, { from: "carol@example.com", subject: "Headers", text: "h" });
  const d = await hooks.next();
  assert.ok(d.ok, "signature verified");
  assert.equal(d.path, "/org");
  assert.equal(d.headers["x-token"], "t0k3n");
  assert.equal(d.body.message.subject, "Headers");
  await client.webhooks.updateHeaders(hook.webhookId, { headers: { "X-Other": "2" }, removeHeaders: ["X-TOKEN"] });
  assert.deepEqual((await client.webhooks.getHeaders(hook.webhookId)).headerNames, ["x-other"]);
  await assert.rejects(client.webhooks.updateHeaders(hook.webhookId, { headers: { "svix-id": "forged" } }), invalid);

  const mine = await client.inboxes.webhooks.create(b.inboxId, { url: hooks.base + "/b", eventTypes: ["message.received"] });
  assert.equal((await client.inboxes.webhooks.get(b.inboxId, mine.webhookId)).url, hooks.base + "/b");
  assert.deepEqual((await client.inboxes.webhooks.list(b.inboxId)).webhooks.map((w) => w.webhookId), [mine.webhookId]);
  const wider = await client.inboxes.webhooks.update(b.inboxId, mine.webhookId, { eventTypes: ["message.received", "message.bounced"] });
  assert.deepEqual(wider.eventTypes, ["message.received", "message.bounced"]);
  assert.deepEqual((await client.inboxes.webhooks.getHeaders(b.inboxId, mine.webhookId)).headerNames, []);
  await client.inboxes.webhooks.updateHeaders(b.inboxId, mine.webhookId, { headers: { "X-Inbox": "1" } });
  assert.deepEqual((await client.inboxes.webhooks.getHeaders(b.inboxId, mine.webhookId)).headerNames, ["x-inbox"]);
  await assert.rejects(client.inboxes.webhooks.get(a.inboxId, mine.webhookId), notFound);
  await client.inboxes.webhooks.delete(b.inboxId, mine.webhookId);
  await assert.rejects(client.inboxes.webhooks.get(b.inboxId, mine.webhookId), notFound);

  const theirs = await client.pods.webhooks.create(pod.podId, { url: hooks.base + "/pod", eventTypes: ["message.received"] });
  assert.equal((await client.pods.webhooks.get(pod.podId, theirs.webhookId)).url, hooks.base + "/pod");
  assert.deepEqual((await client.pods.webhooks.list(pod.podId)).webhooks.map((w) => w.webhookId), [theirs.webhookId]);
  const edited = await client.pods.webhooks.update(pod.podId, theirs.webhookId, { eventTypes: ["message.sent"] });
  assert.deepEqual(edited.eventTypes, ["message.sent"]);
  await client.pods.webhooks.updateHeaders(pod.podId, theirs.webhookId, { headers: { "X-Pod": "1", "X-Env": "t" } });
  assert.deepEqual((await client.pods.webhooks.getHeaders(pod.podId, theirs.webhookId)).headerNames.sort(), ["x-env", "x-pod"]);
  await client.pods.webhooks.delete(pod.podId, theirs.webhookId);
  await assert.rejects(client.pods.webhooks.get(pod.podId, theirs.webhookId), notFound);

  await client.webhooks.delete(hook.webhookId);
  assert.equal((await client.webhooks.list()).count, 0);
  assert.equal(hooks.pending(), 0);
  await hooks.close();
}

/** A message with an attachment: the attachment and the raw .eml downloaded,
 *  replied to all, forwarded, deleted; batch get and update, label changes as
 *  inbox events, search. */
async function messagesExtra(ctx) {
  const { a, b, msg } = ctx;
  const sent = await client.inboxes.messages.send(a.inboxId, {
    to: b.inboxId,
    cc: ["carol@example.com"],
    subject: "Report",
    text: "The report, attached.",
    attachments: [{ filename: "r.txt", contentType: "text/plain", content: b64("r: 42") }],
  });
  const report = (await client.inboxes.messages.list(b.inboxId, { subject: ["Report"] })).messages[0];
  assert.equal(report.messageId, sent.messageId);
  assert.deepEqual(report.cc, ["carol@example.com"]);
  const att = report.attachments[0];
  assert.deepEqual([att.filename, att.size], ["r.txt", 5]);
  const link = await client.inboxes.messages.getAttachment(b.inboxId, report.messageId, att.attachmentId);
  assert.equal(await download(link.downloadUrl), "r: 42");
  const eml = await download((await client.inboxes.messages.getRaw(b.inboxId, report.messageId)).downloadUrl);
  assert.match(eml, /^Subject: Report\r?$/m);
  assert.ok(eml.includes(`Message-ID: ${report.messageId}`), eml);
  assert.ok(eml.includes('filename="r.txt"') && eml.includes("r: 42"), eml);
  const all = await client.inboxes.messages.replyAll(b.inboxId, report.messageId, { text: "Got it, all." });
  assert.equal(all.threadId, report.threadId);
  const back = await client.inboxes.messages.get(b.inboxId, all.messageId);
  assert.deepEqual([back.subject, back.to, back.cc], ["Re: Report", [`A <${a.inboxId}>`], ["carol@example.com"]]);
  const fwd = await client.inboxes.messages.forward(b.inboxId, report.messageId, { to: "dave@example.com" });
  const forwarded = await client.inboxes.messages.get(b.inboxId, fwd.messageId);
  assert.equal(forwarded.subject, "Fwd: Report");
  assert.deepEqual(forwarded.attachments.map((x) => x.filename), ["r.txt"]);
  await client.inboxes.messages.delete(b.inboxId, fwd.messageId);
  await assert.rejects(client.inboxes.messages.get(b.inboxId, fwd.messageId), notFound);
  ctx.report = report;

  const ids = (await client.inboxes.messages.list(b.inboxId, { ascending: true })).messages.map((m) => m.messageId);
  assert.equal(ids[0], msg.messageId);
  const got = await client.inboxes.messages.batchGet(b.inboxId, { messageIds: [ids[2], "<missing@example.com>", ids[0]] });
  assert.equal(got.count, 2);
  assert.deepEqual(got.messages.map((m) => m.messageId), [ids[2], ids[0]]);
  assert.equal(got.messages[1].subject, "Hello");
  assert.equal(got.messages[1].text, undefined, "items, no bodies");
  const changed = await client.inboxes.messages.batchUpdate(b.inboxId, { messageIds: ids.slice(0, 2), addLabels: ["triaged"] });
  assert.equal(changed.count, 2);
  assert.ok(changed.updates.every((u) => u.labels.includes("triaged")), JSON.stringify(changed));
  assert.equal((await client.inboxes.messages.list(b.inboxId, { labels: ["triaged"] })).count, 2);
  await assert.rejects(client.inboxes.messages.batchUpdate(b.inboxId, { messageIds: [ids[0]], addLabels: ["sent"] }), invalid);

  // Every label change is an inbox event, newest first.
  const events = (await client.inboxes.events.list(b.inboxId)).events;
  const changes = events.map((e) => `${e.eventType} ${e.label} ${e.messageId}`);
  assert.deepEqual(changes.slice(0, 2).sort(), [`label.added triaged ${ids[0]}`, `label.added triaged ${ids[1]}`].sort());
  assert.ok(changes.includes(`label.removed unread ${msg.messageId}`), changes.join("\n"));
  assert.ok(changes.includes(`label.added done ${msg.messageId}`), changes.join("\n"));

  const found = await client.inboxes.messages.search(b.inboxId, { q: "thanks" });
  assert.deepEqual(found.messages.map((m) => m.subject), ["Re: Hello"]);
  assert.ok(found.messages[0].highlights.text.some((t) => t.includes("**Thanks**")), JSON.stringify(found));
  assert.equal((await client.inboxes.messages.search(b.inboxId, { q: "dinner" })).count, 0);
  await assert.rejects(client.inboxes.messages.search(b.inboxId, { q: "x", limit: 101 }), invalid);
}

/** Threads in every scope: attachments, labels, search, deletion. */
async function threadsExtra({ pod, a, b, report }) {
  const tid = report.threadId;
  const att = report.attachments[0].attachmentId;
  for (const link of [
    await client.threads.getAttachment(tid, att),
    await client.inboxes.threads.getAttachment(b.inboxId, tid, att),
    await client.pods.threads.getAttachment(pod.podId, tid, att),
  ]) {
    assert.equal(link.attachmentId, att);
    assert.equal(await download(link.downloadUrl), "r: 42");
  }
  const inPod = await client.pods.threads.list(pod.podId);
  assert.deepEqual([...new Set(inPod.threads.map((t) => t.inboxId))], [b.inboxId]);
  const whole = await client.pods.threads.get(pod.podId, tid);
  assert.deepEqual(whole.messages.map((m) => m.subject), ["Report", "Re: Report"]);
  const aThread = (await client.inboxes.threads.list(a.inboxId)).threads[0].threadId;
  await assert.rejects(client.pods.threads.get(pod.podId, aThread), notFound);

  assert.ok((await client.threads.update(tid, { addLabels: ["project"] })).labels.includes("project"));
  const both = (await client.pods.threads.update(pod.podId, tid, { addLabels: ["reviewed"] })).labels;
  assert.ok(both.includes("project") && both.includes("reviewed"), both.join());
  const one = (await client.inboxes.threads.update(b.inboxId, tid, { removeLabels: ["project"] })).labels;
  assert.ok(!one.includes("project") && one.includes("reviewed"), one.join());
  assert.deepEqual((await client.inboxes.threads.list(b.inboxId, { labels: ["reviewed"] })).threads.map((t) => t.threadId), [tid]);

  const everywhere = await client.threads.search({ q: "report" });
  assert.deepEqual(new Set(everywhere.threads.map((t) => t.inboxId)), new Set([a.inboxId, b.inboxId]));
  assert.ok(everywhere.threads.every((t) => t.highlights && t.highlights.subject), JSON.stringify(everywhere));
  assert.deepEqual((await client.inboxes.threads.search(b.inboxId, { q: "attached" })).threads.map((t) => t.threadId), [tid]);
  const podFound = await client.pods.threads.search(pod.podId, { q: "report" });
  assert.deepEqual(podFound.threads.map((t) => t.threadId), [tid]);

  // Three threads of B's, to an outside address, deleted each in a scope.
  const scratch = [];
  for (const n of [0, 1, 2]) {
    const out = await client.inboxes.messages.send(b.inboxId, { to: "outside@example.com", subject: `Scratch ${n}`, text: "x" });
    scratch.push(out.threadId);
  }
  await client.threads.delete(scratch[0]);
  await assert.rejects(client.threads.get(scratch[0]), notFound);
  await client.inboxes.threads.delete(b.inboxId, scratch[1]);
  await assert.rejects(client.inboxes.threads.get(b.inboxId, scratch[1]), notFound);
  await client.pods.threads.delete(pod.podId, scratch[2]);
  await assert.rejects(client.pods.threads.delete(pod.podId, scratch[2]), notFound);
  assert.equal((await client.inboxes.threads.list(b.inboxId, { subject: ["Scratch"] })).count, 0);
}

/** A draft with an attachment, read in every scope, its attachment downloaded. */
async function draftsExtra({ pod, a, b }) {
  const draft = await client.inboxes.drafts.create(b.inboxId, {
    to: ["carol@example.com"],
    subject: "Plan",
    text: "See attached.",
    attachments: [{ filename: "plan.txt", contentType: "text/plain", content: b64("step 1") }],
  });
  const att = draft.attachments[0];
  assert.deepEqual([att.filename, att.size], ["plan.txt", 6]);
  assert.equal((await client.inboxes.drafts.get(b.inboxId, draft.draftId)).subject, "Plan");
  assert.deepEqual((await client.drafts.get(draft.draftId)).to, ["carol@example.com"]);
  assert.deepEqual((await client.inboxes.drafts.list(b.inboxId)).drafts.map((x) => x.draftId), [draft.draftId]);
  assert.equal((await client.pods.drafts.get(pod.podId, draft.draftId)).inboxId, b.inboxId);
  assert.equal((await client.pods.drafts.list(pod.podId)).count, 1);
  await assert.rejects(client.pods.drafts.get(a.podId, draft.draftId), notFound);
  for (const link of [
    await client.inboxes.drafts.getAttachment(b.inboxId, draft.draftId, att.attachmentId),
    await client.drafts.getAttachment(draft.draftId, att.attachmentId),
    await client.pods.drafts.getAttachment(pod.podId, draft.draftId, att.attachmentId),
  ]) {
    assert.equal(link.filename, "plan.txt");
    assert.equal(await download(link.downloadUrl), "step 1");
  }
  await assert.rejects(client.drafts.getAttachment(draft.draftId, "nope"), notFound);
  await client.inboxes.drafts.delete(b.inboxId, draft.draftId);
  assert.equal((await client.drafts.list()).count, 0);
}

/** Allow and block lists per scope, applied on arrival and on send. */
async function lists({ pod, a, b }) {
  const sock = await client.websockets.connect();
  await sock.waitForOpen();
  const next = collector(sock);
  sock.sendSubscribe({ type: "subscribe", inboxIds: [a.inboxId], eventTypes: ["message.received", "message.received.blocked"] });
  assert.equal((await next()).type, "subscribed");
  const arrive = async (from, subject) => {
    await control(`/_sim/inboxes/${a.inboxId}/messages`, { from, subject, text: "t" });
    const e = await next();
    assert.equal(e.message.subject, subject, JSON.stringify(e));
    return e;
  };

  // The organization blocks a domain: its mail arrives blocked, left out of lists.
  const entry = await client.lists.create("receive", "block", { entry: "Spammer.example", reason: "noise" });
  assert.deepEqual(
    [entry.entry, entry.entryType, entry.listType, entry.direction, entry.reason],
    ["spammer.example", "domain", "block", "receive", "noise"],
  );
  const blocked = await arrive("Eve <eve@spammer.example>", "Offer");
  assert.equal(blocked.eventType, "message.received.blocked");
  assert.ok(blocked.message.labels.includes("blocked"));
  const subjects = async (req) => (await client.inboxes.messages.list(a.inboxId, req)).messages.map((m) => m.subject);
  assert.ok(!(await subjects()).includes("Offer"));
  assert.ok((await subjects({ includeBlocked: true })).includes("Offer"));

  // A allows one address of it: the narrower scope decides.
  const allowed = await client.inboxes.lists.create(a.inboxId, "receive", "allow", { entry: "friend@spammer.example" });
  assert.deepEqual([allowed.inboxId, allowed.podId, allowed.entryType], [a.inboxId, a.podId, "email"]);
  assert.equal((await arrive("friend@spammer.example", "Hello again")).eventType, "message.received");
  assert.equal((await client.inboxes.lists.get(a.inboxId, "receive", "allow", "friend@spammer.example")).inboxId, a.inboxId);
  const listed = await client.inboxes.lists.list(a.inboxId, "receive", "allow");
  assert.deepEqual(listed.entries.map((e) => e.entry), ["friend@spammer.example"]);
  await client.inboxes.lists.delete(a.inboxId, "receive", "allow", "friend@spammer.example");
  await assert.rejects(client.inboxes.lists.get(a.inboxId, "receive", "allow", "friend@spammer.example"), notFound);
  sock.close();

  assert.deepEqual((await client.lists.list("receive", "block")).entries.map((e) => e.entry), ["spammer.example"]);
  assert.equal((await client.lists.get("receive", "block", "spammer.example")).reason, "noise");
  await client.lists.delete("receive", "block", "spammer.example");
  await assert.rejects(client.lists.get("receive", "block", "spammer.example"), notFound);
  await assert.rejects(client.lists.create("receive", "block", { entry: "not an entry" }), invalid);

  // The pod refuses a recipient: B (in it) cannot send there, A (not) can.
  const refusal = await client.pods.lists.create(pod.podId, "send", "block", { entry: "nobody@blocked.example" });
  assert.deepEqual([refusal.podId, refusal.inboxId, refusal.direction], [pod.podId, undefined, "send"]);
  await assert.rejects(
    client.inboxes.messages.send(b.inboxId, { to: "nobody@blocked.example", text: "x" }),
    failsWith(AgentMail.MessageRejectedError, 403),
  );
  assert.ok((await client.inboxes.messages.send(a.inboxId, { to: "nobody@blocked.example", text: "x" })).messageId);
  assert.deepEqual((await client.pods.lists.list(pod.podId, "send", "block")).entries.map((e) => e.entry), ["nobody@blocked.example"]);
  assert.equal((await client.pods.lists.get(pod.podId, "send", "block", "nobody@blocked.example")).listType, "block");
  await client.pods.lists.delete(pod.podId, "send", "block", "nobody@blocked.example");
  await assert.rejects(client.pods.lists.get(pod.podId, "send", "block", "nobody@blocked.example"), notFound);
  assert.ok((await client.inboxes.messages.send(b.inboxId, { to: "nobody@blocked.example", text: "x" })).messageId);
}

/** Keys of the organization, a pod and an inbox: each reaches its scope and its
 *  permissions only, is listed without its secret, and is refused once deleted. */
async function apiKeys({ pod, a, b }) {
  const reader = await client.apiKeys.create({ name: "reader", permissions: { messageRead: true } });
  assert.equal(reader.name, "reader");
  assert.ok(reader.apiKey.startsWith(reader.prefix));
  const asReader = sdk(reader.apiKey, { maxRetries: 0 });
  assert.equal((await asReader.inboxes.messages.list(b.inboxId)).count, (await client.inboxes.messages.list(b.inboxId)).count);
  await assert.rejects(asReader.inboxes.update(b.inboxId, { displayName: "Mallory" }), forbidden);

  const podKey = await client.pods.apiKeys.create(pod.podId, { name: "pod agent" });
  assert.deepEqual([podKey.podId, podKey.inboxId], [pod.podId, undefined]);
  const asPod = sdk(podKey.apiKey, { maxRetries: 0 });
  const me = await asPod.auth.me();
  assert.deepEqual([me.scopeType, me.scopeId, me.apiKeyId], ["pod", pod.podId, podKey.apiKeyId]);
  assert.equal((await asPod.pods.inboxes.get(pod.podId, b.inboxId)).inboxId, b.inboxId);
  await assert.rejects(asPod.inboxes.get(a.inboxId), forbidden);

  const bKey = await client.inboxes.apiKeys.create(b.inboxId, { name: "b's agent" });
  assert.deepEqual([bKey.inboxId, bKey.podId], [b.inboxId, pod.podId]);
  const asB = sdk(bKey.apiKey, { maxRetries: 0 });
  assert.equal((await asB.inboxes.threads.list(b.inboxId)).count, (await client.inboxes.threads.list(b.inboxId)).count);
  await assert.rejects(asB.threads.list(), forbidden);

  const everything = await client.apiKeys.list();
  assert.equal(everything.count, 3);
  assert.deepEqual(new Set(everything.apiKeys.map((k) => k.apiKeyId)), new Set([reader.apiKeyId, podKey.apiKeyId, bKey.apiKeyId]));
  assert.ok(everything.apiKeys.every((k) => k.apiKey === undefined), "no secrets listed");
  const inPod = (await client.pods.apiKeys.list(pod.podId)).apiKeys.map((k) => k.apiKeyId);
  assert.ok(inPod.includes(podKey.apiKeyId) && !inPod.includes(reader.apiKeyId), inPod.join());
  const mine = (await client.inboxes.apiKeys.list(b.inboxId)).apiKeys;
  assert.deepEqual(mine.map((k) => k.apiKeyId), [bKey.apiKeyId]);
  assert.ok(mine[0].usedAt);

  await assert.rejects(client.inboxes.apiKeys.delete(a.inboxId, bKey.apiKeyId), notFound);
  await client.inboxes.apiKeys.delete(b.inboxId, bKey.apiKeyId);
  await client.pods.apiKeys.delete(pod.podId, podKey.apiKeyId);
  await client.apiKeys.delete(reader.apiKeyId);
  for (const gone of [asB, asPod, asReader]) {
    await assert.rejects(gone.inboxes.get(b.inboxId), failsWith(AgentMailError, 401));
  }
  await assert.rejects(client.apiKeys.delete(reader.apiKeyId), notFound);
  assert.equal((await client.apiKeys.list()).count, 0);
}

/** The organization's domain and a pod's: pending, their zone file, edited,
 *  verified (then inboxes on them), listed per scope, deleted. */
async function domains({ pod }) {
  const text = async (zone) => Buffer.from(await (await zone).arrayBuffer()).toString();
  const d = await client.domains.create({ domain: "Mail.Example.com" });
  assert.deepEqual([d.domainId, d.status], ["mail.example.com", "PENDING"]);
  assert.ok(d.records.some((r) => r.type === "MX") && d.records.every((r) => r.status === "MISSING"));
  const onIt = { username: "eve", domain: "mail.example.com" };
  await assert.rejects(client.inboxes.create(onIt), failsWith(AgentMailError, 400));
  const zone = await text(client.domains.getZoneFile(d.domainId));
  assert.ok(zone.includes("mail.example.com") && zone.includes("MX"), zone);
  const edited = await client.domains.update(d.domainId, { subdomainsEnabled: true });
  assert.ok(edited.subdomainsEnabled && edited.records.some((r) => r.name === "*.mail.example.com"));
  await client.domains.verify(d.domainId);
  const got = await client.domains.get(d.domainId);
  assert.equal(got.status, "VERIFIED");
  assert.ok(got.records.every((r) => r.status === "VALID"));
  const eve = await client.inboxes.create(onIt);
  assert.equal(eve.inboxId, "eve@mail.example.com");

  const theirs = await client.pods.domains.create(pod.podId, { domain: "pod.example" });
  assert.deepEqual([theirs.podId, theirs.status], [pod.podId, "PENDING"]);
  assert.deepEqual((await client.pods.domains.list(pod.podId)).domains.map((x) => x.domainId), ["pod.example"]);
  assert.deepEqual((await client.domains.list()).domains.map((x) => x.domainId), ["pod.example", "mail.example.com"]);
  await assert.rejects(client.pods.domains.get(pod.podId, d.domainId), notFound);
  assert.equal((await client.pods.domains.update(pod.podId, "pod.example", { feedbackEnabled: false })).feedbackEnabled, false);
  assert.ok((await text(client.pods.domains.getZoneFile(pod.podId, "pod.example"))).includes("pod.example"));
  await client.pods.domains.verify(pod.podId, "pod.example");
  assert.equal((await client.pods.domains.get(pod.podId, "pod.example")).status, "VERIFIED");
  const x = await client.pods.inboxes.create(pod.podId, { username: "x", domain: "pod.example" });
  assert.equal(x.inboxId, "x@pod.example");
  assert.equal((await client.organizations.get()).domainCount, 2);

  await client.inboxes.delete(eve.inboxId);
  await client.domains.delete(d.domainId);
  await assert.rejects(client.domains.get(d.domainId), notFound);
  await client.inboxes.delete(x.inboxId);
  await client.pods.domains.delete(pod.podId, "pod.example");
  await assert.rejects(client.pods.domains.get(pod.podId, "pod.example"), notFound);
  assert.equal((await client.domains.list()).count, 0);
}

/** A pod's inbox read, edited and deleted through the pod; the pod deleted. */
async function podsExtra({ pod }) {
  const scratch = await client.pods.create({ name: "scratch" });
  const temp = await client.pods.inboxes.create(scratch.podId, { username: "ts-temp" });
  assert.equal((await client.pods.inboxes.get(scratch.podId, temp.inboxId)).podId, scratch.podId);
  assert.deepEqual((await client.pods.inboxes.list(scratch.podId)).inboxes.map((i) => i.inboxId), [temp.inboxId]);
  await assert.rejects(client.pods.inboxes.get(pod.podId, temp.inboxId), notFound);
  assert.equal((await client.pods.inboxes.update(scratch.podId, temp.inboxId, { displayName: "Temp" })).displayName, "Temp");
  await client.pods.inboxes.delete(scratch.podId, temp.inboxId);
  await assert.rejects(client.inboxes.get(temp.inboxId), notFound);
  await client.pods.delete(scratch.podId);
  await assert.rejects(client.pods.get(scratch.podId), notFound);
}

/** An agent signs up; its human gets a code, which verifies it. */
async function agent() {
  const signed = await client.agent.signUp({ humanEmail: "human@example.com", username: "ts-agent" });
  assert.equal(signed.inboxId, "ts-agent@agentmail.to");
  const asAgent = sdk(signed.apiKey, { maxRetries: 0 });
  assert.equal((await asAgent.inboxes.get(signed.inboxId)).inboxId, signed.inboxId);
  const mail = await client.inboxes.messages.list("human@example.com");
  assert.equal(mail.count, 1);
  const code = /\b\d{6}\b/.exec(mail.messages[0].preview || "");
  assert.ok(code, JSON.stringify(mail.messages[0]));
  const wrong = code[0] === "000000" ? "111111" : "000000";
  assert.equal((await asAgent.agent.verify({ otpCode: wrong })).verified, false);
  assert.equal((await asAgent.agent.verify({ otpCode: code[0] })).verified, true);
  await assert.rejects(client.agent.verify({ otpCode: code[0] }), forbidden);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
