//! A notification as a JetStream message: its JSON without the body, a newline, the body's
//! bytes (JSON would spell each byte as a number). Compact JSON has no raw newline.

use pn_core::{OutboxItem, Payload};

use crate::NatsError;

/// Encodes `item` as a message payload.
pub fn encode(item: &OutboxItem) -> Result<Vec<u8>, NatsError> {
    let mut meta = item.clone();
    let body = match &mut meta.payload {
        Payload::Http(req) => std::mem::take(&mut req.body),
    };
    let mut out = serde_json::to_vec(&meta).map_err(|e| NatsError::Codec(e.to_string()))?;
    out.push(b'\n');
    out.extend_from_slice(&body);
    Ok(out)
}

/// The inverse of [`encode`].
pub fn decode(payload: &[u8]) -> Result<OutboxItem, NatsError> {
    let nl = payload
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| NatsError::Codec("no header line".to_owned()))?;
    let mut item: OutboxItem =
        serde_json::from_slice(&payload[..nl]).map_err(|e| NatsError::Codec(e.to_string()))?;
    match &mut item.payload {
        Payload::Http(req) => req.body = payload[nl + 1..].to_vec(),
    }
    Ok(item)
}
