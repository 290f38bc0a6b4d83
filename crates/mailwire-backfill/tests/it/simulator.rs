//! The backfill against the simulator (`mailwire dev`, in process, over a real socket
//! on 127.0.0.1): the paths on which `mailwire listen` lost mail, each as a test
//! through the library's API. An inbox the API does not know, an inbox created while
//! nothing ran, a base URL without its version, a refused key, an API down at start.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use mailwire_backfill::{
    Backfill, BackfillConfig, FillError, NotTheApi, Report, RestError, Trigger,
};
use mailwire_proto::Payload;
use mailwire_sim::{IncomingEmail, Simulator};
use mailwire_source::{EventSource, MemoryCheckpoints, Origin, SourceError};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::mpsc::Receiver;

/// Bounds a hang; never the expected duration of anything.
const HANG: Duration = Duration::from_secs(10);
const KEY: &str = "am_test_backfill_sim";

async fn simulator() -> Simulator {
    Simulator::builder()
        .api_key(KEY)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

fn base(sim: &Simulator) -> String {
    format!("http://{}/v0", sim.addr())
}

fn mail(sim: &Simulator, inbox: &str, subject: &str) {
    let email = IncomingEmail::new("Grace <grace@example.com>", subject, "body");
    sim.receive_email(inbox, email).unwrap();
}

fn config(base: &str) -> BackfillConfig {
    BackfillConfig::new(base, KEY).retry(Duration::from_millis(1), Duration::from_millis(10))
}

/// Takes `n` events, acking each, as (inbox, subject).
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
            message.subject.clone().unwrap(),
        ));
        d.ack().await.unwrap();
    }
    out
}

async fn next_report(reports: &mut Receiver<Report>) -> Report {
    tokio::time::timeout(HANG, reports.recv())
        .await
        .expect("a report in time")
        .expect("the backfill runs")
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(i, s)| (i.to_string(), s.to_string()))
        .collect()
}

fn rfc3339(at: SystemTime) -> String {
    OffsetDateTime::from(at).format(&Rfc3339).unwrap()
}

const ADA: &str = "ada@agentmail.to";
const BOB: &str = "bob@agentmail.to";
const TYPO: &str = "adda@agentmail.to";

#[tokio::test]
async fn an_inbox_the_api_does_not_know_is_reported_and_the_others_are_read() {
    let sim = simulator().await;
    for n in 0..3 {
        mail(&sim, ADA, &format!("ada {n}"));
        mail(&sim, BOB, &format!("bob {n}"));
    }
    let since = SystemTime::now() - Duration::from_secs(3600);
    let checkpoints = MemoryCheckpoints::new();
    let config = config(&base(&sim)).inboxes([ADA, TYPO, BOB]).since(since);
    let mut backfill = Backfill::spawn(config, checkpoints.clone()).unwrap();
    let mut reports = backfill.reports().unwrap();

    let got: BTreeSet<_> = take(&mut backfill, 6).await.into_iter().collect();
    let want = [(ADA, "ada 0"), (ADA, "ada 1"), (ADA, "ada 2")];
    let want = set(&want)
        .union(&set(&[(BOB, "bob 0"), (BOB, "bob 1"), (BOB, "bob 2")]))
        .cloned()
        .collect();
    assert_eq!(got, want);
    let report = next_report(&mut reports).await;
    assert_eq!((report.inboxes, report.found), (3, 6));
    assert_eq!(report.failures.len(), 1, "{report:?}");
    let failure = &report.failures[0];
    assert_eq!(failure.inbox, TYPO);
    assert!(
        matches!(
            &*failure.error,
            FillError::InboxNotFound(RestError::Status { status: 404, .. })
        ),
        "{failure:?}"
    );
    assert!(
        failure
            .to_string()
            .contains("does not exist for this API key"),
        "{failure}"
    );
    assert!(
        failure.retry_in > Duration::from_secs(60),
        "not hammered: {failure:?}"
    );
    let saved = checkpoints.snapshot();
    assert!(saved.contains_key(&format!("backfill:{ADA}")), "{saved:?}");
    assert!(saved.contains_key(&format!("backfill:{BOB}")), "{saved:?}");
    assert_eq!(saved.get(&format!("backfill:{TYPO}")), None);
    assert_eq!(
        saved["backfill:*"],
        rfc3339(since),
        "held back by the 404 inbox"
    );

    // A WebSocket says everything up to now was delivered; then a pass runs.
    let until = SystemTime::now();
    backfill.handle().covered(until);
    backfill.handle().fill(Trigger::Manual);
    let report = next_report(&mut reports).await;
    assert_eq!(report.trigger, Trigger::Manual);
    assert_eq!(
        report.deferred,
        [TYPO],
        "not asked again before its interval"
    );
    assert!(report.failures.is_empty(), "{report:?}");
    let saved = checkpoints.snapshot();
    assert_eq!(saved[&format!("backfill:{ADA}")], rfc3339(until));
    assert_eq!(saved[&format!("backfill:{BOB}")], rfc3339(until));
    assert_eq!(saved.get(&format!("backfill:{TYPO}")), None);
    assert_eq!(
        saved["backfill:*"],
        rfc3339(since),
        "covered() did not pass it"
    );
}

