//! The backfill against a REST server written here, shaped as AgentMail's definition
//! has it (`/v0/inboxes`, `/v0/inboxes/{id}/messages` with `after`, `ascending`,
//! `limit`, `page_token` -> `next_page_token`, Bearer auth), and as unkind as a real
//! one can be: 429s with `Retry-After`, 500s (on every path, or on one inbox's), a
//! refused key. The same against the simulator itself: tests/simulator.rs.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use mailwire_backfill::{Backfill, BackfillConfig, FillError, Report, RestError, Trigger};
use mailwire_proto::{EventType, Payload};
use mailwire_source::{EventSource, MemoryCheckpoints, Origin, SourceError};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::net::TcpListener;

/// Bounds a hang; never the expected duration of anything.
const HANG: Duration = Duration::from_secs(10);
const KEY: &str = "am_test_backfill";

#[derive(Clone, Debug)]
struct Msg {
    inbox: String,
    id: String,
    labels: Vec<&'static str>,
    at: OffsetDateTime,
}

impl Msg {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "inbox_id": self.inbox, "thread_id": format!("thr_{}", self.id),
            "message_id": self.id, "labels": self.labels,
            "timestamp": self.at.format(&Rfc3339).unwrap(),
            "from": "Grace <grace@example.com>", "to": [self.inbox],
            "subject": format!("subject of {}", self.id), "text": "body",
            "size": 4, "updated_at": self.at.format(&Rfc3339).unwrap(),
            "created_at": self.at.format(&Rfc3339).unwrap(),
        })
    }
}

#[derive(Default)]
struct State {
    messages: Vec<Msg>,
    /// Answers to give before the real one, in order: (status, Retry-After).
    faults: VecDeque<(u16, Option<&'static str>)>,
    /// Statuses to answer, in order, to the requests about one inbox (its messages
    /// and each message), before the real answers.
    inbox_faults: HashMap<String, VecDeque<u16>>,
    /// Every request's path and query.
    requests: Vec<String>,
}

type Shared = Arc<Mutex<State>>;

fn answer(
    status: u16,
    body: serde_json::Value,
    retry_after: Option<&str>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    if let Some(ra) = retry_after {
        r.headers_mut().insert("retry-after", ra.parse().unwrap());
    }
    r
}

fn query(q: &str, name: &str) -> Option<String> {
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(v: &str) -> String {
    let mut out = Vec::new();
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn handle(state: &Shared, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let mut s = state.lock().unwrap();
    let path = req.uri().path().to_owned();
    let q = req.uri().query().unwrap_or("").to_owned();
    s.requests.push(format!("{path}?{q}"));
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {KEY}")[..]) {
        return answer(
            401,
            serde_json::json!({"name":"UnauthorizedError","message":"no"}),
            None,
        );
    }
    if let Some((status, retry_after)) = s.faults.pop_front() {
        let body = serde_json::json!({"name":"Error","message":format!("injected {status}")});
        return answer(status, body, retry_after);
    }
    let parts: Vec<String> = path.split('/').map(percent_decode).collect();
    let fault = parts
        .get(3)
        .and_then(|inbox| s.inbox_faults.get_mut(inbox))
        .and_then(VecDeque::pop_front);
    if let Some(status) = fault {
        let body = serde_json::json!({"name":"Error","message":format!("injected {status}")});
        return answer(status, body, None);
    }
    match parts.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["", "v0", "inboxes"] => {
            let mut inboxes: Vec<&str> = s.messages.iter().map(|m| m.inbox.as_str()).collect();
            inboxes.sort();
            inboxes.dedup();
            let items: Vec<_> = inboxes
                .iter()
                .map(|i| serde_json::json!({"inbox_id": i}))
                .collect();
            answer(
                200,
                serde_json::json!({"count": items.len(), "inboxes": items}),
                None,
            )
        }
        ["", "v0", "inboxes", inbox, "messages"] => {
            assert_eq!(query(&q, "ascending").as_deref(), Some("true"));
            let after = query(&q, "after")
                .map(|a| OffsetDateTime::parse(&a, &Rfc3339).expect("after is RFC 3339"));
            let limit: usize = query(&q, "limit").unwrap().parse().unwrap();
            let offset: usize = query(&q, "page_token").map_or(0, |t| t.parse().unwrap());
            let mut list: Vec<&Msg> = s
                .messages
                .iter()
                .filter(|m| m.inbox == inbox && after.is_none_or(|a| m.at > a))
                .filter(|m| !m.labels.contains(&"spam") || query(&q, "include_spam").is_some())
                .collect();
            list.sort_by_key(|m| m.at);
            let page: Vec<_> = list
                .iter()
                .skip(offset)
                .take(limit)
                .map(|m| m.json())
                .collect();
            let mut body =
                serde_json::json!({"count": page.len(), "limit": limit, "messages": page});
            if offset + limit < list.len() {
                body["next_page_token"] = (offset + limit).to_string().into();
            }
            answer(200, body, None)
        }
        ["", "v0", "inboxes", inbox, "messages", id] => {
            match s.messages.iter().find(|m| m.inbox == inbox && m.id == id) {
                Some(m) => answer(200, m.json(), None),
                None => answer(
                    404,
                    serde_json::json!({"name":"NotFoundError","message":"no"}),
                    None,
                ),
            }
        }
        _ => answer(
            404,
            serde_json::json!({"name":"NotFoundError","message":"no route"}),
            None,
        ),
    }
}

async fn server(state: Shared) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v0", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let r = handle(&state, &req);
                    async move { Ok::<_, Infallible>(r) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    base
}

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000 + secs).unwrap()
}

