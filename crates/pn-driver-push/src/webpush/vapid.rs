//! RFC 8292 VAPID: the application server's P-256 key (from the configuration, made by
//! `pn webpush keygen`) signs an ES256 JWT for each push service origin.
//!
//! Keys are written the way the Web Push tool chain writes them (npm `web-push`, PyPI
//! `py-vapid`'s raw form): the private scalar (32 bytes) and the uncompressed public point
//! (65 bytes), each URL-safe base64 without padding.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::{rand, signature};

/// Why a VAPID key or token could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VapidError {
    /// The configured keys are not base64url, not P-256 or do not belong together (the text
    /// never shows the private key).
    #[error("VAPID keys: {0}")]
    BadKey(&'static str),
    /// The endpoint has no `scheme://host` to make the audience from.
    #[error("endpoint has no origin")]
    NoOrigin,
    /// The random source or the crypto library failed.
    #[error("signing failed")]
    Crypto,
}

/// The application server's key pair.
pub struct VapidKey {
    pair: signature::EcdsaKeyPair,
    public_b64: String,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey")
            .field("public", &self.public_b64)
            .finish_non_exhaustive()
    }
}

impl VapidKey {
    /// The key from its base64url private scalar and public point.
    pub fn from_base64url(private: &str, public: &str) -> Result<VapidKey, VapidError> {
        let private = B64
            .decode(private.trim().trim_end_matches('='))
            .map_err(|_| VapidError::BadKey("private key is not URL-safe base64"))?;
        let public_raw = B64
            .decode(public.trim().trim_end_matches('='))
            .map_err(|_| VapidError::BadKey("public key is not URL-safe base64"))?;
        let pair = signature::EcdsaKeyPair::from_private_key_and_public_key(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &private,
            &public_raw,
            &rand::SystemRandom::new(),
        )
        .map_err(|_| VapidError::BadKey("not a matching P-256 key pair"))?;
        Ok(VapidKey {
            pair,
            public_b64: B64.encode(&public_raw),
        })
    }

    /// The public key as sent in `k=` (and given to browsers as `applicationServerKey`).
    pub fn public_base64url(&self) -> &str {
        &self.public_b64
    }

    /// The `Authorization` header value for a push to `endpoint`: `vapid t=<JWT>,k=<key>` (no
    /// space after the comma: RFC 8292 allows one, but py-vapid's parser does not),
    /// the JWT's `aud` the endpoint's origin, `exp` the given Unix time, `sub` the contact.
    pub fn authorization(
        &self,
        endpoint: &str,
        subject: Option<&str>,
        exp: u64,
    ) -> Result<String, VapidError> {
        let aud = origin(endpoint).ok_or(VapidError::NoOrigin)?;
        let header = B64.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let mut claims = serde_json::json!({ "aud": aud, "exp": exp });
        if let Some(sub) = subject {
            claims["sub"] = sub.into();
        }
        let claims = B64.encode(claims.to_string());
        let input = format!("{header}.{claims}");
        let sig = self
            .pair
            .sign(&rand::SystemRandom::new(), input.as_bytes())
            .map_err(|_| VapidError::Crypto)?;
        Ok(format!(
            "vapid t={input}.{},k={}",
            B64.encode(sig.as_ref()),
            self.public_b64
        ))
    }
}

/// `scheme://host[:port]` of a URL.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// A new key pair: `(private, public)`, base64url.
pub fn keygen() -> Result<(String, String), VapidError> {
    let rng = rand::SystemRandom::new();
    let doc =
        signature::EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| VapidError::Crypto)?;
    let (private, public) = split_pkcs8(doc.as_ref()).ok_or(VapidError::Crypto)?;
    let (private, public) = (B64.encode(private), B64.encode(public));
    // Proves the split: the pair must load back.
    VapidKey::from_base64url(&private, &public)?;
    Ok((private, public))
}

/// The scalar and point of the PKCS#8 document ring writes for P-256 (RFC 5915 inside
/// RFC 5208): a fixed prefix, `04 20` + 32 bytes of scalar, `a1 44 03 42 00` + the 65-byte
/// point. ring has no raw export, so the layout is checked rather than assumed.
fn split_pkcs8(doc: &[u8]) -> Option<(&[u8], &[u8])> {
    let start = doc.windows(2).position(|w| w == [0x04, 0x20])? + 2;
    let private = doc.get(start..start + 32)?;
    let rest = doc.get(start + 32..)?;
    let tail = [0xa1, 0x44, 0x03, 0x42, 0x00];
    let public = rest.strip_prefix(&tail[..])?;
    (public.len() == 65 && public[0] == 4).then_some((private, public))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_round_trips_and_signs() {
        let (private, public) = keygen().expect("keygen");
        assert_eq!(B64.decode(&private).expect("b64").len(), 32);
        assert_eq!(B64.decode(&public).expect("b64").len(), 65);
        let key = VapidKey::from_base64url(&private, &public).expect("load");
        let auth = key
            .authorization(
                "https://push.example.net:8443/wpush/v2/abc?x=1",
                Some("mailto:a@b"),
                1,
            )
            .expect("sign");
        let (t, k) = auth
            .strip_prefix("vapid t=")
            .and_then(|r| r.split_once(",k="))
            .expect("form");
        assert_eq!(k, public);
        let claims = t.split('.').nth(1).expect("claims");
        let claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(claims).expect("b64")).expect("json");
        assert_eq!(claims["aud"], "https://push.example.net:8443");
        let (other, _) = keygen().expect("keygen");
        assert!(
            VapidKey::from_base64url(&other, &public).is_err(),
            "mismatched pair"
        );
        assert!(VapidKey::from_base64url("!!", &public).is_err());
        assert_eq!(origin("nothing"), None);
    }
}
