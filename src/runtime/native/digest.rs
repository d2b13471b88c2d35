//! Content digests (`sha256:<64 hex>`): parsing, computing, and incremental verification.
//!
//! Not for: other algorithms; OCI allows `sha512`, which no common registry serves, so it is
//! rejected with a clear error rather than half supported.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use super::ImageError;

/// A sha256 content digest, always lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(data))
    }

    pub(crate) fn from_hasher(hasher: Sha256) -> Digest {
        Digest {
            hex: format!("{:x}", hasher.finalize()),
        }
    }

    /// The 64 hex characters, as used in blob paths.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Returns an error unless `data` hashes to this digest; `what` names the content.
    pub fn verify(&self, what: &str, data: &[u8]) -> Result<(), ImageError> {
        let actual = Digest::of(data);
        if &actual == self {
            Ok(())
        } else {
            Err(ImageError::DigestMismatch {
                what: what.to_string(),
                expected: self.to_string(),
                actual: actual.to_string(),
            })
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl FromStr for Digest {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Digest, ImageError> {
        let invalid = |reason: &str| ImageError::InvalidReference {
            reference: s.to_string(),
            reason: reason.to_string(),
        };
        let (algorithm, hex) = s
            .split_once(':')
            .ok_or_else(|| invalid("a digest is written algorithm:hex"))?;
        if algorithm != "sha256" {
            return Err(invalid("only sha256 digests are supported"));
        }
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(invalid("a sha256 digest has 64 lowercase hex characters"));
        }
        Ok(Digest {
            hex: hex.to_string(),
        })
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_input_is_the_well_known_one() {
        assert_eq!(
            Digest::of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn digest_parsing_rejects_bad_algorithms_and_lengths() {
        assert!("sha512:abcd".parse::<Digest>().is_err());
        assert!("sha256:abcd".parse::<Digest>().is_err());
        assert!(format!("sha256:{}", "A".repeat(64))
            .parse::<Digest>()
            .is_err());
        assert!(format!("sha256:{}", "a".repeat(64))
            .parse::<Digest>()
            .is_ok());
    }

    #[test]
    fn verify_reports_both_digests() {
        let d = Digest::of(b"hello");
        assert!(d.verify("blob", b"hello").is_ok());
        let err = d.verify("blob", b"hullo").unwrap_err().to_string();
        assert!(err.contains(&d.to_string()), "{err}");
    }
}
