//! The retrying, signing webhook sender.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use mailwire_client::https::HttpsClient;
use mailwire_client::tls::TlsTrust;
use mailwire_proto::Event;
use mailwire_webhook::{Clock, SystemClock, new_message_id};
use rustls_pki_types::CertificateDer;

use crate::schedule::{Retry, STANDARD_SCHEDULE, full_jitter};
use crate::{Attempt, Endpoint, FailedAttempt, Failure, Jitter, Outcome, SenderError};

/// Unix seconds for the signature timestamp; injectable for tests.
type UnixClock = Arc<dyn Clock + Send + Sync>;

/// How much of an answer's body is read (then dropped), so the connection can be
/// reused; a longer body closes the connection instead.
const MAX_ANSWER_BODY: usize = 64 * 1024;

/// Signs and POSTs webhooks, retrying on failure.
///
/// Signs as Svix does, and so as AgentMail's webhooks arrive: each
/// [`send`](Self::send) is one delivery under a webhook id of its own, a fresh
/// `msg_...` ([`new_message_id`]) that is not the event's id, in the `svix-id`,
/// `svix-timestamp` and `svix-signature` headers (see [`Endpoint`] for the
/// `webhook-*` names). A delivery is up to eight attempts on the Standard Webhooks
/// schedule (at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) with full jitter,
/// 15 s per attempt, the same webhook id every time and a fresh signature
/// timestamp on each. A 2xx ends it; 410 Gone disables the [`Endpoint`]; 429 and
/// 503 are retried no sooner than their `Retry-After` (delta-seconds, or an
/// HTTP-date read against the sender's [clock](SenderBuilder::clock)); anything else (another
/// status, a timeout, a refused connection) is retried on the schedule.
///
/// One sender (one connection pool) serves any number of endpoints, each with its
/// own secret. Cheap to clone.
#[derive(Clone)]
pub struct WebhookSender {
    client: HttpsClient<Full<Bytes>>,
    retry: Retry,
    attempt_timeout: Duration,
    clock: UnixClock,
}

impl WebhookSender {
    /// A sender with the defaults: the system's and the webpki roots (as every
    /// mailwire client, see [`TlsTrust`]), the standard schedule at full
    /// scale, full jitter, 15 s per attempt.
    pub fn new() -> Result<WebhookSender, SenderError> {
        Self::builder().build()
    }

    /// Configures a sender.
    pub fn builder() -> SenderBuilder {
        SenderBuilder {
            trust: TlsTrust::default(),
            retry: Retry {
                schedule: STANDARD_SCHEDULE.to_vec(),
                scale: 1.0,
                jitter: full_jitter(),
            },
            attempt_timeout: Duration::from_secs(15),
            clock: Arc::new(SystemClock),
        }
    }

    /// Delivers an event, its raw bytes unchanged, as [`send`](Self::send) does.
    pub async fn send_event(&self, endpoint: &Endpoint, event: &Event) -> Outcome {
        self.send(endpoint, event.id(), event.raw().clone()).await
    }

    /// Delivers `body`, the event `event_id`, under a new webhook id, retrying
    /// until it is accepted, the schedule runs out, or the endpoint is disabled.
    /// Dropping the future abandons it.
    ///
    /// The event id only names the delivery in logs: receivers tell a repeated
    /// event by the id in its body, and a repeated delivery by the webhook id.
    pub async fn send(&self, endpoint: &Endpoint, event_id: &str, body: Bytes) -> Outcome {
        self.send_observed(endpoint, event_id, body, |_| {}).await
    }

    /// Delivers `body` under a webhook id the caller chose, as [`send`](Self::send)
    /// does otherwise: for re-sending an earlier delivery as itself, as Svix's
    /// resend does, so the receiver sees the same id again.
    pub async fn send_as(&self, endpoint: &Endpoint, webhook_id: &str, body: Bytes) -> Outcome {
        self.deliver(endpoint, webhook_id, body, &mut |_| {}).await
    }

