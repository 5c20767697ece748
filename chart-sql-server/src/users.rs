//! The users allowed to connect: `users.toml` lists each with a salted hash of its
//! password (never the password).
//!
//! ```toml
//! [[user]]
//! name = "analyst"
//! password_hash = "pbkdf2-sha256:4096:<salt, base64>:<hash, base64>"
//! ```
//!
//! The hash is SCRAM-SHA-256's salted password (RFC 5802: PBKDF2-HMAC-SHA-256 of the
//! SASLprep'd password), so PostgreSQL clients authenticate with SCRAM-SHA-256 and the
//! password never crosses the wire. `chart-job hash-password` prints an entry. Every
//! user of one file has the same iteration count (SCRAM announces it before it knows
//! the user).

use std::collections::HashMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use datafusion_postgres::pgwire::api::auth::sasl::scram::gen_salted_password;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::error::{Result, SqlServerError};

/// The scheme every `password_hash` starts with.
const SCHEME: &str = "pbkdf2-sha256";

/// The fewest iterations a hash may have (RFC 7677's minimum for SCRAM-SHA-256).
pub const MIN_ITERATIONS: u32 = 4096;

/// A user's salted password.
#[derive(Clone)]
pub struct PasswordHash {
    /// The salt.
    pub salt: Vec<u8>,
    /// PBKDF2-HMAC-SHA-256 of the password with `salt`, 32 bytes.
    pub salted_password: Vec<u8>,
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// Every user of `users.toml`, with the iteration count their hashes share.
#[derive(Debug, Clone)]
pub struct Users {
    users: HashMap<String, PasswordHash>,
    iterations: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    user: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    password_hash: String,
}

impl Users {
    /// Reads and checks `users.toml`.
    pub fn load(path: &Path) -> Result<Users> {
        let text = std::fs::read_to_string(path).map_err(|e| SqlServerError::Users {
            file: path.to_path_buf(),
            problem: e.to_string(),
        })?;
        Users::parse(&text).map_err(|problem| SqlServerError::Users {
            file: path.to_path_buf(),
            problem,
        })
    }

    /// Parses the text of a `users.toml`; the error names the user or line at fault.
    pub fn parse(text: &str) -> std::result::Result<Users, String> {
        let file: File = toml::from_str(text).map_err(|e| one_line(&e.to_string()))?;
        if file.user.is_empty() {
            return Err("no [[user]]: nobody could connect".into());
        }
        let mut users = HashMap::new();
        let mut iterations = None;
        for entry in file.user {
            if entry.name.is_empty() {
                return Err("a [[user]] has an empty name".into());
            }
            let (count, hash) = parse_hash(&entry.password_hash)
                .map_err(|problem| format!("user {}: password_hash: {problem}", entry.name))?;
            match iterations {
                None => iterations = Some(count),
                Some(first) if first != count => {
                    return Err(format!(
                        "user {}: password_hash has {count} iterations, others {first}: \
                         every user needs the same count",
                        entry.name
                    ));
                }
                Some(_) => {}
            }
            if users.insert(entry.name.clone(), hash).is_some() {
                return Err(format!("user {} is listed twice", entry.name));
            }
        }
        Ok(Users {
            users,
            iterations: iterations.unwrap_or(MIN_ITERATIONS),
        })
    }

    /// The user's hash, if the user is listed.
    pub fn hash(&self, name: &str) -> Option<&PasswordHash> {
        self.users.get(name)
    }

