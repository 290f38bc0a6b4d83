"""AgentMail's official Python SDK against `mailwire dev`, with only the base URL
changed: the calls of the service's quickstarts (inboxes, messages, threads,
webhooks, pods) and its WebSocket client receiving typed events; then an agent's
wider flow through every resource the SDK exposes: drafts, search, batches, label
events, threads in every scope, webhook headers, allow and block lists, API keys
and their scopes, domains, metrics, the organization and the agent sign-up.

Every request the SDK sends is matched to its operation of AgentMail's published
definition (tests/it/v0/endpoints.txt); the script ends by printing how many calls
it made over how many operations.

Run by tests/it/sdk.rs: python_sdk.py HTTP_BASE WS_BASE API_KEY. Exits non-zero (an
assertion's traceback on stderr) at the first thing that is not as the service does.
"""

import base64
import email
import email.policy
import hashlib
import hmac
import http.server
import json
import os
import queue
import re
import sys
import threading
import urllib.request
from typing import NamedTuple

import httpx

from agentmail import (
    AgentMail,
    AgentMailEnvironment,
    ApiKeyPermissions,
    CreateBearerApiKeyRequest,
    MessageBouncedEvent,
    MessageDeliveredEvent,
    MessageReceivedEvent,
    MessageRejectedError,
    MessageSentEvent,
    NotFoundError,
    SendAttachment,
    Subscribe,
    Subscribed,
    ValidationError,
)
from agentmail.core.api_error import ApiError
from agentmail.inboxes import CreateInboxRequest

HTTP, WS, KEY = sys.argv[1], sys.argv[2], sys.argv[3]
env = AgentMailEnvironment(http=HTTP, websockets=WS)


def load_operations():
    """AgentMail's operations, from its published definition: (method, path segments)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "it", "v0", "endpoints.txt")
    with open(path) as f:
        rows = [line.split() for line in f if line.strip() and not line.startswith("#")]
    return [(method, route.strip("/").split("/")) for method, route, *_ in rows]


OPERATIONS = load_operations()
calls = []  # per request the SDK sent: (its operation or None, method, path)


def operation(method, path):
    """The definition's operation a request is, its most literal match."""
    segments = path.strip("/").split("/")
    best = None
    for m, pattern in OPERATIONS:
        if m != method or len(pattern) != len(segments):
            continue
        if all(p.startswith("{") or p == s for p, s in zip(pattern, segments)):
            literal = sum(not p.startswith("{") for p in pattern)
            if best is None or literal > best[0]:
                best = (literal, f"{m} /{'/'.join(pattern)}")
    return best and best[1]


def count(request):
    path = request.url.raw_path.decode().split("?")[0]
    op = operation(request.method, path.removeprefix("/v0")) if path.startswith("/v0/") else None
    calls.append((op, request.method, path))


transport = httpx.Client(timeout=30, event_hooks={"request": [count]})


def sdk(api_key):
    """An SDK client with `api_key`, its requests counted."""
    return AgentMail(api_key=api_key, environment=env, httpx_client=transport)


client = sdk(KEY)


def control(path, body):
    """The simulator's own controls (not AgentMail's API)."""
    req = urllib.request.Request(
        HTTP + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + KEY, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.load(res)


def expect_status(status, call):
    try:
        call()
    except ApiError as e:
        assert e.status_code == status, (e.status_code, e.body)
        return e
    raise AssertionError(f"expected {status}")


def expect_error(kind, call, status=None):
    """`call` raises `kind`, an SDK error class (with `status`)."""
    try:
        call()
    except kind as e:
        assert status is None or e.status_code == status, (e.status_code, e.body)
        return e
    raise AssertionError(f"expected {kind.__name__}")


def forbidden(call):
    """`call` is the service's 403 `ForbiddenError` (the SDK has no class for it)."""
    e = expect_status(403, call)
    assert e.body["name"] == "ForbiddenError", e.body
    return e


def download(url):
    with urllib.request.urlopen(url, timeout=30) as res:
        return res.read()


# --- a wrong key is the service's 401 -------------------------------------------
bad = sdk("am_wrong")
e = expect_status(401, lambda: bad.inboxes.list())
assert e.body["name"] == "UnauthorizedError" and e.body["code"] == "unknown_api_key", e.body
expect_status(401, lambda: bad.webhooks.list())
try:
    with bad.websockets.connect():
        raise AssertionError("a wrong key opened a WebSocket")
except AssertionError:
    raise
except Exception as e:  # ApiError, or `websockets`' InvalidStatus with its newer releases
    status = getattr(e, "status_code", None) or getattr(getattr(e, "response", None), "status_code", None)
    assert status == 401, repr(e)

# --- pods and inboxes -------------------------------------------------------------
pod = client.pods.create(name="agents", client_id="pod-agents")
assert pod.pod_id and pod.name == "agents"
assert client.pods.create(name="again", client_id="pod-agents").pod_id == pod.pod_id
assert any(p.pod_id == pod.pod_id for p in client.pods.list().pods)
assert client.pods.get(pod_id=pod.pod_id).name == "agents"

# The quickstart's call: no arguments, a generated address.
anon = client.inboxes.create()
assert anon.inbox_id.endswith("@agentmail.to") and anon.pod_id, anon
client.inboxes.delete(inbox_id=anon.inbox_id)
ada = client.inboxes.create(request=CreateInboxRequest(username="ada", display_name="Ada"))
assert ada.inbox_id == "ada@agentmail.to" and ada.email == ada.inbox_id
bob = client.pods.inboxes.create(pod_id=pod.pod_id, username="bob")
assert bob.pod_id == pod.pod_id
e = expect_status(403, lambda: client.inboxes.create(request=CreateInboxRequest(username="ada")))
assert e.body["name"] == "IsTakenError", e.body
assert client.inboxes.get(inbox_id=ada.inbox_id).display_name == "Ada"
assert client.inboxes.update(inbox_id=ada.inbox_id, display_name="Ada L.").display_name == "Ada L."
listed = client.inboxes.list()
assert listed.count == 2 and {i.inbox_id for i in listed.inboxes} == {ada.inbox_id, bob.inbox_id}
# Newest first, one per page.
first = client.inboxes.list(limit=1)
assert first.count == 1 and first.inboxes[0].inbox_id == bob.inbox_id and first.next_page_token
second = client.inboxes.list(limit=1, page_token=first.next_page_token)
assert second.inboxes[0].inbox_id == ada.inbox_id and second.next_page_token is None
assert [i.inbox_id for i in client.pods.inboxes.list(pod_id=pod.pod_id).inboxes] == [bob.inbox_id]
expect_status(404, lambda: client.inboxes.get(inbox_id="nobody@agentmail.to"))

# --- webhooks, delivered to a local endpoint that verifies Svix signatures -------
hooks = queue.Queue()
secrets = {}


class Delivery(NamedTuple):
    path: str
    ok: bool  # its signature verified
    body: dict
    headers: object  # case-insensitive


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        msg_id, ts = self.headers["svix-id"], self.headers["svix-timestamp"]
        signed = f"{msg_id}.{ts}.".encode() + body
        ok = False
        for secret in secrets.values():
            key = base64.b64decode(secret.removeprefix("whsec_"))
            mac = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
            ok = ok or any(s == "v1," + mac for s in self.headers["svix-signature"].split())
        self.send_response(204)
        self.end_headers()
        # Queued once answered, so the script never exits with an answer unsent.
        hooks.put(Delivery(self.path, ok, json.loads(body), self.headers))

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=server.serve_forever, daemon=True).start()
hook_base = f"http://127.0.0.1:{server.server_address[1]}"

