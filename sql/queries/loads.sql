-- One row per load, newest first: which file went into which log, and what happened to its rows.
SELECT
    load_id,
    log,
    point_id,
    source,
    format,
    content_hash,
    loaded_at,
    loaded_by,
    rows_read,
    rows_accepted,
    rows_duplicate,
    rows_quarantined
FROM loads
ORDER BY load_id DESC
LIMIT $limit;
