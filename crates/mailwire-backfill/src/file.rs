//! The legacy progress file: checkpoints in a small JSON file beside a store file,
//! as the command line kept them before stores kept checkpoints themselves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mailwire_source::{BoxError, Checkpoints, async_trait};

/// [`Checkpoints`] in a JSON file beside a store (`events.redb.progress.json`): the
/// **legacy format**, kept so that a command line can read an old file once and
/// move its values into the store ([`migrate_to`](FileProgress::migrate_to)).
/// Checkpoints belong in the store beside the event log they describe (every store
/// of `mailwire-store` implements [`Checkpoints`], Redis included); new code should
/// not keep a file beside it.
///
/// The file is replaced atomically on every save (written aside, fsync'd, renamed
/// over, the directory fsync'd), so a crash leaves the old or the new file, never a
/// torn one. Clones share it. Its keys are those of the sources that wrote it
/// (`backfill:{inbox_id}`, `websocket:after`...), the same the backfill uses with
/// its default [`checkpoint_prefix`](crate::BackfillConfig::checkpoint_prefix).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), mailwire_source::BoxError> {
/// use mailwire_backfill::FileProgress;
///
/// let dir = tempfile::tempdir()?;
/// let store = dir.path().join("events.redb");
/// let progress = FileProgress::beside(&store)?; // events.redb.progress.json
/// progress.set("websocket:after", "evt_9").await?;
/// assert_eq!(FileProgress::beside(&store)?.get("websocket:after").as_deref(), Some("evt_9"));
///
/// // Once, at start: the old file's values into the store's checkpoints.
/// let checkpoints = mailwire_source::MemoryCheckpoints::new();
/// assert_eq!(progress.migrate_to(&checkpoints).await?, 1);
/// assert_eq!(checkpoints.snapshot()["websocket:after"], "evt_9");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct FileProgress {
    path: PathBuf,
    values: Arc<Mutex<BTreeMap<String, String>>>,
    /// One writer at a time, so saves land in order.
    write: Arc<tokio::sync::Mutex<()>>,
}

impl FileProgress {
    /// The file beside `store` (its name and `.progress.json`), read if it exists.
    /// A file that is not a progress file is an error, not a fresh start.
    pub fn beside(store: &Path) -> std::io::Result<FileProgress> {
        let mut name = store.as_os_str().to_owned();
        name.push(".progress.json");
        let path = PathBuf::from(name);
        let values = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: not a progress file: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok(FileProgress {
            path,
            values: Arc::new(Mutex::new(values)),
            write: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every key and value in the file.
    pub fn entries(&self) -> BTreeMap<String, String> {
        self.lock().clone()
    }

    /// Copies every value of the file into `to` where `to` has none under its key
    /// (a value already in the store is newer than the file's), and says how many it
    /// copied. The file is left as it is: remove it once the store has them.
    pub async fn migrate_to<C: Checkpoints + ?Sized>(&self, to: &C) -> Result<usize, BoxError> {
        let mut copied = 0;
        for (key, value) in self.entries() {
            if to.load(&key).await?.is_none() {
                to.save(&key, &value).await?;
                copied += 1;
            }
        }
        Ok(copied)
    }

    /// The value saved under `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        self.lock().get(key).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.values.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets `key` and writes the file durably before returning.
    pub async fn set(&self, key: &str, value: &str) -> std::io::Result<()> {
        let _one = self.write.lock().await;
        let bytes = {
            let mut values = self.lock();
            if values.get(key).map(String::as_str) == Some(value) {
                return Ok(());
            }
            values.insert(key.to_owned(), value.to_owned());
            serde_json::to_vec_pretty(&*values).map_err(std::io::Error::other)?
        };
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
            .await
            .map_err(std::io::Error::other)?
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut aside = path.as_os_str().to_owned();
    aside.push(".tmp");
    let aside = PathBuf::from(aside);
    let mut file = std::fs::File::create(&aside)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&aside, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself is durable once the directory is.
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[async_trait]
impl Checkpoints for FileProgress {
    async fn load(&self, key: &str) -> Result<Option<String>, BoxError> {
        Ok(self.get(key))
    }

    async fn save(&self, key: &str, value: &str) -> Result<(), BoxError> {
        Ok(self.set(key, value).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn values_survive_a_reopen_and_a_bad_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("events.redb");
        let p = FileProgress::beside(&store).unwrap();
        assert_eq!(p.get("websocket:after"), None);
        p.set("websocket:after", "evt_9").await.unwrap();
        p.set("backfill:ada", "2026-11-29T10:00:00Z").await.unwrap();
        let again = FileProgress::beside(&store).unwrap();
        assert_eq!(again.get("websocket:after").as_deref(), Some("evt_9"));
        assert_eq!(
            again.load("backfill:ada").await.unwrap().as_deref(),
            Some("2026-11-29T10:00:00Z")
        );
        std::fs::write(dir.path().join("events.redb.progress.json"), b"{").unwrap();
        assert!(FileProgress::beside(&store).is_err());
    }

    #[tokio::test]
    async fn a_migration_copies_what_the_store_lacks_and_keeps_what_it_has() {
        let dir = tempfile::tempdir().unwrap();
        let file = FileProgress::beside(&dir.path().join("events.redb")).unwrap();
        file.set("backfill:ada", "2026-11-29T10:00:00Z")
            .await
            .unwrap();
        file.set("websocket:after", "evt_1").await.unwrap();
        let store = mailwire_source::MemoryCheckpoints::new();
        store.save("websocket:after", "evt_9").await.unwrap();
        assert_eq!(file.migrate_to(&store).await.unwrap(), 1);
        let saved = store.snapshot();
        assert_eq!(saved["backfill:ada"], "2026-11-29T10:00:00Z");
        assert_eq!(
            saved["websocket:after"], "evt_9",
            "the store's own value stays"
        );
        assert_eq!(file.migrate_to(&store).await.unwrap(), 0);
    }
}
