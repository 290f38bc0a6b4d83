//! The dead letter behaviour every store must have.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailwire_proto::Event;
use mailwire_store::{Appended, DeadLetter, ManualClock};

use super::{TestStore, event, ids};

/// A dead letter of `event`, its handler run `attempts` times, buried `at_ms`
/// milliseconds into 2026.
pub(crate) fn letter(event: Event, attempts: u32, at_ms: u64) -> DeadLetter {
    let mut letter = DeadLetter::new(event, attempts, format!("attempt {attempts} failed"));
    letter.at = at(at_ms);
    letter
}

/// `ms` milliseconds into 2026 (UTC).
pub(crate) fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_767_225_600_000 + ms)
}

fn letter_ids(letters: &[DeadLetter]) -> Vec<&str> {
    letters.iter().map(DeadLetter::id).collect()
}

/// A buried event is listed with everything its letter said (the event's bytes as
/// received, the attempts, the error, when, to the millisecond), and it is acked: out
/// of the log, not held, a copy of it a duplicate, not claimable.
pub(crate) async fn a_buried_event_is_listed_and_acked<S: TestStore>(
    store: S,
    _clock: ManualClock,
) {
    let poison = event("evt_poison", 1);
    assert!(store.append(&poison).await.unwrap().is_new());
    assert!(store.append(&event("evt_ok", 2)).await.unwrap().is_new());
    assert!(store.dead_letters(10).await.unwrap().is_empty());
    let mut buried = DeadLetter::new(poison.clone(), 5, "handler: 500 Internal Server Error ✉");
    // Sub-millisecond parts are not kept.
    buried.at = at(1234) + Duration::from_micros(567);
    assert_eq!(buried.id(), "evt_poison");
    store.bury(&buried).await.unwrap();

    let letters = store.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    let got = &letters[0];
    assert_eq!(got.id(), "evt_poison");
    assert_eq!(got.event, poison);
    assert_eq!(got.event.raw(), poison.raw(), "the bytes as received");
    assert_eq!(got.attempts, 5);
    assert_eq!(got.error, "handler: 500 Internal Server Error ✉");
    assert_eq!(got.at, at(1234), "when, to the millisecond");

    // Acked: a copy is a duplicate, nothing hands it out again.
    assert!(!store.holds("evt_poison"));
    assert_eq!(
        store.append(&event("evt_poison", 9)).await.unwrap(),
        Appended::Known
    );
    assert_eq!(ids(&store.unacked(10).await.unwrap()), ["evt_ok"]);
    store.release("evt_ok");
    for _ in 0..3 {
        for e in store.claim(10).await.unwrap() {
            assert_ne!(e.id(), "evt_poison", "a buried event is not claimed");
        }
    }
    assert!(
        mailwire_store::Store::contains(&store, "evt_poison")
            .await
            .unwrap()
    );
    // Acking it as well changes nothing: still a dead letter, still acked.
    store.ack("evt_poison").await.unwrap();
    assert_eq!(
        letter_ids(&store.dead_letters(10).await.unwrap()),
        ["evt_poison"]
    );
    assert_eq!(store.append(&poison).await.unwrap(), Appended::Known);

    // An event never appended can be buried too: its id is acked from then on.
    store
        .bury(&letter(event("evt_stray", 3), 1, 2000))
        .await
        .unwrap();
    assert_eq!(
        store.append(&event("evt_stray", 3)).await.unwrap(),
        Appended::Known
    );
    assert_eq!(
        letter_ids(&store.dead_letters(10).await.unwrap()),
        ["evt_poison", "evt_stray"]
    );
    assert_eq!(ids(&store.unacked(10).await.unwrap()), ["evt_ok"]);
}

