//! The HTTPS client's trust: webpki roots, the system's, or your own.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;

use crate::SenderError;

/// Which certificate authorities the sender trusts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Trust {
    pub(crate) native: bool,
    pub(crate) webpki: bool,
    pub(crate) extra: Vec<CertificateDer<'static>>,
}

impl Trust {
    pub(crate) fn client_config(&self) -> Result<rustls::ClientConfig, SenderError> {
        let mut roots = RootCertStore::empty();
        if self.webpki {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if self.native {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(error = %e, "could not load a system root certificate");
            }
            roots.add_parsable_certificates(found.certs);
        }
        for cert in &self.extra {
            roots
                .add(cert.clone())
                .map_err(|e| SenderError::Tls(format!("custom root: {e}")))?;
        }
        if roots.is_empty() {
            return Err(SenderError::Tls("no trusted root certificate".to_owned()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SenderError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth())
    }
}
