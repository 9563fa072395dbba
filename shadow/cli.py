"""The `shadow` command: each command parses its options, calls the library, and prints plain words."""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from shadow import __version__
from shadow.errors import ShadowError

if TYPE_CHECKING:
    from shadow.ingestion import LoadSummary
    from shadow.ingestion.sources import Source

P = ParamSpec("P")
R = TypeVar("R")
LOG_NAMES = ("predictions", "decisions", "outcomes")


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn ShadowError into `Error: ...` plus a hint on stderr, and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ShadowError as e:
            if os.environ.get("SHADOW_DEBUG"):
                raise
            message = f"{e}\n\nHint: {e.hint}" if e.hint else str(e)
            raise click.ClickException(message) from e

    return wrapper


db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="SHADOW_DB",
    default="shadow.duckdb",
    show_default=True,
    help="The store file (or set SHADOW_DB).",
)
wait_option = click.option(
    "--wait",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds to wait while another process is using the store.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="shadow")
def cli() -> None:
    """Shadow: run a model silently next to the people who decide, and build its track record.

    \b
    The daily routine:
        shadow ingest predictions exports/predictions/ --point pump-inspection
        shadow ingest decisions exports/decisions.csv --point pump-inspection --mapping cmms.toml
        shadow ingest outcomes exports/outcomes.jsonl --point pump-inspection
        shadow loads                  # what each load did
        shadow rejects --load 2       # the rows it quarantined, and why
        shadow refresh                # compute the numbers and publish them
        shadow report --point pump-inspection
        shadow gates --point pump-inspection
    \b
    Running a model in shadow:
        shadow score --point pump-inspection --model model.joblib --cases cases.csv \\
            --model-version v1
    """


@cli.command()
@db_option
@reports_errors
def init(db: Path) -> None:
    """Create an empty store (or bring an existing one's schema up to date).

    \b
    Example:
        shadow init --db ops.duckdb
    """
    from shadow.store import Store

    existed = db.exists()
    with Store.open(db, create=True):  # opening creates the file and applies the schema
        pass
    if existed:
        click.echo(f"Store {db} exists; schema is up to date.")
    else:
        click.echo(f"Created the store {db}.")
    click.echo("Next: register a decision point with `shadow point add point.toml`.")


@cli.group()
def point() -> None:
    """Register and list decision points (where a model shadows people)."""


@point.command("add")
@db_option
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--update", is_flag=True, help="Replace a registered point's definition.")
@reports_errors
def point_add(db: Path, files: tuple[Path, ...], update: bool) -> None:
    """Register the decision point defined in each TOML FILE.

    \b
    Example (point.toml):
        id = "pump-inspection"
        name = "Should this pump be inspected this week?"
        owner = "Dana Reyes, maintenance lead"
        task = "binary"                  # or "multiclass"
        labels = ["inspect", "no_inspect"]
        positive_label = "inspect"
        segments = ["site", "asset_class"]
        timezone = "Europe/Berlin"
        [policy]
    \b
        shadow point add point.toml
    """
    from shadow.points import add_point, read_point
    from shadow.store import Store

    parsed = [read_point(f) for f in files]  # check every file before touching the store
    with Store.open(db, create=True) as store:
        for point_def, text in parsed:
            result = add_point(store, point_def, text, update=update)
            click.echo(f"{point_def.point_id}: {result} (owner: {point_def.owner})")


@point.command("list")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@reports_errors
def point_list(db: Path, as_json: bool) -> None:
    """List the registered decision points.

    \b
    Example:
        shadow point list
    """
    from dataclasses import asdict

    from shadow.points import list_points
    from shadow.store import Store

    with Store.open(db, read_only=True) as store:
        points = list_points(store)
    if as_json:
        click.echo(json.dumps([asdict(p) for p in points], indent=2))
        return
    if not points:
        click.echo("No decision points yet. Add one with `shadow point add point.toml`.")
    for p in points:
        click.echo(f"{p.point_id}: {p.name}")
        click.echo(f"  owner: {p.owner}")
        positive = f" (positive: {p.positive_label})" if p.positive_label else ""
        click.echo(f"  task: {p.task_type}, labels: {', '.join(p.labels)}{positive}")
        click.echo(
            f"  segments: {', '.join(p.segment_columns) or '(none)'}; timezone: {p.timezone}"
        )


