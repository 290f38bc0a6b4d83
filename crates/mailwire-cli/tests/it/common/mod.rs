//! What the command line's tests share: the built `mailwire` binary, started with a
//! clean environment, its output read line by line on channels, and the simulator
//! (`mailwire dev`) on a free port.

#![allow(dead_code)] // each test file uses its own part of this

use std::io::{BufRead as _, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Bounds a hang; never the expected duration of anything.
pub(crate) const HANG: Duration = Duration::from_secs(30);

/// The built binary, without the caller's logging, backtraces, keys or secrets.
pub(crate) fn mailwire() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailwire"));
    cmd.env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .env_remove("AGENTMAIL_API_KEY")
        .env_remove("MAILWIRE_WEBHOOK_SECRET");
    cmd
}

/// Runs a command to its end, with no standard input.
pub(crate) fn run(args: &[&str]) -> Output {
    mailwire()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("mailwire exits")
}

/// A running command, killed when dropped, with its output lines on channels.
pub(crate) struct Running {
    pub(crate) child: Child,
    pub(crate) stdout: mpsc::Receiver<String>,
    pub(crate) stderr: mpsc::Receiver<String>,
    /// Every stderr line read so far, for [`Running::stderr_seen`].
    seen: std::cell::RefCell<Vec<String>>,
}

impl Running {
    pub(crate) fn spawn(args: &[&str]) -> Running {
        Running::spawn_with(args, &[])
    }

    /// As `spawn`, with these environment variables set.
    pub(crate) fn spawn_with(args: &[&str], envs: &[(&str, &str)]) -> Running {
        let mut child = mailwire()
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the mailwire binary runs");
        let stdout = lines(child.stdout.take().expect("piped"));
        let stderr = lines(child.stderr.take().expect("piped"));
        Running {
            child,
            stdout,
            stderr,
            seen: std::cell::RefCell::default(),
        }
    }

    /// The first stderr line containing `needle`.
    pub(crate) fn stderr_line(&self, needle: &str) -> String {
        self.stderr_until(needle).pop().unwrap_or_default()
    }

    /// Every stderr line up to and including the first containing `needle`, read
    /// within [`HANG`] in all (a process that keeps printing other lines does not
    /// make it wait for ever).
    pub(crate) fn stderr_until(&self, needle: &str) -> Vec<String> {
        let deadline = std::time::Instant::now() + HANG;
        let mut read = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .stderr
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no stderr line with {needle:?} in {read:#?}"));
            self.seen.borrow_mut().push(line.clone());
            let done = line.contains(needle);
            read.push(line);
            if done {
                return read;
            }
        }
    }

    /// The first stderr line containing `needle`, among those read already (by any
    /// earlier call) or, when none, the next ones: for lines printed by tasks of
    /// their own, whose order against other lines is not fixed.
    pub(crate) fn stderr_seen(&self, needle: &str) -> String {
        let earlier = self
            .seen
            .borrow()
            .iter()
            .find(|l| l.contains(needle))
            .cloned();
        earlier.unwrap_or_else(|| self.stderr_line(needle))
    }

