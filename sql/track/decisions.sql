-- The decisions log of one decision point, as the track-record jobs read it; the segments decoded
-- by DuckDB into a struct of the point's segment columns ($segments: their JSON shape).
SELECT case_id, decided_at, human_label, decided_by, json_transform(segments, $segments) AS segments
FROM decisions
WHERE point_id = $point;