@cli.command()
@db_option
@click.argument("log", type=click.Choice(LOG_NAMES))
@click.argument("paths", nargs=-1, required=True)
@click.option("--point", "point_id", help="Decision point of every row (else a point_id column).")
@click.option("--mapping", type=click.Path(path_type=Path), help="Source mapping TOML file.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet", "jsonl"]),
    help="Override the extension.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the load summaries as JSON.")
@click.option(
    "--force",
    is_flag=True,
    help="Load a file again even if it was loaded before (rows still dedupe).",
)
@wait_option
@reports_errors
def ingest(
    db: Path,
    log: str,
    paths: tuple[str, ...],
    point_id: str | None,
    mapping: Path | None,
    fmt: str | None,
    as_json: bool,
    force: bool,
    wait: float,
) -> None:
    """Load LOG (predictions, decisions or outcomes) from files, folders or glob patterns.

    Every row read is accepted, skipped as an exact duplicate, or quarantined with a reason.
    Each file is one atomic load; loading the same file again changes nothing.

    \b
    Examples:
        shadow ingest decisions decisions.csv --point pump-inspection
        shadow ingest predictions 'exports/2026-*/predictions.parquet' --point pump-inspection
        shadow ingest outcomes findings.csv --point pump-inspection --mapping cmms.toml
    """
    from shadow.ingestion import ingest_into, plan_sources
    from shadow.store import Store

    sources = plan_sources(list(paths), fmt)
    summaries: list[LoadSummary] = []
    many = len(sources) > 1
    with _Progress(enabled=not as_json, sources=sources) as progress:

        def done(summary: LoadSummary) -> None:
            summaries.append(summary)
            # a lake given whole every day: the files loaded before are counted, not listed
            if not as_json and not (many and summary.already_loaded_as is not None):
                progress.pause()  # print each file's summary as soon as it is committed
                _print_summary(summary)

        try:
            with Store.open(db, wait=wait) as store:
                ingest_into(
                    store,
                    log,
                    sources,
                    point=point_id,
                    mapping=mapping,
                    step=progress.step,
                    force=force,
                    on_done=done,
                )
        except ShadowError as e:
            if as_json:
                click.echo(json.dumps([s.as_dict() for s in summaries], indent=2))
            if summaries:
                n = len(summaries)
                earlier = f"{n} earlier file{'s' if n > 1 else ''} {'were' if n > 1 else 'was'}"
                e.hint = f"{earlier} loaded (see above); " + (
                    e.hint or "fix this file and run again"
                )
            raise
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in summaries], indent=2))
        return
    if len(summaries) > 1:
        new = [s for s in summaries if s.already_loaded_as is None]
        before = len(summaries) - len(new)
        if before:
            click.echo(
                f"{before:,} of {len(summaries):,} files already loaded (same content, same"
                " options): nothing changed (--force loads them again)."
            )
        if new:
            total = sum(s.rows_read for s in new)
            click.echo(
                f"{len(new):,} file{'s' if len(new) != 1 else ''} loaded, {_rows(total)} read: "
                f"{sum(s.accepted for s in new):,} accepted, "
                f"{sum(s.duplicates for s in new):,} duplicates skipped, "
                f"{sum(s.quarantined for s in new):,} quarantined."
            )


