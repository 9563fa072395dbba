-- The prediction of record per (case, model version), in one part, for every case decided before
-- its outcome and every case never decided at all (decided = false).
-- A decided case's prediction of record is its latest prediction made at or before the decision of
-- record (on_time); a version with none has its latest late one instead (on_time false: counted as
-- a late prediction, not paired). Ties in time (two models logging one version label at the same
-- instant) go to the model whose name sorts last. The explanation is kept only where the model and
-- the person disagree (the case explorer's cases). A case never decided keeps its latest
-- prediction's time and the segments of the latest prediction that names them. record_decision:
-- each decided case's decision of record, as decided.sql gave it, and its row there (_case_row; see
-- join.read_records). A decided case is named by that row (case_row; Polars takes its decision and
-- outcome from that row, without matching ids again), a case never decided by its id (case_id).
WITH ranked AS (
    SELECT
        d._case_row AS case_row,
        CASE WHEN d._case_row IS NULL THEN p.case_id END AS case_id,
        p.model_version,
        d._case_row IS NOT NULL AS decided,
        arg_max(
            {
                'on_time': coalesce(p.predicted_at <= d.decided_at, false),
                'predicted_at': p.predicted_at,
                'model': p.model,
                'predicted_label': p.predicted_label,
                'score': p.score,
                'explanation': CASE
                    WHEN p.predicted_label <> d.human_label THEN CAST(p.explanation AS VARCHAR)
                END
            },
            (coalesce(p.predicted_at <= d.decided_at, false), p.predicted_at, coalesce(p.model, ''))
        ) AS r,
        arg_max(p.segments, CASE WHEN d.case_id IS NULL THEN p.predicted_at END) AS segments
    FROM prediction_rows() AS p
    LEFT JOIN record_decision AS d USING (case_id)
    WHERE p.point_id = $point AND p.load_id <= $upto
        AND wanted(p.case_id, $part::UBIGINT, $parts::UBIGINT)
        -- not the cases decided only after their outcome (neither paired nor undecided)
        AND (d.case_id IS NULL OR d.decision_rows > 0)
    GROUP BY d._case_row, CASE WHEN d._case_row IS NULL THEN p.case_id END, p.model_version
)
SELECT case_row, case_id, model_version, decided, r.on_time AS on_time,
    r.predicted_at AS predicted_at, r.model AS model, r.predicted_label AS predicted_label, r.score AS score,
    r.explanation AS explanation,
    CASE WHEN NOT decided THEN json_transform(segments, $segments) END AS segments
FROM ranked;
