//! Accounts for the web portal, on both backends: setup links, passwords,
//! sign-in sessions, API tokens and the record of changes, and that the
//! database never holds a secret in a readable form.

mod common;

use common::TestDatabase;
use signpost::accounts::{Account, Accounts, AccountsError, Email, Password, Role, Token};
use signpost::database::Database;

/// 1 December 2026, 09:00 UTC, in seconds.
const NOW: i64 = 1_796_115_600;
const HOUR: i64 = 3600;

fn email(text: &str) -> Email {
    Email::parse(text).unwrap()
}

fn password(text: &str) -> Password {
    Password::parse(text).unwrap()
}

/// The accounts and a member of staff who has set a password, with the
/// sample directory loaded so there are organisations to invite.
async fn with_staff(db: &TestDatabase) -> (Accounts, Account, String) {
    let database = Database::open(&db.url).await.unwrap();
    let directory = signpost::directory::Directory::new(database.clone());
    let today = "2026-12-01".parse().unwrap();
    directory.load_sample(today).await.unwrap();
    let organisation = directory.published(today).await.unwrap().organizations[0]
        .id
        .clone();
    let accounts = Accounts::new(database);
    let invitation = accounts
        .add_staff(&email("staff@kirklees.gov.uk"), NOW)
        .await
        .unwrap();
    let staff = accounts
        .set_password(
            &invitation.token,
            password("a calm and long passphrase"),
            NOW,
        )
        .await
        .unwrap();
    (accounts, staff, organisation)
}

