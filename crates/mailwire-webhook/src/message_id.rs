//! Fresh message ids, shaped as Svix's, and fresh secrets.

use base64::Engine as _;
use ring::rand::{SecureRandom as _, SystemRandom};

use crate::SignError;

const PREFIX: &str = "msg_";
/// As many characters as a Svix id (a KSUID) has after its prefix.
const RANDOM_CHARS: usize = 27;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// The largest multiple of 62 a byte can hold: bytes at or above it are
/// dropped, so that every character is equally likely.
const UNBIASED_BELOW: u8 = 62 * 4;

/// A new message id for a `standard` signature: `msg_` and 27 random
/// base62 characters (about 160 bits), as Svix ids look. One id names one
/// delivery, and is kept across its retries: it is the receiver's
/// idempotency key.
///
/// The only function of this crate that reads the system: its random
/// source, through `ring`.
///
/// ```
/// let id = mailwire_webhook::new_message_id()?;
/// assert!(id.starts_with("msg_") && id.len() == 31);
/// assert_ne!(id, mailwire_webhook::new_message_id()?);
/// # Ok::<(), mailwire_webhook::SignError>(())
/// ```
pub fn new_message_id() -> Result<String, SignError> {
    let rng = SystemRandom::new();
    let mut id = String::with_capacity(PREFIX.len() + RANDOM_CHARS);
    id.push_str(PREFIX);
    // 32 bytes yield the 27 characters but about once in 2,400 draws.
    let mut bytes = [0u8; 32];
    while id.len() < PREFIX.len() + RANDOM_CHARS {
        rng.fill(&mut bytes).map_err(|_| SignError::NoRandomness)?;
        for &b in bytes.iter().filter(|&&b| b < UNBIASED_BELOW) {
            if id.len() == PREFIX.len() + RANDOM_CHARS {
                break;
            }
            id.push(char::from(ALPHABET[usize::from(b % 62)]));
        }
    }
    Ok(id)
}

/// A new signing secret, as a webhook service hands one out: `whsec_` and the
/// base64 of 24 random bytes from the system's secure source (through `ring`).
/// Valid for every scheme: `standard` keys with the decoded bytes, `hex` and
/// `stripe` with the string's bytes.
///
/// ```
/// let secret = mailwire_webhook::new_secret()?;
/// assert!(secret.starts_with("whsec_"));
/// mailwire_webhook::Keyring::standard(&secret).expect("a usable secret");
/// assert_ne!(secret, mailwire_webhook::new_secret()?);
/// # Ok::<(), mailwire_webhook::SignError>(())
/// ```
pub fn new_secret() -> Result<String, SignError> {
    let mut bytes = [0u8; 24];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SignError::NoRandomness)?;
    Ok(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_prefixed_base62_of_fixed_length_and_verifiable() {
        let id = new_message_id().unwrap();
        assert_eq!(id.len(), 31, "{id}");
        assert!(id.starts_with("msg_"), "{id}");
        assert!(id[4..].bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        assert!(crate::parse::id(id.as_bytes()).is_ok());
    }

    #[test]
    fn ids_are_distinct_and_use_the_whole_alphabet() {
        let ids: Vec<String> = (0..1000).map(|_| new_message_id().unwrap()).collect();
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
        // 27,000 uniform draws from 62 characters miss one with a probability
        // of about 1e-190; a biased or truncated alphabet misses some.
        let seen: HashSet<u8> = ids.iter().flat_map(|id| id[4..].bytes()).collect();
        assert_eq!(seen.len(), 62);
    }
}
