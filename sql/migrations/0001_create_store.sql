-- The store: decision points, the three logs, the loads that filled them and the rows they quarantined.
-- Timestamps are TIMESTAMPTZ and the session time zone is UTC, so every *_at is an instant in UTC.

-- One row per decision point, as registered from its TOML file.
CREATE TABLE decision_points (
    point_id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    owner VARCHAR NOT NULL,
    task_type VARCHAR NOT NULL,
    labels VARCHAR[] NOT NULL,
    positive_label VARCHAR,
    segment_columns VARCHAR[] NOT NULL,
    timezone VARCHAR NOT NULL,
    policy JSON NOT NULL,
    definition VARCHAR NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL,
    registered_by VARCHAR NOT NULL
);

CREATE SEQUENCE load_ids START 1;

-- One row per load that changed or tried to change the store (one file, or one frame).
CREATE TABLE loads (
    load_id BIGINT PRIMARY KEY,
    log VARCHAR NOT NULL,
    point_id VARCHAR,
    source VARCHAR NOT NULL,
    format VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    options_hash VARCHAR NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL,
    loaded_by VARCHAR NOT NULL,
    rows_read BIGINT NOT NULL,
    rows_accepted BIGINT NOT NULL,
    rows_duplicate BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL
);

-- One row per accepted prediction: what the model said about a case, at a time, in a version.
CREATE TABLE predictions (
    point_id VARCHAR NOT NULL,
    case_id VARCHAR NOT NULL,
    predicted_at TIMESTAMPTZ NOT NULL,
    model VARCHAR,
    model_version VARCHAR NOT NULL,
    predicted_label VARCHAR NOT NULL,
    score DOUBLE,
    explanation JSON,
    segments JSON,
    load_id BIGINT NOT NULL,
    source_row BIGINT NOT NULL
);

-- One row per accepted decision: what a person decided for a case, at a time (revisions are new rows).
CREATE TABLE decisions (
    point_id VARCHAR NOT NULL,
    case_id VARCHAR NOT NULL,
    decided_at TIMESTAMPTZ NOT NULL,
    human_label VARCHAR NOT NULL,
    decided_by VARCHAR,
    note VARCHAR,
    segments JSON,
    load_id BIGINT NOT NULL,
    source_row BIGINT NOT NULL
);

-- One row per accepted outcome observation; a correction is a row with a later observed_at.
CREATE TABLE outcomes (
    point_id VARCHAR NOT NULL,
    case_id VARCHAR NOT NULL,
    observed_at TIMESTAMPTZ NOT NULL,
    actual_label VARCHAR NOT NULL,
    note VARCHAR,
    load_id BIGINT NOT NULL,
    source_row BIGINT NOT NULL
);

-- One row per quarantined input row: why, and the values exactly as they were read.
CREATE TABLE quarantine (
    load_id BIGINT NOT NULL,
    source_row BIGINT NOT NULL,
    reason_code VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    original JSON NOT NULL
);
