-- Accounts for the web portal: staff, and the organisations they invite.
-- Nothing here is about the people who talk to the bot. No secret is kept
-- in a readable form: passwords as Argon2id hashes, and one-time links,
-- sign-in sessions and API tokens as SHA-256 digests of random tokens.
--
-- Keep migrations/sqlite in step with this file.

CREATE TABLE account (
    id TEXT PRIMARY KEY,
    -- Lower case; how the person signs in.
    email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('staff', 'organisation')),
    -- The organisation an organisation account speaks for; none for staff.
    organization_id TEXT REFERENCES organization (id) ON DELETE CASCADE,
    -- NULL until the person follows their setup link.
    password_hash TEXT,
    -- Seconds since 1970 UTC.
    created_at BIGINT NOT NULL,
    disabled_at BIGINT,
    CHECK ((role = 'staff') = (organization_id IS NULL))
);

-- One-time links that let a person set their password.
CREATE TABLE account_link (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE INDEX account_link_account ON account_link (account_id);

-- Signed-in browsers.
CREATE TABLE web_session (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);

CREATE INDEX web_session_account ON web_session (account_id);

-- Tokens an organisation's own systems use to post events.
CREATE TABLE api_token (
    token_hash TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE INDEX api_token_organization ON api_token (organization_id);

-- Who changed what, and when, for staff.
CREATE TABLE audit_event (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    -- NULL for the command line, or an account since deleted.
    account_id TEXT REFERENCES account (id) ON DELETE SET NULL,
    action TEXT NOT NULL,
    -- What it was done to, such as "account:ID" or "service:ID".
    subject TEXT NOT NULL,
    detail TEXT
);

CREATE INDEX audit_event_subject ON audit_event (subject, at);
