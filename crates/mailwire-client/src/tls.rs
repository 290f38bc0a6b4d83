//! Which certificate authorities a client trusts: one set-up for every mailwire
//! client that speaks TLS (the WebSocket, the webhook sender, the backfill's REST
//! reads), so they agree on the default and on what each choice means.
//!
//! ```
//! use mailwire_client::tls::TlsTrust;
//!
//! // The default: the operating system's roots and the webpki (Mozilla) roots.
//! let config = TlsTrust::default().client_config()?;
//! # drop(config);
//! // Trusting nothing is refused at set-up, with the reason, not at a handshake.
//! let nothing = TlsTrust::default().without_defaults().client_config();
//! assert!(nothing.unwrap_err().to_string().contains("no trusted root"));
//! # Ok::<(), mailwire_client::tls::TlsError>(())
//! ```

use std::fmt;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;

/// The roots a TLS client trusts, or a complete rustls configuration of your own.
///
/// The default trusts the operating system's roots (where a company's own authority
/// is installed) and the webpki roots (Mozilla's, compiled in: a container without
/// a CA bundle still connects). Roots added with [`add_root`](TlsTrust::add_root)
/// come on top; [`without_defaults`](TlsTrust::without_defaults) leaves only those.
/// The crypto provider is always ring, named rather than taken from the process
/// default (a program that links two providers has none).
#[derive(Clone)]
pub struct TlsTrust {
    system: bool,
    webpki: bool,
    added: Vec<CertificateDer<'static>>,
    config: Option<Arc<rustls::ClientConfig>>,
}

impl Default for TlsTrust {
    fn default() -> Self {
        TlsTrust {
            system: true,
            webpki: true,
            added: Vec::new(),
            config: None,
        }
    }
}

impl TlsTrust {
    /// Only the operating system's roots (and those added).
    pub fn system_only(mut self) -> Self {
        self.system = true;
        self.webpki = false;
        self
    }

    /// Only the webpki roots (and those added): the same on every machine.
    pub fn webpki_only(mut self) -> Self {
        self.system = false;
        self.webpki = true;
        self
    }

    /// Neither the system's nor the webpki roots: only those added.
    pub fn without_defaults(mut self) -> Self {
        self.system = false;
        self.webpki = false;
        self
    }

    /// Trusts this root certificate (DER) too.
    pub fn add_root(mut self, der: impl Into<CertificateDer<'static>>) -> Self {
        self.added.push(der.into());
        self
    }

    /// How many roots were added with [`add_root`](TlsTrust::add_root).
    pub fn added_roots(&self) -> usize {
        self.added.len()
    }

    /// Uses this rustls configuration as it is; the roots above are ignored.
    pub fn rustls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.config = Some(config);
        self
    }

    /// The client configuration: ring, TLS 1.2 and 1.3, the roots chosen. Errors
    /// when an added root is unusable, or when no root at all is trusted (the system
    /// store alone, on a machine that has none).
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        if let Some(config) = &self.config {
            return Ok(config.clone());
        }
        let mut roots = RootCertStore::empty();
        if self.webpki {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        let mut system_errors = 0;
        if self.system {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::debug!(error = %e, "a system root certificate could not be loaded");
            }
            system_errors = found.errors.len();
            roots.add_parsable_certificates(found.certs);
        }
        for cert in &self.added {
            roots.add(cert.clone()).map_err(TlsError::UnusableRoot)?;
        }
        if roots.is_empty() {
            return Err(TlsError::NoRoots { system_errors });
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Provider)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

impl fmt::Debug for TlsTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.config.is_some() {
            return f.write_str("TlsTrust(rustls config)");
        }
        f.debug_struct("TlsTrust")
            .field("system", &self.system)
            .field("webpki", &self.webpki)
            .field("added", &self.added.len())
            .finish()
    }
}

/// Why a TLS client configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// An added root certificate is not one rustls can use.
    #[error("an added root certificate is unusable")]
    UnusableRoot(#[source] rustls::Error),
    /// No root is trusted: none was added and the chosen stores hold none.
    #[error(
        "no trusted root certificate (the system store gave none{}; add one, or trust the webpki roots)",
        if *system_errors > 0 { format!(", {system_errors} failed to load") } else { String::new() }
    )]
    NoRoots {
        /// How many of the system's certificates failed to load.
        system_errors: usize,
    },
    /// The crypto provider refused the protocol versions.
    #[error("the TLS provider cannot be set up")]
    Provider(#[source] rustls::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webpki_roots_alone_make_a_config_on_any_machine() {
        TlsTrust::default().webpki_only().client_config().unwrap();
    }

    #[test]
    fn trusting_nothing_is_an_error_that_says_so() {
        let e = TlsTrust::default()
            .without_defaults()
            .client_config()
            .unwrap_err();
        assert!(matches!(e, TlsError::NoRoots { .. }), "{e:?}");
        assert!(e.to_string().contains("no trusted root"), "{e}");
    }

    #[test]
    fn an_unusable_added_root_keeps_its_cause() {
        let e = TlsTrust::default()
            .add_root(CertificateDer::from(vec![1u8, 2, 3]))
            .client_config()
            .unwrap_err();
        assert!(matches!(e, TlsError::UnusableRoot(_)), "{e:?}");
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn a_config_of_ones_own_is_used_as_it_is() {
        let own = TlsTrust::default().webpki_only().client_config().unwrap();
        let trust = TlsTrust::default().rustls_config(own.clone());
        assert!(Arc::ptr_eq(&trust.client_config().unwrap(), &own));
        assert_eq!(format!("{trust:?}"), "TlsTrust(rustls config)");
    }
}
