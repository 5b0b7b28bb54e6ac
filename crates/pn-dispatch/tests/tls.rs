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

/// What `openssl req -x509` makes: a self-signed certificate marked `CA:TRUE`, for `names`,
/// valid until `not_after` (rcgen's default when `None`). Its PEM and the server config.
fn self_signed_ca(
    names: &[&str],
    not_after: Option<(i32, u8, u8)>,
) -> (String, Arc<rustls::ServerConfig>) {
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    if let Some((y, m, d)) = not_after {
        params.not_before = rcgen::date_time_ymd(y - 1, m, d);
        params.not_after = rcgen::date_time_ymd(y, m, d);
    }
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
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
    (cert.pem(), Arc::new(server))
}

/// Sends one request to a receiver serving `server`, trusting `ca_pem` through
/// `ssl_client_ca_file` (system roots off): the outcome and the requests received.
async fn send_pinned(
    ca_pem: &str,
    server: Arc<rustls::ServerConfig>,
) -> (pn_dispatch::Outcome, usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("pinned.pem");
    std::fs::write(&ca_file, ca_pem).expect("write");
    let r = Receiver::start_with(Behaviour::ok(), Some(server));
    let d = Dispatcher::new(&DispatchConfig {
        ssl_client_ca_file: Some(ca_file),
        system_roots: false,
        ..DispatchConfig::default()
    })
    .expect("dispatcher");
    let outcome = d.send(&item(format!("https://{}/notify", r.addr))).await;
    (outcome, r.requests().len())
}

/// Dovecot trusts a self-signed `CA:TRUE` endpoint certificate listed in
/// `ssl_client_ca_file`; WebPKI alone refuses it with `CaUsedAsEndEntity`.
#[tokio::test]
async fn a_self_signed_ca_certificate_in_the_ca_file_is_accepted_as_pinned() {
    let (pem, server) = self_signed_ca(&["127.0.0.1", "localhost"], None);
    let (outcome, requests) = send_pinned(&pem, server).await;
    assert_eq!(outcome.message, "200 OK");
    assert_eq!(requests, 1);
}

#[tokio::test]
async fn a_pinned_certificate_for_another_name_is_refused() {
    let (pem, server) = self_signed_ca(&["push.example.com"], None);
    let (outcome, requests) = send_pinned(&pem, server).await;
    assert!(!outcome.success);
    assert!(
        outcome
            .message
            .contains("certificate not valid for name \"127.0.0.1\""),
        "{}",
        outcome.message
    );
    assert_eq!(requests, 0);
}

#[tokio::test]
async fn an_expired_pinned_certificate_is_refused() {
    let (pem, server) = self_signed_ca(&["127.0.0.1"], Some((2020, 1, 1)));
    let (outcome, requests) = send_pinned(&pem, server).await;
    assert!(!outcome.success);
    assert!(
        outcome.message.contains("certificate expired"),
        "{}",
        outcome.message
    );
    assert_eq!(requests, 0);
}

/// Pinning is byte for byte: another `CA:TRUE` certificate for the same name, not listed,
/// is refused even though the CA file holds one.
#[tokio::test]
async fn a_ca_certificate_not_in_the_ca_file_is_refused() {
    let (listed, _) = self_signed_ca(&["127.0.0.1"], None);
    let (_, other) = self_signed_ca(&["127.0.0.1"], None);
    let (outcome, requests) = send_pinned(&listed, other).await;
    assert!(!outcome.success);
    assert!(
        outcome.message.starts_with("SSL handshaking with "),
        "{}",
        outcome.message
    );
    assert_eq!(requests, 0);
}
