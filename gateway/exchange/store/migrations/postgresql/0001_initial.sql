-- The exchange store on PostgreSQL: several gateway processes (on one host or many) share it.
-- Applied once, in a transaction, under an advisory lock (PostgreSQLStore.open), into the
-- schema named by the URL (default: the search path's first schema).

CREATE TABLE messages (
    message_id   text PRIMARY KEY,
    sender_id    text NOT NULL,
    kind         text NOT NULL,
    content_hash text NOT NULL,
    received_at  timestamptz NOT NULL,
    answer       bytea NOT NULL
);

-- The outbox: one row per (message, recipient). A worker holds a push delivery while
-- lease_owner/lease_until are set and lease_until is in the future; it claims with
-- FOR UPDATE SKIP LOCKED, so concurrent workers never wait on each other's rows.
CREATE TABLE deliveries (
    delivery_id     text PRIMARY KEY,
    message_id      text NOT NULL REFERENCES messages (message_id),
    position        integer NOT NULL,
    recipient_id    text NOT NULL,
    mode            text NOT NULL CHECK (mode IN ('push', 'pull')),
    kind            text NOT NULL,
    format          text NOT NULL,
    media_type      text NOT NULL,
    payload         bytea,
    state           text NOT NULL
        CHECK (state IN ('pending', 'retrying', 'offered', 'delivered', 'dead', 'refused')),
    attempts        integer NOT NULL DEFAULT 0,
    offers          integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz,
    lease_owner     text,
    lease_until     timestamptz,
    accepted_at     timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    delivered_at    timestamptz
);
-- Due push deliveries, oldest first (the claim query walks this index).
CREATE INDEX deliveries_due ON deliveries (next_attempt_at)
    WHERE state IN ('pending', 'retrying');
CREATE INDEX deliveries_message ON deliveries (message_id, position);
CREATE INDEX deliveries_inbox ON deliveries (recipient_id, accepted_at, delivery_id)
    WHERE state = 'offered';
CREATE INDEX deliveries_dead ON deliveries (message_id) WHERE state = 'dead';
-- Retention: payloads still held by final deliveries.
CREATE INDEX deliveries_final ON deliveries (delivered_at)
    WHERE payload IS NOT NULL AND state IN ('delivered', 'refused');

-- A §4 consent is used once: the primary key is the guarantee, across processes.
CREATE TABLE consent_uses (
    consent_key text PRIMARY KEY,
    message_id  text NOT NULL,
    used_at     timestamptz NOT NULL
);

-- The audit trail: append-only, hash-chained (gateway.exchange.audit). detail is the
-- sorted-key JSON text exactly as hashed (text, not jsonb, so it reads back byte for byte).
CREATE TABLE audit (
    seq          bigint PRIMARY KEY,
    at           timestamptz NOT NULL,
    actor        text NOT NULL,
    action       text NOT NULL,
    message_id   text,
    recipient_id text,
    detail       text NOT NULL,
    prev_hash    text NOT NULL,
    hash         text NOT NULL
);
CREATE INDEX audit_message ON audit (message_id, seq);
CREATE INDEX audit_at ON audit (at);

-- Audit entries written by a business transaction (accept, settle, …) land here first, in
-- that same transaction, without waiting for anyone; a sealer (PostgreSQLStore._seal) then
-- moves them into the chain in id order, many at a time. So commits never queue behind the
-- chain and PostgreSQL's group commit works for them.
CREATE TABLE audit_pending (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL,
    actor        text NOT NULL,
    action       text NOT NULL,
    message_id   text,
    recipient_id text,
    detail       text NOT NULL
);

-- The chain head: one row, locked (SELECT … FOR UPDATE) by the sealer's transaction, so
-- sealers in several processes take turns, seq has no gaps and every record follows the one
-- sealed before it.
CREATE TABLE audit_head (
    one  boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq  bigint NOT NULL,
    hash text NOT NULL
);
INSERT INTO audit_head VALUES (true, 0, '');

-- Append-only: the database itself refuses to change or remove an audit record.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END;
$$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
