//! HTTPS with an internal CA: trusted through `ssl_client_ca_file` / `ssl_client_ca_dir`,
//! refused without them. Verification is never off.

mod support;

use std::sync::Arc;

use pn_core::{HttpRequest, OutboxItem, Payload};
use pn_dispatch::{DispatchConfig, Dispatcher};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use support::receiver::{Behaviour, Receiver};

struct TestPki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn pki() -> TestPki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("params")
        .signed_by(&key, &ca)
        .expect("cert");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("server config");
    TestPki {
        ca_pem: ca.pem(),
        server: Arc::new(server),
    }
}

fn item(url: String) -> OutboxItem {
    OutboxItem::new(
        "ox",
        "alice@example.com",
        Payload::Http(HttpRequest {
            method: "PUT".into(),
            url,
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: b"{}".to_vec(),
            max_attempts: 2,
            timeout_msecs: 2000,
            signing: None,
        }),
    )
}

#[tokio::test]
async fn internal_ca_is_trusted_through_ssl_client_ca_file() {
    let pki = pki();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).expect("write");
    let r = Receiver::start_with(Behaviour::ok(), Some(pki.server.clone()));
    let d = Dispatcher::new(&DispatchConfig {
        ssl_client_ca_file: Some(ca_file),
        ..DispatchConfig::default()
    })
    .expect("dispatcher");
    let outcome = d
        .send(&item(format!("https://login:pass@{}/notify", r.addr)))
        .await;
    assert_eq!(outcome.message, "200 OK");
    let reqs = r.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].header("Authorization"),
        Some("Basic bG9naW46cGFzcw==")
    );
}

#[tokio::test]
async fn internal_ca_is_trusted_through_ssl_client_ca_dir() {
    let pki = pki();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("internal.pem"), &pki.ca_pem).expect("write");
    std::fs::write(dir.path().join("README"), "not a certificate").expect("write");
    let r = Receiver::start_with(Behaviour::ok(), Some(pki.server.clone()));
    let d = Dispatcher::new(&DispatchConfig {
        ssl_client_ca_dir: Some(dir.path().to_owned()),
        system_roots: false,
        ..DispatchConfig::default()
    })
    .expect("dispatcher");
    assert!(
        d.send(&item(format!("https://{}/notify", r.addr)))
            .await
            .success
    );
}

#[tokio::test]
async fn unknown_ca_is_refused_without_retry() {
    let pki = pki();
    let r = Receiver::start_with(Behaviour::ok(), Some(pki.server.clone()));
    let d = Dispatcher::new(&DispatchConfig::default()).expect("dispatcher");
    let outcome = d.send(&item(format!("https://{}/notify", r.addr))).await;
    assert!(!outcome.success);
    assert_eq!(outcome.attempts, 1);
    assert!(
        outcome
            .message
            .starts_with(&format!("SSL handshaking with {} failed: ", r.addr)),
        "{}",
        outcome.message
    );
    assert!(
        outcome.message.contains("UnknownIssuer"),
        "{}",
        outcome.message
    );
    assert!(r.requests().is_empty());
}

#[test]
fn unreadable_ca_file_is_a_setup_error() {
    let err = Dispatcher::new(&DispatchConfig {
        ssl_client_ca_file: Some("/nonexistent/ca.pem".into()),
        ..DispatchConfig::default()
    })
    .expect_err("must fail");
    assert!(
        err.to_string()
            .starts_with("ssl_client_ca_file: cannot read /nonexistent/ca.pem")
    );
}
