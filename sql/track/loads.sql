-- Every load with its quarantined rows counted by reason: the data-quality record the app shows.
SELECT
    l.load_id,
    l.log,
    l.point_id,
    l.source,
    l.format,
    -- the file's sha256 and the load options' hash: `shadow recover` checks a file by them
    l.content_hash,
    l.options_hash,
    l.loaded_at,
    l.loaded_by,
    l.rows_read,
    l.rows_accepted,
    l.rows_duplicate,
    l.rows_quarantined,
    q.reason_code,
    coalesce(q.rows, 0) AS rows_with_reason
FROM loads AS l
LEFT JOIN (
    SELECT load_id, reason_code, count(*) AS rows FROM quarantine GROUP BY ALL
) AS q USING (load_id)
ORDER BY l.load_id, q.reason_code;
