-- Every case with a decision row (in one part): its decision of record (none when it was decided
-- only after its outcome) and its outcome of record (none while pending). The segments are decoded
-- into a struct of the point's segment columns ($segments: their JSON shape, e.g. {"site": "VARCHAR"}),
-- each distinct segments text once (a point has few: its sites, regions, ...). record_decision and
-- record_outcome: decision_of_record.sql and outcome_of_record.sql (see join.read_records).
WITH segments AS (
    SELECT segments AS text, json_transform(segments, $segments) AS decoded
    FROM (SELECT DISTINCT segments FROM record_decision WHERE segments IS NOT NULL)
)
SELECT
    d.case_id,
    d.decided_at,
    d.human_label,
    d.decided_by,
    s.decoded AS segments,
    o.actual_label,
    o.observed_at,
    o.outcome_rows,
    d.decision_rows,
    d.changed_after_outcome
FROM record_decision AS d
LEFT JOIN record_outcome AS o USING (case_id)
LEFT JOIN segments AS s ON d.segments = s.text;
