"""The web inspector of `mailwire dev` in a real browser: headless Chromium driven
through chromedriver's WebDriver HTTP API, Python's standard library only.

Usage: inspector.py BASE_URL API_KEY   (BASE_URL like http://127.0.0.1:8787)

Environment: CHROMEDRIVER (default `chromedriver` on PATH), CHROMIUM (default
/usr/bin/chromium).

It injects an email, opens the page, reads the message, sees a second one arrive
without a reload, watches a webhook delivery fail against a receiver that answers
500, redelivers it once the receiver answers 200, and checks the browser console
stayed free of errors. Prints `inspector: ok` and exits 0; otherwise says what
failed and what the page showed, and exits 1. Every wait is a poll bounded by a
deadline.
"""

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

INBOX = "ada@agentmail.to"
WAIT = 30.0
POLL = 0.1
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class Failure(Exception):
    """What the scenario expected and did not see."""


def wait_for(what, probe, timeout=WAIT):
    """Polls `probe` until it answers something true; a Failure at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL)


def http_json(method, url, body=None, headers=None, timeout=30):
    """(status, parsed JSON or text) of one request; HTTP errors are answers too."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            status, raw = res.status, res.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text


class Simulator:
    """The simulator's REST API, with the key as a bearer token."""

    def __init__(self, base, key):
        self.base = base.rstrip("/")
        self.key = key

    def call(self, method, path, body=None, expect=(200,)):
        status, answer = http_json(
            method, self.base + path, body, {"Authorization": "Bearer " + self.key}
        )
        if status not in expect:
            raise Failure(f"{method} {path}: HTTP {status}: {answer}")
        return answer

    def receive(self, subject, text):
        self.call(
            "POST",
            f"/_sim/inboxes/{INBOX}/messages",
            {"from": "bob@example.com", "to": [INBOX], "subject": subject, "text": text},
        )


