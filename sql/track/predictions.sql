-- The predictions log of one decision point, as the track-record jobs read it: only the columns the
-- numbers and the published cases use, the segments decoded by DuckDB into a struct of the point's
-- segment columns ($segments: their JSON shape, e.g. {"site": "VARCHAR"}).
SELECT case_id, predicted_at, model, model_version, predicted_label, score,
    CAST(explanation AS VARCHAR) AS explanation, json_transform(segments, $segments) AS segments
FROM predictions
WHERE point_id = $point;
