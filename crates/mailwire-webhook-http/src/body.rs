//! Reading a request body under a size limit, a deadline, and a bound on the
//! bodies held at once by every request together.

use std::future::Future as _;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http_body::Body;
use http_body_util::BodyExt;
use mailwire_source::BoxError;

/// Why a body could not be read whole.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// More than the limit arrived; reading stopped there.
    TooLarge,
    /// The body did not arrive in full before the deadline (a trickling client).
    Timeout,
    /// The connection failed or the framing was broken.
    Broken(BoxError),
    /// Holding it would take the bodies held at once over their bound.
    Busy,
}

/// The bytes of request bodies held at once, all requests together, and their
/// bound: two atomic operations per request, no lock.
#[derive(Debug)]
pub(crate) struct BodyBudget {
    max: usize,
    held: AtomicUsize,
}

impl BodyBudget {
    pub(crate) fn new(max: usize) -> BodyBudget {
        BodyBudget {
            max,
            held: AtomicUsize::new(0),
        }
    }

    /// An empty reservation, grown as the body is read.
    pub(crate) fn reservation(&self) -> Reservation<'_> {
        Reservation {
            budget: self,
            bytes: 0,
        }
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

/// Bytes of a [`BodyBudget`] held by one request, given back on drop.
#[derive(Debug)]
pub(crate) struct Reservation<'a> {
    budget: &'a BodyBudget,
    bytes: usize,
}

impl Reservation<'_> {
    /// Grows the reservation to `total` bytes, or leaves it as it is and says
    /// no when the bound would be passed.
    fn grow_to(&mut self, total: usize) -> bool {
        let more = total.saturating_sub(self.bytes);
        if more == 0 {
            return true;
        }
        let before = self.budget.held.fetch_add(more, Ordering::Relaxed);
        if before.saturating_add(more) > self.budget.max {
            self.budget.held.fetch_sub(more, Ordering::Relaxed);
            return false;
        }
        self.bytes = total;
        true
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.held.fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }
}