    /// Every stderr line not read yet, to the end of the stream (the process
    /// exited or closed it), bounded by [`HANG`].
    pub(crate) fn rest_of_stderr(&self) -> Vec<String> {
        let mut rest = Vec::new();
        loop {
            match self.stderr.recv_timeout(HANG) {
                Ok(line) => {
                    self.seen.borrow_mut().push(line.clone());
                    rest.push(line);
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return rest,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("stderr did not end"),
            }
        }
    }

    /// The next stdout line, as JSON.
    pub(crate) fn stdout_line(&self) -> serde_json::Value {
        let line = self.stdout.recv_timeout(HANG).expect("a line on stdout");
        serde_json::from_str(&line).expect("a JSON line")
    }

    /// Sends a signal (`INT`, `TERM`, `KILL`, ...) to the process.
    pub(crate) fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} {pid}");
    }

    /// Ctrl-C: the command stops cleanly; returns its `stopped` line.
    pub(crate) fn interrupt(&self) -> String {
        self.signal("INT");
        self.stderr_line("stopped")
    }

    /// `kill -9`, and waits for the process to be gone.
    pub(crate) fn kill9(mut self) {
        self.signal("KILL");
        let _ = self.child.wait();
    }

    /// Waits for the process to exit (after a signal), bounded by [`HANG`]: reads
    /// stdout to its end (the pipe closes when the process is gone). Returns the
    /// lines not read yet and the exit code.
    pub(crate) fn wait_exit(&mut self) -> (Vec<String>, Option<i32>) {
        let mut rest = Vec::new();
        loop {
            match self.stdout.recv_timeout(HANG) {
                Ok(line) => rest.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("the process did not exit"),
            }
        }
        let status = self.child.wait().expect("the child can be waited on");
        (rest, status.code())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines of `out`, on a channel, read by a thread of their own.
pub(crate) fn lines(out: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A port nothing listens on (bound, read, released).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A simulator on a free port, and its base URL.
pub(crate) fn dev(extra: &[&str]) -> (Running, String) {
    let mut args = vec!["dev", "--listen", "127.0.0.1:0"];
    // SMTP where a test asks for it, else off (not the shared default port).
    if !extra.contains(&"--smtp") {
        args.extend_from_slice(&["--smtp", "off"]);
    }
    args.extend_from_slice(extra);
    let dev = Running::spawn(&args);
    let line = dev.stderr_line("listening on ");
    let base = line.rsplit(' ').next().unwrap().to_owned();
    (dev, base)
}

/// The simulator's WebSocket URL beside its base URL.
pub(crate) fn ws_url(base: &str) -> String {
    format!("{}/v0", base.replace("http://", "ws://"))
}

/// `POST /v1/webhooks` with a bare HTTP/1.1 request over a TCP socket.
pub(crate) fn register_webhook(base: &str, url: &str, secret: &str) {
    register_webhook_with_key(base, None, url, secret);
}

/// As `register_webhook`, presenting `key` when there is one.
pub(crate) fn register_webhook_with_key(base: &str, key: Option<&str>, url: &str, secret: &str) {
    use std::io::{Read as _, Write as _};
    let addr = base.trim_start_matches("http://");
    let body = format!(r#"{{"url":"{url}","secret":"{secret}"}}"#);
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    write!(
        tcp,
        "POST /v1/webhooks HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Makes an email arrive in `inbox` of the simulator at `base`
/// (`POST /_sim/inboxes/INBOX/messages`), over a bare HTTP/1.1 request; returns
/// the answer's body.
pub(crate) fn post_email(base: &str, key: &str, inbox: &str, subject: &str) -> String {
    use std::io::{Read as _, Write as _};
    let addr = base.trim_start_matches("http://");
    let body = serde_json::json!({
        "from": "Bob <bob@example.com>",
        "subject": subject,
        "text": "hello",
    })
    .to_string();
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(HANG)).unwrap();
    write!(
        tcp,
        "POST /_sim/inboxes/{inbox}/messages HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 2"), "{answer}");
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// Signs as Svix does: base64 HMAC-SHA256 of `{msg_id}.{timestamp}.{body}` keyed
/// with the `whsec_` secret's base64-decoded bytes; the three `svix-*` header lines.
pub(crate) fn svix_headers(secret: &str, msg_id: &str, body: &[u8]) -> String {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let mut signed = format!("{msg_id}.{ts}.").into_bytes();
    signed.extend_from_slice(body);
    let tag = ring::hmac::sign(&key, &signed);
    let sig = base64::engine::general_purpose::STANDARD.encode(tag.as_ref());
    format!("svix-id: {msg_id}\r\nsvix-timestamp: {ts}\r\nsvix-signature: v1,{sig}\r\n")
}

/// POSTs `body` to `path` at `addr`, signed with `secret` as Svix signs; the
/// status code of the answer.
pub(crate) fn post_signed(addr: &str, path: &str, secret: &str, msg_id: &str, body: &[u8]) -> u16 {
    use std::io::{Read as _, Write as _};
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(HANG)).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n{}\r\n",
        body.len(),
        svix_headers(secret, msg_id, body)
    );
    tcp.write_all(head.as_bytes()).unwrap();
    tcp.write_all(body).unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

/// Makes the email `email` (the simulator's `IncomingEmail`: `from`, `subject`,
/// `text`, `attachments`, ...) arrive in `inbox` of the simulator at `base`, as
/// `post_email` does; returns the answer (`event_id`, `message_id`, `thread_id`).
pub(crate) fn post_sim_email(
    base: &str,
    key: &str,
    inbox: &str,
    email: &serde_json::Value,
) -> serde_json::Value {
    use std::io::{Read as _, Write as _};
    let addr = base.trim_start_matches("http://");
    let body = email.to_string();
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(HANG)).unwrap();
    write!(
        tcp,
        "POST /_sim/inboxes/{inbox}/messages HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 2"), "{answer}");
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

/// The Redis the tests use: `MAILWIRE_TEST_REDIS_URL`, else the local one.
pub(crate) fn redis_url() -> String {
    std::env::var("MAILWIRE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// `redis-cli` against [`redis_url`]: its standard output.
pub(crate) fn redis_cli(args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-u")
        .arg(redis_url())
        .args(args)
        .output()
        .expect("redis-cli runs (a Redis is needed: MAILWIRE_TEST_REDIS_URL)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deletes the Redis keys under a test's prefix (and only those) when dropped.
pub(crate) struct RedisCleanup(pub(crate) String);

impl Drop for RedisCleanup {
    fn drop(&mut self) {
        let keys = redis_cli(&["--scan", "--pattern", &format!("*{}*", self.0)]);
        let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
        // A thousand keys per call: a run leaves tens of thousands (one per event).
        for chunk in keys.chunks(1000) {
            let mut args = vec!["UNLINK"];
            args.extend(chunk);
            redis_cli(&args);
        }
    }
}
