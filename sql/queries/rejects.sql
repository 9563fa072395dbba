-- One row per quarantined input row, in load and row order, optionally for one load and/or reason.
SELECT
    q.load_id AS load_id,
    l.log AS log,
    l.source AS source,
    q.source_row AS source_row,
    q.reason_code AS reason_code,
    q.reason AS reason,
    CAST(q.original AS VARCHAR) AS original
FROM quarantine AS q
JOIN loads AS l USING (load_id)
WHERE ($load_id IS NULL OR q.load_id = $load_id)
  AND ($reason IS NULL OR q.reason_code = $reason OR q.reason ILIKE '%' || $reason || '%')
ORDER BY q.load_id, q.source_row
LIMIT $limit;
