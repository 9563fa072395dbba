-- One row per (segment column, value) of a decision point that has decided cases.
SELECT DISTINCT
    segment,
    segment_value
FROM numbers
WHERE point_id = $point
    AND period = 'all'
    AND segment <> 'all'
    AND decided > 0
ORDER BY segment, segment_value;
