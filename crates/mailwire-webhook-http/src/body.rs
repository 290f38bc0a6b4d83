//! Reading a request body under a size limit and a deadline.

use std::pin::pin;
use std::time::Duration;

use bytes::{Buf as _, Bytes, BytesMut};
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
        let mut first: Option<Bytes> = None;
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| BodyError::Broken(e.into()))?;
            let Ok(mut data) = frame.into_data() else {
                continue; // trailers carry nothing we verify
            };
            let data = data.copy_to_bytes(data.remaining());
            let len = first.as_ref().map_or(0, Bytes::len) + buf.len() + data.len();
            if len > limit {
                return Err(BodyError::TooLarge);
            }
            // The common case is one frame: keep it without copying.
            match first.take() {
                None if buf.is_empty() => first = Some(data),
                prev => {
                    if buf.is_empty() {
                        buf.reserve(size_hint.clamp(len, limit));
                    }
                    if let Some(prev) = prev {
                        buf.extend_from_slice(&prev);
                    }
                    buf.extend_from_slice(&data);
                }
            }
        }
        Ok(first.unwrap_or_else(|| buf.freeze()))
    };
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
