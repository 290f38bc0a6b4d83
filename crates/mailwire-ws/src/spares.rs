//! Emptied batch buffers, handed back from the consumer to the connection task.
//!
//! A batch buffer holds up to a burst of events (tens of kilobytes). Allocating one
//! per burst on the connection's thread and freeing it on the consumer's costs the
//! allocator more than reusing it: the consumer returns each emptied buffer here and
//! the connection task takes it for its next batch.

use std::sync::{Arc, Mutex, PoisonError};

use crate::batch::Batch;

/// The most buffers kept: more than the channel can hold at once is never needed.
const KEEP: usize = 4;

/// A shared pool of empty batch buffers. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub(crate) struct Spares(Arc<Mutex<Vec<Batch>>>);

impl Spares {
    /// An empty buffer with room for `capacity` events: a returned one when there is
    /// one.
    pub(crate) fn take(&self, capacity: usize) -> Batch {
        let spare = self.0.lock().unwrap_or_else(PoisonError::into_inner).pop();
        match spare {
            Some(mut batch) => {
                batch.reserve(capacity);
                batch
            }
            None => Vec::with_capacity(capacity),
        }
    }

    /// Gives back an emptied buffer (whatever it still holds is dropped).
    pub(crate) fn give(&self, mut batch: Batch) {
        batch.clear();
        if batch.capacity() == 0 {
            return;
        }
        let mut pool = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < KEEP {
            pool.push(batch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_taken_again() {
        let spares = Spares::default();
        let batch = spares.take(8);
        let ptr = batch.as_ptr();
        spares.give(batch);
        let again = spares.take(8);
        assert_eq!(again.as_ptr(), ptr, "the same allocation");
        assert!(again.is_empty());
        assert!(again.capacity() >= 8);
    }

    #[test]
    fn the_pool_is_bounded() {
        let spares = Spares::default();
        for _ in 0..KEEP + 3 {
            spares.give(Vec::with_capacity(1));
        }
        assert_eq!(spares.0.lock().unwrap().len(), KEEP);
        // An unallocated buffer is not worth keeping.
        let spares = Spares::default();
        spares.give(Vec::new());
        assert!(spares.0.lock().unwrap().is_empty());
    }
}