wh = client.webhooks.create(
    url=hook_base + "/all", event_types=["message.received", "message.bounced"], client_id="wh-all"
)
assert wh.secret.startswith("whsec_") and wh.enabled and wh.event_types == ["message.received", "message.bounced"]
secrets[wh.webhook_id] = wh.secret
assert client.webhooks.create(url=hook_base + "/all", event_types=["message.sent"], client_id="wh-all").webhook_id == wh.webhook_id
scoped = client.inboxes.webhooks.create(inbox_id=bob.inbox_id, url=hook_base + "/bob", event_types=["message.received"])
assert scoped.inbox_id == bob.inbox_id
secrets[scoped.webhook_id] = scoped.secret
podhook = client.pods.webhooks.create(pod_id=pod.pod_id, url=hook_base + "/pod", event_types=["message.received"])
assert podhook.pod_id == pod.pod_id
secrets[podhook.webhook_id] = podhook.secret
assert {w.webhook_id for w in client.webhooks.list().webhooks} == {wh.webhook_id, scoped.webhook_id, podhook.webhook_id}
assert [w.webhook_id for w in client.inboxes.webhooks.list(inbox_id=bob.inbox_id).webhooks] == [scoped.webhook_id]
assert [w.webhook_id for w in client.pods.webhooks.list(pod_id=pod.pod_id).webhooks] == [podhook.webhook_id]
updated = client.webhooks.update(webhook_id=wh.webhook_id, add_inbox_ids=[bob.inbox_id])
assert updated.inbox_ids == [bob.inbox_id]
assert client.webhooks.get(webhook_id=wh.webhook_id).inbox_ids == [bob.inbox_id]
temp = client.webhooks.create(url=hook_base + "/temp", event_types=["message.received"])
client.webhooks.delete(webhook_id=temp.webhook_id)
try:
    client.webhooks.get(webhook_id=temp.webhook_id)
    raise AssertionError("a deleted webhook is still there")
except NotFoundError as e:
    assert e.body.name == "NotFoundError"

# --- the WebSocket: typed events, default filters, pod filter ---------------------
with client.websockets.connect() as ws, client.websockets.connect() as pod_ws:
    ws.send_subscribe(Subscribe())
    first = ws.recv()
    assert isinstance(first, Subscribed) and first.type == "subscribed", first
    pod_ws.send_subscribe(Subscribe(pod_ids=[pod.pod_id], event_types=["message.received"]))
    sub = pod_ws.recv()
    assert isinstance(sub, Subscribed) and sub.type == "subscribed" and sub.pod_ids == [pod.pod_id], sub

    # Spam is left out of a subscription that names no types: the next event is
    # the sent message's.
    control(f"/_sim/inboxes/{ada.inbox_id}/messages", {"from": "spam@example.com", "subject": "win", "text": "$$$", "verdict": "spam"})

    sent = client.inboxes.messages.send(
        inbox_id=ada.inbox_id,
        to=bob.inbox_id,
        subject="Quarterly numbers",
        text="Numbers attached.",
        html="<p>Numbers attached.</p>",
        attachments=[SendAttachment(filename="q3.txt", content_type="text/plain", content=base64.b64encode(b"q3: up").decode())],
    )
    assert sent.message_id and sent.thread_id

    seen = []
    while len(seen) < 3:
        frame = ws.recv()
        assert not isinstance(frame, Subscribed), f"an untyped frame: {frame}"
        seen.append(frame)
    kinds = [type(f).__name__ for f in seen]
    assert kinds == ["MessageSentEvent", "MessageDeliveredEvent", "MessageReceivedEvent"], kinds
    s, d, r = seen
    assert s.event_type == "message.sent" and s.send.message_id == sent.message_id and s.send.recipients == [bob.inbox_id]
    assert d.delivery.recipients == [bob.inbox_id]
    assert r.message.inbox_id == bob.inbox_id and r.message.subject == "Quarterly numbers"
    assert r.thread.inbox_id == bob.inbox_id and r.thread.message_count == 1
    # The pod subscription got bob's copy only.
    got = pod_ws.recv()
    assert isinstance(got, MessageReceivedEvent) and got.message.inbox_id == bob.inbox_id, got

    # A designated recipient bounces.
    client.inboxes.messages.send(inbox_id=ada.inbox_id, to="bounce@simulator.amazonses.com", subject="hi", text="x")
    s2, b = ws.recv(), ws.recv()
    assert isinstance(s2, MessageSentEvent), s2
    assert isinstance(b, MessageBouncedEvent), b
    assert b.bounce.type == "Permanent" and b.bounce.recipients[0].address == "bounce@simulator.amazonses.com"

