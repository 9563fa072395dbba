-- The decisions log of one decision point, as the track-record jobs read it.
SELECT case_id, decided_at, human_label, decided_by, CAST(segments AS VARCHAR) AS segments
FROM decisions
WHERE point_id = $point;
