"""AgentMail's toolkit (PyPI `agentmail-toolkit`, the tools agents get in OpenAI,
LangChain and LiveKit) against `mailwire dev`: every one of its tools called the way
a framework calls it, with a model's JSON arguments (nulls included), on an agent
that signs up, attaches its human and verifies with the code the human got.

Run by tests/it/sdk.rs: toolkit.py HTTP_BASE API_KEY. Exits non-zero at the first
tool whose call fails or answers something else than the service would.
"""

import base64
import json
import re
import sys

from agentmail import AgentMail, AgentMailEnvironment
from agentmail_toolkit.tools import tools

http_base, key = sys.argv[1], sys.argv[2]
env = AgentMailEnvironment(http=http_base, websockets=http_base.replace("http", "ws"))

# The agent signs up (no key yet), then works with the key it got.
signed = AgentMail(api_key="none", environment=env).agent.sign_up(username="toolkit-agent")
agent = AgentMail(api_key=signed.api_key, environment=env)
control = AgentMail(api_key=key, environment=env)
by_name = {tool.name: tool for tool in tools}
called = set()


def call(name, args):
    """As the toolkit's framework wrappers do: the model's JSON, as it arrives."""
    tool = by_name[name]
    tool.params_schema.model_json_schema()  # every tool's schema builds
    result = tool.func(agent, json.loads(json.dumps(args)))
    called.add(name)
    return result


inbox = signed.inbox_id
assert any(i.inbox_id == inbox for i in call("list_inboxes", {"limit": 10, "page_token": None}).inboxes)
assert call("get_inbox", {"inbox_id": inbox}).inbox_id == inbox
extra = call("create_inbox", {"username": "toolkit-extra", "domain": None, "display_name": "Extra"})
assert extra.display_name == "Extra"

# Mail arrives for the agent, with an attachment.
control.inboxes.messages.send(
    inbox_id=extra.inbox_id,
    to=[inbox],
    subject="Your invoice",
    text="Invoice attached.",
    attachments=[{"filename": "invoice.txt", "content_type": "text/plain", "content": base64.b64encode(b"total: 12").decode()}],
)
threads = call("list_threads", {"inbox_id": inbox, "limit": 10, "page_token": None, "labels": None, "before": None,
                                "after": None, "ascending": None, "include_spam": None, "include_blocked": None,
                                "include_trash": None})
assert threads.count == 1, threads
thread = call("get_thread", {"inbox_id": inbox, "thread_id": threads.threads[0].thread_id})
got = thread.messages[-1]
assert got.subject == "Your invoice"
att = call("get_attachment", {"inbox_id": inbox, "thread_id": thread.thread_id, "attachment_id": got.attachments[0].attachment_id})
assert att.filename == "invoice.txt" and att.size == 9, att

sent = call("send_message", {"inbox_id": inbox, "to": ["vendor@example.com"], "cc": None, "bcc": None,
                             "subject": "Hello", "text": "Hi", "html": None, "labels": None, "attachments": None})
assert sent.message_id
replied = call("reply_to_message", {"inbox_id": inbox, "message_id": got.message_id, "text": "Thanks!", "html": None,
                                    "labels": None, "attachments": None, "reply_all": None})
assert replied.thread_id == thread.thread_id
forwarded = call("forward_message", {"inbox_id": inbox, "message_id": got.message_id, "to": ["books@example.com"],
                                     "cc": None, "bcc": None, "subject": None, "text": "FYI", "html": None,
                                     "labels": None, "attachments": None})
assert forwarded.message_id
labels = call("update_message", {"inbox_id": inbox, "message_id": got.message_id, "add_labels": ["paid"], "remove_labels": ["unread"]})
assert "paid" in labels.labels and "unread" not in labels.labels, labels

# The human: attached, emailed a code (the simulator delivers it), verified.
attached = call("agent_attach_human", {"human_email": "owner@example.com"})
assert attached.human_email == "owner@example.com" and attached.instructions
code_mail = control.inboxes.messages.list(inbox_id="owner@example.com").messages[0]
code = re.search(r"\b(\d{6})\b", code_mail.preview).group(1)
assert call("agent_verify", {"otp_code": code}).verified is True

call("delete_inbox", {"inbox_id": extra.inbox_id})
assert called == set(by_name), sorted(set(by_name) - called)
print("toolkit: ok")
