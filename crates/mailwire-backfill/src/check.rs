//! The start-up check: is the base URL the REST API, and does it take the key?

use std::fmt;

use mailwire_source::SourceError;

use crate::BackfillConfig;
use crate::client::{Rest, RestError};

/// The base URL answered, but not as the REST API does: a URL without its version
/// (`/v0`), a web page, another service. Carried by
/// [`SourceError::Config`](mailwire_source::SourceError::Config), with the answer
/// itself as its source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub struct NotTheApi {
    /// The base URL as configured.
    pub base: String,
    /// The request made.
    pub url: String,
    /// What came back, in short (`HTTP 404`, `HTTP 200 with a body that is not the
    /// API's inbox list`).
    pub answer: String,
    /// The answer itself.
    #[source]
    pub cause: RestError,
}

impl fmt::Display for NotTheApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is not the REST API: GET {} answered {}",
            self.base, self.url, self.answer
        )?;
        if !self.base.ends_with("/v0") {
            write!(f, " (did you mean {}/v0?)", self.base)?;
        }
        f.write_str(
            "; a base URL looks like https://api.agentmail.to/v0 \
             (or http://127.0.0.1:8787/v0 for `mailwire dev`)",
        )
    }
}

impl BackfillConfig {
    /// Asks the API once whether this configuration can work (`GET
    /// {base}/inboxes?limit=1`), so a command line fails at start, before anything
    /// runs. A [`Backfill`](crate::Backfill) makes the same check before its first
    /// pass.
    ///
    /// - `Ok(())`: the base URL is the REST API and it takes the key.
    /// - [`SourceError::Config`] with a [`NotTheApi`]: a 404, another 4xx, or an
    ///   answer that is not the API's JSON. Fatal: the URL is wrong.
    /// - [`SourceError::Auth`] with the [`RestError`]: 401 or 403, the key was
    ///   refused. Fatal.
    /// - [`SourceError::Transport`]: the network failed, or a 5xx or 429. Transient:
    ///   a `Backfill` retries it with backoff and reports each failure.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), mailwire_source::SourceError> {
    /// use mailwire_backfill::BackfillConfig;
    ///
    /// let config = BackfillConfig::new("https://api.agentmail.to/v0", "am_...");
    /// if let Err(e) = config.check().await {
    ///     if e.is_fatal() {
    ///         return Err(e); // a wrong URL or a refused key: say so and stop
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn check(&self) -> Result<(), SourceError> {
        let rest = Rest::new(self)?;
        rest.check().await.map_err(|e| check_error(&rest, e))
    }
}

/// What a failed check means to the caller: fatal for a wrong URL or key,
/// transient for the network and the service's own trouble.
pub(crate) fn check_error(rest: &Rest, error: RestError) -> SourceError {
    match &error {
        RestError::Unauthorized(_) => return SourceError::auth(error),
        e if e.is_transient() => return SourceError::transport(error),
        _ => {}
    }
    let answer = match &error {
        RestError::Malformed(_) => {
            "HTTP 200 with a body that is not the API's inbox list".to_owned()
        }
        e => match e.status() {
            Some(status) => format!("HTTP {status}"),
            None => e.to_string(),
        },
    };
    SourceError::config(NotTheApi {
        url: rest.check_url(),
        base: rest.base().to_owned(),
        answer,
        cause: error,
    })
}
