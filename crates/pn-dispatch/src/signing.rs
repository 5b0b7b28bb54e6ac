//! Per-attempt request signing: Standard Webhooks 1.0 (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature`). The signature covers the attempt's timestamp, so it is made here, at
//! send time, and not by the driver when it enqueues.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pn_core::{EventId, Signing};

/// The headers `signing` asks for on an attempt of `event_id` made at `timestamp` (Unix
/// seconds) with this `body`, in the order they are sent. A secret that is not valid base64
/// signs with its bytes as written (the reference libraries refuse such secrets; the webhook
/// driver checks them when it is configured, so this only keeps a hand-made item usable).
pub fn headers(
    signing: &Signing,
    event_id: &EventId,
    timestamp: u64,
    body: &[u8],
) -> Vec<(String, String)> {
    match signing {
        Signing::StandardWebhooks { secrets } => {
            let id = event_id.to_string();
            let ts = timestamp.to_string();
            let mut signed = Vec::with_capacity(id.len() + ts.len() + 2 + body.len());
            signed.extend_from_slice(id.as_bytes());
            signed.push(b'.');
            signed.extend_from_slice(ts.as_bytes());
            signed.push(b'.');
            signed.extend_from_slice(body);
            let signatures: Vec<String> = secrets
                .iter()
                .map(|secret| {
                    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret_key(secret));
                    let tag = ring::hmac::sign(&key, &signed);
                    format!("v1,{}", STANDARD.encode(tag.as_ref()))
                })
                .collect();
            vec![
                ("webhook-id".to_owned(), id),
                ("webhook-timestamp".to_owned(), ts),
                ("webhook-signature".to_owned(), signatures.join(" ")),
            ]
        }
    }
}

/// The key bytes of a Standard Webhooks secret: base64 after an optional `whsec_` prefix.
pub fn secret_key(secret: &str) -> Vec<u8> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    STANDARD
        .decode(b64)
        .unwrap_or_else(|_| secret.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of the Standard Webhooks specification repository.
    #[test]
    fn matches_the_specifications_test_vector() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned();
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        let signed = format!("{id}.1614265330.{}", String::from_utf8_lossy(body));
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret_key(&secret));
        let tag = ring::hmac::sign(&key, signed.as_bytes());
        assert_eq!(
            STANDARD.encode(tag.as_ref()),
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn one_signature_per_secret_and_a_stable_id() {
        let signing = Signing::StandardWebhooks {
            secrets: vec![
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
                "whsec_c2Vjb25kc2Vjb25kc2Vjb25kc2Vjb25k".into(),
            ],
        };
        let id = EventId::new();
        let a = headers(&signing, &id, 1_700_000_000, b"{}");
        let b = headers(&signing, &id, 1_700_000_001, b"{}");
        assert_eq!(a[0], ("webhook-id".to_owned(), id.to_string()));
        assert_eq!(a[0], b[0]);
        assert_eq!(a[1].1, "1700000000");
        let sigs: Vec<&str> = a[2].1.split(' ').collect();
        assert_eq!(sigs.len(), 2);
        assert!(sigs.iter().all(|s| s.starts_with("v1,")));
        assert_ne!(a[2], b[2], "the timestamp is signed");
    }
}
