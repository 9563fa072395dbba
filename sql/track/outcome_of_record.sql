-- The outcome of record of every case of one decision point (in one part of its cases): the latest
-- outcome (a correction supersedes what it corrects), and how many outcome rows the case has.
-- wanted(case_id, part, parts) says which cases this run reads (a temporary macro that
-- join.read_records defines): a part of them by a hash of the case id, so that a large store is
-- joined a part at a time in bounded memory (every case's rows fall in the same part); or the
-- cases that changed since a given load. outcome_rows(), decision_rows() and prediction_rows()
-- (temporary table macros, also join.read_records's) are the three logs, or only the rows of the
-- cases that changed (read once for two runs). $upto: the newest load read (the logs as they
-- stood after it). join.read_records reads it as record_outcome.
SELECT
    case_id,
    max(observed_at) AS observed_at,
    arg_max(actual_label, observed_at) AS actual_label,
    count(*) AS outcome_rows
FROM outcome_rows()
WHERE point_id = $point AND load_id <= $upto
    AND wanted(case_id, $part::UBIGINT, $parts::UBIGINT)
GROUP BY case_id
