//! The runner over an agent fed by a scripted source, with the memory store: order
//! within a conversation, concurrency across them, retries, dead letters, stops.
//! Time is tokio's paused clock: a handler "taking seconds" costs nothing, and a
//! hang still ends at the bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailwire_agent::{Agent, Attempt, OrderBy, Retry, RunStats};
use mailwire_proto::Event;
use mailwire_store::Store as _;
use mailwire_test::{FakeHandle, FakeSource};
use proptest::prelude::*;
use tokio::sync::oneshot;

/// Bounds a hang; never the expected duration of anything (paused time: free).
const HANG: Duration = Duration::from_secs(3600);

fn event(n: usize, thread: usize) -> Event {
    Event::parse(format!(
        r#"{{"id":"evt_{n:04}","type":"message.delivered","data":{{"inbox_id":"ada@agentmail.to","thread_id":"thr_{thread}","message_id":"msg_{n}"}}}}"#
    ).into_bytes())
    .expect("an event")
}

async fn agent_with(events: &[Event]) -> (Agent, FakeHandle) {
    let (source, handle) = FakeSource::new();
    handle.push_all(events.iter().cloned());
    handle.end();
    let agent = Agent::builder()
        .source(source)
        .start()
        .await
        .expect("starts");
    (agent, handle)
}

/// What the handlers saw: per thread, the order they started in, and whether two of
/// one thread ever ran at once; how many ran at once at most.
#[derive(Default)]
struct Log {
    started: HashMap<String, Vec<String>>,
    active: HashMap<String, usize>,
    overlaps: Vec<String>,
    running: usize,
    most: usize,
    attempts: HashMap<String, Vec<u32>>,
}

impl Log {
    fn start(&mut self, work: &Attempt) {
        let thread = work.event.thread_id().unwrap_or("-").to_owned();
        let id = work.event.id().to_owned();
        self.attempts
            .entry(id.clone())
            .or_default()
            .push(work.attempt);
        if work.attempt == 1 {
            self.started
                .entry(thread.clone())
                .or_default()
                .push(id.clone());
        }
        let active = self.active.entry(thread).or_default();
        *active += 1;
        if *active > 1 {
            self.overlaps.push(id);
        }
        self.running += 1;
        self.most = self.most.max(self.running);
    }

    fn end(&mut self, work: &Attempt) {
        let thread = work.event.thread_id().unwrap_or("-").to_owned();
        *self.active.get_mut(&thread).expect("started") -= 1;
        self.running -= 1;
    }
}

async fn run(
    agent: &mut Agent,
    concurrency: usize,
    retry: Retry,
    log: Arc<Mutex<Log>>,
    take: impl Fn(&Attempt) -> (Duration, bool) + Send + Sync + 'static,
) -> RunStats {
    let take = Arc::new(take);
    tokio::time::timeout(
        HANG,
        agent
            .runner()
            .concurrency(concurrency)
            .retry(retry)
            .run(move |work| {
                let log = log.clone();
                let take = take.clone();
                async move {
                    let (time, ok) = take(&work);
                    log.lock().unwrap().start(&work);
                    tokio::time::sleep(time).await; // tidy: allow(sleep) the handler's own work, on paused time
                    log.lock().unwrap().end(&work);
                    if ok {
                        Ok(())
                    } else {
                        Err(format!("attempt {} failed", work.attempt))
                    }
                }
            }),
    )
    .await
    .expect("the run ends before the hang bound")
    .expect("no error")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the arrival interleaving of conversations and however long each
    /// handler takes, a conversation's events start in arrival order and never
    /// overlap, each event is handled once, and the concurrency is never exceeded.
    #[test]
    fn a_conversation_is_handled_in_arrival_order_and_never_twice_at_once(
        threads in proptest::collection::vec(0usize..5, 1..60),
        millis in proptest::collection::vec(1u64..400, 60),
        concurrency in 1usize..9,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let events: Vec<Event> = threads.iter().enumerate().map(|(n, t)| event(n, *t)).collect();
            let (mut agent, handle) = agent_with(&events).await;
            let log = Arc::new(Mutex::new(Log::default()));
            let stats = run(&mut agent, concurrency, Retry::default(), log.clone(), move |work| {
                let n: usize = work.event.id()[4..].parse().unwrap();
                (Duration::from_millis(millis[n % millis.len()]), true)
            })
            .await;
            let log = log.lock().unwrap();
            prop_assert!(log.overlaps.is_empty(), "overlapping: {:?}", log.overlaps);
            prop_assert!(log.most <= concurrency, "{} at once", log.most);
            for (thread, started) in &log.started {
                let arrived: Vec<String> = events
                    .iter()
                    .filter(|e| e.thread_id() == Some(thread.as_str()))
                    .map(|e| e.id().to_owned())
                    .collect();
                prop_assert_eq!(started, &arrived, "thread {}", thread);
            }
            prop_assert_eq!(stats.handled, events.len() as u64);
            let mut acked = handle.acked();
            acked.sort();
            let mut want: Vec<String> = events.iter().map(|e| e.id().to_owned()).collect();
            want.sort();
            prop_assert_eq!(acked, want);
            Ok(())
        })?;
    }
}

