-- The decision of record of every decided case (in one part, see outcome_of_record.sql): the latest
-- decision made before the case's outcome was observed. Decisions made (or changed) after it are not
-- counted, only counted as such; a case decided only after its outcome has decision_rows = 0.
CREATE OR REPLACE TEMP TABLE record_decision AS
WITH decision AS (
    SELECT
        d.case_id,
        d.decided_at,
        d.human_label,
        d.decided_by,
        d.segments,
        o.observed_at IS NULL OR d.decided_at < o.observed_at AS in_time
    FROM decision_rows() AS d
    LEFT JOIN record_outcome AS o USING (case_id)
    WHERE d.point_id = $point AND d.load_id <= $upto
        AND wanted(d.case_id, $part::UBIGINT, $parts::UBIGINT)
)
SELECT
    case_id,
    max(decided_at) FILTER (WHERE in_time) AS decided_at,
    arg_max(human_label, decided_at) FILTER (WHERE in_time) AS human_label,
    -- arg_max_null: the latest row's value even when it is empty
    arg_max_null(decided_by, decided_at) FILTER (WHERE in_time) AS decided_by,
    arg_max_null(segments, decided_at) FILTER (WHERE in_time) AS segments,
    count(*) FILTER (WHERE in_time) AS decision_rows,
    count(*) FILTER (WHERE NOT in_time) AS changed_after_outcome
FROM decision
GROUP BY case_id;
