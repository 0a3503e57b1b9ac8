//! Accounts for the web portal: staff, and the organisations they invite.
//!
//! Staff accounts are made on the command line (`signpost staff add`),
//! which prints a one-time setup link; staff invite organisations the same
//! way. Following the link sets a password. Signing in gives a session
//! token for a cookie; an organisation can also hold API tokens for its own
//! systems. Every change worth knowing about is recorded as an
//! [`AuditEvent`].
//!
//! Invariants:
//! - No secret is stored readable: passwords as Argon2id hashes (PHC
//!   strings), and setup links, sessions and API tokens as SHA-256 digests
//!   of 256-bit random tokens, so a copy of the database lets nobody in.
//! - Secrets travel as [`secrecy::SecretString`], so they cannot reach a log
//!   through `Debug`.
//! - Nothing here is about the people who talk to the bot.
//! - The clock is passed in (`now`, seconds since 1970 UTC), so expiry is
//!   tested without waiting.

mod limiter;
mod store;

use std::fmt;

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

pub use limiter::LoginLimiter;
pub use store::Accounts;

/// How long a setup link works.
pub const LINK_HOURS: i64 = 72;
/// How long a sign-in lasts without being renewed.
pub const SESSION_HOURS: i64 = 12;

/// Why an account operation could not be done, by what the caller does
/// next.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("{0}")]
    Invalid(String),
    #[error("there is already an account for {email}")]
    AlreadyExists { email: String },
    #[error("there is no organisation with id {id} in the directory")]
    UnknownOrganisation { id: String },
    #[error("that link has expired or has been used; ask for a new one")]
    LinkNotValid,
    #[error("cannot reach the accounts in the database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Open(#[from] crate::database::DatabaseError),
    #[error("cannot hash the password: {0}")]
    Hashing(String),
}

/// An email address, trimmed and in lower case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Email(String);

impl Email {
    /// Accepts a plausible address: one `@`, something before it, a dot in
    /// the domain, no spaces, at most 254 characters.
    pub fn parse(text: &str) -> Result<Email, AccountsError> {
        let email = text.trim().to_lowercase();
        let invalid = || {
            AccountsError::Invalid(format!(
                "{:?} is not an email address: it should look like name@example.org",
                text.trim()
            ))
        };
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(invalid());
        };
        let domain_ok = domain.contains('.')
            && !domain.contains('@')
            && domain.split('.').all(|part| !part.is_empty());
        if local.is_empty() || !domain_ok {
            return Err(invalid());
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password someone chose: at least 12 characters (any characters; a
/// passphrase is welcome), at most 1,024.
pub struct Password(SecretString);

impl Password {
    pub fn parse(text: &str) -> Result<Password, AccountsError> {
        let length = text.chars().count();
        if length < 12 {
            return Err(AccountsError::Invalid(
                "the password is too short: use at least 12 characters, such as a few words together"
                    .to_owned(),
            ));
        }
        if length > 1024 {
            return Err(AccountsError::Invalid(
                "the password is too long: use at most 1,024 characters".to_owned(),
            ));
        }
        if text.trim().is_empty() {
            return Err(AccountsError::Invalid(
                "the password is only spaces: use words or other characters too".to_owned(),
            ));
        }
        Ok(Password(SecretString::from(text.to_owned())))
    }

    /// The Argon2id hash to store, with a fresh salt.
    fn hash(&self) -> Result<String, AccountsError> {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(self.0.expose_secret().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| AccountsError::Hashing(err.to_string()))
    }

    /// Whether this is the password behind `stored`.
    fn matches(&self, stored: &str) -> bool {
        PasswordHash::new(stored).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(self.0.expose_secret().as_bytes(), &hash)
                .is_ok()
        })
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// What an account may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Staff moderate listings, invite organisations and see statistics.
    Staff,
    /// An organisation edits its own listings only.
    Organisation { organization_id: String },
}

/// An account, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub email: Email,
    pub role: Role,
    /// False until the setup link has been followed.
    pub has_password: bool,
    pub disabled: bool,
}

/// A random token given out once (in a link, a cookie or to an API
/// client) and kept only as its digest.
pub struct Token(SecretString);

impl Token {
    /// 256 random bits, as 64 hex digits (also the web portal's
    /// double-submit form cookie).
    pub fn generate() -> Token {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Token(SecretString::from(hex(&bytes)))
    }