# Webhooks: bob's received, to the global one filtered to bob, the bob-scoped one and
# the pod-scoped one (ada is in no pod of its own). Every delivery verified.
got = [hooks.get(timeout=30) for _ in range(3)]
assert all(d.ok for d in got), got
paths = sorted(d.path for d in got)
assert paths == ["/all", "/bob", "/pod"], paths
by_path = {d.path: d.body for d in got}
for body in by_path.values():
    assert body["event_type"] == "message.received" and body["message"]["inbox_id"] == bob.inbox_id, body

# --- messages: list, get, labels, attachments, raw, reply, forward -----------------
msgs = client.inboxes.messages.list(inbox_id=bob.inbox_id)
assert msgs.count == 1 and msgs.messages[0].subject == "Quarterly numbers"
assert msgs.messages[0].from_ == '"Ada L." <ada@agentmail.to>', msgs.messages[0].from_
assert client.inboxes.messages.list(inbox_id=ada.inbox_id).count == 2  # spam left out
assert client.inboxes.messages.list(inbox_id=ada.inbox_id, include_spam=True).count == 3
received = client.inboxes.messages.get(inbox_id=bob.inbox_id, message_id=msgs.messages[0].message_id)
assert received.text == "Numbers attached." and received.labels == ["received", "unread"]
att = received.attachments[0]
assert att.filename == "q3.txt" and att.size == 6
link = client.inboxes.messages.get_attachment(inbox_id=bob.inbox_id, message_id=received.message_id, attachment_id=att.attachment_id)
assert urllib.request.urlopen(link.download_url, timeout=30).read() == b"q3: up"
raw = client.inboxes.messages.get_raw(inbox_id=bob.inbox_id, message_id=received.message_id)
# The raw .eml, read by Python's own MIME parser: every part is there.
eml = email.message_from_bytes(urllib.request.urlopen(raw.download_url, timeout=30).read(), policy=email.policy.default)
assert eml["Subject"] == "Quarterly numbers" and eml["Message-ID"] == received.message_id, eml["Message-ID"]
assert eml.get_body(preferencelist=("plain",)).get_content().strip() == "Numbers attached."
assert eml.get_body(preferencelist=("html",)).get_content().strip() == "<p>Numbers attached.</p>"
assert [(p.get_filename(), p.get_content()) for p in eml.iter_attachments()] == [("q3.txt", "q3: up")]
labels = client.inboxes.messages.update(inbox_id=bob.inbox_id, message_id=received.message_id, add_labels=["important"], remove_labels=["unread"])
assert labels.labels == ["received", "important"], labels
assert client.inboxes.messages.list(inbox_id=bob.inbox_id, labels=["important"]).count == 1
assert client.inboxes.messages.list(inbox_id=bob.inbox_id, labels=["unread"]).count == 0
try:
    client.inboxes.messages.get(inbox_id=bob.inbox_id, message_id="<nope@x>")
    raise AssertionError("a missing message was found")
except NotFoundError:
    pass

reply = client.inboxes.messages.reply(inbox_id=bob.inbox_id, message_id=received.message_id, text="Thanks!")
assert reply.thread_id == received.thread_id
# Ada's copy of the reply lands in Ada's thread of the original.
ada_threads = client.inboxes.threads.list(inbox_id=ada.inbox_id)
quarterly = [t for t in ada_threads.threads if t.subject == "Quarterly numbers"]
assert len(quarterly) == 1 and quarterly[0].message_count == 2, ada_threads
thread = client.inboxes.threads.get(inbox_id=ada.inbox_id, thread_id=quarterly[0].thread_id)
assert [m.subject for m in thread.messages] == ["Quarterly numbers", "Re: Quarterly numbers"]
assert thread.messages[1].in_reply_to == sent.message_id
everywhere = client.threads.list()
assert {t.inbox_id for t in everywhere.threads} == {ada.inbox_id, bob.inbox_id}
assert client.threads.get(thread_id=received.thread_id).thread_id == received.thread_id
fwd = client.inboxes.messages.forward(inbox_id=bob.inbox_id, message_id=received.message_id, to="carol@example.com")
forwarded = client.inboxes.messages.get(inbox_id=bob.inbox_id, message_id=fwd.message_id)
assert forwarded.subject == "Fwd: Quarterly numbers" and forwarded.attachments[0].filename == "q3.txt"
everyone = client.inboxes.messages.reply_all(inbox_id=ada.inbox_id, message_id=sent.message_id, text="All")
assert everyone.thread_id == sent.thread_id
# Bob receives the reply-all: the same three webhooks fire again. The script waits
# for them, so none is left undelivered when its endpoint goes away.
got = [hooks.get(timeout=30) for _ in range(3)]
assert all(d.ok for d in got), got
assert sorted(d.path for d in got) == ["/all", "/bob", "/pod"], got
for d in got:
    assert d.body["message"]["subject"] == "Re: Quarterly numbers", d.body

