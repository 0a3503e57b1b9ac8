//! The accounts in the database, and what can be done with them.
//!
//! Invariant: as for the directory, each operation's SQL is written once,
//! in `backend.rs`, and compiled for both backends. `cargo fmt` does not
//! reach an included file: run `rustfmt --edition 2024
//! src/accounts/backend.rs`.

use super::{
    Account, AccountsError, ApiClient, AuditEvent, Email, Invitation, LINK_HOURS, Password, Role,
    SESSION_HOURS, Token,
};
use crate::database::{Database, dispatch};

/// The accounts' SQL for SQLite.
mod sqlite {
    type Db = sqlx::Sqlite;
    include!("backend.rs");
}

/// The same SQL, compiled for PostgreSQL.
mod postgres {
    type Db = sqlx::Postgres;
    include!("backend.rs");
}

/// An Argon2id hash of a random password nobody has, checked when an
/// address has no account, so that a wrong address takes as long as a wrong
/// password and does not tell who has an account.
static NOBODY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    Password(secrecy::SecretString::from(
        Token::generate().reveal().to_owned(),
    ))
    .hash()
    .unwrap_or_default()
});

/// The accounts, in the shared database.
#[derive(Debug, Clone)]
pub struct Accounts {
    database: Database,
}

impl Accounts {
    pub fn new(database: Database) -> Self {
        Accounts { database }
    }