#[tokio::test]
async fn an_inbox_created_while_nothing_ran_is_read_from_the_subscriptions_checkpoint() {
    let sim = simulator().await;
    let checkpoints = MemoryCheckpoints::new();
    // Every inbox the key sees; no overlap, so that exactly what is owed is read.
    let config = config(&base(&sim)).overlap(Duration::ZERO);
    mail(&sim, ADA, "before the first start");

    let mut first = Backfill::spawn(config.clone(), checkpoints.clone()).unwrap();
    let mut reports = first.reports().unwrap();
    let report = next_report(&mut reports).await;
    assert_eq!(
        (report.inboxes, report.found),
        (1, 0),
        "a first start reads no history"
    );
    mail(&sim, ADA, "live 1");
    mail(&sim, ADA, "live 2");
    first.handle().fill(Trigger::Manual);
    assert_eq!(
        take(&mut first, 2).await,
        [
            (ADA.to_owned(), "live 1".to_owned()),
            (ADA.to_owned(), "live 2".to_owned())
        ]
    );
    assert!(next_report(&mut reports).await.is_complete());
    drop(first);

    // Down: a new inbox gets its first mail, the old one more.
    for n in 0..4 {
        mail(&sim, BOB, &format!("down {n}"));
    }
    mail(&sim, ADA, "down 4");
    mail(&sim, ADA, "down 5");

    let mut second = Backfill::spawn(config, checkpoints.clone()).unwrap();
    let mut reports = second.reports().unwrap();
    let got: BTreeSet<_> = take(&mut second, 6).await.into_iter().collect();
    let want = set(&[
        (ADA, "down 4"),
        (ADA, "down 5"),
        (BOB, "down 0"),
        (BOB, "down 1"),
        (BOB, "down 2"),
        (BOB, "down 3"),
    ]);
    assert_eq!(got, want);
    let report = next_report(&mut reports).await;
    assert_eq!(report.trigger, Trigger::Startup);
    assert_eq!(
        (report.inboxes, report.found),
        (2, 6),
        "each email once: {report:?}"
    );
    assert!(report.is_complete(), "{report:?}");
}

