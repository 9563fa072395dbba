-- The predictions log of one decision point, as the track-record jobs read it.
SELECT case_id, predicted_at, model, model_version, predicted_label, score,
    CAST(explanation AS VARCHAR) AS explanation, CAST(segments AS VARCHAR) AS segments
FROM predictions
WHERE point_id = $point;