def _print_summary(s: LoadSummary) -> None:
    from shadow.loads import REASONS

    if s.already_loaded_as is not None:
        click.echo(
            f"{s.source}: already loaded as load {s.already_loaded_as} (same content, same"
            f" options): nothing changed ({_rows(s.rows_read)}; --force loads it again)."
        )
        return
    click.echo(f"{s.source} -> {s.log} (load {s.load_id}, {s.seconds:.1f} s)")
    click.echo(
        f"  {_rows(s.rows_read)} read: {s.accepted:,} accepted, {s.duplicates:,} duplicates"
        f" skipped, {s.quarantined:,} quarantined"
    )
    for code, n in sorted(s.by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
        click.echo(f"    {n:>9,}  {code}: {REASONS.get(code, code)}")
    for warning in s.warnings:
        click.echo(f"  note: {warning}")
    if s.quarantined:
        click.echo(f"  see them with: shadow rejects --load {s.load_id}")


def _rows(n: int) -> str:
    return f"{n:,} row" + ("" if n == 1 else "s")


class _Progress:
    """A progress bar on stderr that appears only when a load takes more than a second."""

    def __init__(
        self,
        *,
        enabled: bool,
        weights: dict[str, tuple[float, float]] | None = None,
        sources: list[Source] | None = None,
    ) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        # with many files (a lake), each bar says which file of how many it is
        many = sources is not None and len(sources) > 1
        self.place = (
            {s.name: f"[{i:,}/{len(sources):,}] " for i, s in enumerate(sources, 1)}
            if many and sources is not None
            else {}
        )
        # each phase's (start, share) of the bar
        self.weights = weights or {
            "hashing": (0.0, 0.05),
            "reading": (0.05, 0.6),
            "checking": (0.65, 0.2),
            "writing": (0.85, 0.15),
        }
        self.started = time.monotonic()
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def pause(self) -> None:
        """Take the bar off the screen (to print); the next step shows a new one."""
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
            self.tasks = {}

    def step(self, source: Source, phase: str, done: float) -> None:
        if not self.enabled or time.monotonic() - self.started < 1.0:
            return
        if self.bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.start()
        if source.name not in self.tasks:
            for other in self.tasks.values():  # one bar at a time: the file being loaded
                self.bar.remove_task(other)
            self.tasks = {source.name: self.bar.add_task(source.name, total=1.0)}
        task = self.tasks[source.name]
        start, span = self.weights.get(phase, (0.0, 1.0))
        self.bar.update(
            task,
            completed=start + span * done,
            description=f"{phase:<8} {self.place.get(source.name, '')}{source.name}",
        )


@cli.command()
@db_option
@click.option("--point", "point_id", required=True, help="The decision point the model shadows.")
@click.option(
    "--model",
    "model_path",
    required=True,
    type=click.Path(path_type=Path),
    help="A scikit-learn classifier or Pipeline saved with joblib.",
)
@click.option(
    "--cases",
    "cases_path",
    required=True,
    type=click.Path(path_type=Path),
    help="The cases to score: CSV, Parquet or JSON Lines with case_id and the model's features.",
)
@click.option("--model-version", required=True, help="The version logged with each prediction.")
@click.option("--model-name", help="The model's name logged with each prediction.")
@click.option(
    "--top",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Features in each case's explanation (0: no explanations, faster).",
)
@click.option(
    "--reference",
    "reference_path",
    type=click.Path(path_type=Path),
    help="Data (e.g. the training set) whose medians and most frequent values explanations are"
    " measured against; default: the cases themselves.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the load summary as JSON.")
@wait_option
@reports_errors
def score(
    db: Path,
    point_id: str,
    model_path: Path,
    cases_path: Path,
    model_version: str,
    model_name: str | None,
    top: int,
    reference_path: Path | None,
    as_json: bool,
    wait: float,
) -> None:
    """Score cases with a model in shadow and log its predictions.

    Each case gets the model's label, the probability of the positive label, and the TOP features
    that moved it most. Nothing is logged if the model's features or classes do not fit the cases
    and the decision point. The predictions load like `shadow ingest predictions` (atomic, duplicates
    skipped, bad rows quarantined).

    \b
    Example:
        shadow score --point pump-inspection --model pump-risk-v1.joblib \\
            --cases cases/2026-W10.parquet --model-version pump-risk-v1
    """
    from shadow.runner import score_cases

    weights = {
        "scoring": (0.0, 0.7),
        "hashing": (0.7, 0.02),
        "reading": (0.72, 0.1),
        "checking": (0.82, 0.1),
        "writing": (0.92, 0.08),
    }
    with _Progress(enabled=not as_json, weights=weights) as progress:
        summary = score_cases(
            db,
            point_id,
            model_path,
            cases_path,
            model_version=model_version,
            model_name=model_name,
            top=top,
            reference_path=reference_path,
            wait=wait,
            step=progress.step,
        )
        progress.pause()
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        _print_summary(summary)


@cli.command()
@db_option
@click.option("--limit", default=50, show_default=True, help="How many loads to show.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@reports_errors
def loads(db: Path, limit: int, as_json: bool) -> None:
    """List past loads, newest first: file, content hash, counts, when and by whom.

    \b
    Example:
        shadow loads --limit 10
    """
    from shadow.loads import past_loads
    from shadow.store import Store

    with Store.open(db, read_only=True) as store:
        frame = past_loads(store, limit=limit)
    if as_json:
        click.echo(json.dumps(frame.to_dicts(), indent=2, default=str))
        return
    if frame.is_empty():
        click.echo("No loads yet. Load a log with `shadow ingest decisions FILE --point ID`.")
        return
    for r in frame.iter_rows(named=True):
        when = r["loaded_at"].strftime("%Y-%m-%d %H:%M UTC")
        click.echo(
            f"load {r['load_id']}: {r['log']} from {r['source']} ({r['format']},"
            f" sha256 {r['content_hash'][:12]}), {when} by {r['loaded_by']}"
        )
        click.echo(
            f"  {_rows(r['rows_read'])} read: {r['rows_accepted']:,} accepted,"
            f" {r['rows_duplicate']:,} duplicates skipped, {r['rows_quarantined']:,} quarantined"
        )


@cli.command()
@db_option
@click.option("--load", "load_id", type=int, help="Only rows from this load (see `shadow loads`).")
@click.option("--reason", help="Only this reason code (e.g. unknown_label) or words in the reason.")
@click.option("--limit", type=int, default=100, show_default=True, help="Rows to print.")
@click.option(
    "--export",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write all matching rows to this CSV (original columns plus the reason), to fix and re-load.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@reports_errors
def rejects(
    db: Path,
    load_id: int | None,
    reason: str | None,
    limit: int,
    export: Path | None,
    as_json: bool,
) -> None:
    """Show quarantined rows with their reason and original values.

    \b
    Examples:
        shadow rejects --load 7
        shadow rejects --reason unknown_label --export to_fix.csv
    """
    from shadow.loads import export_rejects
    from shadow.loads import rejects as find_rejects
    from shadow.store import Store

    with Store.open(db, read_only=True) as store:
        frame = find_rejects(store, load_id=load_id, reason=reason, limit=None if export else limit)
    if export is not None:
        n = export_rejects(frame, export)
        click.echo(
            f"Wrote {n:,} quarantined rows to {export}. Fix them, then load the file again"
            " with the same command and mapping (the shadow_* columns are ignored)."
        )
        return
    if as_json:
        rows = [{**r, "original": json.loads(r["original"])} for r in frame.to_dicts()]
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if frame.is_empty():
        click.echo("No quarantined rows match.")
        return
    for r in frame.iter_rows(named=True):
        click.echo(f"load {r['load_id']} row {r['source_row']} ({r['source']}): {r['reason']}")
        click.echo(f"  {r['original']}")
    if frame.height == limit:
        click.echo(f"(first {limit} rows; use --limit or --export for more)")


@cli.command()
@db_option
@wait_option
@click.option("--json", "as_json", is_flag=True, help="Print what was computed as JSON.")
@click.option(
    "--cases-per-bucket",
    type=click.IntRange(min=1000),
    default=None,
    help="Read at most this many cases at a time (default 2,000,000): lower it to use less "
    "memory on a large store, raise it for speed on a big machine.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Compute everything again even when nothing has changed since the last refresh.",
)
@reports_errors
def refresh(
    db: Path, wait: float, as_json: bool, cases_per_bucket: int | None, force: bool
) -> None:
    """Compute the whole track record and publish it for the app and the reports.

    Reads the logs (holding the store, read-only, while it reads them), computes every number,
    and publishes them beside the store in one atomic step: <name>.published.duckdb links to a
    file named by its content in <name>.snapshots/, and readers see the old numbers until the
    new ones are complete. Memory stays bounded whatever the
    store's size: the cases are read a bucket at a time (--cases-per-bucket) and DuckDB spills
    beyond SHADOW_MEMORY_LIMIT (default 2GB). When nothing has changed since the last refresh
    (no load, sign-off or point definition, the same Shadow), the published numbers stand and
    nothing is computed (--force computes them again).

    Each refresh leaves what the next needs beside the store (<name>.cache/). After new loads,
    only the cases they touched are read again and the rest is taken from there, with the same
    numbers as a refresh of every case: the daily refresh costs what the day changed, not what
    the store holds. A new Shadow, a changed decision point or --force reads every case;
    deleting <name>.cache/ only costs that.

    \b
    Example:
        shadow refresh --db ops.duckdb
    """
    from shadow.refresh import refresh as run
    from shadow.refresh.records import CASES_PER_BUCKET
    from shadow.snapshot import published_path

    started = time.monotonic()

    def step(phase: str) -> None:
        if not as_json and sys.stderr.isatty():
            click.echo(f"  {phase} ({time.monotonic() - started:.1f} s) ...", err=True)

    summary = run(
        db, wait=wait, step=step, cases_per_bucket=cases_per_bucket or CASES_PER_BUCKET, force=force
    )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "unchanged": summary.unchanged,
                    "changed_cases": summary.changed_cases,
                    "published": str(published_path(db)),
                    "snapshot": str(summary.published.path),
                    "content_hash": summary.published.content_hash,
                    "rows": summary.published.rows,
                    "data_cut_off": summary.data_cut_off.isoformat()
                    if summary.data_cut_off
                    else None,
                    "seconds": round(summary.seconds, 3),
                    "points": [vars(p) for p in summary.points],
                },
                indent=2,
            )
        )
        return
    if not summary.points:
        click.echo(
            "No decision points yet: nothing to compute (register one with `shadow point add`)."
        )
    for p in summary.points:
        versions = ", ".join(p.versions) or "none yet"
        click.echo(
            f"{p.point_id}: {p.decided:,} cases decided by people; {p.paired:,} (case, model version)"
            f" pairs where the model scored the case at or before the person's decision, {p.resolved:,} of"
            f" them with a known outcome; {p.late_predictions:,} predictions came too late to count."
            f" Model versions: {versions}."
        )
    if summary.unchanged:
        click.echo(
            "Nothing has changed since the last refresh (no load, sign-off or point definition):"
            f" the numbers published to {published_path(db)} at"
            f" {summary.published.published_at:%Y-%m-%d %H:%M} UTC stand."
            " Use --force to compute them again."
        )
        return
    read = (
        "every case was read"
        if summary.changed_cases is None
        else f"{summary.changed_cases:,} cases changed since the last refresh were read again,"
        " the rest taken from it"
    )
    click.echo(
        f"Published to {published_path(db)} (snapshot {summary.published.content_hash[:12]}) in"
        f" {summary.seconds:.1f} s ({read}); the app and reports read it from now on."
    )


