-- One row per disagreement (case, model version) that matches the filters, newest decision first,
-- one page of them. A null parameter keeps every value; $cells lists the cells to keep.
SELECT
    case_id,
    model_version,
    decided_at,
    predicted_label,
    score,
    explanation,
    human_label,
    decided_by,
    actual_label,
    observed_at,
    cell,
    segments
FROM disagreements
WHERE point_id = $point
    AND model_version = $version
    AND ($path IS NULL OR json_extract_string(segments, $path) = $value)
    AND list_contains($cells, cell)
    AND (decided_at AT TIME ZONE $timezone)::DATE BETWEEN $start AND $end
ORDER BY decided_at DESC, case_id
LIMIT $limit OFFSET $offset;
