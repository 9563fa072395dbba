-- Scored but never decided (in one part): per (case, model version) of a case without any decision
-- row, the latest prediction time and the segments of the latest prediction that names them.
SELECT
    p.case_id,
    p.model_version,
    max(p.predicted_at) AS predicted_at,
    json_transform(arg_max(p.segments, p.predicted_at), $segments) AS segments
FROM predictions AS p
ANTI JOIN (
    SELECT case_id FROM decisions WHERE point_id = $point AND ($parts = 1 OR hash(case_id) % $parts = $part)
) AS d USING (case_id)
WHERE p.point_id = $point AND ($parts = 1 OR hash(p.case_id) % $parts = $part)
GROUP BY p.case_id, p.model_version;
