-- Readiness: every version of each decision point's policy, and the sign-off log.
-- Both are append-only: Shadow inserts rows and never updates or deletes them.

-- One row per version of a decision point's [policy] (a new row whenever it changes).
CREATE TABLE policy_versions (
    point_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    policy JSON NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    recorded_by VARCHAR NOT NULL,
    PRIMARY KEY (point_id, version)
);

-- The points registered before policies were versioned: their policy as it stands is version 1.
INSERT INTO policy_versions
SELECT point_id, 1, policy, registered_at, registered_by FROM decision_points;

CREATE SEQUENCE signoff_ids START 1;

-- One row per sign-off: who moved which segment of a point to which stage, when, why, on what evidence.
-- snapshot is the evidence as it stood (canonical JSON text); snapshot_hash is the SHA-256 over the
-- row's fields, its snapshot and previous_hash (the hash of the sign-off before it), so a changed or
-- removed row is found by `shadow signoff verify`.
CREATE TABLE signoffs (
    signoff_id BIGINT PRIMARY KEY,
    point_id VARCHAR NOT NULL,
    segment VARCHAR NOT NULL,
    segment_value VARCHAR NOT NULL,
    from_stage VARCHAR NOT NULL,
    to_stage VARCHAR NOT NULL,
    signed_by VARCHAR NOT NULL,
    owner VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    override_reason VARCHAR,
    signed_at TIMESTAMPTZ NOT NULL,
    policy_version INTEGER NOT NULL,
    snapshot VARCHAR NOT NULL,
    snapshot_hash VARCHAR NOT NULL,
    previous_hash VARCHAR NOT NULL
);
