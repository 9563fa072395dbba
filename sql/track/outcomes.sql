-- The outcomes log of one decision point, as the track-record jobs read it.
SELECT case_id, observed_at, actual_label
FROM outcomes
WHERE point_id = $point;
