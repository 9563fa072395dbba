-- Every case with a decision row (in one part): its decision of record (none when it was decided
-- only after its outcome) and its outcome of record (none while pending). The segments are decoded
-- into a struct of the point's segment columns ($segments: their JSON shape, e.g. {"site": "VARCHAR"}).
SELECT
    d.case_id,
    d.decided_at,
    d.human_label,
    d.decided_by,
    json_transform(d.segments, $segments) AS segments,
    o.actual_label,
    o.observed_at,
    o.outcome_rows,
    d.decision_rows,
    d.changed_after_outcome
FROM record_decision AS d
LEFT JOIN record_outcome AS o USING (case_id);
