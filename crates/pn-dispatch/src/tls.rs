//! The TLS client configuration: rustls with the ring provider, the system's trusted roots
//! and Dovecot's `ssl_client_ca_file` / `ssl_client_ca_dir` for internal CAs.
//!
//! Certificate verification is always on; there is no setting to switch it off (Dovecot's
//! `ssl_client_require_valid_cert = no` is not supported).
//!
//! **Pinned certificates.** Operators trust a self-signed endpoint with Dovecot by putting
//! its certificate into `ssl_client_ca_file`; `openssl req -x509` marks such a certificate
//! `CA:TRUE`, which WebPKI refuses as a server's own certificate (`CaUsedAsEndEntity`).
//! [`PinnedVerifier`] verifies as WebPKI does and, only on that one failure, accepts a
//! server certificate that is byte for byte one of the certificates read from
//! `ssl_client_ca_file` / `ssl_client_ca_dir` and is valid for the name connected to. WebPKI
//! has already checked its validity period before it got to the CA flag, and the handshake
//! signature is checked with its key as always.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};

use crate::DispatchError;

/// Builds the client config. `system_roots` false leaves out the system's store (tests).
pub fn client_config(
    ca_file: Option<&Path>,
    ca_dir: Option<&Path>,
    system_roots: bool,
) -> Result<rustls::ClientConfig, DispatchError> {
    let mut roots = RootCertStore::empty();
    let mut pinned = Vec::new();
    if system_roots {
        // Unreadable or unparsable system certificates are skipped, as OpenSSL does.
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
    }
    if let Some(file) = ca_file {
        let certs = read_pem_certs("ssl_client_ca_file", file)?;
        if certs.is_empty() {
            return Err(DispatchError::CaEmpty {
                setting: "ssl_client_ca_file",
                path: file.to_owned(),
            });
        }
        pinned.extend(certs.iter().cloned());
        roots.add_parsable_certificates(certs);
    }
    if let Some(dir) = ca_dir {
        let entries = std::fs::read_dir(dir).map_err(|source| DispatchError::CaRead {
            setting: "ssl_client_ca_dir",
            path: dir.to_owned(),
            source,
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() {
                // Like OpenSSL's hashed directories: files that are not PEM are ignored.
                if let Ok(certs) = read_pem_certs("ssl_client_ca_dir", &path) {
                    pinned.extend(certs.iter().cloned());
                    roots.add_parsable_certificates(certs);
                }
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| DispatchError::Tls(e.to_string()))?;
    if pinned.is_empty() {
        return Ok(builder.with_root_certificates(roots).with_no_client_auth());
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| DispatchError::Tls(e.to_string()))?;
    let verifier = PinnedVerifier { webpki, pinned };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// WebPKI verification that also accepts a `CA:TRUE` certificate pinned through the CA
/// settings as the server's own (see the module documentation).
#[derive(Debug)]
pub struct PinnedVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl PinnedVerifier {
    fn is_pinned(&self, cert: &CertificateDer<'_>) -> bool {
        self.pinned.iter().any(|p| p.as_ref() == cert.as_ref())
    }
}

/// Whether WebPKI refused the certificate only for being a CA.
fn ca_used_as_end_entity(e: &rustls::Error) -> bool {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
            matches!(
                inner.downcast_ref::<webpki::Error>(),
                Some(webpki::Error::CaUsedAsEndEntity)
            )
        }
        _ => false,
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(e) if ca_used_as_end_entity(&e) && self.is_pinned(end_entity) => {
                let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
                rustls::client::verify_server_name(&parsed, server_name)?;
                tracing::debug!(target: crate::LOG_TARGET, "{}: accepted the pinned certificate from the CA settings", server_name.to_str());
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

fn read_pem_certs(
    setting: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, DispatchError> {
    let bytes = std::fs::read(path).map_err(|source| DispatchError::CaRead {
        setting,
        path: path.to_owned(),
        source,
    })?;
    Ok(rustls_pemfile::certs(&mut bytes.as_slice())
        .filter_map(Result::ok)
        .collect())
}