backend_tests! {
    async fn a_setup_link_sets_a_password_once_then_the_person_can_sign_in(db: TestDatabase) {
        let accounts = Accounts::open(&db.url).await.unwrap();
        let invitation = accounts.add_staff(&email(" Staff@Kirklees.gov.uk"), NOW).await.unwrap();
        assert_eq!(invitation.account.email.as_str(), "staff@kirklees.gov.uk");
        assert_eq!(invitation.account.role, Role::Staff);
        assert!(!invitation.account.has_password);
        assert!(invitation.link("https://signpost.example/").starts_with("https://signpost.example/setup/"));
        assert!(accounts.link_is_valid(&invitation.token, NOW).await.unwrap());

        let account = accounts
            .set_password(&invitation.token, password("a calm and long passphrase"), NOW + HOUR)
            .await
            .unwrap();
        assert!(account.has_password);
        assert!(!accounts.link_is_valid(&invitation.token, NOW + HOUR).await.unwrap());
        let again = accounts
            .set_password(&invitation.token, password("someone else's passphrase"), NOW + HOUR)
            .await;
        assert!(matches!(again, Err(AccountsError::LinkNotValid)), "{again:?}");

        let (signed_in, session) = accounts
            .sign_in(&email("staff@kirklees.gov.uk"), password("a calm and long passphrase"), NOW + HOUR)
            .await
            .unwrap()
            .expect("the right password signs in");
        assert_eq!(signed_in.id, account.id);
        assert_eq!(accounts.session(&session, NOW + 2 * HOUR).await.unwrap(), Some(account.clone()));
        // A session ends after 12 hours, or when the person signs out.
        assert_eq!(accounts.session(&session, NOW + 14 * HOUR).await.unwrap(), None);
        accounts.sign_out(&session).await.unwrap();
        assert_eq!(accounts.session(&session, NOW + 2 * HOUR).await.unwrap(), None);

        // Adding the same person again is refused once they have a password.
        let twice = accounts.add_staff(&email("staff@kirklees.gov.uk"), NOW).await;
        assert!(matches!(twice, Err(AccountsError::AlreadyExists { .. })), "{twice:?}");
    }

    async fn wrong_passwords_unknown_addresses_and_old_links_let_nobody_in(db: TestDatabase) {
        let (accounts, _, _) = with_staff(&db).await;
        let wrong = accounts
            .sign_in(&email("staff@kirklees.gov.uk"), password("not the passphrase at all"), NOW)
            .await
            .unwrap();
        assert!(wrong.is_none());
        let unknown = accounts
            .sign_in(&email("nobody@kirklees.gov.uk"), password("a calm and long passphrase"), NOW)
            .await
            .unwrap();
        assert!(unknown.is_none());
        assert_eq!(accounts.session(&Token::from_given("made-up"), NOW).await.unwrap(), None);

        // A link works for 72 hours; asking again replaces it.
        let first = accounts.add_staff(&email("new@kirklees.gov.uk"), NOW).await.unwrap();
        assert!(accounts.link_is_valid(&first.token, NOW + 71 * HOUR).await.unwrap());
        assert!(!accounts.link_is_valid(&first.token, NOW + 72 * HOUR).await.unwrap());
        let second = accounts.add_staff(&email("new@kirklees.gov.uk"), NOW + HOUR).await.unwrap();
        assert_eq!(second.account.id, first.account.id);
        assert!(!accounts.link_is_valid(&first.token, NOW + HOUR).await.unwrap());
        assert!(accounts.link_is_valid(&second.token, NOW + HOUR).await.unwrap());
        // Until the password is set, the account cannot sign in at all.
        let before = accounts
            .sign_in(&email("new@kirklees.gov.uk"), password("a calm and long passphrase"), NOW)
            .await
            .unwrap();
        assert!(before.is_none());
    }

    async fn staff_invite_organisations_that_are_in_the_directory(db: TestDatabase) {
        let (accounts, staff, organisation) = with_staff(&db).await;
        let invitation = accounts
            .invite_organisation(&staff, &email("hello@knitandnatter.org.uk"), &organisation, NOW)
            .await
            .unwrap();
        assert_eq!(invitation.account.role, Role::Organisation { organization_id: organisation.clone() });
        let member = accounts
            .set_password(&invitation.token, password("knit one purl one forever"), NOW)
            .await
            .unwrap();

        let unknown = accounts
            .invite_organisation(&staff, &email("a@b.org"), "no-such-organisation", NOW)
            .await;
        assert!(matches!(unknown, Err(AccountsError::UnknownOrganisation { .. })), "{unknown:?}");
        let by_organisation = accounts
            .invite_organisation(&member, &email("friend@b.org"), &organisation, NOW)
            .await;
        assert!(matches!(by_organisation, Err(AccountsError::Invalid(_))), "{by_organisation:?}");
        // An address that is staff cannot be invited as an organisation.
        let staff_address = accounts
            .invite_organisation(&staff, &email("staff@kirklees.gov.uk"), &organisation, NOW)
            .await;
        assert!(matches!(staff_address, Err(AccountsError::AlreadyExists { .. })), "{staff_address:?}");
        // Nor can staff who have not set a password yet, and their link
        // still works.
        let pending = accounts.add_staff(&email("pending@kirklees.gov.uk"), NOW).await.unwrap();
        let refused = accounts
            .invite_organisation(&staff, &email("pending@kirklees.gov.uk"), &organisation, NOW)
            .await;
        assert!(matches!(refused, Err(AccountsError::AlreadyExists { .. })), "{refused:?}");
        assert!(accounts.link_is_valid(&pending.token, NOW).await.unwrap());
    }

    async fn an_organisation_s_api_tokens_work_until_revoked(db: TestDatabase) {
        let (accounts, staff, organisation) = with_staff(&db).await;
        let invitation = accounts
            .invite_organisation(&staff, &email("hello@knitandnatter.org.uk"), &organisation, NOW)
            .await
            .unwrap();
        let member = accounts
            .set_password(&invitation.token, password("knit one purl one forever"), NOW)
            .await
            .unwrap();
        let token = accounts.create_api_token(&member, "our booking system", NOW).await.unwrap();
        assert_eq!(
            accounts.api_token_organisation(&token).await.unwrap(),
            Some(organisation.clone())
        );
        assert!(accounts.create_api_token(&staff, "staff cannot", NOW).await.is_err());
        assert!(accounts.create_api_token(&member, "  ", NOW).await.is_err());
        assert!(accounts.revoke_api_token(&member, "our booking system", NOW + HOUR).await.unwrap());
        assert!(!accounts.revoke_api_token(&member, "our booking system", NOW + HOUR).await.unwrap());
        assert_eq!(accounts.api_token_organisation(&token).await.unwrap(), None);
        let listed = accounts.api_tokens(&member).await.unwrap();
        assert_eq!(listed, [("our booking system".to_owned(), NOW, Some(NOW + HOUR))]);

        // Who did what, newest first.
        let events = accounts.audit(None, 10).await.unwrap();
        let said: Vec<(Option<&str>, &str)> =
            events.iter().map(|e| (e.by.as_deref(), e.action.as_str())).collect();
        assert_eq!(
            said,
            [
                (Some("hello@knitandnatter.org.uk"), "API token revoked"),
                (Some("hello@knitandnatter.org.uk"), "API token created"),
                (Some("hello@knitandnatter.org.uk"), "password set"),
                (Some("staff@kirklees.gov.uk"), "account created"),
                (Some("staff@kirklees.gov.uk"), "password set"),
                (None, "account created"),
            ]
        );
        let about = accounts.audit(Some(&format!("organization:{organisation}")), 10).await.unwrap();
        assert_eq!(about.len(), 2);
    }

    async fn the_database_holds_no_password_or_token_in_readable_form(db: TestDatabase) {
        let (accounts, staff, organisation) = with_staff(&db).await;
        let invitation = accounts
            .invite_organisation(&staff, &email("hello@knitandnatter.org.uk"), &organisation, NOW)
            .await
            .unwrap();
        let link = invitation.token.reveal().to_owned();
        let member = accounts
            .set_password(&invitation.token, password("knit one purl one forever"), NOW)
            .await
            .unwrap();
        let (_, session) = accounts
            .sign_in(&email("hello@knitandnatter.org.uk"), password("knit one purl one forever"), NOW)
            .await
            .unwrap()
            .unwrap();
        let api = accounts.create_api_token(&member, "booking", NOW).await.unwrap();
        let pending = accounts.add_staff(&email("later@kirklees.gov.uk"), NOW).await.unwrap();

        let mut stored = String::new();
        for table in ["account", "account_link", "web_session", "api_token", "audit_event"] {
            stored.push_str(&common::table_text(&db.url, table).await);
        }
        for secret in [
            "knit one purl one forever",
            "a calm and long passphrase",
            link.as_str(),
            session.reveal(),
            api.reveal(),
            pending.token.reveal(),
        ] {
            assert!(!stored.contains(secret), "{secret} is stored readable");
        }
        assert!(stored.contains("$argon2id$"), "passwords are stored as Argon2id hashes");
    }
}
