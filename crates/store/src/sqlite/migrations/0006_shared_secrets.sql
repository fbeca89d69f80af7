-- Migration 6: service-wide secrets (issue 13).
--
-- Random values every process must agree on, written once by whichever process needs one
-- first (the key that signs the dashboard's sign-in form tokens).
CREATE TABLE shared_secrets (
    name       TEXT    PRIMARY KEY,
    value      BLOB    NOT NULL CHECK (length(value) = 32),
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