#[tokio::test]
async fn a_base_url_without_its_version_fails_at_start_saying_what_one_looks_like() {
    let sim = simulator().await;
    mail(&sim, ADA, "hello");
    let config = config(&format!("http://{}", sim.addr())).inboxes([ADA]);

    let error = config.check().await.unwrap_err();
    assert!(error.is_fatal());
    let SourceError::Config(cause) = &error else {
        panic!("expected a configuration error, got {error:?}")
    };
    let not_the_api = cause.downcast_ref::<NotTheApi>().expect("a NotTheApi");
    assert_eq!(not_the_api.cause.status(), Some(404));
    let said = error.to_string();
    for part in [
        "/inboxes?limit=1",
        "HTTP 404",
        "/v0?",
        "https://api.agentmail.to/v0",
        "http://127.0.0.1:8787/v0",
    ] {
        assert!(said.contains(part), "{part:?} missing from: {said}");
    }

    let mut backfill = Backfill::spawn(config, MemoryCheckpoints::new()).unwrap();
    match tokio::time::timeout(HANG, backfill.next()).await.unwrap() {
        Err(SourceError::Config(_)) => {}
        other => panic!("expected a configuration error, got {other:?}"),
    }
    assert!(backfill.next().await.unwrap().is_none());
}

#[tokio::test]
async fn a_refused_key_is_an_auth_error_at_start() {
    let sim = simulator().await;
    let config = BackfillConfig::new(base(&sim), "am_wrong");
    match config.check().await {
        Err(SourceError::Auth(cause)) => {
            assert!(matches!(
                cause.downcast_ref::<RestError>(),
                Some(RestError::Unauthorized(401))
            ));
        }
        other => panic!("expected an auth error, got {other:?}"),
    }
    let mut backfill = Backfill::spawn(config, MemoryCheckpoints::new()).unwrap();
    match tokio::time::timeout(HANG, backfill.next()).await.unwrap() {
        Err(SourceError::Auth(_)) => {}
        other => panic!("expected an auth error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_api_down_at_start_is_reported_and_read_once_it_is_up() {
    let sim = simulator().await;
    mail(&sim, ADA, "while the API was down");
    sim.stop().await;
    let config = config(&base(&sim)).since(SystemTime::now() - Duration::from_secs(3600));

    let error = config.check().await.unwrap_err();
    assert!(
        matches!(error, SourceError::Transport(_)) && error.is_transient(),
        "{error:?}"
    );
    let mut backfill = Backfill::spawn(config, MemoryCheckpoints::new()).unwrap();
    let mut reports = backfill.reports().unwrap();
    let report = next_report(&mut reports).await;
    assert!(
        matches!(
            report.error.as_deref(),
            Some(FillError::Rest(RestError::Transport(_)))
        ),
        "{report:?}"
    );
    assert!(report.retry_in.is_some());

    sim.start().await.unwrap();
    assert_eq!(
        take(&mut backfill, 1).await,
        [(ADA.to_owned(), "while the API was down".to_owned())]
    );
}

#[tokio::test]
async fn a_migrated_progress_file_without_a_subscription_checkpoint_reads_new_inboxes_from_it() {
    let sim = simulator().await;
    // What the command line kept before stores kept checkpoints: one inbox's
    // progress, in a file beside the store, and no subscription checkpoint.
    let dir = tempfile::tempdir().unwrap();
    let file = mailwire_backfill::FileProgress::beside(&dir.path().join("events.redb")).unwrap();
    let old = SystemTime::now() - Duration::from_secs(60);
    file.set(&format!("backfill:{ADA}"), &rfc3339(old))
        .await
        .unwrap();
    let checkpoints = MemoryCheckpoints::new();
    assert_eq!(file.migrate_to(&checkpoints).await.unwrap(), 1);

    // While nothing ran: mail to that inbox, and to one it never saw.
    mail(&sim, ADA, "down 0");
    mail(&sim, BOB, "down 1");
    let config = config(&base(&sim)).overlap(Duration::ZERO);
    let mut backfill = Backfill::spawn(config, checkpoints.clone()).unwrap();
    let got: BTreeSet<_> = take(&mut backfill, 2).await.into_iter().collect();
    assert_eq!(got, set(&[(ADA, "down 0"), (BOB, "down 1")]));
    let report = next_report(&mut backfill.reports().unwrap()).await;
    assert_eq!((report.inboxes, report.found), (2, 2), "{report:?}");
}
