-- The cases of one decision point with a row in any of its three logs from a load after $since:
-- the only cases whose records a refresh after that load can find changed.
CREATE OR REPLACE TEMP TABLE changed_cases AS
SELECT DISTINCT case_id FROM (
    SELECT case_id FROM predictions WHERE point_id = $point AND load_id > $since
    UNION ALL
    SELECT case_id FROM decisions WHERE point_id = $point AND load_id > $since
    UNION ALL
    SELECT case_id FROM outcomes WHERE point_id = $point AND load_id > $since
);
