"""DESIGN.md's outcome and decision of record in plain SQL: the tests' second implementation.

`RECORDS` is the start of a WITH clause (`outcome`, then `decision` with the case's site); a test
adds its own CTEs and SELECT after it, e.g. f"{RECORDS}, prediction AS (...) SELECT ...".
"""

RECORDS = """
WITH outcome AS (
    SELECT case_id, arg_max(actual_label, observed_at) AS actual, max(observed_at) AS observed_at
    FROM outcomes GROUP BY case_id
),
decision AS (
    SELECT d.case_id, arg_max(d.human_label, d.decided_at) AS human,
        max(d.decided_at) AS decided_at, arg_max(d.segments ->> 'site', d.decided_at) AS site
    FROM decisions d LEFT JOIN outcome o USING (case_id)
    WHERE o.observed_at IS NULL OR d.decided_at < o.observed_at
    GROUP BY d.case_id
)"""
