-- Patients whose deadlines are to be recomputed (issue 17, docs/coordination.md "Where the
-- deadlines are computed"). The accept transaction writes the plan index's entries and flags
-- and marks the patient here; a follow-up transaction (the server's drain, or a reader about
-- to show the patient's deadlines) recomputes the patient's deadline rows and removes the
-- mark in the same transaction. A crash between the two leaves the mark: the next drain (at
-- start-up, or the next read) recomputes the patient. marked_at: the first accept since the
-- last recomputation (the lag, for operators).
CREATE TABLE plan_dirty (
    patient   TEXT PRIMARY KEY,
    marked_at TEXT NOT NULL
) WITHOUT ROWID;