    /// The PBKDF2 iteration count of every hash.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Whether `password` is `name`'s. An unknown user costs the same hashing as a
    /// known one, and the comparison takes constant time.
    pub fn verify(&self, name: &str, password: &str) -> bool {
        let (salt, expected, known) = match self.users.get(name) {
            Some(hash) => (hash.salt.as_slice(), hash.salted_password.as_slice(), true),
            None => (&[0u8; 16][..], &[0u8; 32][..], false),
        };
        let computed = gen_salted_password(password, salt, self.iterations as usize);
        bool::from(computed.ct_eq(expected)) && known
    }
}

/// A `password_hash` value for `password` with a random salt.
pub fn hash_password(password: &str, iterations: u32) -> String {
    let salt: [u8; 16] = rand::random();
    let hash = gen_salted_password(password, &salt, iterations as usize);
    format!(
        "{SCHEME}:{iterations}:{}:{}",
        BASE64.encode(salt),
        BASE64.encode(hash)
    )
}

fn parse_hash(text: &str) -> std::result::Result<(u32, PasswordHash), String> {
    let mut parts = text.split(':');
    let (Some(scheme), Some(count), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(format!("expected {SCHEME}:ITERATIONS:SALT:HASH"));
    };
    if scheme != SCHEME {
        return Err(format!("unknown scheme `{scheme}`, expected {SCHEME}"));
    }
    let count: u32 = count
        .parse()
        .map_err(|_| format!("iterations `{count}` is not a number"))?;
    if count < MIN_ITERATIONS {
        return Err(format!(
            "{count} iterations, fewer than the minimum {MIN_ITERATIONS}"
        ));
    }
    let salt = BASE64
        .decode(salt)
        .map_err(|_| "the salt is not base64".to_string())?;
    if salt.is_empty() {
        return Err("the salt is empty".into());
    }
    let salted_password = BASE64
        .decode(hash)
        .map_err(|_| "the hash is not base64".to_string())?;
    if salted_password.len() != 32 {
        return Err(format!(
            "the hash has {} bytes, PBKDF2-HMAC-SHA-256 gives 32",
            salted_password.len()
        ));
    }
    Ok((
        count,
        PasswordHash {
            salt,
            salted_password,
        },
    ))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(entries: &[(&str, &str)]) -> String {
        entries
            .iter()
            .map(|(name, hash)| {
                format!("[[user]]\nname = \"{name}\"\npassword_hash = \"{hash}\"\n")
            })
            .collect()
    }

    #[test]
    fn a_hashed_password_verifies_and_others_do_not() {
        let users = Users::parse(&file(&[("ana", &hash_password("s3cret", 4096))])).unwrap();
        assert!(users.verify("ana", "s3cret"));
        assert!(!users.verify("ana", "s3cret "));
        assert!(!users.verify("bob", "s3cret"));
        assert_eq!(users.iterations(), 4096);
    }

    #[test]
    fn the_hash_is_rfc_5802s_salted_password() {
        // RFC 7677's SCRAM-SHA-256 example: password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==.
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let ours = gen_salted_password("pencil", &salt, 4096);
        let reference = reference_pbkdf2(b"pencil", &salt, 4096);
        assert_eq!(ours, reference);
    }

    /// PBKDF2-HMAC-SHA-256 for one 32-byte block, written from RFC 8018.
    fn reference_pbkdf2(password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        use sha2::{Digest, Sha256};
        let hmac = |key: &[u8], message: &[u8]| -> [u8; 32] {
            let mut block = [0u8; 64];
            if key.len() > 64 {
                block[..32].copy_from_slice(&Sha256::digest(key));
            } else {
                block[..key.len()].copy_from_slice(key);
            }
            let inner: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
            let outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
            let inner_hash = Sha256::new()
                .chain_update(&inner)
                .chain_update(message)
                .finalize();
            Sha256::new()
                .chain_update(&outer)
                .chain_update(inner_hash)
                .finalize()
                .into()
        };
        let mut u = hmac(password, &[salt, &1u32.to_be_bytes()].concat());
        let mut out = u;
        for _ in 1..iterations {
            u = hmac(password, &u);
            out.iter_mut().zip(u).for_each(|(o, x)| *o ^= x);
        }
        out.to_vec()
    }

    #[test]
    fn bad_files_are_refused_naming_the_user() {
        let good = hash_password("x", 4096);
        let cases = [
            (String::new(), "no [[user]]"),
            (
                file(&[("ana", "plain")]),
                "user ana: password_hash: expected",
            ),
            (
                file(&[("ana", "md5:4096:AAAA:AAAA")]),
                "user ana: password_hash: unknown scheme `md5`",
            ),
            (
                file(&[("ana", "pbkdf2-sha256:10:AAAA:AAAA")]),
                "user ana: password_hash: 10 iterations",
            ),
            (
                file(&[("ana", "pbkdf2-sha256:4096:AAAA:AAAA")]),
                "user ana: password_hash: the hash has 3 bytes",
            ),
            (
                file(&[("ana", &good), ("ana", &good)]),
                "user ana is listed twice",
            ),
            (
                file(&[("ana", &good), ("bob", &hash_password("y", 5000))]),
                "user bob: password_hash has 5000 iterations, others 4096",
            ),
            (
                "[[user]]\nname = \"ana\"\npassword = \"x\"\n".to_string(),
                "unknown field `password`",
            ),
        ];
        for (text, expected) in cases {
            let error = Users::parse(&text).unwrap_err();
            assert!(error.contains(expected), "{error} lacks {expected}");
            assert!(!error.contains('\n'), "{error}");
        }
    }

    #[test]
    fn a_hash_is_never_printed() {
        let users = Users::parse(&file(&[("ana", &hash_password("x", 4096))])).unwrap();
        assert_eq!(
            format!("{:?}", users.hash("ana").unwrap()),
            "PasswordHash(..)"
        );
    }
}