# --- drafts: kept, edited, listed, sent once (to outside addresses: no webhook fires) --
draft = client.inboxes.drafts.create(
    inbox_id=bob.inbox_id, to=["carol@example.com"], subject="Draft plan", text="First.",
    labels=["q3"], client_id="py-draft-1",
)
assert draft.send_status is None and draft.labels == ["q3"] and draft.text == "First.", draft
again = client.inboxes.drafts.create(inbox_id=bob.inbox_id, to="x@example.com", client_id="py-draft-1")
assert again.draft_id == draft.draft_id
edited = client.inboxes.drafts.update(
    inbox_id=bob.inbox_id, draft_id=draft.draft_id, subject="Draft plan v2", add_labels=["urgent"]
)
assert edited.subject == "Draft plan v2" and edited.labels == ["q3", "urgent"], edited
assert [d.draft_id for d in client.inboxes.drafts.list(inbox_id=bob.inbox_id).drafts] == [draft.draft_id]
assert client.drafts.get(draft_id=draft.draft_id).text == "First."
answer = client.inboxes.drafts.create(
    inbox_id=bob.inbox_id, in_reply_to=received.message_id, to="dave@example.com", text="On it."
)
assert answer.subject == "Re: Quarterly numbers" and answer.in_reply_to == received.message_id, answer
assert client.drafts.list().count == 2
assert client.pods.drafts.list(pod_id=pod.pod_id).count == 2  # Bob is in the pod
out = client.inboxes.drafts.send(inbox_id=bob.inbox_id, draft_id=answer.draft_id, idempotency_key="py-draft-send")
assert out.thread_id == received.thread_id, out
assert client.inboxes.drafts.send(inbox_id=bob.inbox_id, draft_id=answer.draft_id, idempotency_key="py-draft-send") == out
assert "sent" in client.inboxes.messages.get(inbox_id=bob.inbox_id, message_id=out.message_id).labels
expect_status(404, lambda: client.inboxes.drafts.get(inbox_id=bob.inbox_id, draft_id=answer.draft_id))
client.inboxes.drafts.delete(inbox_id=bob.inbox_id, draft_id=draft.draft_id)
assert client.drafts.list().count == 0

# --- the agent's wider flow, one function per resource -----------------------------


def b64(data):
    return base64.b64encode(data).decode()


def identity():
    """Who the key is, and its organization's counts."""
    me = client.auth.me()
    assert me.scope_type == "organization" and me.scope_id == me.organization_id, me
    assert me.pod_id is None and me.inbox_id is None, me
    org = client.organizations.get()
    assert org.organization_id == me.organization_id, org
    assert (org.inbox_count, org.domain_count) == (2, 0), org


def metrics():
    """Counts of what was published so far, per scope, and cumulative usage."""
    # Ada sent three: the quarterly numbers, the bounced one, the reply-all.
    ada_sent = client.inboxes.metrics.query_events(inbox_id=ada.inbox_id, event_types=["message.sent"])
    assert sum(p.count for p in ada_sent["message.sent"]) == 3, ada_sent
    assert "message.received" not in ada_sent, "only the types asked for"
    # The pod (Bob alone) received two: the numbers and the reply-all.
    pod_in = client.pods.metrics.query_events(pod_id=pod.pod_id, event_types=["message.received"], period=3600)
    assert sum(b.count for b in pod_in["message.received"]) == 2, pod_in
    everywhere = client.metrics.query_events(event_types=["message.bounced", "message.sent"])
    assert sum(p.count for p in everywhere["message.bounced"]) == 1, everywhere
    assert sum(p.count for p in everywhere["message.sent"]) == 6, everywhere  # three each
    expect_error(ValidationError, lambda: client.metrics.query_events(period=0), 400)

    last = lambda series, kind: series[kind][-1].value  # noqa: E731
    usage = client.inboxes.metrics.query_usage(inbox_id=bob.inbox_id)
    assert last(usage, "message_count") == client.inboxes.messages.list(inbox_id=bob.inbox_id).count == 5, usage
    assert last(usage, "thread_count") == client.inboxes.threads.list(inbox_id=bob.inbox_id).count, usage
    assert last(usage, "storage_bytes") > 0 and "pod_count" not in usage, usage
    in_pod = client.pods.metrics.query_usage(pod_id=pod.pod_id, usage_types=["inbox_count"])
    assert last(in_pod, "inbox_count") == 1, in_pod
    org = client.metrics.query_usage(usage_types=["inbox_count", "pod_count"])
    assert last(org, "inbox_count") == 2 and last(org, "pod_count") == client.pods.list().count, org


