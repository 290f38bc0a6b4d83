"""Real mail into the simulator over SMTP with Python's own smtplib, as an
application that only speaks SMTP sends it.

Usage: python3 smtp.py HOST PORT MAX_SIZE

Sends, to ada@agentmail.to: a multipart message (text, HTML, a PDF attachment,
an inline image), a reply threaded by In-Reply-To and References, a message
with an 8-bit UTF-8 subject and body (SMTPUTF8, 8BITMIME); then an oversized
message twice (once declaring its SIZE, once not), which must be refused with
552. Prints one JSON object: each sent message's exact bytes (base64), for the
caller to compare with what the API serves.
"""

import base64
import json
import smtplib
import sys
from email import policy
from email.message import EmailMessage

host, port, max_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sent = {}


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


with smtplib.SMTP(host, port, timeout=30) as s:
    code, _ = s.ehlo("client.example.com")
    check(code == 250, f"EHLO answered {code}")
    for ext in ("pipelining", "8bitmime", "smtputf8", "size", "enhancedstatuscodes"):
        check(s.has_extn(ext), f"EHLO does not offer {ext}: {s.esmtp_features}")
    check(int(s.esmtp_features["size"]) == max_size, f"SIZE {s.esmtp_features['size']}")

    first = EmailMessage(policy=policy.SMTP)
    first["From"] = "Bob Sender <bob@example.com>"
    first["To"] = "ada@agentmail.to"
    first["Subject"] = "Quarterly report"
    first["Message-ID"] = "<q1@example.com>"
    first.set_content("Numbers attached.\n")
    first.add_alternative('<p>Numbers <b>attached</b>.</p><img src="cid:logo@example.com">', subtype="html")
    first.get_payload()[1].add_related(
        b"\x89PNG\r\n\x1a\nfake", maintype="image", subtype="png", cid="<logo@example.com>"
    )
    first.add_attachment(b"%PDF-1.4 fake pdf", maintype="application", subtype="pdf", filename="report.pdf")
    # Flattened once: these very bytes go out (send_message would pick new
    # MIME boundaries for its own copy).
    sent["first"] = first.as_bytes()
    check(s.sendmail("bob@example.com", ["ada@agentmail.to"], sent["first"]) == {}, "refused")

    reply = EmailMessage(policy=policy.SMTP)
    reply["From"] = "bob@example.com"
    reply["To"] = "ada@agentmail.to"
    reply["Subject"] = "Re: Quarterly report"
    reply["Message-ID"] = "<q2@example.com>"
    reply["In-Reply-To"] = "<q1@example.com>"
    reply["References"] = "<q1@example.com>"
    reply.set_content("One more thing.\n\nOn Mon, Bob wrote:\n> Numbers attached.\n")
    sent["reply"] = reply.as_bytes()
    # send_message: smtplib's own way, envelope from the headers.
    s.send_message(reply)

    # 8-bit headers and body, as a UTF-8 mailer sends them (no encoded words).
    eight = (
        "From: Zoë <zoe@example.com>\r\n"
        "To: ada@agentmail.to\r\n"
        "Subject: Été à Zürich — déjà vu\r\n"
        "Message-ID: <q3@example.com>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        "Grüße aus Zürich.\r\n"
        ".a line that starts with a dot\r\n"
    ).encode("utf-8")
    refused = s.sendmail("zoe@example.com", ["ada@agentmail.to"], eight, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    check(refused == {}, f"refused: {refused}")
    sent["eight"] = eight

    big = b"From: bob@example.com\r\nTo: ada@agentmail.to\r\nSubject: big\r\n\r\n" + b"x" * 998 + b"\r\n"
    big = big * (max_size // 1000 + 2)
    # Declared: smtplib sends SIZE= in MAIL FROM, refused there.
    try:
        s.sendmail("bob@example.com", ["ada@agentmail.to"], big)
        check(False, "an oversized message (SIZE declared) was accepted")
    except smtplib.SMTPSenderRefused as e:
        check(e.smtp_code == 552, f"SIZE refused with {e.smtp_code} {e.smtp_error}")
    # Undeclared: refused at the end of DATA, and the session goes on.
    code, _ = s.mail("bob@example.com")
    check(code == 250, f"MAIL answered {code}")
    code, _ = s.rcpt("ada@agentmail.to")
    check(code == 250, f"RCPT answered {code}")
    code, msg = s.data(big)
    check(code == 552, f"an oversized DATA answered {code} {msg}")
    code, _ = s.noop()
    check(code == 250, "the session goes on after a refused message")

print(json.dumps({k: base64.b64encode(v).decode() for k, v in sent.items()}))
