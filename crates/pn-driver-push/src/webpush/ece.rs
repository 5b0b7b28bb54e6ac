//! RFC 8291 message encryption for Web Push: one `aes128gcm` record (RFC 8188) keyed from an
//! ECDH agreement between a fresh P-256 key and the subscription's `p256dh`, salted with
//! its `auth` secret.

use ring::{aead, agreement, hkdf, rand};

/// The record size written into the header. One record holds the whole message, so the
/// plaintext may be at most this minus the delimiter and the tag.
pub const RECORD_SIZE: u32 = 4096;

/// The largest plaintext [`encrypt`] takes.
pub const MAX_PLAINTEXT: usize = RECORD_SIZE as usize - 1 - 16;

/// Why a message could not be encrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EceError {
    /// `p256dh` is not an uncompressed P-256 point.
    #[error("p256dh is not a P-256 public key")]
    BadPublicKey,
    /// `auth` is not 16 bytes.
    #[error("auth is not 16 bytes")]
    BadAuth,
    /// The message is longer than one record.
    #[error("payload of {0} bytes is over {MAX_PLAINTEXT}")]
    TooLong(usize),
    /// The system's random source or the crypto library failed.
    #[error("encryption failed")]
    Crypto,
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand(prk: &hkdf::Prk, info: &[&[u8]], out: &mut [u8]) -> Result<(), EceError> {
    prk.expand(info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| EceError::Crypto)
}

/// Encrypts `plaintext` for a subscription with public key `ua_public` (65 bytes) and
/// `auth` secret (16 bytes): the body of the push request (`Content-Encoding: aes128gcm`).
pub fn encrypt(
    plaintext: &[u8],
    ua_public: &[u8],
    auth: &[u8],
    rng: &dyn rand::SecureRandom,
) -> Result<Vec<u8>, EceError> {
    if ua_public.len() != 65 || ua_public[0] != 4 {
        return Err(EceError::BadPublicKey);
    }
    if auth.len() != 16 {
        return Err(EceError::BadAuth);
    }
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EceError::TooLong(plaintext.len()));
    }
    let mut salt = [0u8; 16];
    rng.fill(&mut salt).map_err(|_| EceError::Crypto)?;
    let private = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, rng)
        .map_err(|_| EceError::Crypto)?;
    let as_public = private.compute_public_key().map_err(|_| EceError::Crypto)?;
    let as_public = as_public.as_ref().to_vec();
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, ua_public);
    // RFC 8291 §3.3-3.4: IKM from the shared secret and auth, then CEK and nonce.
    let ikm = agreement::agree_ephemeral(private, &peer, |shared| {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, auth).extract(shared);
        let mut ikm = [0u8; 32];
        expand(&prk, &[b"WebPush: info\0", ua_public, &as_public], &mut ikm).map(|()| ikm)
    })
    .map_err(|_| EceError::BadPublicKey)??;
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt).extract(&ikm);
    let mut cek = [0u8; 16];
    expand(&prk, &[b"Content-Encoding: aes128gcm\0"], &mut cek)?;
    let mut nonce = [0u8; 12];
    expand(&prk, &[b"Content-Encoding: nonce\0"], &mut nonce)?;
    let key = aead::UnboundKey::new(&aead::AES_128_GCM, &cek).map_err(|_| EceError::Crypto)?;
    let key = aead::LessSafeKey::new(key);
    let mut record = Vec::with_capacity(plaintext.len() + 17);
    record.extend_from_slice(plaintext);
    // The last record's delimiter, no padding.
    record.push(2);
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(nonce),
        aead::Aad::empty(),
        &mut record,
    )
    .map_err(|_| EceError::Crypto)?;
    let mut body = Vec::with_capacity(86 + record.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&record);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_and_errors() {
        let rng = rand::SystemRandom::new();
        let ua = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng)
            .expect("key")
            .compute_public_key()
            .expect("public");
        let body = encrypt(b"hello", ua.as_ref(), &[7; 16], &rng).expect("encrypt");
        assert_eq!(body.len(), 16 + 4 + 1 + 65 + 5 + 1 + 16);
        assert_eq!(&body[16..21], &[0, 0, 16, 0, 65]);
        assert_eq!(body[21], 4, "keyid is the uncompressed sender key");
        assert_eq!(
            encrypt(b"x", &[4; 10], &[7; 16], &rng),
            Err(EceError::BadPublicKey)
        );
        assert_eq!(
            encrypt(b"x", ua.as_ref(), &[7; 3], &rng),
            Err(EceError::BadAuth)
        );
        let long = vec![0; MAX_PLAINTEXT + 1];
        assert!(matches!(
            encrypt(&long, ua.as_ref(), &[7; 16], &rng),
            Err(EceError::TooLong(_))
        ));
    }
}