def webhooks_extra():
    """Custom delivery headers in every scope, sent with a delivery; the scoped
    webhooks read, edited and deleted. No webhook is left at the end."""
    assert client.webhooks.get_headers(webhook_id=wh.webhook_id).header_names == []
    client.webhooks.update_headers(webhook_id=wh.webhook_id, headers={"X-Team": "t3am-v4lue"})
    assert client.webhooks.get_headers(webhook_id=wh.webhook_id).header_names == ["x-team"]
    assert "t3am-v4lue" not in client.webhooks.get(webhook_id=wh.webhook_id).json(), "values never shown"

    got = client.inboxes.webhooks.get(inbox_id=bob.inbox_id, webhook_id=scoped.webhook_id)
    assert got.url == hook_base + "/bob" and got.inbox_id == bob.inbox_id, got
    off = client.inboxes.webhooks.update(inbox_id=bob.inbox_id, webhook_id=scoped.webhook_id, enabled=False)
    assert off.enabled is False, off
    got = client.pods.webhooks.get(pod_id=pod.pod_id, webhook_id=podhook.webhook_id)
    assert got.pod_id == pod.pod_id and got.event_types == ["message.received"], got
    more = client.pods.webhooks.update(
        pod_id=pod.pod_id, webhook_id=podhook.webhook_id, event_types=["message.received", "message.sent"]
    )
    assert more.event_types == ["message.received", "message.sent"], more
    client.pods.webhooks.update_headers(pod_id=pod.pod_id, webhook_id=podhook.webhook_id, headers={"X-Pod": "1", "X-Env": "t"})
    names = client.pods.webhooks.get_headers(pod_id=pod.pod_id, webhook_id=podhook.webhook_id).header_names
    assert sorted(names) == ["x-env", "x-pod"], names

    # Ada's own webhook, with a header from its creation: on its delivery, beside
    # the signature.
    ada_hook = client.inboxes.webhooks.create(
        inbox_id=ada.inbox_id, url=hook_base + "/ada", event_types=["message.received"], headers={"X-Token": "t0k3n"}
    )
    secrets[ada_hook.webhook_id] = ada_hook.secret
    names = client.inboxes.webhooks.get_headers(inbox_id=ada.inbox_id, webhook_id=ada_hook.webhook_id).header_names
    assert names == ["x-token"], names
    control(f"/_sim/inboxes/{ada.inbox_id}/messages", {"from": "carol@example.com", "subject": "Headers", "text": "h"})
    d = hooks.get(timeout=30)
    assert d.path == "/ada" and d.ok and d.headers["X-Token"] == "t0k3n", d
    assert d.body["message"]["subject"] == "Headers", d.body
    client.inboxes.webhooks.update_headers(
        inbox_id=ada.inbox_id, webhook_id=ada_hook.webhook_id, headers={"X-Other": "2"}, remove_headers=["X-TOKEN"]
    )
    names = client.inboxes.webhooks.get_headers(inbox_id=ada.inbox_id, webhook_id=ada_hook.webhook_id).header_names
    assert names == ["x-other"], names
    expect_error(
        ValidationError,
        lambda: client.webhooks.update_headers(webhook_id=wh.webhook_id, headers={"svix-signature": "v1,forged"}),
        400,
    )

    # Deleted in each scope.
    client.inboxes.webhooks.delete(inbox_id=ada.inbox_id, webhook_id=ada_hook.webhook_id)
    expect_error(NotFoundError, lambda: client.inboxes.webhooks.get(inbox_id=ada.inbox_id, webhook_id=ada_hook.webhook_id))
    client.inboxes.webhooks.delete(inbox_id=bob.inbox_id, webhook_id=scoped.webhook_id)
    client.pods.webhooks.delete(pod_id=pod.pod_id, webhook_id=podhook.webhook_id)
    expect_error(NotFoundError, lambda: client.pods.webhooks.get(pod_id=pod.pod_id, webhook_id=podhook.webhook_id))
    client.webhooks.delete(webhook_id=wh.webhook_id)
    assert client.webhooks.list().count == 0
    assert hooks.empty(), hooks.get()


def messages_extra():
    """Batch get and update, label changes as inbox events, search."""
    ids = [m.message_id for m in client.inboxes.messages.list(inbox_id=bob.inbox_id, ascending=True).messages]
    assert ids[0] == received.message_id, ids
    got = client.inboxes.messages.batch_get(inbox_id=bob.inbox_id, message_ids=[ids[-1], "<missing@example.com>", ids[0]])
    assert got.count == 2 and [m.message_id for m in got.messages] == [ids[-1], ids[0]], got
    assert got.messages[1].subject == "Quarterly numbers" and got.messages[1].text is None, "items, no bodies"
    changed = client.inboxes.messages.batch_update(inbox_id=bob.inbox_id, message_ids=ids[:2], add_labels=["triaged"])
    assert changed.count == 2 and all("triaged" in u.labels for u in changed.updates), changed
    assert client.inboxes.messages.list(inbox_id=bob.inbox_id, labels=["triaged"]).count == 2
    expect_error(
        ValidationError,
        lambda: client.inboxes.messages.batch_update(inbox_id=bob.inbox_id, message_ids=ids[:1], add_labels=["sent"]),
        400,
    )

    # Every label change is an inbox event, newest first.
    events = client.inboxes.events.list(inbox_id=bob.inbox_id).events
    changes = [(e.event_type, e.label, e.message_id) for e in events]
    assert sorted(changes[:2]) == sorted([("label.added", "triaged", ids[0]), ("label.added", "triaged", ids[1])]), changes
    assert ("label.removed", "unread", received.message_id) in changes, changes
    assert ("label.added", "important", received.message_id) in changes, changes
    oldest = client.inboxes.events.list(inbox_id=bob.inbox_id, ascending=True, limit=1)
    assert oldest.count == 1 and oldest.next_page_token, oldest

    # Search: the body's words, highlighted.
    found = client.inboxes.messages.search(inbox_id=bob.inbox_id, q="thanks")
    assert [m.subject for m in found.messages] == ["Re: Quarterly numbers"], found
    assert any("**Thanks**" in t for t in found.messages[0].highlights.text), found.messages[0].highlights
    assert client.inboxes.messages.search(inbox_id=bob.inbox_id, q="dinner").count == 0
    expect_error(ValidationError, lambda: client.inboxes.messages.search(inbox_id=bob.inbox_id, q="x", limit=101), 400)


