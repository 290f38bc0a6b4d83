//! The sender against local servers that fail, disable, throttle or hang.

use crate::common;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use mailwire_proto::Event;
use mailwire_source::EventSource;
use mailwire_webhook::{HeaderNames, Keyring, Scheme, SignError, Signer, Verifier};
use mailwire_webhook_http::WebhookReceiver;
use mailwire_webhook_sender::{Endpoint, Failure, Outcome, SenderBuilder, WebhookSender};
use tokio::net::TcpListener;

/// What the scripted server answers, request by request.
#[derive(Clone, Debug)]
enum Answer {
    Status(u16),
    RetryAfter(u16, &'static str),
    Hang,
}

#[derive(Debug)]
struct Seen {
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Script {
    async fn serve(answers: impl IntoIterator<Item = Answer>) -> (Script, SocketAddr) {
        let script = Script::default();
        script.answers.lock().unwrap().extend(answers);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let s = script.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| s.clone().answer(req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (script, addr)
    }

    async fn answer(self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        self.seen.lock().unwrap().push(Seen {
            headers: parts.headers,
            body,
            at: Instant::now(),
        });
        let answer = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Answer::Status(200));
        let mut res = Response::new(Full::new(Bytes::from_static(b"answer")));
        match answer {
            Answer::Status(code) => *res.status_mut() = StatusCode::from_u16(code).unwrap(),
            Answer::RetryAfter(code, after) => {
                *res.status_mut() = StatusCode::from_u16(code).unwrap();
                res.headers_mut()
                    .insert("retry-after", after.parse().unwrap());
            }
            Answer::Hang => std::future::pending::<()>().await,
        }
        Ok(res)
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Vec<Seen>> {
        self.seen.lock().unwrap()
    }
}

/// Fast and exact: delays scaled by 1/10,000 and no jitter.
fn fast() -> SenderBuilder {
    WebhookSender::builder()
        .time_scale(0.0001)
        .jitter(Arc::new(|d| d))
}

fn endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint::new(&format!("http://{addr}/hook"), Signer::new(keyring())).unwrap()
}

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(HANG, f).await.expect("hang")
}

async fn send(sender: &WebhookSender, endpoint: &Endpoint, id: &str) -> Outcome {
    let body = event(id).raw().clone();
    tokio::time::timeout(HANG, sender.send(endpoint, id, body))
        .await
        .expect("hang")
}

#[tokio::test]
async fn retries_until_accepted_with_the_same_id_and_fresh_signatures() {
    let (script, addr) = Script::serve([
        Answer::Status(500),
        Answer::Status(502),
        Answer::Status(404),
        Answer::Status(204),
    ])
    .await;
    let clock = Arc::new(AtomicI64::new(now()));
    let tick = clock.clone();
    let sender = fast()
        .clock(move || tick.fetch_add(1, Ordering::SeqCst))
        .build()
        .unwrap();
    let outcome = send(&sender, &endpoint(addr), "evt_1").await;
    assert_eq!(
        outcome,
        Outcome::Delivered {
            attempts: 4,
            status: StatusCode::NO_CONTENT
        }
    );

    let seen = script.seen();
    assert_eq!(seen.len(), 4);
    let verifier = Verifier::new(keyring());
    let webhook_id = seen[0].headers["svix-id"].to_str().unwrap().to_owned();
    let mut last_ts = 0;
    for s in seen.iter() {
        assert_eq!(s.headers["svix-id"], webhook_id.as_str());
        assert_eq!(s.body, event("evt_1").raw());
        assert_eq!(s.headers["content-type"], "application/json");
        let verified = verifier
            .verify(&s.headers, &s.body)
            .expect("each attempt verifies");
        assert_eq!(verified.id.as_deref(), Some(webhook_id.as_str()));
        let ts = verified.timestamp.unwrap();
        assert!(ts > last_ts, "timestamp not refreshed");
        last_ts = ts;
    }
}

const SVIX_NAMES: [&str; 3] = ["svix-id", "svix-timestamp", "svix-signature"];
const WEBHOOK_NAMES: [&str; 3] = ["webhook-id", "webhook-timestamp", "webhook-signature"];

fn present(headers: &HeaderMap, names: [&'static str; 3]) -> Vec<&'static str> {
    names
        .into_iter()
        .filter(|n| headers.contains_key(*n))
        .collect()
}

#[tokio::test]
async fn signs_as_svix_with_a_webhook_id_of_its_own_per_delivery() {
    // The first delivery fails once, then both deliveries of one event succeed.
    let (script, addr) = Script::serve([Answer::Status(500)]).await;
    let at = now();
    let sender = fast().clock(move || at).build().unwrap();
    let endpoint = endpoint(addr);
    let evt = event("evt_1");
    let first = bounded(sender.send_event(&endpoint, &evt)).await;
    assert_eq!(first.attempts(), 2, "{first:?}");
    assert!(
        bounded(sender.send_event(&endpoint, &evt))
            .await
            .is_delivered()
    );

    let seen = script.seen();
    assert_eq!(seen.len(), 3);
    let verifier = Verifier::new(keyring()).with_clock(move || at);
    let mut ids = Vec::new();
    for s in seen.iter() {
        assert_eq!(present(&s.headers, SVIX_NAMES), SVIX_NAMES);
        assert!(
            present(&s.headers, WEBHOOK_NAMES).is_empty(),
            "{:?}",
            s.headers
        );
        let id = s.headers["svix-id"].to_str().unwrap();
        assert!(id.starts_with("msg_"), "{id}");
        let in_body = Event::parse(s.body.clone()).unwrap();
        assert_eq!(in_body.id(), "evt_1");
        assert_ne!(id, in_body.id());
        let verified = verifier.verify(&s.headers, &s.body).expect("verifies");
        assert_eq!(verified.id.as_deref(), Some(id));
        // Byte for byte what the Svix-named signer makes, which the `svix`
        // crate verifies (mailwire-webhook's tests/differential.rs).
        let expected = Signer::new(keyring())
            .with_header_names(HeaderNames::Svix)
            .sign(id, at, &s.body)
            .unwrap();
        for (name, value) in &expected {
            assert_eq!(s.headers.get_all(name).iter().collect::<Vec<_>>(), [value]);
        }
        ids.push(id.to_owned());
    }
    assert_eq!(ids[0], ids[1], "a retry keeps the webhook id");
    assert_ne!(ids[1], ids[2], "a new delivery has a new webhook id");
}

#[tokio::test]
async fn the_specification_names_on_request() {
    let (script, addr) = Script::serve([]).await;
    let sender = fast().build().unwrap();
    let endpoint = endpoint(addr).with_header_names(HeaderNames::Webhook);
    assert!(
        bounded(sender.send_event(&endpoint, &event("evt_1")))
            .await
            .is_delivered()
    );
    let seen = script.seen();
    assert_eq!(present(&seen[0].headers, WEBHOOK_NAMES), WEBHOOK_NAMES);
    assert!(present(&seen[0].headers, SVIX_NAMES).is_empty());
    assert!(
        seen[0].headers["webhook-id"]
            .to_str()
            .unwrap()
            .starts_with("msg_")
    );
    assert!(
        Verifier::new(keyring())
            .verify(&seen[0].headers, &seen[0].body)
            .is_ok()
    );
}

#[tokio::test]
async fn send_as_keeps_the_callers_webhook_id() {
    let (script, addr) = Script::serve([Answer::Status(503)]).await;
    let sender = fast().build().unwrap();
    let endpoint = endpoint(addr);
    let body = event("evt_1").raw().clone();
    for _ in 0..2 {
        let outcome = bounded(sender.send_as(&endpoint, "msg_again", body.clone())).await;
        assert!(outcome.is_delivered(), "{outcome:?}");
    }
    let seen = script.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.headers["svix-id"] == "msg_again"));
}

#[tokio::test]
async fn gives_up_when_the_schedule_runs_out() {
    let (script, addr) = Script::serve(vec![Answer::Status(500); 10]).await;
    let sender = fast()
        .schedule(vec![
            Duration::ZERO,
            Duration::from_secs(5),
            Duration::from_secs(300),
        ])
        .build()
        .unwrap();
    let outcome = send(&sender, &endpoint(addr), "evt_1").await;
    assert_eq!(
        outcome,
        Outcome::GaveUp {
            attempts: 3,
            last: Failure::Status(StatusCode::INTERNAL_SERVER_ERROR)
        }
    );
    assert_eq!(script.seen().len(), 3);
}

#[tokio::test]
async fn the_standard_schedule_has_eight_attempts() {
    let (script, addr) = Script::serve(vec![Answer::Status(503); 10]).await;
    // 28 hours scaled to about 10 ms.
    let sender = WebhookSender::builder().time_scale(1e-7).build().unwrap();
    let outcome = send(&sender, &endpoint(addr), "evt_1").await;
    assert_eq!(outcome.attempts(), 8);
    assert!(!outcome.is_delivered());
    assert_eq!(script.seen().len(), 8);
}

#[tokio::test]
async fn gone_disables_the_endpoint() {
    let (script, addr) = Script::serve([Answer::Status(500), Answer::Status(410)]).await;
    let sender = fast().build().unwrap();
    let endpoint = endpoint(addr);
    assert_eq!(
        send(&sender, &endpoint, "evt_1").await,
        Outcome::Disabled { attempts: 2 }
    );
    assert!(endpoint.is_disabled());
    // No more deliveries to it, from this handle or a clone.
    assert_eq!(
        send(&sender, &endpoint.clone(), "evt_2").await,
        Outcome::Disabled { attempts: 0 }
    );
    assert_eq!(script.seen().len(), 2);
    endpoint.enable();
    assert!(send(&sender, &endpoint, "evt_3").await.is_delivered());
    assert_eq!(script.seen().len(), 3);
}

/// What `send_watched` reported of one attempt.
#[derive(Debug, PartialEq)]
struct Watched {
    attempt: u32,
    status: Option<u16>,
    failed: bool,
    response: Vec<u8>,
    retries: bool,
}

#[tokio::test]
async fn every_attempt_is_watched_with_its_status_answer_and_next_retry() {
    let (_script, addr) = Script::serve([Answer::Status(500), Answer::Status(410)]).await;
    let sender = fast().build().unwrap();
    let mut seen = Vec::new();
    let body = event("evt_w").raw().clone();
    let outcome = bounded(sender.send_watched(&endpoint(addr), "evt_w", body, |a| {
        assert!(a.latency > Duration::ZERO);
        seen.push(Watched {
            attempt: a.attempt,
            status: a.status.map(|s| s.as_u16()),
            failed: a.failure.is_some(),
            response: a.response.to_vec(),
            retries: a.retry_in.is_some(),
        });
    }))
    .await;
    assert_eq!(outcome, Outcome::Disabled { attempts: 2 });
    let answer = b"answer".to_vec();
    assert_eq!(
        seen,
        [
            Watched {
                attempt: 1,
                status: Some(500),
                failed: true,
                response: answer.clone(),
                retries: true
            },
            Watched {
                attempt: 2,
                status: Some(410),
                failed: true,
                response: answer,
                retries: false
            },
        ]
    );
    // A delivered attempt is watched too; a refused connection has no status.
    let (_script, addr) = Script::serve([Answer::Status(200)]).await;
    let mut seen = Vec::new();
    let body = event("evt_x").raw().clone();
    let outcome = bounded(sender.send_watched(&endpoint(addr), "evt_x", body, |a| {
        seen.push((
            a.status.map(|s| s.as_u16()),
            a.failure.is_some(),
            a.retry_in,
        ));
    }))
    .await;
    assert!(outcome.is_delivered());
    assert_eq!(seen, [(Some(200), false, None)]);
}

#[tokio::test]
async fn too_many_requests_waits_at_least_retry_after() {
    // Jitter zero: without Retry-After the retry would come at once.
    let (script, addr) = Script::serve([
        Answer::RetryAfter(429, "200"),
        Answer::RetryAfter(503, "300"),
    ])
    .await;
    let sender = WebhookSender::builder()
        .time_scale(0.001)
        .jitter(Arc::new(|_| Duration::ZERO))
        .build()
        .unwrap();
    let outcome = send(&sender, &endpoint(addr), "evt_1").await;
    assert_eq!(
        outcome,
        Outcome::Delivered {
            attempts: 3,
            status: StatusCode::OK
        }
    );
    let seen = script.seen();
    // 200 s and 300 s, scaled: lower bounds only, never an upper one.
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(200));
    assert!(seen[2].at - seen[1].at >= Duration::from_millis(300));
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_read_against_the_senders_clock() {
    // The sender's clock says 200 s before the date: the retry waits 200 s
    // (scaled). A date already past is no wait: the schedule (zero here) applies.
    const DATE_UNIX: i64 = 1_445_412_480; // Wed, 21 Oct 2015 07:28:00 GMT
    let (script, addr) = Script::serve([
        Answer::RetryAfter(429, "Wed, 21 Oct 2015 07:28:00 GMT"),
        Answer::RetryAfter(503, "Tue, 20 Oct 2015 07:28:00 GMT"),
    ])
    .await;
    let sender = WebhookSender::builder()
        .time_scale(0.001)
        .jitter(Arc::new(|_| Duration::ZERO))
        .clock(|| DATE_UNIX - 200)
        .build()
        .unwrap();
    let outcome = send(&sender, &endpoint(addr), "evt_1").await;
    assert_eq!(
        outcome,
        Outcome::Delivered {
            attempts: 3,
            status: StatusCode::OK
        }
    );
    let seen = script.seen();
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(200));
}

