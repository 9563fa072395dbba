-- One row per (segment, stage, criterion) of one model version: the criterion's evidence, threshold
-- and verdict, in the order published (criteria in their policy order). A null $segment keeps all.
SELECT
    model_version,
    segment,
    segment_value,
    as_of,
    stage,
    criterion,
    value,
    threshold,
    setting,
    passes,
    cases_needed,
    weeks_needed,
    ready,
    alpha,
    stage_order,
    policy_version
FROM gates
WHERE point_id = $point
    AND model_version = $version
    AND ($segment IS NULL OR (segment = $segment AND segment_value = $value))
ORDER BY rowid;
