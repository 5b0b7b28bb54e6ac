//! The TLS client configuration: rustls with the ring provider, the system's trusted roots
//! and Dovecot's `ssl_client_ca_file` / `ssl_client_ca_dir` for internal CAs.
//!
//! Certificate verification is always on; there is no setting to switch it off (Dovecot's
//! `ssl_client_require_valid_cert = no` is not supported).

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;

use crate::DispatchError;

/// Builds the client config. `system_roots` false leaves out the system's store (tests).
pub fn client_config(
    ca_file: Option<&Path>,
    ca_dir: Option<&Path>,
    system_roots: bool,
) -> Result<rustls::ClientConfig, DispatchError> {
    let mut roots = RootCertStore::empty();
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
                    roots.add_parsable_certificates(certs);
                }
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DispatchError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
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