/// Reads `body` whole, stopping as soon as it exceeds `limit` bytes or `timeout`
/// passes: the rest is never read, so an oversized or slow body costs at most
/// `limit` bytes of memory and `timeout` of a connection's time. What is held
/// is reserved in `held` first (the declared length at once, as it is
/// allocated at once; else as frames arrive): past its budget's bound, reading
/// stops with [`BodyError::Busy`].
pub(crate) async fn read_limited<B>(
    body: B,
    limit: usize,
    timeout: Duration,
    size_hint: usize,
    held: &mut Reservation<'_>,
) -> Result<Bytes, BodyError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let read = async {
        let mut body = pin!(body);
        // One allocation of exactly the declared length. The body is copied out of
        // the connection's read buffer rather than sliced from it: a slice would
        // keep that whole buffer (8 KiB or more) alive for as long as the event
        // waits in the queue and the log, and make the connection allocate a fresh
        // one for its next request. Copying 2 KiB is cheaper than either.
        let capacity = size_hint.min(limit);
        if !held.grow_to(capacity) {
            return Err(BodyError::Busy);
        }
        let mut buf = BytesMut::with_capacity(capacity);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| BodyError::Broken(e.into()))?;
            let Ok(mut data) = frame.into_data() else {
                continue; // trailers carry nothing we verify
            };
            let total = buf.len() + data.remaining();
            if total > limit {
                return Err(BodyError::TooLarge);
            }
            if !held.grow_to(total) {
                return Err(BodyError::Busy);
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                buf.extend_from_slice(chunk);
                let n = chunk.len();
                data.advance(n);
            }
        }
        Ok(buf.freeze())
    };
    let mut read = pin!(read);
    // A small body usually arrives with its headers and is read whole at the first
    // poll: no timer is armed for it (arming one costs a clock read and a timer
    // wheel entry). Otherwise the deadline runs from here.
    let first = std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
    if let Poll::Ready(done) = first {
        return done;
    }
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| BodyError::Timeout)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};
    use hyper::body::Frame;

    type Frames = std::vec::IntoIter<Result<Frame<Bytes>, std::io::Error>>;

    fn chunks(parts: &[&'static [u8]]) -> StreamBody<futures::stream::Iter<Frames>> {
        let frames: Vec<_> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p))))
            .collect();
        StreamBody::new(futures::stream::iter(frames))
    }

    /// Reads with a budget that has room for anything.
    async fn read<B>(
        body: B,
        limit: usize,
        timeout: Duration,
        hint: usize,
    ) -> Result<Bytes, BodyError>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let budget = BodyBudget::new(usize::MAX);
        read_limited(body, limit, timeout, hint, &mut budget.reservation()).await
    }

    #[tokio::test]
    async fn joins_frames_under_the_limit() {
        let body = read(chunks(&[b"ab", b"cd", b"e"]), 5, Duration::from_secs(10), 0).await;
        assert_eq!(body.unwrap(), Bytes::from_static(b"abcde"));
        let one = read(
            Full::new(Bytes::from_static(b"xyz")),
            3,
            Duration::from_secs(10),
            3,
        )
        .await;
        assert_eq!(one.unwrap(), Bytes::from_static(b"xyz"));
    }

    #[tokio::test]
    async fn does_not_keep_the_connection_buffer_alive() {
        // A body sliced out of a bigger read buffer (as hyper hands it over).
        let read_buffer = Bytes::from(vec![b'x'; 8192]);
        let frame = read_buffer.slice(100..2148);
        let body = read(
            Full::new(frame.clone()),
            4096,
            Duration::from_secs(10),
            2048,
        )
        .await
        .unwrap();
        assert_eq!(body, frame);
        // A copy: holding the event does not pin the 8 KiB buffer.
        assert_ne!(body.as_ptr(), frame.as_ptr());
    }

    #[tokio::test]
    async fn stops_at_the_first_frame_over_the_limit() {
        let body = read(chunks(&[b"ab", b"cd", b"e"]), 4, Duration::from_secs(10), 0).await;
        assert!(matches!(body, Err(BodyError::TooLarge)));
    }

    #[tokio::test]
    async fn times_out_on_a_body_that_never_ends() {
        let pending = StreamBody::new(futures::stream::pending::<
            Result<Frame<Bytes>, std::io::Error>,
        >());
        let body = read(pending, 10, Duration::from_millis(1), 0).await;
        assert!(matches!(body, Err(BodyError::Timeout)));
    }

    #[tokio::test]
    async fn holds_what_it_reads_within_the_bound_and_gives_it_back() {
        let budget = BodyBudget::new(8);
        let mut first = budget.reservation();
        let body = read_limited(
            chunks(&[b"abc", b"def"]),
            100,
            Duration::from_secs(10),
            0,
            &mut first,
        )
        .await;
        assert_eq!(body.unwrap(), Bytes::from_static(b"abcdef"));
        assert_eq!(budget.held(), 6);
        // A declared length over what is left is refused before a byte is read.
        let mut second = budget.reservation();
        let refused = read_limited(
            Full::new(Bytes::from_static(b"xyz")),
            100,
            Duration::from_secs(10),
            3,
            &mut second,
        )
        .await;
        assert!(matches!(refused, Err(BodyError::Busy)));
        // So is a body without a length, at the frame that goes over.
        let refused = read_limited(
            chunks(&[b"x", b"yz"]),
            100,
            Duration::from_secs(10),
            0,
            &mut second,
        )
        .await;
        assert!(matches!(refused, Err(BodyError::Busy)));
        drop(second);
        assert_eq!(budget.held(), 6);
        drop(first);
        assert_eq!(budget.held(), 0);
        let mut third = budget.reservation();
        let body = read_limited(
            Full::new(Bytes::from_static(b"12345678")),
            100,
            Duration::from_secs(10),
            8,
            &mut third,
        )
        .await;
        assert_eq!(body.unwrap().len(), 8);
    }
}