@cli.command()
@db_option
@click.option(
    "--mapping",
    "mappings",
    multiple=True,
    metavar="[LOG=]FILE",
    help="A mapping file the loads used; repeat for each (LOG=FILE names the log it is for).",
)
@click.option(
    "--partial",
    is_flag=True,
    help="Rebuild from the files that are there even if some are missing or changed (listed).",
)
@wait_option
@reports_errors
def recover(db: Path, mappings: tuple[str, ...], partial: bool, wait: float) -> None:
    """Rebuild a damaged store from your log files, as its record of loads lists them.

    The record (decision points, every load's file, log, point and format, the sign-offs) is
    read from the store if those small tables can still be read, else from the snapshot the last
    `shadow refresh` published beside it (loads made since then are not in it). Each load is run
    again in its original order from its file, at its original time, and gets back its load id,
    so a refresh afterwards publishes the same numbers. Paths are as they were given when loaded:
    run this from the same folder. A file that is missing or changed (by its sha256, or its
    counts) stops the rebuild before anything changes, unless --partial. The damaged file is
    kept as <store>.damaged; the new store takes its place.

    \b
    Example:
        shadow recover --db ops.duckdb --mapping decisions=cmms.toml --mapping outcomes=wo.toml
        shadow refresh --db ops.duckdb
    """
    from shadow.recover import recover as run

    started = time.monotonic()

    def step(text: str) -> None:
        if sys.stderr.isatty():
            click.echo(f"  {text} ({time.monotonic() - started:.1f} s) ...", err=True)

    done = run(db, mappings=list(mappings), partial=partial, wait=wait, step=step)
    click.echo(f"Read what went into {db} from {done.origin}.")
    click.echo(
        f"Rebuilt {db}: {done.points} decision point{'s' if done.points != 1 else ''},"
        f" {len(done.loads)} load{'s' if len(done.loads) != 1 else ''} run again from their files."
    )
    for problem in done.problems:
        click.echo(f"  not rebuilt: {problem}")
    if done.kept_as is not None:
        click.echo(f"The old store file is kept as {done.kept_as}.")
    click.echo(f"Next: publish the numbers again with `shadow refresh --db {db}`.")


