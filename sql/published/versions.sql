-- One row per model version of a decision point that shadowed a decision: the weeks it did, newest
-- version (latest week) first.
SELECT
    model_version,
    min(period_start) AS first_week,
    max(period_start) AS last_week,
    sum(paired)::BIGINT AS paired
FROM numbers
WHERE point_id = $point
    AND segment = 'all'
    AND period = 'week'
    AND scope = 'period'
    AND paired > 0
GROUP BY model_version
ORDER BY last_week DESC, model_version;
