//! `mailwire sign` and `mailwire verify`, run as the built binary.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SPEC_BODY: &str = r#"{"test": 2432232314}"#;
const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn mailwire(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailwire"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the mailwire binary runs");
    // A command that fails before reading stdin closes the pipe; ignore that.
    let _ = child.stdin.take().expect("piped stdin").write_all(stdin);
    child.wait_with_output().expect("mailwire exits")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `--header` arguments from `sign`'s output lines.
fn header_args(sign_output: &Output) -> Vec<String> {
    text(&sign_output.stdout)
        .lines()
        .flat_map(|l| ["--header".to_owned(), l.to_owned()])
        .collect()
}

fn spec_headers() -> Vec<String> {
    [
        format!("webhook-id: {SPEC_ID}"),
        "webhook-timestamp: 1614265330".to_owned(),
        format!("webhook-signature: {SPEC_SIG}"),
    ]
    .into_iter()
    .flat_map(|h| ["--header".to_owned(), h])
    .collect()
}

fn args<'a>(base: &[&'a str], extra: &'a [String]) -> Vec<&'a str> {
    base.iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .collect()
}

#[test]
fn sign_prints_the_spec_example_headers() {
    let sign = |extra: &[&str]| {
        let mut a = vec![
            "sign",
            "--scheme",
            "standard",
            "--secret",
            SPEC_SECRET,
            "--id",
            SPEC_ID,
            "--timestamp",
            "1614265330",
        ];
        a.extend_from_slice(extra);
        let out = mailwire(&a, SPEC_BODY.as_bytes());
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    // By default under the names AgentMail's webhooks carry.
    assert_eq!(
        sign(&[]),
        format!("svix-id: {SPEC_ID}\nsvix-timestamp: 1614265330\nsvix-signature: {SPEC_SIG}\n")
    );
    assert_eq!(sign(&["--header-names", "svix"]), sign(&[]));
    assert_eq!(
        sign(&["--header-names", "webhook"]),
        format!(
            "webhook-id: {SPEC_ID}\nwebhook-timestamp: 1614265330\nwebhook-signature: {SPEC_SIG}\n"
        )
    );
}

#[test]
fn sign_standard_prints_svix_headers_that_verify() {
    let body = b"{\"event_id\":\"evt_1\"}";
    let signed = mailwire(
        &["sign", "--scheme", "standard", "--secret", SPEC_SECRET],
        body,
    );
    assert_eq!(signed.status.code(), Some(0), "{}", text(&signed.stderr));
    let stdout = text(&signed.stdout);
    let names: Vec<&str> = stdout
        .lines()
        .map(|l| l.split_once(": ").map_or(l, |(name, _)| name))
        .collect();
    assert_eq!(names, ["svix-id", "svix-timestamp", "svix-signature"]);
    let id = stdout.lines().next().unwrap_or_default();
    assert!(id.starts_with("svix-id: msg_"), "{id}");

    let verify = ["verify", "--scheme", "standard", "--secret", SPEC_SECRET];
    let h = header_args(&signed);
    let out = mailwire(&args(&verify, &h), body);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("id={}", &id["svix-id: ".len()..])),
        "{}",
        text(&out.stdout)
    );
    // Signed under both families at once, the request carries two ids: refused.
    let webhook = mailwire(
        &[
            "sign",
            "--scheme",
            "standard",
            "--secret",
            SPEC_SECRET,
            "--header-names",
            "webhook",
        ],
        body,
    );
    let mut both = h.clone();
    both.extend(header_args(&webhook));
    let out = mailwire(&args(&verify, &both), body);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("duplicate id header"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn verify_accepts_the_spec_example() {
    let h = spec_headers();
    let out = mailwire(
        &args(
            &[
                "verify",
                "--scheme",
                "standard",
                "--secret",
                SPEC_SECRET,
                "--now",
                "1614265330",
            ],
            &h,
        ),
        SPEC_BODY.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("valid") && stdout.contains(SPEC_ID),
        "{stdout}"
    );
}

#[test]
fn verify_exits_1_naming_the_failed_rule() {
    let h = spec_headers();
    let base = ["verify", "--scheme", "standard", "--secret", SPEC_SECRET];
    let cases: [(&[&str], &str, &str); 4] = [
        (
            &["--now", "1614265330"],
            r#"{"test": 2432232315}"#,
            "no matching signature",
        ),
        (&[], SPEC_BODY, "timestamp too old"),
        (
            &["--now", "1614265000", "--tolerance", "10"],
            SPEC_BODY,
            "timestamp in the future",
        ),
        (&["--now", "-5"], SPEC_BODY, "timestamp in the future"),
    ];
    for (extra, body, rule) in cases {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        let out = mailwire(&args(&a, &h), body.as_bytes());
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(rule), "{extra:?}: {stderr}");
        assert!(!stderr.contains("MfKQ9r8G"), "secret echoed: {stderr}");
        assert!(out.stdout.is_empty());
    }
    // No headers at all.
    let out = mailwire(&base, SPEC_BODY.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing id header"));
}

#[test]
fn sign_then_verify_round_trips_for_every_scheme() {
    for (scheme, secret, extra) in [
        ("hex", "It's a Secret to Everybody", &[][..]),
        (
            "hex",
            "s3cret",
            &["--signature-header", "X-Hub-Signature-256"][..],
        ),
        ("standard", SPEC_SECRET, &[][..]),
        (
            "stripe",
            "whsec_test_secret",
            &["--signature-header", "x-stripe"][..],
        ),
    ] {
        let body = b"{\"event_id\":\"evt_1\"}\n";
        let mut sign = vec!["sign", "--scheme", scheme, "--secret", secret];
        sign.extend_from_slice(extra);
        let signed = mailwire(&sign, body);
        assert_eq!(
            signed.status.code(),
            Some(0),
            "{scheme}: {}",
            text(&signed.stderr)
        );
        let h = header_args(&signed);
        let mut verify = vec!["verify", "--scheme", scheme, "--secret", secret];
        verify.extend_from_slice(extra);
        let out = mailwire(&args(&verify, &h), body);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{scheme}: {}",
            text(&out.stderr)
        );
        let out = mailwire(&args(&verify, &h), b"{\"event_id\":\"evt_2\"}\n");
        assert_eq!(out.status.code(), Some(1), "{scheme}");
    }
}

