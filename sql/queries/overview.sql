-- What the store holds for one decision point: cases decided, scored (per model version) and
-- resolved. One row per model version; the case counts that do not depend on it repeat.
WITH decided AS (
    SELECT count(DISTINCT case_id) AS cases, min(decided_at) AS first_at, max(decided_at) AS last_at
    FROM decisions WHERE point_id = $point
),
resolved AS (
    SELECT count(DISTINCT o.case_id) AS cases
    FROM outcomes o SEMI JOIN decisions d ON d.point_id = o.point_id AND d.case_id = o.case_id
    WHERE o.point_id = $point
),
scored AS (
    SELECT model_version, count(DISTINCT case_id) AS cases,
        min(predicted_at) AS first_at, max(predicted_at) AS last_at
    FROM predictions WHERE point_id = $point
    GROUP BY model_version
)
SELECT
    decided.cases AS decided,
    decided.first_at AS decided_from,
    decided.last_at AS decided_to,
    resolved.cases AS resolved,
    scored.model_version,
    scored.cases AS scored,
    scored.first_at AS scored_from,
    scored.last_at AS scored_to
FROM decided CROSS JOIN resolved LEFT JOIN scored ON true
ORDER BY scored.model_version;
