"""Weekly accuracy in NannyML and Evidently, on the sample's paired cases, for comparison with
`shadow refresh` (bench/bench_refresh.py).

Neither tool is a dependency of Shadow: run this with the interpreter of a throwaway venv that has
the tool installed (python3.11 -m venv /tmp/nm && /tmp/nm/bin/pip install nannyml; the same with
evidently), and the project's venv for the export step:

    python bench/bench_monitoring_tools.py export --size 1m          # project venv (DuckDB)
    /tmp/nm/bin/python bench/bench_monitoring_tools.py nannyml --size 1m
    /tmp/ev/bin/python bench/bench_monitoring_tools.py evidently --size 1m

The export writes, with the baseline's SQL records (bench_refresh.BASELINE_SQL: outcome, decision
and prediction of record), one row per paired case with an outcome: model version, site, decision
time, the model's label and score, the person's label and the outcome (paired.parquet beside the
store). Neither tool joins logs or chooses records: they start from this frame, so what is timed
here is only their weekly accuracy, which is less than the baseline query does.

* nannyml:   PerformanceCalculator(metrics=["accuracy"], chunk_period="W") per model version
  (fitted on the first 8 weeks as reference, then calculated over all of them), for the model's
  labels and for the person's; then the same per site.
* evidently: a Report with ClassificationQualityMetric per week (Evidently has no time chunks),
  per model version, for the model and the person; then per site and week.

Prints one JSON line per tool: seconds for reading the frame and for each part, peak MB (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_refresh import RECORDS_SQL  # noqa: E402  (bench/ is not a package)

DATA = HERE / "data"

EXPORT_SQL = (
    RECORDS_SQL
    + """,
prediction AS (
    SELECT p.case_id, p.model_version, arg_max(p.predicted_label, p.predicted_at) AS model,
        arg_max(p.score, p.predicted_at) AS score
    FROM predictions AS p JOIN decision AS d USING (case_id)
    WHERE p.point_id = $point AND p.predicted_at <= d.decided_at
    GROUP BY p.case_id, p.model_version
)
SELECT p.model_version, d.site, timezone('Europe/Berlin', d.decided_at) AS decided_at,
    (p.model = 'inspect')::INT AS model_label, p.score,
    (d.human = 'inspect')::INT AS person_label, (o.actual = 'inspect')::INT AS actual
FROM prediction AS p JOIN decision AS d USING (case_id) JOIN outcome AS o USING (case_id)
"""
)


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def paired_path(size: str) -> Path:
    return DATA / f"sample-{size}" / "paired.parquet"


def export(size: str) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(str(DATA / f"sample-{size}" / "store.duckdb"), read_only=True)
    con.execute("SET enable_progress_bar = false")
    started = time.perf_counter()
    frame = con.sql(EXPORT_SQL, params={"point": "pump-inspection"}).pl()
    frame.write_parquet(paired_path(size))
    return {"rows": frame.height, "seconds": time.perf_counter() - started}


def run_nannyml(size: str) -> dict[str, Any]:
    import os

    os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"  # no analytics calls over the network
    import nannyml as nml
    import pandas as pd

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    data = pd.read_parquet(paired_path(size))
    data["decided_at"] = data["decided_at"].astype("datetime64[us]")
    times["read"] = time.perf_counter() - t0

    def weekly(frame: pd.DataFrame, label: str) -> int:
        reference = frame[frame["decided_at"] < frame["decided_at"].min() + pd.Timedelta(weeks=8)]
        calc = nml.PerformanceCalculator(
            y_pred_proba="score",
            y_pred=label,
            y_true="actual",
            timestamp_column_name="decided_at",
            metrics=["accuracy"],
            chunk_period="W",
            problem_type="classification_binary",
        )
        calc.fit(reference)
        result = calc.calculate(frame)
        return len(result.to_df())

    rows = 0
    t0 = time.perf_counter()
    for _, frame in data.groupby("model_version"):
        frame = frame.dropna(subset=["score"])
        rows += weekly(frame, "model_label") + weekly(frame, "person_label")
    times["weekly_all"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _, frame in data.groupby(["model_version", "site"]):
        frame = frame.dropna(subset=["score"])
        rows += weekly(frame, "model_label") + weekly(frame, "person_label")
    times["weekly_by_site"] = time.perf_counter() - t0
    return {
        "tool": "nannyml",
        "version": nml.__version__,
        "pandas": pd.__version__,
        "times": times,
        "seconds": sum(times.values()),
        "result_rows": rows,
        "peak_mb": _peak_mb(),
    }


def run_evidently(size: str) -> dict[str, Any]:
    import evidently
    import pandas as pd
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.metrics import Accuracy

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    data = pd.read_parquet(paired_path(size))
    data["week"] = data["decided_at"].dt.tz_localize(None).dt.to_period("W-SUN").dt.start_time
    times["read"] = time.perf_counter() - t0

    def accuracy(frame: pd.DataFrame, label: str) -> float:
        definition = DataDefinition(
            classification=[
                BinaryClassification(target="actual", prediction_labels=label, pos_label=1)
            ],
            numerical_columns=[],
            categorical_columns=["actual", label],
        )
        dataset = Dataset.from_pandas(frame[["actual", label]], data_definition=definition)
        snapshot = Report([Accuracy()]).run(dataset, None)
        value: float = snapshot.dict()["metrics"][0]["value"]
        return value

    rows = 0
    t0 = time.perf_counter()
    for _, frame in data.groupby(["model_version", "week"]):
        accuracy(frame, "model_label"), accuracy(frame, "person_label")
        rows += 1
    times["weekly_all"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _, frame in data.groupby(["model_version", "site", "week"]):
        accuracy(frame, "model_label"), accuracy(frame, "person_label")
        rows += 1
    times["weekly_by_site"] = time.perf_counter() - t0
    return {
        "tool": "evidently",
        "version": evidently.__version__,
        "pandas": pd.__version__,
        "times": times,
        "seconds": sum(times.values()),
        "result_rows": rows,
        "peak_mb": _peak_mb(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["export", "nannyml", "evidently"])
    parser.add_argument("--size", default="1m")
    args = parser.parse_args()
    runner = {"export": export, "nannyml": run_nannyml, "evidently": run_evidently}[args.what]
    print(json.dumps(runner(args.size)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