fn messages(inbox: &str, n: usize, from: i64) -> Vec<Msg> {
    (0..n)
        .map(|i| Msg {
            inbox: inbox.to_owned(),
            id: format!("<{inbox}-{}@example.com>", from + i as i64),
            // Every fifth one is a message the inbox sent: not a received event.
            labels: if i % 5 == 4 {
                vec!["sent"]
            } else {
                vec!["received", "unread"]
            },
            at: at(from + i as i64),
        })
        .collect()
}

fn config(base: &str) -> BackfillConfig {
    BackfillConfig::new(base, KEY)
        .since(SystemTime::from(at(-1)))
        .retry(Duration::from_millis(1), Duration::from_millis(10))
}

async fn take(source: &mut Backfill, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let d = tokio::time::timeout(HANG, source.next())
            .await
            .expect("an event in time")
            .expect("no error")
            .expect("not ended");
        assert_eq!(d.origin, Origin::Backfill);
        let Payload::Message { message, .. } = d.event.payload() else {
            panic!("{:?}", d.event.payload())
        };
        out.push((
            message.inbox_id.clone().unwrap(),
            message.message_id.clone().unwrap(),
        ));
        d.ack().await.unwrap();
    }
    out
}

#[tokio::test]
async fn every_received_message_of_every_inbox_is_read_once_in_order_across_pages() {
    let state = Shared::default();
    let mut all = messages("ada@agentmail.to", 230, 0);
    all.extend(messages("bob@agentmail.to", 40, 1000));
    state.lock().unwrap().messages = all.clone();
    let base = server(state.clone()).await;
    let mut backfill =
        Backfill::spawn(config(&base).page_size(50), MemoryCheckpoints::new()).unwrap();
    let mut reports = backfill.reports().unwrap();
    let want: Vec<(String, String)> = all
        .iter()
        .filter(|m| m.labels.contains(&"received"))
        .map(|m| (m.inbox.clone(), m.id.clone()))
        .collect();
    assert_eq!(want.len(), 216);
    assert_eq!(take(&mut backfill, want.len()).await, want);
    let report = tokio::time::timeout(HANG, reports.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.trigger, Trigger::Startup);
    assert_eq!((report.inboxes, report.found), (2, 216));
    assert_eq!(report.pages, 5 + 1, "230 in pages of 50, then 40");
}