#[tokio::test]
async fn a_hanging_endpoint_times_out_and_is_retried() {
    let (script, addr) = Script::serve([Answer::Hang, Answer::Hang, Answer::Status(200)]).await;
    let sender = fast()
        .attempt_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    assert_eq!(
        send(&sender, &endpoint(addr), "evt_1").await,
        Outcome::Delivered {
            attempts: 3,
            status: StatusCode::OK
        }
    );
    assert_eq!(script.seen().len(), 3);

    let (_script, addr) = Script::serve(vec![Answer::Hang; 2]).await;
    let sender = fast()
        .attempt_timeout(Duration::from_millis(100))
        .schedule(vec![Duration::ZERO, Duration::ZERO])
        .build()
        .unwrap();
    assert_eq!(
        send(&sender, &endpoint(addr), "evt_1").await,
        Outcome::GaveUp {
            attempts: 2,
            last: Failure::Timeout
        }
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_failure() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let sender = fast().schedule(vec![Duration::ZERO; 2]).build().unwrap();
    match send(&sender, &endpoint(addr), "evt_1").await {
        Outcome::GaveUp {
            attempts: 2,
            last: Failure::Transport(e),
        } => {
            assert!(e.to_lowercase().contains("refused"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_unsignable_message_is_not_sent() {
    let (script, addr) = Script::serve([]).await;
    let sender = fast().build().unwrap();
    // A Standard Webhooks id must be visible ASCII.
    let outcome =
        bounded(sender.send_as(&endpoint(addr), "bad id", Bytes::from_static(b"{}"))).await;
    assert_eq!(
        outcome,
        Outcome::GaveUp {
            attempts: 1,
            last: Failure::Sign(SignError::BadId)
        }
    );
    // A public key verifies but cannot sign.
    let public_only = Keyring::standard("whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
    let endpoint = Endpoint::new(
        &format!("http://{addr}/hook"),
        Signer::new(public_only.unwrap()),
    )
    .unwrap();
    let outcome = bounded(sender.send_event(&endpoint, &event("evt_1"))).await;
    assert_eq!(
        outcome,
        Outcome::GaveUp {
            attempts: 1,
            last: Failure::Sign(SignError::NoSigningKey)
        }
    );
    assert!(script.seen().is_empty());
}

#[test]
fn endpoints_must_be_http_urls() {
    for url in ["ftp://x/y", "/relative", "not a url", "http://"] {
        assert!(Endpoint::new(url, Signer::new(keyring())).is_err(), "{url}");
    }
    let ok = Endpoint::new("https://example.com/hook", Signer::new(keyring())).unwrap();
    assert!(!format!("{ok:?}").contains("MfKQ9r8G"), "secret in Debug");
}

#[tokio::test]
async fn every_scheme_is_accepted_by_the_receiver() {
    let cases = [
        (Scheme::Standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        (Scheme::Hex, "a hex secret"),
        (Scheme::Stripe, "whsec_stripe_secret"),
    ];
    for (scheme, secret) in cases {
        let keys = || Keyring::new(scheme, [secret]).unwrap();
        let mut source = WebhookReceiver::new(Verifier::new(keys()))
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let url = format!("http://{}/webhooks", source.local_addr().unwrap());
        let endpoint = Endpoint::new(&url, Signer::new(keys())).unwrap();
        let sender = WebhookSender::new().unwrap();
        let outcome = sender.send_event(&endpoint, &event("evt_s")).await;
        assert_eq!(
            outcome,
            Outcome::Delivered {
                attempts: 1,
                status: StatusCode::OK
            },
            "{scheme}"
        );
        assert_eq!(next(&mut source).await.event.id(), "evt_s");
        // And the wrong secret is refused (401), which is retried, then given up.
        let other = Endpoint::new(
            &url,
            Signer::new(Keyring::new(scheme, ["whsec_b3RoZXI="]).unwrap()),
        )
        .unwrap();
        let outcome = fast()
            .schedule(vec![Duration::ZERO])
            .build()
            .unwrap()
            .send_event(&other, &event("evt_t"))
            .await;
        assert_eq!(
            outcome,
            Outcome::GaveUp {
                attempts: 1,
                last: Failure::Status(StatusCode::UNAUTHORIZED)
            }
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(50), source.next())
                .await
                .is_err()
        );
    }
}
