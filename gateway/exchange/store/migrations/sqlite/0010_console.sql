-- The console (gateway/console/): its sessions, and the indexes its pages read through.
-- Numbered 0010 to leave 0002-0009 to the store's and the coordination work's migrations.

-- One row per console login. The cookie holds a random secret; only its SHA-256 is here,
-- so a copy of the database opens no session. ended_at is set at logout.
CREATE TABLE console_sessions (
    session_hash TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    method       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    seen_at      TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    ended_at     TEXT
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- Message search, newest first.
CREATE INDEX messages_received ON messages (received_at, message_id);
-- Dead letters per recipient (the overview; open deliveries are found through the store's
-- own partial indexes, deliveries_due and deliveries_inbox). Only dead rows enter it.
CREATE INDEX deliveries_dead ON deliveries (recipient_id) WHERE state = 'dead';
-- Delivery outcomes per recipient over the last hour and day, and each recipient's recent
-- answers.
CREATE INDEX audit_outcomes ON audit (recipient_id, at, action)
    WHERE action IN ('delivered', 'acknowledged', 'attempt-failed', 'dead-lettered');
