-- The prediction of record per (decided case, model version), in one part: the latest prediction
-- made at or before the decision of record (on_time); a version with none has its latest late one
-- instead (on_time false: counted as a late prediction, not paired). Ties in time (two models
-- logging one version label at the same instant) go to the model whose name sorts last. The
-- explanation is kept only where the model and the person disagree (the case explorer's cases).
WITH ranked AS (
    SELECT
        p.case_id,
        p.model_version,
        arg_max(
            {
                'on_time': p.predicted_at <= d.decided_at,
                'predicted_at': p.predicted_at,
                'model': p.model,
                'predicted_label': p.predicted_label,
                'score': p.score,
                'explanation': CASE
                    WHEN p.predicted_label <> d.human_label THEN CAST(p.explanation AS VARCHAR)
                END
            },
            (p.predicted_at <= d.decided_at, p.predicted_at, coalesce(p.model, ''))
        ) AS r
    FROM predictions AS p
    JOIN record_decision AS d USING (case_id)
    WHERE p.point_id = $point AND ($parts = 1 OR hash(p.case_id) % $parts = $part) AND d.decision_rows > 0
    GROUP BY p.case_id, p.model_version
)
SELECT case_id, model_version, r.on_time AS on_time, r.predicted_at AS predicted_at,
    r.model AS model, r.predicted_label AS predicted_label, r.score AS score,
    r.explanation AS explanation
FROM ranked;