    /// A token as it came back from a link, a cookie or a header. Anything
    /// may come back; it only has to match a digest to mean something.
    pub fn from_given(text: &str) -> Token {
        Token(SecretString::from(text.to_owned()))
    }

    /// The token itself, to put in a link, a cookie or an answer.
    pub fn reveal(&self) -> &str {
        self.0.expose_secret()
    }

    /// What is stored: the SHA-256 digest, as hex.
    fn digest(&self) -> String {
        digest_of(self.0.expose_secret())
    }

    /// The form token that goes with a sign-in session: derived from the
    /// session's token, so it is never stored, and useless without the
    /// cookie.
    pub fn form_token(&self) -> String {
        digest_of(&format!("form:{}", self.0.expose_secret()))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

/// SHA-256 of `text`, in hex: what is stored of a token, and a feed
/// event's fingerprint.
pub(crate) fn digest_of(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A record of a change, for staff: who, when, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Seconds since 1970 UTC.
    pub at: i64,
    /// The account's email, or `None` for the command line.
    pub by: Option<String>,
    pub action: String,
    pub subject: String,
    pub detail: Option<String>,
}

/// Who an API request speaks for: an organisation, through one of its
/// live API tokens. Only [`Accounts::api_client`] makes one, from a token
/// that matched, so holding one means the token was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    organization_id: String,
    token_name: String,
}

impl ApiClient {
    /// The directory id of the organisation the token belongs to.
    pub fn organization_id(&self) -> &str {
        &self.organization_id
    }

    /// The name the organisation gave the token, for the audit record.
    pub fn token_name(&self) -> &str {
        &self.token_name
    }
}

/// A new account's setup link, to give to the person.
#[derive(Debug)]
pub struct Invitation {
    pub account: Account,
    pub token: Token,
    /// Seconds since 1970 UTC.
    pub expires_at: i64,
}

impl Invitation {
    /// The link to send, under the portal's public address.
    pub fn link(&self, base_url: &str) -> String {
        format!(
            "{}/setup/{}",
            base_url.trim_end_matches('/'),
            self.token.reveal()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowered_and_checked() {
        assert_eq!(
            Email::parse("  Staff@Kirklees.GOV.uk ").unwrap().as_str(),
            "staff@kirklees.gov.uk"
        );
        for bad in [
            "",
            "staff",
            "@kirklees.gov.uk",
            "staff@",
            "staff@kirklees",
            "a b@c.org",
            "a@b..org",
            "a@@b.org",
        ] {
            let error = Email::parse(bad).unwrap_err().to_string();
            assert!(error.contains("is not an email address"), "{bad}: {error}");
        }
    }

    #[test]
    fn short_or_blank_passwords_are_refused_with_what_to_do() {
        assert!(Password::parse("correct horse").is_ok());
        let short = Password::parse("hunter2").unwrap_err().to_string();
        assert!(short.contains("at least 12 characters"), "{short}");
        let blank = Password::parse(&" ".repeat(20)).unwrap_err().to_string();
        assert!(blank.contains("only spaces"), "{blank}");
    }

    #[test]
    fn passwords_are_stored_as_argon2id_and_checked_against_it() {
        let password = Password::parse("a long enough passphrase").unwrap();
        let stored = password.hash().unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("passphrase"));
        assert!(password.matches(&stored));
        assert!(
            !Password::parse("another long passphrase")
                .unwrap()
                .matches(&stored)
        );
        assert!(!password.matches("not a hash"));
    }

    #[test]
    fn tokens_are_random_and_kept_only_as_digests() {
        let one = Token::generate();
        let two = Token::generate();
        assert_eq!(one.reveal().len(), 64);
        assert_ne!(one.reveal(), two.reveal());
        assert_ne!(one.digest(), one.reveal());
        assert_eq!(Token::from_given(one.reveal()).digest(), one.digest());
        assert_ne!(one.form_token(), one.digest());
        assert_eq!(format!("{one:?}"), "Token(..)");
        assert_eq!(
            format!("{:?}", Password::parse("a long enough passphrase").unwrap()),
            "Password(..)"
        );
    }
}
