-- One row: the first and last day (in the point's timezone) on which people decided a case.
SELECT
    min(period_start) AS first_day,
    max(period_start) AS last_day
FROM numbers
WHERE point_id = $point
    AND segment = 'all'
    AND period = 'day'
    AND scope = 'period'
    AND decided > 0;
