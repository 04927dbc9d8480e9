-- The patient's plan index (issue 17; gateway/exchange/plan_index/): written in the accept
-- transaction, so an accepted document, its index entry, the flags it raised and the
-- patient's recomputed deadlines commit together. Bodies are JSON of ids, dates, codes and
-- numbers: no free text, no diagnosis (gateway/coordination/entries.py).

-- One row per document (a new version replaces its row); consents: every consent record
-- offered with the document (its envelope's and its own) as a JSON array, read by the one
-- consent evaluator whenever someone asks to see the entry.
CREATE TABLE plan_entries (
    entry_key   text PRIMARY KEY,
    patient     text NOT NULL,
    kind        text NOT NULL,
    received_at timestamptz NOT NULL,
    body        text NOT NULL,
    consents    text
);
CREATE INDEX plan_entries_patient ON plan_entries (patient);
CREATE INDEX plan_entries_kind ON plan_entries (kind, received_at);

-- Flags (COORD-* codes), raised once each.
CREATE TABLE plan_flags (
    flag_id   text PRIMARY KEY,
    patient   text NOT NULL,
    code      text NOT NULL,
    raised_at timestamptz NOT NULL,
    body      text NOT NULL
);
CREATE INDEX plan_flags_patient ON plan_flags (patient);

-- The rehabilitation chain's deadlines, one row per (deadline, actor organisation); the
-- patient's rows are recomputed whole on every accepted document and only changed rows are
-- written. state: 'open' (a task neither met nor waived), 'closed' (met or waived),
-- 'milestone'. Room left on each page (fillfactor) so that a row whose body alone changes
-- is updated in place, its indexes untouched (a HOT update).
CREATE TABLE plan_deadlines (
    deadline_id text PRIMARY KEY,
    patient     text NOT NULL,
    role        text NOT NULL,
    org         text NOT NULL,
    state       text NOT NULL,
    due_on      date NOT NULL,
    body        text NOT NULL
) WITH (fillfactor = 80);
CREATE INDEX plan_deadlines_patient ON plan_deadlines (patient);
CREATE INDEX plan_deadlines_actor ON plan_deadlines (role, org, state, due_on, deadline_id);