def threads_extra():
    """Threads in every scope: attachments, labels, search, deletion."""
    tid, att = received.thread_id, received.attachments[0].attachment_id
    for link in [
        client.threads.get_attachment(thread_id=tid, attachment_id=att),
        client.inboxes.threads.get_attachment(inbox_id=bob.inbox_id, thread_id=tid, attachment_id=att),
        client.pods.threads.get_attachment(pod_id=pod.pod_id, thread_id=tid, attachment_id=att),
    ]:
        assert link.attachment_id == att and download(link.download_url) == b"q3: up", link
    in_pod = client.pods.threads.list(pod_id=pod.pod_id)
    assert in_pod.count >= 1 and {t.inbox_id for t in in_pod.threads} == {bob.inbox_id}, in_pod
    whole = client.pods.threads.get(pod_id=pod.pod_id, thread_id=tid)
    assert whole.messages[0].message_id == received.message_id and whole.message_count == len(whole.messages), whole
    expect_error(NotFoundError, lambda: client.pods.threads.get(pod_id=pod.pod_id, thread_id=sent.thread_id))

    assert "project" in client.threads.update(thread_id=tid, add_labels=["project"]).labels
    labels = client.pods.threads.update(pod_id=pod.pod_id, thread_id=tid, add_labels=["q3"]).labels
    assert {"project", "q3"} <= set(labels), labels
    labels = client.inboxes.threads.update(inbox_id=bob.inbox_id, thread_id=tid, remove_labels=["project"]).labels
    assert "project" not in labels and "q3" in labels, labels
    assert [t.thread_id for t in client.inboxes.threads.list(inbox_id=bob.inbox_id, labels=["q3"]).threads] == [tid]

    everywhere = client.threads.search(q="quarterly")
    assert {t.inbox_id for t in everywhere.threads} == {ada.inbox_id, bob.inbox_id}, everywhere
    assert all(t.highlights and t.highlights.subject for t in everywhere.threads), everywhere
    assert [t.thread_id for t in client.inboxes.threads.search(inbox_id=bob.inbox_id, q="thanks").threads] == [tid]
    pod_found = client.pods.threads.search(pod_id=pod.pod_id, q="quarterly")
    assert pod_found.count >= 1 and {t.inbox_id for t in pod_found.threads} == {bob.inbox_id}, pod_found

    # Three threads of Bob's, to an outside address, deleted each in a scope.
    scratch = [
        client.inboxes.messages.send(inbox_id=bob.inbox_id, to="outside@example.com", subject=f"Scratch {n}", text="x").thread_id
        for n in range(3)
    ]
    client.threads.delete(thread_id=scratch[0])
    expect_error(NotFoundError, lambda: client.threads.get(thread_id=scratch[0]))
    client.inboxes.threads.delete(inbox_id=bob.inbox_id, thread_id=scratch[1])
    expect_error(NotFoundError, lambda: client.inboxes.threads.get(inbox_id=bob.inbox_id, thread_id=scratch[1]))
    client.pods.threads.delete(pod_id=pod.pod_id, thread_id=scratch[2])
    expect_error(NotFoundError, lambda: client.pods.threads.delete(pod_id=pod.pod_id, thread_id=scratch[2]))
    assert client.inboxes.threads.list(inbox_id=bob.inbox_id, subject=["Scratch"]).count == 0


def drafts_extra():
    """A draft with an attachment, read in every scope, its attachment downloaded."""
    draft = client.inboxes.drafts.create(
        inbox_id=bob.inbox_id,
        to=["carol@example.com"],
        subject="Plan",
        text="See attached.",
        attachments=[SendAttachment(filename="plan.txt", content_type="text/plain", content=b64(b"step 1"))],
    )
    att = draft.attachments[0]
    assert att.filename == "plan.txt" and att.size == 6, att
    assert client.inboxes.drafts.get(inbox_id=bob.inbox_id, draft_id=draft.draft_id).subject == "Plan"
    assert client.pods.drafts.get(pod_id=pod.pod_id, draft_id=draft.draft_id).inbox_id == bob.inbox_id
    expect_error(NotFoundError, lambda: client.pods.drafts.get(pod_id=ada.pod_id, draft_id=draft.draft_id))
    for link in [
        client.inboxes.drafts.get_attachment(inbox_id=bob.inbox_id, draft_id=draft.draft_id, attachment_id=att.attachment_id),
        client.drafts.get_attachment(draft_id=draft.draft_id, attachment_id=att.attachment_id),
        client.pods.drafts.get_attachment(pod_id=pod.pod_id, draft_id=draft.draft_id, attachment_id=att.attachment_id),
    ]:
        assert link.filename == "plan.txt" and download(link.download_url) == b"step 1", link
    expect_error(
        NotFoundError, lambda: client.drafts.get_attachment(draft_id=draft.draft_id, attachment_id="nope")
    )
    client.inboxes.drafts.delete(inbox_id=bob.inbox_id, draft_id=draft.draft_id)
    assert client.drafts.list().count == 0


def lists():
    """Allow and block lists per scope, applied on arrival and on send."""
    with client.websockets.connect() as ws:
        ws.send_subscribe(
            Subscribe(inbox_ids=[ada.inbox_id], event_types=["message.received", "message.received.blocked"])
        )
        assert isinstance(ws.recv(), Subscribed)

        def arrive(sender, subject):
            control(f"/_sim/inboxes/{ada.inbox_id}/messages", {"from": sender, "subject": subject, "text": "t"})
            event = ws.recv()
            assert isinstance(event, MessageReceivedEvent) and event.message.subject == subject, event
            return event

        # The organization blocks a domain: its mail arrives blocked, left out of lists.
        entry = client.lists.create("receive", "block", entry="Spammer.example", reason="noise")
        assert (entry.entry, entry.entry_type, entry.list_type, entry.direction) == (
            "spammer.example", "domain", "block", "receive"
        ), entry
        assert entry.reason == "noise" and entry.organization_id, entry
        blocked = arrive("Eve <eve@spammer.example>", "Offer")
        assert blocked.event_type == "message.received.blocked" and "blocked" in blocked.message.labels, blocked
        subjects = lambda **kw: [m.subject for m in client.inboxes.messages.list(inbox_id=ada.inbox_id, **kw).messages]  # noqa: E731
        assert "Offer" not in subjects() and "Offer" in subjects(include_blocked=True)

        # Ada allows one address of it: the narrower scope decides.
        allowed = client.inboxes.lists.create(ada.inbox_id, "receive", "allow", entry="friend@spammer.example")
        assert (allowed.inbox_id, allowed.pod_id, allowed.entry_type) == (ada.inbox_id, ada.pod_id, "email"), allowed
        assert arrive("friend@spammer.example", "Hello").event_type == "message.received"
        got = client.inboxes.lists.get(ada.inbox_id, "receive", "allow", "friend@spammer.example")
        assert got.inbox_id == ada.inbox_id and got.direction == "receive", got
        listed = client.inboxes.lists.list(ada.inbox_id, "receive", "allow")
        assert [e.entry for e in listed.entries] == ["friend@spammer.example"], listed
        client.inboxes.lists.delete(ada.inbox_id, "receive", "allow", "friend@spammer.example")
        expect_error(
            NotFoundError, lambda: client.inboxes.lists.get(ada.inbox_id, "receive", "allow", "friend@spammer.example")
        )

    assert [e.entry for e in client.lists.list("receive", "block").entries] == ["spammer.example"]
    assert client.lists.get("receive", "block", "spammer.example").reason == "noise"
    client.lists.delete("receive", "block", "spammer.example")
    expect_error(NotFoundError, lambda: client.lists.get("receive", "block", "spammer.example"))
    expect_error(ValidationError, lambda: client.lists.create("receive", "block", entry="not an entry"), 400)

    # The pod refuses a recipient: Bob (in it) cannot send there, Ada (not) can.
    entry = client.pods.lists.create(pod.pod_id, "send", "block", entry="nobody@blocked.example")
    assert entry.pod_id == pod.pod_id and entry.inbox_id is None and entry.direction == "send", entry
    refused = expect_error(
        MessageRejectedError,
        lambda: client.inboxes.messages.send(inbox_id=bob.inbox_id, to="nobody@blocked.example", text="x"),
        403,
    )
    assert "nobody@blocked.example" in json.dumps(refused.body, default=str), refused.body
    assert client.inboxes.messages.send(inbox_id=ada.inbox_id, to="nobody@blocked.example", text="x").message_id
    assert [e.entry for e in client.pods.lists.list(pod.pod_id, "send", "block").entries] == ["nobody@blocked.example"]
    assert client.pods.lists.get(pod.pod_id, "send", "block", "nobody@blocked.example").list_type == "block"
    client.pods.lists.delete(pod.pod_id, "send", "block", "nobody@blocked.example")
    expect_error(NotFoundError, lambda: client.pods.lists.get(pod.pod_id, "send", "block", "nobody@blocked.example"))
    assert client.inboxes.messages.send(inbox_id=bob.inbox_id, to="nobody@blocked.example", text="x").message_id


