"""AgentMail's official Python SDK against `mailwire dev`, with only the base URL
changed: the calls of the service's quickstarts (inboxes, messages, threads,
webhooks, pods) and its WebSocket client receiving typed events.

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
import queue
import sys
import threading
import urllib.request

from agentmail import (
    AgentMail,
    AgentMailEnvironment,
    MessageBouncedEvent,
    MessageDeliveredEvent,
    MessageReceivedEvent,
    MessageSentEvent,
    NotFoundError,
    SendAttachment,
    Subscribe,
    Subscribed,
)
from agentmail.core.api_error import ApiError
from agentmail.inboxes import CreateInboxRequest

HTTP, WS, KEY = sys.argv[1], sys.argv[2], sys.argv[3]
env = AgentMailEnvironment(http=HTTP, websockets=WS)
client = AgentMail(api_key=KEY, environment=env)


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


# --- a wrong key is the service's 401 -------------------------------------------
bad = AgentMail(api_key="am_wrong", environment=env)
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
        hooks.put((self.path, ok, json.loads(body)))

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
assert all(ok for _, ok, _ in got), got
paths = sorted(path for path, _, _ in got)
assert paths == ["/all", "/bob", "/pod"], paths
by_path = {path: body for path, _, body in got}
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
assert all(ok for _, ok, _ in got), got
assert sorted(path for path, _, _ in got) == ["/all", "/bob", "/pod"], got
for _, _, body in got:
    assert body["message"]["subject"] == "Re: Quarterly numbers", body

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

# --- deletes ------------------------------------------------------------------------
client.inboxes.messages.delete(inbox_id=bob.inbox_id, message_id=fwd.message_id)
expect_status(404, lambda: client.inboxes.messages.get(inbox_id=bob.inbox_id, message_id=fwd.message_id))
client.inboxes.delete(inbox_id=ada.inbox_id)
expect_status(404, lambda: client.inboxes.get(inbox_id=ada.inbox_id))
print("python sdk: ok")