/// A revived event is back in the log, unacked and held by nobody: the next claim
/// hands it out (a lease after nothing), and it is no longer a dead letter. A copy
/// appended after the revive claims that one entry, it makes no second one.
pub(crate) async fn a_revived_event_is_claimed_again<S: TestStore>(store: S, _clock: ManualClock) {
    let first = event("evt_1", 1);
    let second = event("evt_2", 2);
    for (n, e) in [&first, &second].into_iter().enumerate() {
        assert!(store.append(e).await.unwrap().is_new());
        store.bury(&letter(e.clone(), 3, n as u64)).await.unwrap();
    }
    assert!(store.claim(10).await.unwrap().is_empty());
    assert!(store.unacked(10).await.unwrap().is_empty());

    assert!(store.revive("evt_1").await.unwrap());
    assert!(!store.revive("evt_1").await.unwrap(), "revived already");
    assert_eq!(
        letter_ids(&store.dead_letters(10).await.unwrap()),
        ["evt_2"]
    );
    assert_eq!(
        store.unacked(10).await.unwrap(),
        std::slice::from_ref(&first)
    );
    assert!(!store.holds("evt_1"), "held by nobody");
    let claimed = store.claim(10).await.unwrap();
    assert_eq!(
        claimed,
        std::slice::from_ref(&first),
        "the bytes as first received"
    );
    assert!(store.holds("evt_1"));
    assert_eq!(store.append(&first).await.unwrap(), Appended::Known);

    // Revived, then a copy appended: it claims the revived entry.
    assert!(store.revive("evt_2").await.unwrap());
    assert_eq!(
        store.append(&event("evt_2", 7)).await.unwrap(),
        Appended::Claimed
    );
    assert!(store.holds("evt_2"));
    let unacked = store.unacked(10).await.unwrap();
    assert_eq!(ids(&unacked), ["evt_1", "evt_2"], "one entry each");
    assert_eq!(unacked[1], second, "the revived bytes, not the copy's");
    assert!(store.dead_letters(10).await.unwrap().is_empty());

    // Its acked mark was forgotten: acking it now settles it again.
    store.ack("evt_1").await.unwrap();
    store.ack("evt_2").await.unwrap();
    assert!(store.unacked(10).await.unwrap().is_empty());
    assert_eq!(store.append(&first).await.unwrap(), Appended::Known);
    assert_eq!(store.append(&second).await.unwrap(), Appended::Known);
    assert!(store.claim(10).await.unwrap().is_empty());

    // Buried again after its revive: a dead letter again.
    assert!(store.append(&event("evt_3", 3)).await.unwrap().is_new());
    store.bury(&letter(event("evt_3", 3), 1, 10)).await.unwrap();
    assert!(store.revive("evt_3").await.unwrap());
    assert_eq!(ids(&store.claim(10).await.unwrap()), ["evt_3"]);
    store.bury(&letter(event("evt_3", 3), 2, 20)).await.unwrap();
    assert!(!store.holds("evt_3"));
    assert!(store.unacked(10).await.unwrap().is_empty());
    let letters = store.dead_letters(10).await.unwrap();
    assert_eq!(letter_ids(&letters), ["evt_3"]);
    assert_eq!(letters[0].attempts, 2);
}

/// A discarded letter is gone for good and its id stays acked; unknown ids are
/// `false`, and change nothing.
pub(crate) async fn a_discarded_letter_stays_acked<S: TestStore>(store: S, _clock: ManualClock) {
    assert!(!store.revive("evt_unknown").await.unwrap());
    assert!(!store.discard("evt_unknown").await.unwrap());
    assert!(
        !mailwire_store::Store::contains(&store, "evt_unknown")
            .await
            .unwrap(),
        "asking about an unknown letter does not make its id known"
    );
    let e = event("evt_1", 1);
    assert!(store.append(&e).await.unwrap().is_new());
    assert!(!store.revive("evt_1").await.unwrap(), "logged, not buried");
    assert!(!store.discard("evt_1").await.unwrap(), "logged, not buried");
    assert_eq!(ids(&store.unacked(10).await.unwrap()), ["evt_1"]);

    store.bury(&letter(e.clone(), 2, 0)).await.unwrap();
    assert!(store.discard("evt_1").await.unwrap());
    assert!(!store.discard("evt_1").await.unwrap(), "discarded already");
    assert!(!store.revive("evt_1").await.unwrap(), "discarded: gone");
    assert!(store.dead_letters(10).await.unwrap().is_empty());
    assert_eq!(store.append(&e).await.unwrap(), Appended::Known);
    assert!(
        mailwire_store::Store::contains(&store, "evt_1")
            .await
            .unwrap()
    );
    assert!(store.unacked(10).await.unwrap().is_empty());
    assert!(store.claim(10).await.unwrap().is_empty());
}