def api_keys():
    """Keys of the organization, a pod and an inbox: each reaches its scope and its
    permissions only, is listed without its secret, and is refused once deleted."""
    reader = client.api_keys.create(
        request=CreateBearerApiKeyRequest(name="reader", permissions=ApiKeyPermissions(message_read=True))
    )
    assert reader.name == "reader" and reader.api_key.startswith(reader.prefix) and reader.pod_id is None, reader
    as_reader = sdk(reader.api_key)
    assert as_reader.inboxes.messages.list(inbox_id=bob.inbox_id).count == client.inboxes.messages.list(inbox_id=bob.inbox_id).count
    forbidden(lambda: as_reader.inboxes.update(inbox_id=bob.inbox_id, display_name="Mallory"))

    pod_key = client.pods.api_keys.create(pod_id=pod.pod_id, request=CreateBearerApiKeyRequest(name="pod agent"))
    assert pod_key.pod_id == pod.pod_id and pod_key.inbox_id is None, pod_key
    as_pod = sdk(pod_key.api_key)
    me = as_pod.auth.me()
    assert (me.scope_type, me.scope_id, me.api_key_id) == ("pod", pod.pod_id, pod_key.api_key_id), me
    assert as_pod.pods.inboxes.get(pod_id=pod.pod_id, inbox_id=bob.inbox_id).inbox_id == bob.inbox_id
    forbidden(lambda: as_pod.inboxes.get(inbox_id=ada.inbox_id))

    bob_key = client.inboxes.api_keys.create(inbox_id=bob.inbox_id, request=CreateBearerApiKeyRequest(name="bob's agent"))
    assert (bob_key.inbox_id, bob_key.pod_id) == (bob.inbox_id, pod.pod_id), bob_key
    as_bob = sdk(bob_key.api_key)
    assert as_bob.inboxes.threads.list(inbox_id=bob.inbox_id).count == client.inboxes.threads.list(inbox_id=bob.inbox_id).count
    forbidden(lambda: as_bob.threads.list())

    everything = client.api_keys.list()
    assert everything.count == 3, everything
    assert {k.api_key_id for k in everything.api_keys} == {reader.api_key_id, pod_key.api_key_id, bob_key.api_key_id}
    assert all("api_key" not in k.dict() for k in everything.api_keys), "no secrets listed"
    in_pod = {k.api_key_id for k in client.pods.api_keys.list(pod_id=pod.pod_id).api_keys}
    assert pod_key.api_key_id in in_pod and reader.api_key_id not in in_pod, in_pod
    mine = client.inboxes.api_keys.list(inbox_id=bob.inbox_id).api_keys
    assert [k.api_key_id for k in mine] == [bob_key.api_key_id] and mine[0].used_at, mine

    expect_error(NotFoundError, lambda: client.inboxes.api_keys.delete(inbox_id=ada.inbox_id, api_key_id=bob_key.api_key_id))
    client.inboxes.api_keys.delete(inbox_id=bob.inbox_id, api_key_id=bob_key.api_key_id)
    client.pods.api_keys.delete(pod_id=pod.pod_id, api_key_id=pod_key.api_key_id)
    client.api_keys.delete(api_key_id=reader.api_key_id)
    for gone in [as_bob, as_pod, as_reader]:
        expect_status(401, lambda: gone.inboxes.get(inbox_id=bob.inbox_id))
    expect_error(NotFoundError, lambda: client.api_keys.delete(api_key_id=reader.api_key_id))
    assert client.api_keys.list().count == 0