    /// Opens the database at `url` and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self, AccountsError> {
        Ok(Accounts::new(Database::open(url).await?))
    }

    /// A staff account for `email`, with a setup link. Asking again before
    /// the link is used gives a new link (the old one stops working); once
    /// a password is set, the account already exists.
    pub async fn add_staff(&self, email: &Email, now: i64) -> Result<Invitation, AccountsError> {
        self.invite(email, Role::Staff, None, now).await
    }

    /// An organisation's account for `email`, invited by a member of staff.
    pub async fn invite_organisation(
        &self,
        by: &Account,
        email: &Email,
        organization_id: &str,
        now: i64,
    ) -> Result<Invitation, AccountsError> {
        if by.role != Role::Staff || by.disabled {
            return Err(AccountsError::Invalid(
                "only staff can invite organisations".to_owned(),
            ));
        }
        if !dispatch!(self, organization_exists(organization_id))? {
            return Err(AccountsError::UnknownOrganisation {
                id: organization_id.to_owned(),
            });
        }
        let role = Role::Organisation {
            organization_id: organization_id.to_owned(),
        };
        self.invite(email, role, Some(&by.id), now).await
    }

    async fn invite(
        &self,
        email: &Email,
        role: Role,
        by: Option<&str>,
        now: i64,
    ) -> Result<Invitation, AccountsError> {
        let token = Token::generate();
        let expires_at = now + LINK_HOURS * 3600;
        let (role_name, organization_id) = match &role {
            Role::Staff => ("staff", None),
            Role::Organisation { organization_id } => {
                ("organisation", Some(organization_id.as_str()))
            }
        };
        // A fresh random id (a v5 UUID of a random value), used only if the
        // address has no account yet.
        let new_id = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            Token::generate().reveal().as_bytes(),
        )
        .to_string();
        let id = dispatch!(
            self,
            invite(
                &new_id,
                email.as_str(),
                role_name,
                organization_id,
                &token.digest(),
                now,
                expires_at,
                by,
            )
        )?
        .ok_or_else(|| AccountsError::AlreadyExists {
            email: email.to_string(),
        })?;
        let account = dispatch!(self, by_id(&id))?
            .ok_or(AccountsError::Database(sqlx::Error::RowNotFound))?;
        if account.role != role {
            return Err(AccountsError::AlreadyExists {
                email: email.to_string(),
            });
        }
        Ok(Invitation {
            account,
            token,
            expires_at,
        })
    }

    /// Sets a password through a setup link; the link then stops working.
    pub async fn set_password(
        &self,
        link: &Token,
        password: Password,
        now: i64,
    ) -> Result<Account, AccountsError> {
        let hash = hash_off_the_runtime(password).await?;
        let id = dispatch!(self, redeem(&link.digest(), &hash, now))?
            .ok_or(AccountsError::LinkNotValid)?;
        dispatch!(self, by_id(&id))?.ok_or(AccountsError::LinkNotValid)
    }

    /// Whether a setup link would work now, to show its form or not.
    pub async fn link_is_valid(&self, link: &Token, now: i64) -> Result<bool, AccountsError> {
        Ok(dispatch!(self, link_account(&link.digest(), now))?.is_some())
    }

    /// Signs in: the account and a session token for a cookie, or `None`
    /// when the address or password is wrong or the account is disabled.
    pub async fn sign_in(
        &self,
        email: &Email,
        password: Password,
        now: i64,
    ) -> Result<Option<(Account, Token)>, AccountsError> {
        let found = dispatch!(self, by_email(email.as_str()))?;
        let stored = found
            .as_ref()
            .and_then(|(_, hash)| hash.clone())
            .unwrap_or_else(|| NOBODY.clone());
        let matches = tokio::task::spawn_blocking(move || password.matches(&stored))
            .await
            .unwrap_or(false);
        let Some((account, _)) = found.filter(|(a, _)| matches && a.has_password && !a.disabled)
        else {
            return Ok(None);
        };
        let token = Token::generate();
        dispatch!(
            self,
            insert_session(&token.digest(), &account.id, now + SESSION_HOURS * 3600)
        )?;
        Ok(Some((account, token)))
    }

    /// The account signed in with this session token, if it is current.
    pub async fn session(&self, token: &Token, now: i64) -> Result<Option<Account>, AccountsError> {
        let Some(id) = dispatch!(self, session_account(&token.digest(), now))? else {
            return Ok(None);
        };
        Ok(dispatch!(self, by_id(&id))?.filter(|account| !account.disabled))
    }

    pub async fn sign_out(&self, token: &Token) -> Result<(), AccountsError> {
        dispatch!(self, delete_session(&token.digest()))
    }

    /// A new API token for the organisation `by` speaks for. Names are
    /// how tokens are told apart and revoked, so a name already in use by
    /// a live token is refused.
    pub async fn create_api_token(
        &self,
        by: &Account,
        name: &str,
        now: i64,
    ) -> Result<Token, AccountsError> {
        let organization_id = organisation_of(by)?;
        let name = token_name(name)?;
        let in_use = dispatch!(self, api_tokens(organization_id))?
            .iter()
            .any(|(live, _, revoked)| *live == name && revoked.is_none());
        if in_use {
            return Err(AccountsError::Invalid(format!(
                "there is already a token called \"{name}\": choose another name, or revoke that one first"
            )));
        }
        let token = Token::generate();
        dispatch!(
            self,
            insert_api_token(&token.digest(), organization_id, &name, now, &by.id)
        )?;
        Ok(token)
    }

    /// Revokes the organisation's token called `name`; false if it has none.
    pub async fn revoke_api_token(
        &self,
        by: &Account,
        name: &str,
        now: i64,
    ) -> Result<bool, AccountsError> {
        let organization_id = organisation_of(by)?;
        Ok(dispatch!(self, revoke_api_token(organization_id, name, now, &by.id))? > 0)
    }

    /// The organisation an API token speaks for, if it is live.
    pub async fn api_token_organisation(
        &self,
        token: &Token,
    ) -> Result<Option<String>, AccountsError> {
        Ok(self
            .api_client(token)
            .await?
            .map(|client| client.organization_id))
    }

    /// Who a request with this API token speaks for, if the token is live.
    pub async fn api_client(&self, token: &Token) -> Result<Option<ApiClient>, AccountsError> {
        Ok(
            dispatch!(self, api_token_organization(&token.digest()))?.map(
                |(organization_id, token_name)| ApiClient {
                    organization_id,
                    token_name,
                },
            ),
        )
    }

    /// The organisation's tokens: name, created, revoked.
    pub async fn api_tokens(
        &self,
        by: &Account,
    ) -> Result<Vec<(String, i64, Option<i64>)>, AccountsError> {
        dispatch!(self, api_tokens(organisation_of(by)?))
    }

    /// Records a change, by an account or (`None`) the command line.
    pub async fn record(
        &self,
        by: Option<&Account>,
        action: &str,
        subject: &str,
        detail: Option<&str>,
        now: i64,
    ) -> Result<(), AccountsError> {
        dispatch!(
            self,
            record(now, by.map(|a| a.id.as_str()), action, subject, detail)
        )
    }

    /// The newest changes, newest first; about `subject` only, if given.
    pub async fn audit(
        &self,
        subject: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, AccountsError> {
        dispatch!(self, audit(subject, i64::from(limit)))
    }
}

fn organisation_of(account: &Account) -> Result<&str, AccountsError> {
    match &account.role {
        Role::Organisation { organization_id } if !account.disabled => Ok(organization_id),
        _ => Err(AccountsError::Invalid(
            "only an organisation's own account can manage its API tokens".to_owned(),
        )),
    }
}

/// A token's name: what it is for, 1 to 60 characters.
fn token_name(name: &str) -> Result<String, AccountsError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
        return Err(AccountsError::Invalid(
            "give the token a name of 1 to 60 characters, such as \"our booking system\""
                .to_owned(),
        ));
    }
    Ok(name.to_owned())
}

/// Argon2id is slow on purpose; it runs off the async threads.
async fn hash_off_the_runtime(password: Password) -> Result<String, AccountsError> {
    tokio::task::spawn_blocking(move || password.hash())
        .await
        .map_err(|err| AccountsError::Hashing(err.to_string()))?
}