#[tokio::test(start_paused = true)]
async fn distinct_conversations_run_at_once_up_to_the_concurrency() {
    let events: Vec<Event> = (0..96).map(|n| event(n, n)).collect();
    let (mut agent, _handle) = agent_with(&events).await;
    let log = Arc::new(Mutex::new(Log::default()));
    let started = tokio::time::Instant::now();
    let stats = run(&mut agent, 32, Retry::default(), log.clone(), |_| {
        (Duration::from_secs(5), true)
    })
    .await;
    assert_eq!(stats.handled, 96);
    assert_eq!(log.lock().unwrap().most, 32, "32 handlers at once");
    // Three waves of 5 s on the paused clock: not 96 one after the other.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn one_conversation_runs_one_at_a_time_whatever_the_concurrency() {
    let events: Vec<Event> = (0..10).map(|n| event(n, 7)).collect();
    let (mut agent, _handle) = agent_with(&events).await;
    let log = Arc::new(Mutex::new(Log::default()));
    let stats = run(&mut agent, 32, Retry::default(), log.clone(), |_| {
        (Duration::from_secs(1), true)
    })
    .await;
    assert_eq!(stats.handled, 10);
    let log = log.lock().unwrap();
    assert_eq!(log.most, 1);
    assert_eq!(log.started["thr_7"].len(), 10);
}

#[tokio::test(start_paused = true)]
async fn without_ordering_one_conversation_runs_at_once() {
    let events: Vec<Event> = (0..10).map(|n| event(n, 7)).collect();
    let (mut agent, _handle) = agent_with(&events).await;
    let log = Arc::new(Mutex::new(Log::default()));
    let logged = log.clone();
    let stats = agent
        .runner()
        .concurrency(10)
        .order_by(OrderBy::None)
        .run(move |work| {
            let log = logged.clone();
            async move {
                log.lock().unwrap().start(&work);
                tokio::time::sleep(Duration::from_secs(1)).await; // tidy: allow(sleep) the handler's own work, on paused time
                log.lock().unwrap().end(&work);
                Ok::<(), String>(())
            }
        })
        .await
        .unwrap();
    assert_eq!(stats.handled, 10);
    assert_eq!(log.lock().unwrap().most, 10);
}

