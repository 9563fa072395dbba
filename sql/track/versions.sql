-- Every model version that logged a prediction of one decision point, and how many decisions the
-- point has (to decide into how many parts its cases are split).
SELECT
    (SELECT list(DISTINCT model_version ORDER BY model_version) FROM predictions
        WHERE point_id = $point) AS versions,
    (SELECT count(*) FROM decisions WHERE point_id = $point) AS decision_rows;
