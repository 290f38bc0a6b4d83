//! What the tests need beside cargo, made ready by `cargo xtask ci` so that it runs
//! on a fresh machine: AgentMail's SDKs for the simulator's SDK tests, and a Redis
//! for the Redis store's tests.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment the tests run with, and a Redis this run started (stopped on drop).
pub(crate) struct TestEnv {
    pub(crate) vars: Vec<(String, String)>,
    redis: Option<Child>,
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some(child) = &mut self.redis {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Installs the SDKs (idempotent: a stamp makes a second run instant) unless the
/// caller points at its own (`MAILWIRE_SDK_DIR`) or skips them
/// (`MAILWIRE_SDK_TESTS=skip`); finds a Redis at `MAILWIRE_TEST_REDIS_URL` or
/// 127.0.0.1:6379, or starts one on a free port when `redis-server` is installed.
pub(crate) fn prepare(root: &Path) -> Result<TestEnv, String> {
    let mut env = TestEnv {
        vars: Vec::new(),
        redis: None,
    };
    let skip = std::env::var("MAILWIRE_SDK_TESTS").is_ok_and(|v| v == "skip");
    if std::env::var_os("MAILWIRE_SDK_DIR").is_none() && !skip {
        let dir = root.join("target/sdk");
        let script = root.join("crates/mailwire-sim/tests/clients/install-sdks.sh");
        eprintln!("$ bash {} {}", script.display(), dir.display());
        let status = Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .status()
            .map_err(|e| format!("cannot run bash: {e}"))?;
        if !status.success() {
            return Err(format!(
                "installing AgentMail's SDKs for the tests failed ({status}): they need \
                 python3 with venv and npm (`bash .ci/run` installs them on Debian), or set \
                 MAILWIRE_SDK_TESTS=skip"
            ));
        }
        env.vars
            .push(("MAILWIRE_SDK_DIR".into(), dir.display().to_string()));
    }
    if std::env::var_os("MAILWIRE_TEST_REDIS_URL").is_none() && !answers_ping("127.0.0.1:6379") {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port for a Redis: {e}"))?
            .port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "the tests need a Redis: none answers at 127.0.0.1:6379 and \
                     redis-server cannot be started ({e}); install it \
                     (apt install redis-server) or set MAILWIRE_TEST_REDIS_URL"
                )
            })?;
        env.redis = Some(child);
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !answers_ping(&addr) {
            if Instant::now() > deadline {
                return Err(format!("the Redis started at {addr} does not answer"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("xtask: started a Redis for the tests at {addr}");
        env.vars
            .push(("MAILWIRE_TEST_REDIS_URL".into(), format!("redis://{addr}")));
    }
    Ok(env)
}

/// True when a Redis at `addr` answers `PING` with `+PONG`.
fn answers_ping(addr: &str) -> bool {
    let Ok(addr) = addr.parse() else {
        return false;
    };
    let Ok(mut tcp) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(1)));
    let mut answer = [0u8; 7];
    tcp.write_all(b"PING\r\n").is_ok()
        && tcp.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}
