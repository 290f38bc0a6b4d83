//! Reading a request body under a size limit and a deadline.

use std::future::Future as _;
use std::pin::pin;
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
}

/// Reads `body` whole, stopping as soon as it exceeds `limit` bytes or `timeout`
/// passes: the rest is never read, so an oversized or slow body costs at most
/// `limit` bytes of memory and `timeout` of a connection's time.
pub(crate) async fn read_limited<B>(
    body: B,
    limit: usize,
    timeout: Duration,
    size_hint: usize,
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
        let mut buf = BytesMut::with_capacity(size_hint.min(limit));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| BodyError::Broken(e.into()))?;
            let Ok(mut data) = frame.into_data() else {
                continue; // trailers carry nothing we verify
            };
            if buf.len() + data.remaining() > limit {
                return Err(BodyError::TooLarge);
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

    #[tokio::test]
    async fn joins_frames_under_the_limit() {
        let body = read_limited(chunks(&[b"ab", b"cd", b"e"]), 5, Duration::from_secs(10), 0).await;
        assert_eq!(body.unwrap(), Bytes::from_static(b"abcde"));
        let one = read_limited(
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
        let body = read_limited(
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
        let body = read_limited(chunks(&[b"ab", b"cd", b"e"]), 4, Duration::from_secs(10), 0).await;
        assert!(matches!(body, Err(BodyError::TooLarge)));
    }

    #[tokio::test]
    async fn times_out_on_a_body_that_never_ends() {
        let pending = StreamBody::new(futures::stream::pending::<
            Result<Frame<Bytes>, std::io::Error>,
        >());
        let body = read_limited(pending, 10, Duration::from_millis(1), 0).await;
        assert!(matches!(body, Err(BodyError::Timeout)));
    }
}