@cli.command()
@db_option
@click.option("--point", "point_id", required=True, help="The decision point to brief on.")
@click.option("--segment", help="Only this segment, as column=value (e.g. site=kiel).")
@click.option(
    "--format", "fmt", type=click.Choice(["md", "html", "json"]), default="md", show_default=True
)
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file."
)
@reports_errors
def report(db: Path, point_id: str, segment: str | None, fmt: str, output: Path | None) -> None:
    """The morning briefing: how the model has done next to your people, in plain words.

    Reads the numbers published by `shadow refresh` (never the store itself). HTML is one
    self-contained file with charts; JSON is for machines.

    \b
    Example:
        shadow report --point pump-inspection --segment site=kiel
        shadow report --point pump-inspection --format html --output briefing.html
    """
    from shadow.report import briefing, render

    text = render(briefing(db, point_id, _segment(segment)), fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote the {fmt} briefing to {output}", err=True)


@cli.command()
@db_option
@click.option("--no-app", is_flag=True, help="Build the store only; do not open the app.")
@click.option("--port", type=int, default=8501, show_default=True, help="The app's port.")
@reports_errors
def demo(db: Path, no_app: bool, port: int) -> None:
    """Build a store from the bundled sample deployment, show what it holds, and open the app.

    \b
    Example:
        shadow demo --db demo.duckdb
        shadow demo --no-app          # build the store only
    """
    from shadow.demo import build_demo

    for line in build_demo(db):
        click.echo(line)
    if not no_app:
        _run_app(db, port, "127.0.0.1")


@cli.command()
@db_option
@click.option("--port", type=int, default=8501, show_default=True, help="The port to serve on.")
@click.option(
    "--address",
    default="127.0.0.1",
    show_default=True,
    help="The address to serve on (0.0.0.0 shows the app to your network).",
)
@reports_errors
def app(db: Path, port: int, address: str) -> None:
    """Open the track-record app in the browser, over the numbers published beside the store.

    The app only reads the published numbers (never the store), so loads and refreshes go on while
    it is open; it shows the new numbers after each `shadow refresh`. Ctrl+C stops it.

    \b
    Example:
        shadow app --db ops.duckdb --port 8502
    """
    _run_app(db, port, address)


def _run_app(db: Path, port: int, address: str) -> None:
    """Serve app/main.py with Streamlit on address:port over the store `db`, until Ctrl+C."""
    here = Path(__file__).resolve().parent
    scripts = [here / "_app" / "main.py", here.parent / "app" / "main.py"]
    script = next((s for s in scripts if s.is_file()), None)
    if script is None:
        raise ShadowError(
            "The app's files are not installed beside the shadow package",
            hint="install Shadow from its repository with `pip install -e .`",
        )
    command = [
        sys.executable,
        str(script.with_name("serve.py")),  # Streamlit's command, the pages' imports done early
        "run",
        str(script),
        "--server.address",
        address,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--",
        "--db",
        str(db.resolve()),
    ]
    click.echo(f"Opening the app at http://{address}:{port} over {db} (Ctrl+C stops it).")
    sys.stdout.flush()
    # Streamlit takes this process's place: Ctrl+C and a terminating signal reach the server itself,
    # and no server is left behind when this command is stopped.
    os.execv(sys.executable, command)


def _segment(segment: str | None) -> tuple[str, str] | None:
    """--segment column=value as (column, value), or a ShadowError naming the fix."""
    if segment is None:
        return None
    column, sep, value = segment.partition("=")
    if not sep or not column.strip() or not value.strip():
        raise ShadowError(
            f"--segment {segment!r} is not column=value", hint="e.g. --segment site=kiel"
        )
    return column.strip(), value.strip()


@cli.command()
@db_option
@click.option("--point", "point_id", required=True, help="The decision point to judge.")
@click.option("--segment", help="Only this segment, as column=value (e.g. site=kiel).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--fail-unless-ready",
    is_flag=True,
    help="Exit with status 3 unless every segment shown is ready for its next stage.",
)
@reports_errors
def gates(db: Path, point_id: str, segment: str | None, fmt: str, fail_unless_ready: bool) -> None:
    """Is each segment ready for its next stage? Every criterion, its evidence and what is missing.

    Reads the verdicts published by `shadow refresh`. The exit status is 0 whatever the verdicts,
    unless --fail-unless-ready is given (for automation).

    \b
    Example:
        shadow gates --point pump-inspection --segment site=munich
        shadow gates --point pump-inspection --format json --fail-unless-ready
    """
    from shadow.readiness import jsonable, render_text, verdicts

    found = verdicts(db, point_id, _segment(segment))
    if fmt == "json":
        click.echo(json.dumps(jsonable(found), indent=2, default=str, allow_nan=False))
    else:
        click.echo(render_text(found), nl=False)
    if fail_unless_ready and not all(s["ready"] for s in found["segments"]):
        sys.exit(3)


@cli.group(invoke_without_command=True)
@db_option
@click.option("--point", "point_id", help="The decision point.")
@click.option("--segment", help="The segment, as column=value (e.g. site=munich).")
@click.option("--to", "to_stage", help="The stage to move it to (up one, or down to any).")
@click.option("--by", "by", help="Who signs (recorded with the decision point's owner).")
@click.option("--reason", help="Why, in a sentence (recorded).")
@click.option("--override", help="Move up although the gate fails; the reason is recorded.")
@click.pass_context
@reports_errors
def signoff(
    ctx: click.Context,
    db: Path,
    point_id: str | None,
    segment: str | None,
    to_stage: str | None,
    by: str | None,
    reason: str | None,
    override: str | None,
) -> None:
    """Record a named decision to move a segment to a stage, with a frozen evidence snapshot.

    Moving up needs the gate to pass (see `shadow gates`), or --override with a reason.
    Moving down, or back to shadow (a pause), is always allowed. The log is append-only.

    \b
    Example:
        shadow signoff --point pump-inspection --segment site=munich --to advisory \\
            --by "Dana Reyes" --reason "Gate passed; engineers briefed"
        shadow signoff verify
    """
    if ctx.invoked_subcommand is not None:
        return
    missing = [
        f"--{name}"
        for name, value in (
            ("point", point_id),
            ("segment", segment),
            ("to", to_stage),
            ("by", by),
            ("reason", reason),
        )
        if not value
    ]
    if missing:
        raise click.UsageError("A sign-off needs " + ", ".join(missing))
    from shadow.signoffs import sign_off

    assert point_id and to_stage and by and reason
    chosen = _segment(segment)
    assert chosen is not None
    done = sign_off(db, point_id, chosen, to_stage, by=by, reason=reason, override=override)
    kind = "OVERRIDE: " if done.override else ""
    click.echo(
        f"{kind}Signed off {chosen[0]} = {chosen[1]}: {done.from_stage} -> {done.to_stage}"
        f" (sign-off {done.signoff_id}, evidence hash {done.snapshot_hash[:12]})."
    )


@signoff.command("verify")
@db_option
@reports_errors
def signoff_verify(db: Path) -> None:
    """Recompute every sign-off's hash and report any that do not match (tampering).

    Exit status 1 when one does not match.

    \b
    Example:
        shadow signoff verify --db ops.duckdb
    """
    from shadow.signoffs import history, verify

    problems = verify(db)
    if problems:
        raise ShadowError(
            "The sign-off log was changed after signing:\n" + "\n".join(problems),
            hint="restore the store from a backup and compare the sign-offs",
        )
    click.echo(f"All {len(history(db))} sign-offs match their hashes.")


@signoff.command("show")
@db_option
@click.argument("signoff_id", type=int)
@reports_errors
def signoff_show(db: Path, signoff_id: int) -> None:
    """Show one sign-off and its evidence snapshot exactly as it was recorded.

    \b
    Example:
        shadow signoff show 1
    """
    from shadow.signoffs import show

    click.echo(show(db, signoff_id), nl=False)


@cli.command()
@db_option
@click.option("--point", "point_id", required=True, help="The decision point.")
@reports_errors
def stages(db: Path, point_id: str) -> None:
    """Each segment's current stage, and the full sign-off history of the decision point.

    \b
    Example:
        shadow stages --point pump-inspection
    """
    from shadow.readiness import verdicts
    from shadow.signoffs import history

    found = verdicts(db, point_id)
    click.echo(f"{point_id}: owner {found['point']['owner']}")
    for s in found["segments"]:
        since = f" since {s['since'][:10]} ({s['signed_by']})" if s["since"] else ""
        flag = "  REVIEW: demotion alarm" if s["review"] else ""
        click.echo(f"  {s['segment']} = {s['segment_value']}: {s['stage']}{since}{flag}")
    log = [r for r in history(db) if r["point_id"] == point_id]
    click.echo("History:" if log else "History: no sign-off yet.")
    for r in log:
        by = r["signed_by"] + ("" if r["signed_by"] == r["owner"] else f" (owner: {r['owner']})")
        over = f" OVERRIDE: {r['override_reason']}" if r["override_reason"] else ""
        click.echo(
            f"  {r['signoff_id']}. {r['signed_at']:%Y-%m-%d %H:%M} UTC {r['segment']} ="
            f" {r['segment_value']}: {r['from_stage']} -> {r['to_stage']}, by {by}:"
            f" {r['reason']} (policy version {r['policy_version']}){over}"
        )


def keep_freed_memory() -> None:
    """Let Polars' allocator keep freed memory three seconds, not half a second, in this process.

    jemalloc gives freed memory back to the system half a second after it is freed, and a
    refresh, which frees and takes back a bucket's worth of memory (about 1.5 GB) several times a
    minute, then pays for it again in page faults: at 10M cases 7M faults, 25-30 s of system
    time. Kept three seconds, most of it is reused instead (bench/RESULTS.md, "Page faults").
    Polars reads the setting once, when it is first imported, so this must run before; a setting
    of the user's own is left as it is. A process-wide setting: the command makes it, the
    library never does.
    """
    if "polars" not in sys.modules:
        os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:3000,muzzy_decay_ms:3000")


def main() -> None:
    """Entry point of the `shadow` console script."""
    keep_freed_memory()
    cli()
