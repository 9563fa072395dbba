-- Every segments text of one decision point's decisions, numbered, and decoded into a struct of the
-- point's segment columns ($segments: their JSON shape, e.g. {"site": "VARCHAR"}). A point has few
-- (its sites, regions, ...): the decisions of record carry a text's number, cheaper to carry through
-- their aggregate than the text of some 70 characters, and each text is decoded once.
-- join.read_records reads it as segment_codes.
SELECT row_number() OVER () AS code, text, json_transform(text, $segments) AS decoded
FROM (
    SELECT DISTINCT segments AS text FROM decision_rows()
    WHERE point_id = $point AND load_id <= $upto AND segments IS NOT NULL
)
