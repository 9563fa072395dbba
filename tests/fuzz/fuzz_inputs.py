"""Coverage-guided fuzzing of the loaders and the mapping, point and policy parsers with atheris.

Not part of the pytest run (tests/test_fuzz.py is the quick, hypothesis-driven version). A long
run explores paths that random examples rarely reach. Every input is accepted, or refused with a
ShadowError (the CLI prints those as one `Error:` line); any other exception, or a load that does
not account for every row it read, is a crash, and atheris saves the input that caused it.

    pip install atheris
    python tests/fuzz/fuzz_inputs.py -max_total_time=600 -max_len=4096 tests/fuzz/corpus
    python tests/fuzz/fuzz_inputs.py crash-<hash>      # replay one saved input

The first byte chooses the target: a CSV, JSON Lines or Parquet file of predictions, decisions or
outcomes, a mapping file, or a decision point file (with its [policy]).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["shadow"]):  # our code; the drivers are C++
    from shadow.errors import ShadowError
    from shadow.ingestion import ingest_into, plan_sources
    from shadow.mapping import parse_mapping
    from shadow.points import add_point, parse_point
    from shadow.store import Store

POINT_TOML = """
id = "pump-inspection"
name = "Should this pump be inspected this week?"
owner = "Dana Reyes"
task = "binary"
labels = ["inspect", "no_inspect"]
positive_label = "inspect"
segments = ["site", "region"]
timezone = "Europe/Berlin"
"""
LOGS = ("predictions", "decisions", "outcomes")
EXTENSIONS = (".csv", ".jsonl", ".parquet")
FOLDER = Path(tempfile.mkdtemp(prefix="shadow-atheris-"))
STORE = Store.memory()
add_point(STORE, parse_point(POINT_TOML), POINT_TOML)


def load(log: str, extension: str, data: bytes) -> None:
    path = FOLDER / f"input{extension}"
    path.write_bytes(data)
    try:
        (summary,) = ingest_into(STORE, log, plan_sources(path), point="pump-inspection")
    except ShadowError:
        return
    if summary.already_loaded_as is not None:
        return
    accounted = summary.accepted + summary.duplicates + summary.quarantined
    if accounted != summary.rows_read:
        raise AssertionError(f"{summary.rows_read} rows read, {accounted} accounted for")
    (stored,) = STORE.rows(
        f"SELECT count(*) FROM {log} WHERE load_id = $id", {"id": summary.load_id}
    )
    if stored[0] != summary.accepted:
        raise AssertionError(f"{summary.accepted} accepted, {stored[0]} stored")


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    target = fdp.ConsumeIntInRange(0, len(LOGS) * len(EXTENSIONS) + 1)
    rest = fdp.ConsumeBytes(fdp.remaining_bytes())
    try:
        if target == len(LOGS) * len(EXTENSIONS):
            parse_mapping(rest.decode("utf-8", errors="replace"))
        elif target == len(LOGS) * len(EXTENSIONS) + 1:
            parse_point(rest.decode("utf-8", errors="replace"))
        else:
            log, extension = divmod(target, len(EXTENSIONS))
            load(LOGS[log], EXTENSIONS[extension], rest)
    except ShadowError:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
