-- Every case of one decision point with its home week: the week (Monday, in the point's time zone
-- $timezone) of its earliest decision, or of its earliest prediction if it was never decided.
-- Rows loaded later can only move a case's home week earlier, never later: so after new loads, the
-- cases whose numbers can change are all among those from the earliest home week of a changed case
-- on (what a daily refresh recomputes).
CREATE OR REPLACE TEMP TABLE home_weeks AS
WITH first_seen AS (
    SELECT case_id, min(decided_at) AS seen, true AS decided
    FROM decisions WHERE point_id = $point GROUP BY case_id
    UNION ALL
    SELECT case_id, min(predicted_at), false
    FROM predictions WHERE point_id = $point GROUP BY case_id
)
SELECT
    case_id,
    date_trunc('week', timezone($timezone, arg_max(seen, decided)))::DATE AS week
FROM first_seen
GROUP BY case_id;
