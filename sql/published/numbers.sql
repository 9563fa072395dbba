-- The published numbers of one decision point: one row per (model version, segment, segment value,
-- period, period start, scope). A null parameter keeps every value of its column.
SELECT
    *
FROM numbers
WHERE point_id = $point
    AND ($version IS NULL OR model_version = $version)
    AND ($segment IS NULL OR segment = $segment)
    AND ($value IS NULL OR segment_value = $value)
    AND ($period IS NULL OR period = $period)
ORDER BY model_version, segment, segment_value, period, scope, period_start;
