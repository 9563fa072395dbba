-- One row per sign-off, in the order they were made (the append-only log, as stored).
SELECT
    signoff_id,
    point_id,
    segment,
    segment_value,
    from_stage,
    to_stage,
    signed_by,
    owner,
    reason,
    override_reason,
    signed_at,
    policy_version,
    snapshot,
    snapshot_hash,
    previous_hash
FROM signoffs
ORDER BY signoff_id;