#[test]
fn github_example_verifies() {
    let out = mailwire(
        &[
            "verify",
            "--scheme",
            "hex",
            "--secret",
            "It's a Secret to Everybody",
            "--signature-header",
            "x-hub-signature-256",
            "--header",
            "X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ],
        b"Hello, World!",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn rotation_accepts_the_old_secret() {
    let old = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let signed = mailwire(&["sign", "--scheme", "standard", "--secret", old], b"x");
    let h = header_args(&signed);
    let out = mailwire(
        &args(
            &[
                "verify",
                "--scheme",
                "standard",
                "--secret",
                SPEC_SECRET,
                "--secret",
                old,
            ],
            &h,
        ),
        b"x",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("key=1"));
}

#[test]
fn usage_errors_exit_2() {
    let cases: [&[&str]; 8] = [
        &["verify", "--secret", "s"],
        &["verify", "--scheme", "sha1", "--secret", "s"],
        &["verify", "--scheme", "hex"],
        &["verify", "--scheme", "standard", "--secret", "not-whsec"],
        &["verify", "--scheme", "hex", "--secret", ""],
        &[
            "verify",
            "--scheme",
            "hex",
            "--secret",
            "s",
            "--header",
            "no colon here",
        ],
        &[
            "sign",
            "--scheme",
            "standard",
            "--secret",
            SPEC_SECRET,
            "--id",
            "has space",
        ],
        &["frobnicate"],
    ];
    for case in cases {
        let out = mailwire(case, b"");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{case:?}: {}",
            text(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{case:?}");
    }
}

#[test]
fn sign_defaults_to_a_fresh_id_and_now() {
    let a = mailwire(
        &["sign", "--scheme", "standard", "--secret", SPEC_SECRET],
        b"{}",
    );
    let b = mailwire(
        &["sign", "--scheme", "standard", "--secret", SPEC_SECRET],
        b"{}",
    );
    assert_eq!(a.status.code(), Some(0));
    let id = |o: &Output| {
        text(&o.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(id(&a).starts_with("svix-id: msg_"), "{}", id(&a));
    assert_ne!(id(&a), id(&b));
    let out = mailwire(
        &args(
            &["verify", "--scheme", "standard", "--secret", SPEC_SECRET],
            &header_args(&a),
        ),
        b"{}",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