#[tokio::test(start_paused = true)]
async fn a_handler_that_fails_twice_then_succeeds_is_handled_once() {
    let events = vec![event(1, 1), event(2, 1)];
    let (mut agent, handle) = agent_with(&events).await;
    let log = Arc::new(Mutex::new(Log::default()));
    let stats = run(&mut agent, 4, Retry::attempts(5), log.clone(), |work| {
        let flaky = work.event.id() == "evt_0001";
        (Duration::from_millis(10), !flaky || work.attempt == 3)
    })
    .await;
    assert_eq!(stats.handled, 2);
    assert_eq!(stats.failed, 2);
    assert_eq!(stats.retried, 2);
    assert_eq!(stats.dead_letters, 0);
    {
        let log = log.lock().unwrap();
        assert_eq!(log.attempts["evt_0001"], [1, 2, 3]);
        // The next event of its conversation waited for it.
        assert_eq!(log.attempts["evt_0002"], [1]);
    }
    assert_eq!(handle.acked(), ["evt_0001", "evt_0002"]);
    assert!(agent.store().dead_letters(10).await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_handler_that_always_fails_ends_as_a_dead_letter_that_can_be_revived() {
    let events = vec![event(1, 1), event(2, 1), event(3, 2)];
    let (mut agent, handle) = agent_with(&events).await;
    let log = Arc::new(Mutex::new(Log::default()));
    let stats = run(&mut agent, 4, Retry::attempts(3), log.clone(), |work| {
        (Duration::from_millis(10), work.event.id() != "evt_0001")
    })
    .await;
    assert_eq!(stats.handled, 2);
    assert_eq!(stats.failed, 3);
    assert_eq!(stats.dead_letters, 1);
    assert_eq!(log.lock().unwrap().attempts["evt_0001"], [1, 2, 3]);
    // Settled in its source, kept in the store with why.
    let mut acked = handle.acked();
    acked.sort();
    assert_eq!(acked, ["evt_0001", "evt_0002", "evt_0003"]);
    let letters = agent.store().dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].event.id(), "evt_0001");
    assert_eq!(letters[0].attempts, 3);
    assert_eq!(letters[0].error, "attempt 3 failed");

    // Revived: back in the store's log, claimed and handed out again.
    assert!(agent.store().revive("evt_0001").await.unwrap());
    assert!(agent.store().dead_letters(10).await.unwrap().is_empty());
    let again = agent.store().claim(10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id(), "evt_0001");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_handler_is_a_failed_attempt() {
    let events = vec![event(1, 1)];
    let (mut agent, handle) = agent_with(&events).await;
    let stats = agent
        .runner()
        .retry(Retry::attempts(3).delays(Duration::from_millis(10), Duration::from_millis(10)))
        .run(|work| async move {
            assert!(work.attempt > 1, "the first attempt panics");
            Ok::<(), String>(())
        })
        .await
        .unwrap();
    assert_eq!((stats.failed, stats.handled), (1, 1));
    assert_eq!(handle.acked(), ["evt_0001"]);
}

#[tokio::test(start_paused = true)]
async fn a_handler_over_its_timeout_is_a_failed_attempt() {
    let events = vec![event(1, 1)];
    let (mut agent, _handle) = agent_with(&events).await;
    let stats = agent
        .runner()
        .timeout(Duration::from_secs(2))
        .retry(Retry::attempts(2))
        .run(|work| async move {
            if work.attempt == 1 {
                tokio::time::sleep(Duration::from_secs(60)).await; // tidy: allow(sleep) a handler that hangs, on paused time
            }
            Ok::<(), String>(())
        })
        .await
        .unwrap();
    assert_eq!((stats.failed, stats.handled), (1, 1));
}

/// Two conversations of three events, handlers of `handler_secs` on the paused
/// clock, a stop once the first two started, a drain of `drain_secs`: the stats,
/// the ids acked in the source, and what the store holds unacked afterwards.
async fn stop_while_handling(handler_secs: u64, drain_secs: u64) -> (RunStats, Vec<String>, usize) {
    let events: Vec<Event> = (0..6).map(|n| event(n, n % 2)).collect();
    let (source, handle) = FakeSource::new();
    handle.push_all(events.iter().cloned()); // and more may come: not ended
    let mut agent = Agent::builder().source(source).start().await.unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel();
    let run = agent
        .runner()
        .concurrency(4)
        .drain_for(Duration::from_secs(drain_secs))
        .stop_on(async move {
            let _ = stop_rx.await;
        })
        .run(move |work| {
            let started = started_tx.clone();
            async move {
                let _ = started.send(work.event.id().to_owned());
                tokio::time::sleep(Duration::from_secs(handler_secs)).await; // tidy: allow(sleep) the handler's own work, on paused time
                Ok::<(), String>(())
            }
        });
    let control = async {
        let mut first = vec![
            started_rx.recv().await.unwrap(),
            started_rx.recv().await.unwrap(),
        ];
        first.sort();
        assert_eq!(
            first,
            ["evt_0000", "evt_0001"],
            "the first of each conversation"
        );
        stop_tx.send(()).unwrap();
    };
    let (stats, ()) = tokio::time::timeout(HANG, async { tokio::join!(run, control) })
        .await
        .expect("the stop ends the run");
    let stats = stats.unwrap();
    assert!(
        started_rx.try_recv().is_err(),
        "nothing started after the stop"
    );
    let mut acked = handle.acked();
    acked.sort();
    let unacked = agent.store().unacked(100).await.unwrap().len();
    (stats, acked, unacked)
}

#[tokio::test(start_paused = true)]
async fn a_stop_lets_handlers_in_flight_finish_and_releases_the_rest() {
    let (stats, acked, unacked) = stop_while_handling(10, 30).await;
    assert_eq!(
        acked,
        ["evt_0000", "evt_0001"],
        "the two in flight finished"
    );
    assert_eq!(stats.handled, 2);
    assert_eq!(stats.released, 4, "the four waiting behind them");
    assert_eq!(unacked, 4, "kept for another instance or the next start");
}

#[tokio::test(start_paused = true)]
async fn handlers_past_the_stop_deadline_are_cancelled_and_their_events_released() {
    let (stats, acked, unacked) = stop_while_handling(100, 1).await;
    assert!(acked.is_empty(), "{acked:?}");
    assert_eq!(stats.handled, 0);
    assert_eq!(stats.released, 6);
    assert_eq!(unacked, 6);
}

/// Three agents sharing a real Redis, each with its own WebSocket to one simulator,
/// a lease of 1 s and handlers of 3 s (real time): the claims follow the handlers,
/// so each event is handled once; an agent that dies mid-handler (its task aborted,
/// its store closed: nothing renews its claims) has its events taken over by the
/// others once the lease runs out, each handled once by them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_on_redis_with_a_lease_shorter_than_the_handler_handle_each_event_once_and_take_over_a_dead_ones()
 {
    use mailwire_sim::Simulator;
    use mailwire_store::RedisStore;
    use mailwire_ws::WsConfig;

    const KEY: &str = "am_runner_redis";
    let prefix = format!("mailwire-agent-runner-{}", std::process::id());
    let sim = Simulator::builder()
        .api_key(KEY)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String)>();
    let (start_tx, mut start_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String)>();
    let mut stores = Vec::new();
    let mut tasks = Vec::new();
    for k in 0..3 {
        let store = RedisStore::builder(super::redis_url().as_str())
            .key_prefix(prefix.as_str())
            .consumer(format!("runner-{k}"))
            .lease(Duration::from_secs(1))
            .connect()
            .await
            .expect("the Redis store connects");
        stores.push(store.clone());
        let mut agent = Agent::builder()
            .store(store)
            .websocket(WsConfig::new(sim.ws_url()).api_key(KEY))
            .start()
            .await
            .expect("the agent starts");
        let (done, started) = (done_tx.clone(), start_tx.clone());
        tasks.push(tokio::spawn(async move {
            agent
                .runner()
                .concurrency(4)
                .run(move |work| {
                    let (done, started) = (done.clone(), started.clone());
                    async move {
                        let id = work.event.id().to_owned();
                        let _ = started.send((k, id.clone()));
                        tokio::time::sleep(Duration::from_secs(3)).await; // tidy: allow(sleep) the handler's own work, three leases long
                        let _ = done.send((k, id));
                        Ok::<(), String>(())
                    }
                })
                .await
        }));
    }
    let emit = |from: usize| sim.emit_all((from..from + 12).map(|n| event(n, n)));
    let collect = |rx: &mut tokio::sync::mpsc::UnboundedReceiver<(usize, String)>,
                   into: &mut HashMap<String, Vec<usize>>| {
        while let Ok((k, id)) = rx.try_recv() {
            into.entry(id).or_default().push(k);
        }
    };
    let (mut done, mut started) = (HashMap::new(), HashMap::new());

    emit(0);
    while done.len() < 12 {
        let (k, id) = tokio::time::timeout(Duration::from_secs(60), done_rx.recv())
            .await
            .expect("handled before the hang bound")
            .expect("the agents run");
        done.entry(id).or_insert_with(Vec::new).push(k);
    }
    collect(&mut start_rx, &mut started);
    collect(&mut done_rx, &mut done);
    for (id, by) in &started {
        assert_eq!(by.len(), 1, "{id} started by {by:?}");
    }
    for (id, by) in &done {
        assert_eq!(by.len(), 1, "{id} handled by {by:?}");
    }

    // The first agent to start a handler dies while it runs it.
    let (mut done, mut started) = (
        HashMap::<String, Vec<usize>>::new(),
        HashMap::<String, Vec<usize>>::new(),
    );
    emit(100);
    let (dead, held) = tokio::time::timeout(Duration::from_secs(60), start_rx.recv())
        .await
        .expect("started before the hang bound")
        .expect("the agents run");
    started.entry(held.clone()).or_default().push(dead);
    tasks[dead].abort();
    stores[dead].close().await.expect("closed");
    let want: Vec<String> = (100..112).map(|n| format!("evt_{n:04}")).collect();
    let live = |by: &Vec<usize>| by.iter().any(|k| *k != dead);
    while !want.iter().all(|id| {
        done.get(id).is_some_and(live)
            || (done.contains_key(id) && !started.get(id).is_some_and(|by| by.contains(&dead)))
    }) {
        let (k, id) = tokio::time::timeout(Duration::from_secs(60), done_rx.recv())
            .await
            .expect("handled before the hang bound")
            .expect("the agents run");
        done.entry(id).or_default().push(k);
        collect(&mut start_rx, &mut started);
    }
    collect(&mut start_rx, &mut started);
    assert!(
        done.get(&held).is_some_and(live),
        "{held}, held by the dead agent {dead}, was taken over: {:?}",
        done.get(&held)
    );
    for id in &want {
        let survivors = started
            .get(id)
            .map_or(0, |by| by.iter().filter(|k| **k != dead).count());
        assert!(
            survivors <= 1,
            "{id} started {survivors} times by the live agents"
        );
    }
    for task in &tasks {
        task.abort();
    }
    for (k, store) in stores.iter().enumerate() {
        if k != dead {
            let _ = store.close().await;
        }
    }
    let _ = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "redis-cli -u {} --scan --pattern '*{prefix}*' | xargs -r redis-cli -u {} DEL",
            super::redis_url(),
            super::redis_url()
        ))
        .output();
}
