-- The decision of record of every decided case (in one part, see outcome_of_record.sql): the latest
-- decision made before the case's outcome was observed. Decisions made (or changed) after it are not
-- counted, only counted as such; a case decided only after its outcome has decision_rows = 0.
-- Each case's outcome of record (record_outcome) comes along, matched here once rather than joined
-- again to the aggregate (it is the same on each of the case's rows). join.read_records reads it as
-- record_decision.
WITH decision AS (
    SELECT
        d.case_id,
        d.decided_at,
        d.human_label,
        d.decided_by,
        s.code AS segments,  -- the number of its segments text (segment_codes.sql)
        -- the time of a decision made before the outcome was observed; NULL for one made after,
        -- which the aggregates below then skip (cheaper than a FILTER on each of them)
        CASE WHEN o.observed_at IS NULL OR d.decided_at < o.observed_at THEN d.decided_at END
            AS in_time_at,
        o.actual_label,
        o.observed_at,
        o.outcome_rows
    FROM decision_rows() AS d
    LEFT JOIN record_outcome AS o USING (case_id)
    LEFT JOIN segment_codes AS s ON d.segments = s.text
    WHERE d.point_id = $point AND d.load_id <= $upto
        AND wanted(d.case_id, $part::UBIGINT, $parts::UBIGINT)
)
SELECT
    case_id,
    max(in_time_at) AS decided_at,
    arg_max(human_label, in_time_at) AS human_label,
    -- arg_max_null: the latest row's value even when it is empty
    arg_max_null(decided_by, in_time_at) AS decided_by,
    arg_max_null(segments, in_time_at) AS segments,
    any_value(actual_label) AS actual_label,
    any_value(observed_at) AS observed_at,
    any_value(outcome_rows) AS outcome_rows,
    count(in_time_at) AS decision_rows,
    count(*) - count(in_time_at) AS changed_after_outcome
FROM decision
GROUP BY case_id
