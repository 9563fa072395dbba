-- One row per decision point: the version number of its current policy.
SELECT point_id, max(version) AS version FROM policy_versions GROUP BY point_id ORDER BY point_id;
