//! The vendors allowed to send plays: `vendors.toml` lists each with the SHA-256 of its
//! token (never the token), optionally the venues it may report for.
//!
//! ```toml
//! [[vendor]]
//! name = "雷石"
//! token_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! venues = ["V000001", "V000002"]   # optional: plays of other venues are rejected
//! max_plays_per_second = 5000          # optional: past it, batches get 429 and Retry-After
//! ```
//!
//! `printf %s "$TOKEN" | sha256sum` gives the hash. A token is compared in constant time
//! with every vendor's hash, so the time of a refusal says nothing about which hash is
//! closer.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{IngestError, Result};

/// One vendor: its name (landed as `vod_vendor`) and what it may send.
#[derive(Debug, Clone)]
pub struct Vendor {
    /// The name landed in `vod_vendor` of every play it sends.
    pub name: String,
    token_sha256: [u8; 32],
    /// The venues it may report for; `None`: any.
    pub venues: Option<HashSet<String>>,
    /// Its rate limit, if any, shared by every request it sends.
    limit: Option<Arc<Mutex<Bucket>>>,
}

/// A token bucket of plays: it refills at `rate` per second up to one second's worth; a
/// batch passes while the bucket is not empty and may take it below zero, so that a
/// batch larger than a second's worth still passes, after a pause as long as its size.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Vendor {
    /// Takes `plays` from the vendor's rate limit; `Err` is the seconds to wait.
    pub fn take(&self, plays: usize) -> Result<(), u64> {
        let Some(limit) = &self.limit else {
            return Ok(());
        };
        let mut b = limit.lock().expect("rate limit lock");
        let now = Instant::now();
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * b.rate).min(b.rate);
        b.at = now;
        if b.tokens <= 0.0 {
            return Err((-b.tokens / b.rate).ceil().max(1.0) as u64);
        }
        b.tokens -= plays as f64;
        Ok(())
    }
}

/// Every vendor of `vendors.toml`.
#[derive(Debug, Clone, Default)]
pub struct Vendors {
    vendors: Vec<Vendor>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    vendor: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    token_sha256: String,
    venues: Option<Vec<String>>,
    max_plays_per_second: Option<u32>,
}

impl Vendors {
    /// Reads and checks `vendors.toml`.
    pub fn load(path: &Path) -> Result<Vendors> {
        let bad = |problem: String| IngestError::Vendors {
            file: path.to_path_buf(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        Vendors::parse(&text).map_err(bad)
    }

    /// Parses the text of `vendors.toml`; the error names the vendor or line at fault.
    pub fn parse(text: &str) -> std::result::Result<Vendors, String> {
        let file: File = toml::from_str(text).map_err(|e| e.message().to_string())?;
        if file.vendor.is_empty() {
            return Err("no [[vendor]] entries: nobody could send plays".into());
        }
        let mut vendors = Vec::new();
        let mut names = HashSet::new();
        let mut hashes = HashSet::new();
        for entry in file.vendor {
            let name = entry.name.trim().to_string();
            if name.is_empty() {
                return Err("a vendor has an empty name".into());
            }
            if !names.insert(name.clone()) {
                return Err(format!("vendor `{name}` is listed twice"));
            }
            let token_sha256 = parse_sha256(&entry.token_sha256).ok_or_else(|| {
                format!("vendor `{name}`: token_sha256 must be 64 hexadecimal digits (the SHA-256 of the token)")
            })?;
            if !hashes.insert(token_sha256) {
                return Err(format!("vendor `{name}`: token_sha256 is another vendor's"));
            }
            let limit = match entry.max_plays_per_second {
                None => None,
                Some(0) => {
                    return Err(format!(
                        "vendor `{name}`: max_plays_per_second must be above 0"
                    ));
                }
                Some(rate) => Some(Arc::new(Mutex::new(Bucket {
                    rate: f64::from(rate),
                    tokens: f64::from(rate),
                    at: Instant::now(),
                }))),
            };
            vendors.push(Vendor {
                name,
                token_sha256,
                venues: entry.venues.map(|v| v.into_iter().collect()),
                limit,
            });
        }
        Ok(Vendors { vendors })
    }

    /// The vendor whose token this is. Every vendor's hash is compared, in constant time.
    pub fn authenticate(&self, token: &str) -> Option<&Vendor> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for vendor in &self.vendors {
            if bool::from(vendor.token_sha256.ct_eq(&hash)) {
                found = Some(vendor);
            }
        }
        found
    }

    /// The vendors' names, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vendors.iter().map(|v| v.name.as_str())
    }
}

/// The SHA-256 of a token as `vendors.toml` writes it (lowercase hex).
pub fn token_sha256(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(entries: &[(&str, &str)]) -> String {
        entries
            .iter()
            .map(|(name, token)| {
                format!(
                    "[[vendor]]\nname = \"{name}\"\ntoken_sha256 = \"{}\"\n",
                    token_sha256(token)
                )
            })
            .collect()
    }

    #[test]
    fn a_token_authenticates_its_vendor_only() {
        let vendors = Vendors::parse(&file(&[("雷石", "secret-a"), ("视易", "secret-b")])).unwrap();
        assert_eq!(vendors.authenticate("secret-a").unwrap().name, "雷石");
        assert_eq!(vendors.authenticate("secret-b").unwrap().name, "视易");
        assert!(vendors.authenticate("secret-c").is_none());
        assert!(vendors.authenticate("").is_none());
    }

    #[test]
    fn a_rate_limit_lets_a_second_s_worth_through_then_asks_to_wait() {
        let text = format!(
            "[[vendor]]\nname = \"a\"\ntoken_sha256 = \"{}\"\nmax_plays_per_second = 10\n",
            token_sha256("t")
        );
        let vendors = Vendors::parse(&text).unwrap();
        let vendor = vendors.authenticate("t").unwrap();
        assert_eq!(vendor.take(5), Ok(()));
        assert_eq!(
            vendor.take(25),
            Ok(()),
            "a non-empty bucket lets a large batch through"
        );
        assert_eq!(vendor.take(1), Err(2), "20 plays of debt at 10 a second");
        let unlimited = Vendors::parse(&file(&[("b", "u")])).unwrap();
        assert_eq!(unlimited.authenticate("u").unwrap().take(1_000_000), Ok(()));
        let zero = text.replace("= 10", "= 0");
        assert!(
            Vendors::parse(&zero)
                .unwrap_err()
                .contains("must be above 0")
        );
    }

    #[test]
    fn bad_files_name_what_is_wrong() {
        let cases = [
            ("", "no [[vendor]] entries"),
            (
                "[[vendor]]\nname = \"a\"\ntoken_sha256 = \"abc\"\n",
                "vendor `a`: token_sha256 must be 64",
            ),
            (
                "[[vendor]]\nname = \"a\"\ntoken = \"plain\"\n",
                "unknown field `token`",
            ),
        ];
        for (text, needle) in cases {
            let err = Vendors::parse(text).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
        let twice = file(&[("a", "x"), ("a", "y")]);
        assert!(Vendors::parse(&twice).unwrap_err().contains("listed twice"));
        let same = file(&[("a", "x"), ("b", "x")]);
        assert!(
            Vendors::parse(&same)
                .unwrap_err()
                .contains("another vendor's")
        );
    }
}