#[tokio::test]
async fn a_restart_reads_only_what_came_after_the_saved_progress() {
    let state = Shared::default();
    state.lock().unwrap().messages = messages("ada@agentmail.to", 10, 0);
    let base = server(state.clone()).await;
    let progress = MemoryCheckpoints::new();
    let mut first = Backfill::spawn(config(&base), progress.clone()).unwrap();
    assert_eq!(take(&mut first, 8).await.len(), 8);
    let mut reports = first.reports().unwrap();
    tokio::time::timeout(HANG, reports.recv())
        .await
        .unwrap()
        .unwrap();
    drop(first);
    assert!(
        progress
            .snapshot()
            .contains_key("backfill:ada@agentmail.to")
    );

    // While it was down, three more arrived (now, after the first pass).
    let now = OffsetDateTime::now_utc();
    for i in 0..3 {
        state.lock().unwrap().messages.push(Msg {
            inbox: "ada@agentmail.to".into(),
            id: format!("<late-{i}@example.com>"),
            labels: vec!["received"],
            at: now + Duration::from_secs(1 + i),
        });
    }
    let mut second = Backfill::spawn(config(&base), progress.clone()).unwrap();
    let got = take(&mut second, 3).await;
    let ids: Vec<&str> = got.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "<late-0@example.com>",
            "<late-1@example.com>",
            "<late-2@example.com>"
        ]
    );
    let mut reports = second.reports().unwrap();
    let report = tokio::time::timeout(HANG, reports.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        report.found, 3,
        "nothing before the progress was read again"
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_waited_out() {
    let state = Shared::default();
    {
        let mut s = state.lock().unwrap();
        s.messages = messages("ada@agentmail.to", 10, 0);
        s.faults = VecDeque::from([
            (429, Some("0")),
            (503, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            (500, None),
            (429, None),
        ]);
    }
    let base = server(state.clone()).await;
    let mut backfill = Backfill::spawn(config(&base), MemoryCheckpoints::new()).unwrap();
    assert_eq!(take(&mut backfill, 8).await.len(), 8);
    let s = state.lock().unwrap();
    assert!(s.faults.is_empty());
    // The start-up check was asked for five times (four failures, then an answer),
    // then the inbox list once.
    let listings = s
        .requests
        .iter()
        .filter(|r| r.starts_with("/v0/inboxes?"))
        .count();
    assert_eq!(listings, 6, "{:?}", s.requests);
}

#[tokio::test]
async fn a_refused_key_ends_the_source_at_once() {
    let state = Shared::default();
    state.lock().unwrap().messages = messages("ada@agentmail.to", 3, 0);
    let base = server(state.clone()).await;
    let mut backfill = Backfill::spawn(
        BackfillConfig::new(&base, "am_wrong"),
        MemoryCheckpoints::new(),
    )
    .unwrap();
    match tokio::time::timeout(HANG, backfill.next()).await.unwrap() {
        Err(SourceError::Auth(_)) => {}
        other => panic!("expected an auth error, got {other:?}"),
    }
    assert!(backfill.next().await.unwrap().is_none());
    assert_eq!(state.lock().unwrap().requests.len(), 1, "no retry loop");
}

#[tokio::test]
async fn a_delivery_dropped_unacked_is_read_again_by_itself() {
    let state = Shared::default();
    state.lock().unwrap().messages = messages("ada@agentmail.to", 2, 0);
    let base = server(state.clone()).await;
    let progress = MemoryCheckpoints::new();
    let config = config(&base).inboxes(["ada@agentmail.to"]);
    let mut backfill = Backfill::spawn(config, progress.clone()).unwrap();
    let mut reports = backfill.reports().unwrap();
    let first = tokio::time::timeout(HANG, backfill.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let id = first.event.id().to_owned();
    drop(first); // handled? no: never acked
    let second = tokio::time::timeout(HANG, backfill.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    second.ack().await.unwrap();
    let report = next_report(&mut reports).await;
    assert!(
        matches!(&*report.failures[0].error, FillError::Unacked),
        "{report:?}"
    );
    // Progress did not move past the unacked one.
    assert_eq!(progress.snapshot().get("backfill:ada@agentmail.to"), None);
    // Without being asked: the inbox is read again after its backoff.
    let again = tokio::time::timeout(HANG, backfill.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(again.event.id(), id, "the same event, the same id");
    assert_eq!(again.event.event_type(), &EventType::MessageReceived);
}

async fn next_report(reports: &mut tokio::sync::mpsc::Receiver<Report>) -> Report {
    tokio::time::timeout(HANG, reports.recv())
        .await
        .expect("a report in time")
        .expect("the backfill runs")
}

fn rfc3339(at: SystemTime) -> String {
    OffsetDateTime::from(at).format(&Rfc3339).unwrap()
}

#[tokio::test]
async fn a_failing_inbox_is_retried_by_itself_while_the_others_are_read() {
    let state = Shared::default();
    {
        let mut s = state.lock().unwrap();
        s.messages = messages("ada@agentmail.to", 5, 0);
        s.messages.extend(messages("bob@agentmail.to", 5, 100));
        s.messages.extend(messages("eve@agentmail.to", 5, 200));
        // Three attempts in the first pass, one in the retry, then it answers.
        s.inbox_faults.insert(
            "bob@agentmail.to".into(),
            VecDeque::from([500, 502, 500, 503]),
        );
    }
    let base = server(state.clone()).await;
    let checkpoints = MemoryCheckpoints::new();
    let since = SystemTime::from(at(-1));
    let config =
        config(&base).inboxes(["ada@agentmail.to", "bob@agentmail.to", "eve@agentmail.to"]);
    let mut backfill = Backfill::spawn(config, checkpoints.clone()).unwrap();
    let mut reports = backfill.reports().unwrap();

    let got = take(&mut backfill, 8).await;
    assert!(
        got.iter().all(|(inbox, _)| inbox != "bob@agentmail.to"),
        "{got:?}"
    );
    let report = next_report(&mut reports).await;
    assert_eq!(report.trigger, Trigger::Startup);
    assert_eq!((report.inboxes, report.found), (3, 8));
    assert_eq!(report.failures.len(), 1, "{report:?}");
    let failure = &report.failures[0];
    assert_eq!(failure.inbox, "bob@agentmail.to");
    assert!(
        matches!(
            &*failure.error,
            FillError::Rest(RestError::Status { status: 500, .. })
        ),
        "{failure:?}"
    );
    assert!(report.retry_in.is_some());
    let saved = checkpoints.snapshot();
    assert!(saved.contains_key("backfill:ada@agentmail.to"));
    assert!(saved.contains_key("backfill:eve@agentmail.to"));
    assert_eq!(saved.get("backfill:bob@agentmail.to"), None);
    assert_eq!(saved["backfill:*"], rfc3339(since), "held back by bob");

    // Nobody asks: the retry reads bob alone once its backoff elapses.
    let got = take(&mut backfill, 4).await;
    assert!(
        got.iter().all(|(inbox, _)| inbox == "bob@agentmail.to"),
        "{got:?}"
    );
    let report = next_report(&mut reports).await;
    assert_eq!(report.trigger, Trigger::Retry);
    assert!(report.is_complete(), "{report:?}");
    assert_eq!((report.inboxes, report.found), (1, 4));
    let saved = checkpoints.snapshot();
    assert!(saved.contains_key("backfill:bob@agentmail.to"));
    let moved = OffsetDateTime::parse(&saved["backfill:*"], &Rfc3339).unwrap();
    assert!(SystemTime::from(moved) > since, "{saved:?}");
}

#[tokio::test]
async fn covered_moves_every_inbox_but_one_that_keeps_failing() {
    let state = Shared::default();
    {
        let mut s = state.lock().unwrap();
        s.messages = messages("ada@agentmail.to", 2, 0);
        s.messages.extend(messages("bob@agentmail.to", 2, 100));
        s.inbox_faults.insert(
            "bob@agentmail.to".into(),
            VecDeque::from(vec![500; 100_000]),
        );
    }
    let base = server(state.clone()).await;
    let checkpoints = MemoryCheckpoints::new();
    let since = SystemTime::from(at(-1));
    let config = config(&base).inboxes(["ada@agentmail.to", "bob@agentmail.to"]);
    let mut backfill = Backfill::spawn(config, checkpoints.clone()).unwrap();
    let mut reports = backfill.reports().unwrap();
    assert_eq!(take(&mut backfill, 2).await.len(), 2);
    assert_eq!(next_report(&mut reports).await.failures.len(), 1);

    // A WebSocket says everything up to now was delivered; then a pass runs.
    let until = SystemTime::now();
    backfill.handle().covered(until);
    backfill.handle().fill(Trigger::Manual);
    let report = loop {
        let report = next_report(&mut reports).await;
        if report.trigger == Trigger::Manual {
            break report;
        }
    };
    assert_eq!(
        report.failures.len() + report.deferred.len(),
        1,
        "{report:?}"
    );
    let saved = checkpoints.snapshot();
    assert_eq!(saved["backfill:ada@agentmail.to"], rfc3339(until));
    assert_eq!(
        saved.get("backfill:bob@agentmail.to"),
        None,
        "bob was never read"
    );
    assert_eq!(
        saved["backfill:*"],
        rfc3339(since),
        "nor the subscription past bob"
    );
}

#[tokio::test]
async fn a_gap_reads_from_its_start_even_behind_the_progress() {
    let state = Shared::default();
    let base = server(state.clone()).await;
    let progress = MemoryCheckpoints::new();
    // Progress says everything up to now is covered...
    let config = BackfillConfig::new(&base, KEY)
        .inboxes(["ada@agentmail.to"])
        .overlap(Duration::from_secs(1))
        .retry(Duration::from_millis(1), Duration::from_millis(10));
    let mut backfill = Backfill::spawn(config, progress.clone()).unwrap();
    let mut reports = backfill.reports().unwrap();
    tokio::time::timeout(HANG, reports.recv())
        .await
        .unwrap()
        .unwrap();
    // ...then a WebSocket says it lost 10 s, during which two arrived.
    let lost = OffsetDateTime::now_utc() - Duration::from_secs(10);
    state.lock().unwrap().messages = (0..2)
        .map(|i| Msg {
            inbox: "ada@agentmail.to".into(),
            id: format!("<gap-{i}@example.com>"),
            labels: vec!["received"],
            at: lost + Duration::from_secs(2 + i),
        })
        .collect();
    backfill.handle().fill(Trigger::Gap {
        from: SystemTime::from(lost),
        to: SystemTime::now(),
    });
    assert_eq!(take(&mut backfill, 2).await.len(), 2);
    let report = tokio::time::timeout(HANG, reports.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(report.trigger, Trigger::Gap { .. }));
    assert_eq!(report.found, 2);
}
