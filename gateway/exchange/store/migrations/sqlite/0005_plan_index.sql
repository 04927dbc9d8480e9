-- The patient's plan index (issue 17; gateway/exchange/plan_index/): written in the accept
-- transaction, so an accepted document, its index entry, the flags it raised and the
-- patient's recomputed deadlines commit together. Bodies are JSON of ids, dates, codes and
-- numbers: no free text, no diagnosis (gateway/coordination/entries.py).

-- One row per document (a new version replaces its row); consents: every consent record
-- offered with the document (its envelope's and its own) as a JSON array, read by the one
-- consent evaluator whenever someone asks to see the entry.
CREATE TABLE plan_entries (
    entry_key   TEXT PRIMARY KEY,
    patient     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body        TEXT NOT NULL,
    consents    TEXT
);
CREATE INDEX plan_entries_patient ON plan_entries (patient);
CREATE INDEX plan_entries_kind ON plan_entries (kind, received_at);

-- Flags (COORD-* codes), raised once each.
CREATE TABLE plan_flags (
    flag_id   TEXT PRIMARY KEY,
    patient   TEXT NOT NULL,
    code      TEXT NOT NULL,
    raised_at TEXT NOT NULL,
    body      TEXT NOT NULL
);
CREATE INDEX plan_flags_patient ON plan_flags (patient);

-- The rehabilitation chain's deadlines, one row per (deadline, actor organisation); the
-- patient's rows are recomputed whole on every accepted document and only changed rows are
-- written. state: 'open' (a task neither met nor waived), 'closed' (met or waived),
-- 'milestone'. Clustered by patient (WITHOUT ROWID), so one accept writes one patient's rows
-- on a page or two; the actor index holds the list order (it also carries the key).
CREATE TABLE plan_deadlines (
    patient     TEXT NOT NULL,
    deadline_id TEXT NOT NULL,
    role        TEXT NOT NULL,
    org         TEXT NOT NULL,
    state       TEXT NOT NULL,
    due_on      TEXT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (patient, deadline_id)
) WITHOUT ROWID;
CREATE INDEX plan_deadlines_actor ON plan_deadlines (role, org, state, due_on);
