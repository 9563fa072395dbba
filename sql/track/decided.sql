-- Every case with a decision row (in one part): its decision of record (none when it was decided
-- only after its outcome) and its outcome of record (none while pending), its segments decoded
-- into a struct of the point's segment columns. record_decision and segment_codes:
-- decision_of_record.sql (which carries the outcome of record) and segment_codes.sql (see
-- join.read_records).
SELECT
    d.case_id,
    d.decided_at,
    d.human_label,
    d.decided_by,
    s.decoded AS segments,
    d.actual_label,
    d.observed_at,
    d.outcome_rows,
    d.decision_rows,
    d.changed_after_outcome
FROM record_decision AS d
LEFT JOIN segment_codes AS s ON d.segments = s.code;
