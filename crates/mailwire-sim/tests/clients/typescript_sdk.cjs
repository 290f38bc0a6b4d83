// AgentMail's official TypeScript SDK against `mailwire dev`, with only the base URL
// changed: inboxes, pods, messages, threads, webhooks, and its WebSocket client
// receiving typed (camelCased) events, with no frame it fails to validate.
//
// Run by tests/it/sdk.rs: node typescript_sdk.cjs HTTP_BASE WS_BASE API_KEY
"use strict";
const assert = require("node:assert/strict");
const { AgentMailClient } = require("agentmail");

const [HTTP, WS, KEY] = process.argv.slice(2);
const environment = { http: HTTP, websockets: WS };
const client = new AgentMailClient({ apiKey: KEY, environment });

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
  const bad = new AgentMailClient({ apiKey: "am_wrong", environment, maxRetries: 0 });
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
  console.log("typescript sdk: ok");
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