class Receiver:
    """A webhook endpoint on loopback: 500 "receiver down" until told to answer 200."""

    def __init__(self):
        self.status = 500
        self.hits = 0
        lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                with lock:
                    receiver.hits += 1
                    status = receiver.status
                body = b"receiver down" if status >= 500 else b"ok"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class WebDriver:
    """One chromedriver process and one browser session, through the W3C API."""

    def __init__(self):
        self.proc = None
        self.session = None
        self.profile = tempfile.mkdtemp(prefix="inspector-profile-")
        self.log = tempfile.NamedTemporaryFile(prefix="chromedriver-", suffix=".log", delete=False)
        self.url = None

    def start(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        driver = os.environ.get("CHROMEDRIVER", "chromedriver")
        self.proc = subprocess.Popen(
            [driver, f"--port={port}"], stdout=self.log, stderr=subprocess.STDOUT
        )

        def ready():
            if self.proc.poll() is not None:
                raise Failure(f"chromedriver exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                status, answer = http_json("GET", self.url + "/status", timeout=2)
            except OSError:
                return False
            return status == 200 and isinstance(answer, dict) and answer["value"].get("ready")

        wait_for("chromedriver to be ready", ready)
        options = {
            "binary": os.environ.get("CHROMIUM", "/usr/bin/chromium"),
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--window-size=1280,900",
                f"--user-data-dir={self.profile}",
            ],
        }
        caps = {
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "goog:loggingPrefs": {"browser": "ALL"},
        }
        created = self.call("POST", "/session", {"capabilities": {"alwaysMatch": caps}}, session=False)
        self.session = created["sessionId"]

    def call(self, method, path, body=None, session=True):
        url = self.url + (f"/session/{self.session}" if session else "") + path
        status, answer = http_json(method, url, body, timeout=60)
        value = answer.get("value") if isinstance(answer, dict) else answer
        if status != 200:
            if isinstance(value, dict):
                raise WebDriverError(value.get("error", ""), value.get("message", ""), path)
            raise WebDriverError(str(status), str(answer), path)
        return value

    def open(self, url):
        self.call("POST", "/url", {"url": url})

    def script(self, source, *args):
        """The value of a function body run in the page (`arguments` are `args`)."""
        return self.call("POST", "/execute/sync", {"script": source, "args": list(args)})

    def find(self, css):
        try:
            return self.call("POST", "/element", {"using": "css selector", "value": css})
        except WebDriverError as e:
            if e.error == "no such element":
                return None
            raise

    def click(self, find, what):
        """A real click (the browser's own input events) on the element `find()`
        returns. The page re-renders lists as events arrive: an element replaced
        between finding and clicking it ("stale") is found again, until WAIT."""

        def attempt():
            element = find()
            if not element:
                return None
            try:
                self.call("POST", f"/element/{element[ELEMENT]}/click", {})
                return True
            except WebDriverError as e:
                if e.error == "stale element reference":
                    return None
                raise Failure(f"clicking {what}: {e}") from e

        wait_for(f"a click on {what}", attempt)

    def browser_log(self):
        """The console entries since the last call (chromedriver's log extension)."""
        for path in ("/se/log", "/log"):
            try:
                return self.call("POST", path, {"type": "browser"})
            except WebDriverError as e:
                if e.error not in ("unknown command", "unknown method", "404"):
                    raise
        return None

    def log_tail(self):
        try:
            with open(self.log.name, encoding="utf-8", errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def close(self):
        if self.session:
            try:
                self.call("DELETE", "", None)
            except (WebDriverError, OSError):
                pass
            self.session = None
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)
        shutil.rmtree(self.profile, ignore_errors=True)


class WebDriverError(Exception):
    def __init__(self, error, message, path):
        super().__init__(f"{path}: {error}: {message.splitlines()[0] if message else ''}")
        self.error = error


# Element lookups run in the page, values passed as arguments (never pasted into a
# selector): each returns an element reference or null.
INBOX_BUTTON = """
const want = arguments[0].toLowerCase();
const li = [...document.querySelectorAll('#inboxes li[data-inbox-id]')]
  .find((li) => li.dataset.inboxId.toLowerCase() === want);
return li ? li.querySelector('button') : null;
"""
MESSAGE_BUTTON = """
const li = [...document.querySelectorAll('#messages li[data-message-id]')]
  .find((li) => (li.querySelector('.subject') || li).textContent.trim() === arguments[0]);
return li ? li.querySelector('button') : null;
"""
DELIVERIES = """
const hook = [...document.querySelectorAll('#webhooks li.webhook[data-webhook-id]')]
  .find((li) => li.dataset.webhookId === arguments[0]);
const deliveries = hook ? [...hook.querySelectorAll('li.delivery[data-delivery-id]')] : [];
"""
FAILED_DELIVERY = DELIVERIES + """
const li = deliveries.find((li) => li.querySelector('.attempt[data-status="500"]'));
return li ? li.dataset.deliveryId : null;
"""
REDELIVER_BUTTON = DELIVERIES + """
const li = deliveries.find((li) => li.dataset.deliveryId === arguments[1]);
return li ? li.querySelector('button.redeliver') : null;
"""
REDELIVERED = DELIVERIES + """
const li = deliveries.find((li) => li.dataset.redeliveryOf === arguments[1] && li.dataset.state === 'delivered');
return li ? li.dataset.deliveryId : null;
"""
SNAPSHOT = """
const text = (id) => (document.getElementById(id) || {}).textContent || '';
return {
  url: location.href,
  status: text('status').trim(),
  connection: text('connection').trim(),
  inboxes: [...document.querySelectorAll('#inboxes li[data-inbox-id]')].map((li) => li.dataset.inboxId),
  messages: [...document.querySelectorAll('#messages li[data-message-id]')]
    .map((li) => (li.querySelector('.subject') || li).textContent.trim()),
  text_pane: text('text-body').slice(0, 200),
  deliveries: [...document.querySelectorAll('#webhooks li.delivery')].map((li) => ({
    id: li.dataset.deliveryId, state: li.dataset.state, redelivery_of: li.dataset.redeliveryOf || null,
    attempts: [...li.querySelectorAll('.attempt')].map((a) => a.dataset.status || a.textContent.trim()),
  })),
  webhook_errors: [...document.querySelectorAll('#webhooks .deliveries-error')].map((p) => p.textContent).filter(Boolean),
  errors: window.__inspectorErrors || null,
  body: document.body ? document.body.innerText.slice(0, 300) : '',
};
"""


def scenario(base, key, sim, receiver, browser, console):
    sim.receive("first", "hello")
    hook = sim.call("POST", "/v0/webhooks", {"url": receiver.url, "event_types": ["message.received"]})

    browser.open(f"{base}/?api_key={urllib.parse.quote(key, safe='')}")
    wait_for(f"inbox {INBOX} in #inboxes", lambda: browser.script(INBOX_BUTTON, INBOX))
    browser.click(lambda: browser.script(INBOX_BUTTON, INBOX), "the inbox")
    wait_for('message "first" in #messages', lambda: browser.script(MESSAGE_BUTTON, "first"))
    browser.click(lambda: browser.script(MESSAGE_BUTTON, "first"), 'message "first"')
    wait_for("the message view", lambda: browser.script("return !document.getElementById('message-view').hidden"))
    browser.click(lambda: browser.find("#tab-text"), "the Text tab")
    wait_for(
        'the text "hello" in #pane-text',
        lambda: browser.script(
            "const p = document.getElementById('pane-text');"
            "return !p.hidden && p.textContent.includes('hello');"
        ),
    )

    # A new message shows up live: the page is the same page afterwards.
    browser.script("window.__marker = 1;")
    sim.receive("second", "again")
    wait_for('message "second" in #messages without a reload', lambda: browser.script(MESSAGE_BUTTON, "second"))
    if browser.script("return window.__marker;") != 1:
        raise Failure("the page was reloaded to show the new message")

    browser.click(lambda: browser.find("#view-webhooks"), "the Webhooks view")
    hook_id = hook["webhook_id"]
    failed = wait_for(
        f"a delivery of {hook_id} with a failed attempt (HTTP 500)",
        lambda: browser.script(FAILED_DELIVERY, hook_id),
    )
    if receiver.hits < 1:
        raise Failure("the page shows a failed attempt the receiver never saw")
    receiver.status = 200
    browser.click(lambda: browser.script(REDELIVER_BUTTON, hook_id, failed), f"Redeliver of {failed}")
    wait_for(
        f"a redelivery of {failed} in state delivered",
        lambda: browser.script(REDELIVERED, hook_id, failed),
    )
    if browser.script("return window.__marker;") != 1:
        raise Failure("the page was reloaded")

    entries = browser.browser_log()
    if entries is None:
        console.append("(this chromedriver gives no browser log; only the page's own error hook was read)")
    else:
        severe = [e for e in entries if e.get("level") == "SEVERE"]
        if severe:
            console.extend(f"{e.get('source', '')}: {e.get('message', '')}" for e in severe)
            raise Failure(f"{len(severe)} error(s) in the browser console")
    errors = browser.script("return window.__inspectorErrors || [];")
    if errors:
        console.extend(errors)
        raise Failure(f"{len(errors)} error(s) caught by the page")
    return hook


def main():
    if len(sys.argv) != 3:
        print("usage: inspector.py BASE_URL API_KEY", file=sys.stderr)
        return 2
    base, key = sys.argv[1].rstrip("/"), sys.argv[2]
    sim = Simulator(base, key)
    receiver = Receiver()
    browser = None
    console = []
    hook = None
    try:
        browser = WebDriver()
        browser.start()
        hook = scenario(base, key, sim, receiver, browser, console)
        print("inspector: ok")
        return 0
    except Exception as e:  # every failure is reported with what the page showed
        print(f"inspector: FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        if browser and browser.session:
            try:
                print("page: " + json.dumps(browser.script(SNAPSHOT), indent=2), file=sys.stderr)
            except Exception as snap:  # the session itself may be gone
                print(f"page: unavailable ({snap})", file=sys.stderr)
        for line in console:
            print(f"console: {line}", file=sys.stderr)
        if browser and not isinstance(e, Failure):
            print("chromedriver log (tail):\n" + browser.log_tail(), file=sys.stderr)
        return 1
    finally:
        if browser:
            browser.close()
        receiver.close()
        if hook is None:
            try:
                hooks = sim.call("GET", "/v0/webhooks")["webhooks"]
                hook = next((h for h in hooks if h.get("url") == receiver.url), None)
            except Exception:
                hook = None
        if hook:
            try:
                sim.call("DELETE", f"/v0/webhooks/{hook['webhook_id']}", expect=(200, 204))
            except Exception:
                pass


if __name__ == "__main__":
    sys.exit(main())