/// Dead letters come oldest first by when they were buried, whatever the order of
/// the calls and of the ids; `limit` takes the oldest. Burying an id again replaces
/// its letter (and its place).
pub(crate) async fn dead_letters_are_oldest_first<S: TestStore>(store: S, _clock: ManualClock) {
    // Buried at 0, 1000, ..., 9000 ms, in a shuffled order, ids not sorting by time.
    let order = [3u64, 7, 0, 9, 5, 1, 8, 2, 6, 4];
    for &n in &order {
        let e = event(&format!("evt_{}", (n * 37) % 101), n);
        assert!(store.append(&e).await.unwrap().is_new());
        store.bury(&letter(e, 1, n * 1000)).await.unwrap();
    }
    let all = store.dead_letters(100).await.unwrap();
    let expected: Vec<String> = (0..10u64)
        .map(|n| format!("evt_{}", (n * 37) % 101))
        .collect();
    assert_eq!(letter_ids(&all), expected);
    let times: Vec<SystemTime> = all.iter().map(|l| l.at).collect();
    assert!(times.is_sorted(), "{times:?}");
    assert_eq!(
        letter_ids(&store.dead_letters(3).await.unwrap()),
        expected[..3]
    );
    assert!(store.dead_letters(0).await.unwrap().is_empty());
    assert_eq!(store.dead_letters(usize::MAX).await.unwrap().len(), 10);

    // The oldest buried again, later, after more attempts: replaced, now the newest.
    let oldest = all[0].event.clone();
    store.bury(&letter(oldest, 9, 60_000)).await.unwrap();
    let all = store.dead_letters(100).await.unwrap();
    assert_eq!(all.len(), 10, "replaced, not added");
    let mut expected_now = expected[1..].to_vec();
    expected_now.push(expected[0].clone());
    assert_eq!(letter_ids(&all), expected_now);
    assert_eq!(all[9].attempts, 9);
    assert_eq!(all[9].error, "attempt 9 failed");
    assert_eq!(all[9].at, at(60_000));
    // Buried again at the same time it was: replaced in place.
    let second = all[0].event.clone();
    store.bury(&letter(second, 4, 1000)).await.unwrap();
    let all = store.dead_letters(100).await.unwrap();
    assert_eq!(letter_ids(&all), expected_now);
    assert_eq!(all[0].attempts, 4);

    // Revived and discarded ones leave their place; the rest keep their order.
    assert!(store.revive(&expected[5]).await.unwrap());
    assert!(store.discard(&expected[2]).await.unwrap());
    let left = store.dead_letters(100).await.unwrap();
    let expected_left: Vec<&str> = expected_now
        .iter()
        .map(String::as_str)
        .filter(|id| *id != expected[5] && *id != expected[2])
        .collect();
    assert_eq!(letter_ids(&left), expected_left);
}

/// For a store opened with a 60 s retention of acked ids: a buried id is not
/// forgotten while it is a dead letter, however long; once discarded, it is, a
/// retention later.
pub(crate) async fn a_buried_id_is_kept_until_discarded<S: TestStore>(
    store: S,
    clock: ManualClock,
) {
    // One buried from the log, one acked first and buried after (its ack's
    // retention must not forget it while it is buried).
    for id in ["evt_a", "evt_b"] {
        assert!(store.append(&event(id, 0)).await.unwrap().is_new());
    }
    store.bury(&letter(event("evt_a", 0), 1, 0)).await.unwrap();
    store.ack("evt_b").await.unwrap();
    store.bury(&letter(event("evt_b", 0), 1, 1)).await.unwrap();
    store.ack("evt_a").await.unwrap(); // acked too: starts nothing
    clock.advance(Duration::from_secs(3600));
    assert!(store.append(&event("evt_w1", 0)).await.unwrap().is_new()); // a write
    for id in ["evt_a", "evt_b"] {
        assert!(
            mailwire_store::Store::contains(&store, id).await.unwrap(),
            "{id}: buried, so kept"
        );
        assert_eq!(store.append(&event(id, 1)).await.unwrap(), Appended::Known);
    }

    assert!(store.discard("evt_a").await.unwrap());
    clock.advance(Duration::from_secs(60) - Duration::from_millis(1));
    assert!(store.append(&event("evt_w2", 0)).await.unwrap().is_new());
    assert!(
        mailwire_store::Store::contains(&store, "evt_a")
            .await
            .unwrap(),
        "within the retention after the discard"
    );
    clock.advance(Duration::from_millis(1));
    assert!(store.append(&event("evt_w3", 0)).await.unwrap().is_new());
    assert!(
        !mailwire_store::Store::contains(&store, "evt_a")
            .await
            .unwrap(),
        "forgotten a retention after the discard"
    );
    assert!(
        mailwire_store::Store::contains(&store, "evt_b")
            .await
            .unwrap(),
        "still buried"
    );
    assert_eq!(
        letter_ids(&store.dead_letters(10).await.unwrap()),
        ["evt_b"]
    );
}