def domains():
    """The organization's domain and a pod's: pending, their zone file, edited,
    verified (then inboxes on them), listed per scope, deleted."""
    d = client.domains.create(domain="Mail.Example.com")
    assert (d.domain_id, d.status) == ("mail.example.com", "PENDING"), d
    assert any(r.type == "MX" for r in d.records) and all(r.status == "MISSING" for r in d.records), d.records
    on_it = CreateInboxRequest(username="eve", domain="mail.example.com")
    refused = expect_status(400, lambda: client.inboxes.create(request=on_it))
    assert "verified" in json.dumps(refused.body, default=str), refused.body
    zone = b"".join(client.domains.get_zone_file(domain_id=d.domain_id)).decode()
    assert "mail.example.com" in zone and "MX" in zone, zone
    edited = client.domains.update(domain_id=d.domain_id, subdomains_enabled=True)
    assert edited.subdomains_enabled and any(r.name == "*.mail.example.com" for r in edited.records), edited
    client.domains.verify(domain_id=d.domain_id)
    got = client.domains.get(domain_id=d.domain_id)
    assert got.status == "VERIFIED" and all(r.status == "VALID" for r in got.records), got
    eve = client.inboxes.create(request=on_it)
    assert eve.inbox_id == "eve@mail.example.com", eve

    theirs = client.pods.domains.create(pod_id=pod.pod_id, domain="pod.example")
    assert theirs.pod_id == pod.pod_id and theirs.status == "PENDING", theirs
    assert [x.domain_id for x in client.pods.domains.list(pod_id=pod.pod_id).domains] == ["pod.example"]
    listed = client.domains.list()
    assert listed.count == 2 and [x.domain_id for x in listed.domains] == ["pod.example", "mail.example.com"], listed
    expect_error(NotFoundError, lambda: client.pods.domains.get(pod_id=pod.pod_id, domain_id=d.domain_id))
    assert client.pods.domains.update(pod_id=pod.pod_id, domain_id="pod.example", feedback_enabled=False).feedback_enabled is False
    zone = b"".join(client.pods.domains.get_zone_file(pod_id=pod.pod_id, domain_id="pod.example")).decode()
    assert "pod.example" in zone, zone
    client.pods.domains.verify(pod_id=pod.pod_id, domain_id="pod.example")
    assert client.pods.domains.get(pod_id=pod.pod_id, domain_id="pod.example").status == "VERIFIED"
    x = client.pods.inboxes.create(pod_id=pod.pod_id, username="x", domain="pod.example")
    assert x.inbox_id == "x@pod.example", x
    assert client.organizations.get().domain_count == 2

    client.inboxes.delete(inbox_id=eve.inbox_id)
    client.domains.delete(domain_id=d.domain_id)
    expect_error(NotFoundError, lambda: client.domains.get(domain_id=d.domain_id))
    client.inboxes.delete(inbox_id=x.inbox_id)
    client.pods.domains.delete(pod_id=pod.pod_id, domain_id="pod.example")
    expect_error(NotFoundError, lambda: client.pods.domains.get(pod_id=pod.pod_id, domain_id="pod.example"))
    assert client.domains.list().count == 0


def pods_extra():
    """A pod's inbox read, edited and deleted through the pod; the pod deleted."""
    scratch = client.pods.create(name="scratch")
    temp = client.pods.inboxes.create(pod_id=scratch.pod_id, username="temp")
    assert client.pods.inboxes.get(pod_id=scratch.pod_id, inbox_id=temp.inbox_id).pod_id == scratch.pod_id
    expect_error(NotFoundError, lambda: client.pods.inboxes.get(pod_id=pod.pod_id, inbox_id=temp.inbox_id))
    edited = client.pods.inboxes.update(pod_id=scratch.pod_id, inbox_id=temp.inbox_id, display_name="Temp")
    assert edited.display_name == "Temp", edited
    client.pods.inboxes.delete(pod_id=scratch.pod_id, inbox_id=temp.inbox_id)
    expect_error(NotFoundError, lambda: client.inboxes.get(inbox_id=temp.inbox_id))
    client.pods.delete(pod_id=scratch.pod_id)
    expect_error(NotFoundError, lambda: client.pods.get(pod_id=scratch.pod_id))


def agent():
    """An agent signs up without a key; its human gets a code, which verifies it."""
    signed = sdk(None).agent.sign_up(human_email="human@example.com", username="py-agent")
    assert signed.inbox_id == "py-agent@agentmail.to" and signed.api_key, signed
    as_agent = sdk(signed.api_key)
    assert as_agent.inboxes.get(inbox_id=signed.inbox_id).inbox_id == signed.inbox_id
    mail = client.inboxes.messages.list(inbox_id="human@example.com")
    assert mail.count == 1, mail
    code = re.search(r"\b\d{6}\b", mail.messages[0].preview or "")
    assert code, mail.messages[0]
    wrong = "111111" if code.group() == "000000" else "000000"
    assert as_agent.agent.verify(otp_code=wrong).verified is False
    assert as_agent.agent.verify(otp_code=code.group()).verified is True
    forbidden(lambda: client.agent.verify(otp_code=code.group()))


identity()
metrics()
webhooks_extra()
messages_extra()
threads_extra()
drafts_extra()
lists()
api_keys()
domains()
pods_extra()
agent()

# --- deletes ------------------------------------------------------------------------
client.inboxes.messages.delete(inbox_id=bob.inbox_id, message_id=fwd.message_id)
expect_status(404, lambda: client.inboxes.messages.get(inbox_id=bob.inbox_id, message_id=fwd.message_id))
client.inboxes.delete(inbox_id=ada.inbox_id)
expect_status(404, lambda: client.inboxes.get(inbox_id=ada.inbox_id))

# --- what was called ----------------------------------------------------------------
unknown = sorted({f"{method} {path}" for op, method, path in calls if op is None})
assert not unknown, f"requests outside the definition: {unknown}"
covered = {op for op, _, _ in calls}
print(f"python sdk: {len(calls)} calls over {len(covered)} operations")
missed = sorted({f"{m} /{'/'.join(p)}" for m, p in OPERATIONS} - covered)
if missed:
    print(f"python sdk: not exposed by the SDK or not called: {', '.join(missed)}")
print("python sdk: ok")
