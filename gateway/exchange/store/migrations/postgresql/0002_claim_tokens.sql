-- Each claim gets its own token (issue 20): settle and release check the token, not the
-- process, so a worker whose lease expired and whose delivery was claimed again (even by
-- the same process) cannot settle it. lease_owner stays, for operators: who holds it.
ALTER TABLE deliveries ADD COLUMN lease_token text;
