-- One row per segment of a decision point: its current stage, who signed it and when, and the watch
-- after a promotion (review = the demotion alarm fired). A null $segment keeps every segment.
SELECT
    segment,
    segment_value,
    stage,
    since,
    signed_by,
    signoff_id,
    model_version,
    cases_since,
    accuracy_since,
    demotion_evalue,
    decline_alarms_since,
    review,
    alpha,
    policy_version
FROM stages
WHERE point_id = $point
    AND ($segment IS NULL OR (segment = $segment AND segment_value = $value))
ORDER BY segment, segment_value;