    /// Delivers `body`, the event `event_id`, as [`send`](Self::send) does, and
    /// calls `observe` after each failed attempt, before waiting for the next one:
    /// what failed, and when the next attempt comes (`None` when that was the last
    /// and the delivery gives up). For a tool that shows each failure as it
    /// happens instead of only the end of a schedule that lasts more than a day.
    ///
    /// ```no_run
    /// # async fn f(sender: mailwire_webhook_sender::WebhookSender, endpoint: mailwire_webhook_sender::Endpoint) {
    /// let outcome = sender
    ///     .send_observed(&endpoint, "evt_1", r#"{"event_id":"evt_1"}"#.into(), |failed| {
    ///         eprintln!("attempt {} {}; next in {:?}", failed.attempt, failed.failure, failed.retry_in);
    ///     })
    ///     .await;
    /// # }
    /// ```
    pub async fn send_observed(
        &self,
        endpoint: &Endpoint,
        event_id: &str,
        body: Bytes,
        mut observe: impl FnMut(&FailedAttempt<'_>) + Send,
    ) -> Outcome {
        self.send_watched(endpoint, event_id, body, |a| {
            // Failures that a next attempt could mend: not a 410 (the endpoint is
            // disabled) nor a message that cannot be signed.
            let Some(failure) = a.failure else { return };
            if matches!(
                failure,
                Failure::Sign(_) | Failure::Status(StatusCode::GONE)
            ) {
                return;
            }
            observe(&FailedAttempt {
                attempt: a.attempt,
                failure,
                retry_in: a.retry_in,
            });
        })
        .await
    }

    /// Delivers `body`, the event `event_id`, as [`send`](Self::send) does, and
    /// calls `watch` after every attempt, delivered or not, before waiting for the
    /// next one: its status, latency and answer, and when the next comes. For a
    /// console that lists each delivery with its attempts, as Svix's does.
    ///
    /// ```no_run
    /// # async fn f(sender: mailwire_webhook_sender::WebhookSender, endpoint: mailwire_webhook_sender::Endpoint) {
    /// let outcome = sender
    ///     .send_watched(&endpoint, "evt_1", r#"{"event_id":"evt_1"}"#.into(), |a| {
    ///         eprintln!("attempt {}: {:?} in {:?}", a.attempt, a.status, a.latency);
    ///     })
    ///     .await;
    /// # }
    /// ```
    pub async fn send_watched(
        &self,
        endpoint: &Endpoint,
        event_id: &str,
        body: Bytes,
        mut watch: impl FnMut(&Attempt<'_>) + Send,
    ) -> Outcome {
        let webhook_id = match new_message_id() {
            Ok(id) => id,
            Err(e) => {
                return Outcome::GaveUp {
                    attempts: 0,
                    last: Failure::Sign(e),
                };
            }
        };
        tracing::debug!(event_id, webhook_id, "delivering");
        self.deliver(endpoint, &webhook_id, body, &mut watch).await
    }

    async fn deliver(
        &self,
        endpoint: &Endpoint,
        webhook_id: &str,
        body: Bytes,
        watch: &mut (dyn FnMut(&Attempt<'_>) + Send),
    ) -> Outcome {
        let total = self.retry.attempts();
        let mut wait = self.retry.delay(0, None);
        let mut attempts = 0u32;
        let mut last = Failure::Timeout;
        for n in 0..total {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            // Another delivery may have met a 410 while this one waited.
            if endpoint.is_disabled() {
                return Outcome::Disabled { attempts };
            }
            attempts += 1;
            let mut retry_after = None;
            let started = std::time::Instant::now();
            let answer = self.attempt(endpoint, webhook_id, &body).await;
            let latency = started.elapsed();
            let report = |watch: &mut (dyn FnMut(&Attempt<'_>) + Send),
                          status: Option<StatusCode>,
                          failure: Option<&Failure>,
                          response: &[u8],
                          retry_in: Option<Duration>| {
                watch(&Attempt {
                    attempt: attempts,
                    status,
                    failure,
                    latency,
                    response,
                    retry_in,
                });
            };
            let (status, response) = match answer {
                Ok((status, _, response)) if status.is_success() => {
                    report(watch, Some(status), None, &response, None);
                    return Outcome::Delivered { attempts, status };
                }
                Ok((StatusCode::GONE, _, response)) => {
                    tracing::info!(endpoint = %endpoint.uri(), "410 Gone: endpoint disabled");
                    endpoint.disable();
                    let gone = Failure::Status(StatusCode::GONE);
                    report(watch, Some(StatusCode::GONE), Some(&gone), &response, None);
                    return Outcome::Disabled { attempts };
                }
                Ok((status, headers, response)) => {
                    if matches!(
                        status,
                        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                    ) {
                        retry_after = mailwire_client::retry_after(&headers, self.now());
                    }
                    last = Failure::Status(status);
                    (Some(status), response)
                }
                Err(Failure::Sign(e)) => {
                    let failure = Failure::Sign(e);
                    report(watch, None, Some(&failure), &[], None);
                    return Outcome::GaveUp {
                        attempts,
                        last: failure,
                    };
                }
                Err(failure) => {
                    last = failure;
                    (None, Bytes::new())
                }
            };
            tracing::debug!(webhook_id, attempt = attempts, failure = %last, "webhook attempt failed");
            let next = (n + 1 < total).then(|| self.retry.delay(n + 1, retry_after));
            report(watch, status, Some(&last), &response, next);
            wait = next.unwrap_or_default();
        }
        Outcome::GaveUp { attempts, last }
    }

    /// The sender's clock as a time of day, to read a `Retry-After` date against.
    fn now(&self) -> SystemTime {
        let secs = u64::try_from(self.clock.now_unix()).unwrap_or(0);
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// One signed POST, bounded by the attempt timeout.
    async fn attempt(
        &self,
        endpoint: &Endpoint,
        id: &str,
        body: &Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), Failure> {
        let signed = endpoint
            .signer()
            .sign(id, self.clock.now_unix(), body)
            .map_err(Failure::Sign)?;
        let mut req = Request::post(endpoint.uri().clone())
            .body(Full::new(body.clone()))
            .map_err(|e| Failure::Transport(e.to_string()))?;
        let headers = req.headers_mut();
        *headers = endpoint.headers();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("mailwire/", env!("CARGO_PKG_VERSION"))),
        );
        for (name, _) in &signed {
            headers.remove(name);
        }
        for (name, value) in signed {
            headers.append(name, value);
        }
        let exchange = async {
            let res = self
                .client
                .request(req)
                .await
                .map_err(|e| Failure::Transport(error_chain(&e)))?;
            let (parts, body) = res.into_parts();
            // Read the answer so the connection returns to the pool (and it can be
            // shown).
            let answer = match Limited::new(body, MAX_ANSWER_BODY).collect().await {
                Ok(answer) => answer.to_bytes(),
                Err(_) => Bytes::new(),
            };
            Ok((parts.status, parts.headers, answer))
        };
        tokio::time::timeout(self.attempt_timeout, exchange)
            .await
            .map_err(|_| Failure::Timeout)?
    }
}

impl fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSender")
            .field("retry", &self.retry)
            .field("attempt_timeout", &self.attempt_timeout)
            .finish_non_exhaustive()
    }
}

/// Configures a [`WebhookSender`].
pub struct SenderBuilder {
    trust: TlsTrust,
    retry: Retry,
    attempt_timeout: Duration,
    clock: UnixClock,
}

impl SenderBuilder {
    /// Which certificate authorities `https://` endpoints are checked against
    /// (default: the system's roots and the webpki roots).
    pub fn tls_trust(mut self, trust: TlsTrust) -> Self {
        self.trust = trust;
        self
    }

    /// Trusts only the system's root certificates (and those added).
    pub fn native_roots(mut self) -> Self {
        self.trust = self.trust.system_only();
        self
    }

    /// Trusts only the webpki (Mozilla) roots (and those added): the same set on
    /// every machine.
    pub fn webpki_roots(mut self) -> Self {
        self.trust = self.trust.webpki_only();
        self
    }

    /// Trusts only the roots added with [`add_root`](Self::add_root).
    pub fn no_default_roots(mut self) -> Self {
        self.trust = self.trust.without_defaults();
        self
    }

    /// Trusts one more root certificate (DER), e.g. a private CA or a test's.
    pub fn add_root(mut self, cert: CertificateDer<'static>) -> Self {
        self.trust = self.trust.add_root(cert);
        self
    }

    /// Replaces the retry schedule: the delay before each attempt, the first
    /// usually zero. Its length is the number of attempts.
    pub fn schedule(mut self, delays: impl Into<Vec<Duration>>) -> Self {
        self.retry.schedule = delays.into();
        self
    }

    /// Multiplies every delay (and `Retry-After`): `0.001` turns 5 s into 5 ms.
    pub fn time_scale(mut self, factor: f64) -> Self {
        self.retry.scale = factor;
        self
    }

    /// Replaces full jitter, e.g. `Arc::new(|d| d)` for exact delays in a test.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.retry.jitter = jitter;
        self
    }

    /// The time one attempt may take, connecting included (default 15 s).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// The clock, in Unix seconds, for signature timestamps and for reading a
    /// `Retry-After` given as an HTTP-date: the same [`Clock`] a
    /// [`Verifier`](mailwire_webhook::Verifier) reads (a closure returning Unix
    /// seconds is one).
    pub fn clock(mut self, clock: impl Clock + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the sender.
    pub fn build(self) -> Result<WebhookSender, SenderError> {
        let client = mailwire_client::https::client(&self.trust).map_err(SenderError::Tls)?;
        Ok(WebhookSender {
            client,
            retry: self.retry,
            attempt_timeout: self.attempt_timeout,
            clock: self.clock,
        })
    }
}

impl fmt::Debug for SenderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderBuilder")
            .field("trust", &self.trust)
            .field("retry", &self.retry)
            .field("attempt_timeout", &self.attempt_timeout)
            .finish_non_exhaustive()
    }
}

/// An error and its causes on one line: hyper's top-level messages alone ("client
/// error (Connect)") do not say what failed.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
