-- One row: how many disagreements match the filters of disagreement_cases.sql.
SELECT
    count(*) AS cases
FROM disagreements
WHERE point_id = $point
    AND model_version = $version
    AND ($path IS NULL OR json_extract_string(segments, $path) = $value)
    AND list_contains($cells, cell)
    AND (decided_at AT TIME ZONE $timezone)::DATE BETWEEN $start AND $end;
