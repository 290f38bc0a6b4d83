//! A full disk, for real: the store's file lives on a small tmpfs that a ballast file
//! fills up. Writes fail with `Unavailable` (never a panic, never a false `Ok`); once
//! the ballast is deleted the same store value works again (it reopens the file by
//! itself), without losing or repeating an acked event.
//!
//! Mounting a tmpfs needs root (CI and the development machines run the tests as
//! root); the test says so and fails rather than pass without having run.

#![cfg(feature = "redb")]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use mailwire_proto::Event;
use mailwire_store::{Appended, Checkpoints, RedbStore, Store, StoreError};

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs to fill a disk for real, which needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn event(id: &str) -> Event {
    // About 4 KiB each, so the disk fills in a few hundred events.
    let pad = "x".repeat(4000);
    Event::parse(
        format!(r#"{{"id":"{id}","type":"test.event","data":{{"pad":"{pad}"}}}}"#).into_bytes(),
    )
    .unwrap()
}

/// Fills the file system with a ballast file; returns its path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("ballast");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.flush();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_full_disk_is_freed_the_store_heals_without_a_restart() {
    let disk = SmallDisk::mount("8m");
    let path = disk.path().join("events.redb");
    let store = RedbStore::open(&path).unwrap();

    // Before: acked events and an unacked one.
    for n in 0..5 {
        let id = format!("acked_{n}");
        assert_eq!(store.append(&event(&id)).await.unwrap(), Appended::New);
        store.ack(&id).await.unwrap();
    }
    assert!(store.append(&event("pending_0")).await.unwrap().is_new());
    store.save("ws:default", "evt_before").await.unwrap();

    // The disk fills up: writes fail, as `Unavailable`.
    let ballast = fill(disk.path());
    let mut kept = Vec::new();
    let mut failed = None;
    for n in 0..10_000 {
        let id = format!("during_{n}");
        match store.append(&event(&id)).await {
            Ok(appended) => {
                assert!(appended.is_new());
                kept.push(id);
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let failed = failed.expect("a write fails once the disk is full");
    assert!(matches!(failed, StoreError::Unavailable(_)), "{failed:?}");
    // Still failing while the disk is full: no write pretends to succeed.
    assert!(matches!(
        store.append(&event("while_full")).await,
        Err(StoreError::Unavailable(_))
    ));

    // A checkpoint cannot be saved either: an error, with its typed cause, and the
    // last value saved is still the one there.
    let pad = "x".repeat(64 * 1024);
    let err = store.save("ws:default", &pad).await.unwrap_err();
    assert!(
        matches!(
            err.downcast_ref::<StoreError>(),
            Some(StoreError::Unavailable(_))
        ),
        "{err:?}"
    );

    // Space is freed: the same store value works again.
    std::fs::remove_file(ballast).unwrap();
    assert_eq!(
        store.append(&event("after_0")).await.unwrap(),
        Appended::New,
        "the store healed"
    );
    assert!(store.stats().reopened >= 1, "{:?}", store.stats());
    store.ack("pending_0").await.unwrap();
    assert_eq!(
        store.load("ws:default").await.unwrap().as_deref(),
        Some("evt_before"),
        "the failed save changed nothing"
    );
    store.save("ws:default", "evt_after").await.unwrap();

    // Nothing acked came back, nothing kept was lost, and a reopen from scratch
    // (a restart) sees the same.
    let check = |store: RedbStore, kept: Vec<String>| async move {
        for n in 0..5 {
            let id = format!("acked_{n}");
            assert_eq!(
                store.append(&event(&id)).await.unwrap(),
                Appended::Known,
                "{id}"
            );
        }
        assert_eq!(
            store.append(&event("pending_0")).await.unwrap(),
            Appended::Known
        );
        let unacked: Vec<String> = store
            .unacked(100_000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id().to_owned())
            .collect();
        for id in kept.iter().chain([&"after_0".to_owned()]) {
            assert!(unacked.contains(id), "{id} was kept and is gone");
        }
        assert!(
            !unacked
                .iter()
                .any(|id| id.starts_with("acked_") || id == "pending_0")
        );
        store
    };
    let store = check(store, kept.clone()).await;
    store.close().await.unwrap();
    let store = RedbStore::open(&path).unwrap();
    let store = check(store, kept).await;
    assert_eq!(
        store.load("ws:default").await.unwrap().as_deref(),
        Some("evt_after")
    );
    store.close().await.unwrap();
}
