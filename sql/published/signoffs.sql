-- One row per sign-off of a decision point, oldest first, as stored (the evidence snapshot is the
-- exact text signed). A null $segment keeps every segment.
SELECT
    signoff_id,
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
    snapshot_hash
FROM signoffs
WHERE point_id = $point
    AND ($segment IS NULL OR (segment = $segment AND segment_value = $value))
ORDER BY signoff_id;
