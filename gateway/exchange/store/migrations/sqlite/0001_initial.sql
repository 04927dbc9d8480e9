-- The exchange store, embedded SQLite. Times are UTC ISO-8601 text with microseconds
-- ("2026-11-28T08:00:00.000000+00:00"): fixed width, so they compare as text.
CREATE TABLE messages (
    message_id   TEXT PRIMARY KEY,
    sender_id    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    answer       BLOB NOT NULL
);

CREATE TABLE deliveries (
    delivery_id     TEXT PRIMARY KEY,
    message_id      TEXT NOT NULL REFERENCES messages (message_id),
    position        INTEGER NOT NULL,
    recipient_id    TEXT NOT NULL,
    mode            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    format          TEXT NOT NULL,
    media_type      TEXT NOT NULL,
    payload         BLOB,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    offers          INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at TEXT,
    lease_owner     TEXT,
    lease_until     TEXT,
    accepted_at     TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    delivered_at    TEXT
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at)
    WHERE state IN ('pending', 'retrying');
CREATE INDEX deliveries_message ON deliveries (message_id, position);
CREATE INDEX deliveries_inbox ON deliveries (recipient_id, accepted_at) WHERE state = 'offered';
CREATE INDEX deliveries_final ON deliveries (delivered_at) WHERE payload IS NOT NULL;

CREATE TABLE consent_uses (
    consent_key TEXT PRIMARY KEY,
    message_id  TEXT NOT NULL,
    used_at     TEXT NOT NULL
);

CREATE TABLE audit (
    seq          INTEGER PRIMARY KEY,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    message_id   TEXT,
    recipient_id TEXT,
    detail       TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_message ON audit (message_id);
CREATE INDEX audit_at ON audit (at);

-- Append-only: the database itself refuses to change or remove an audit record.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
