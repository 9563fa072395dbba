"""The sample deployment: a maintenance operation deciding "should this pump be inspected this week?".

A seeded simulation of a real operation, written the way its systems would export it, so that Shadow
can be tried on something that looks like work. Run it with

    python sample_data/generate.py                      # the committed sample (sample_data/pump_inspection)
    python sample_data/generate.py --cases 1000000 --out bench/data/sample-1m --clean-parquet

The world
---------
Twelve sites in three regions, each with its own pumps of two asset classes. Every pump is a case
every week (an "asset-week", e.g. ``HAM-P007-2026W14``). A hidden wear process decides the truth:
wear grows each week (faster for old and reciprocating pumps); a pump with more wear is more likely to
have a defect that an inspection would find (or that makes it fail within weeks if nobody looks).
The sensors (vibration, temperature, pressure) see wear through noise; age and days since the last
service are known.

Each week engineers decide which pumps to inspect, from rules of thumb (vibration, days since service,
temperature) plus their own judgement: skill differs by person and by site. An inspection repairs a
defect. Outcomes arrive later: the inspection finding a few days after an inspection; a failure (or
confirmation that none happened) weeks later for a pump that was not inspected; some never arrive, and
the newest ones are still pending when the logs are exported.

A scikit-learn model ("pump-risk") is trained on the 26 weeks before the shadow starts and scores every
case early on Monday, before the engineers decide, through the same code as ``shadow score``.

The stories the track record must reveal
----------------------------------------
- The model is better than the engineers at most sites, and worse at Kiel, where salt-water corrosion
  that no sensor measures causes defects the engineers can see and the model cannot.
- Essen's vibration sensors are recalibrated in week 20: they read half as much from then on, so the
  model there misses defects (its accuracy falls and its score distribution drifts).
- The model is upgraded from v1 (logistic regression) to v2 (gradient boosting, trained on more data)
  in week 24; both run side by side for two weeks.
- At Dortmund the maintenance system only records findings of inspections: a pump that was not inspected
  never gets an outcome (selective labels).
- In week 31 the model's batch job failed at Bremen and was re-run on Wednesday evening, after most
  decisions were made: those predictions are late and must not count.
- Engineers sometimes revise a decision the next day; a few decisions are changed after the outcome was
  known (they must be ignored and flagged); a few outcomes are corrected after a lab report.

The messy exports
-----------------
- predictions.jsonl: the model service's JSON log, with its own column names; the service retried some
  writes (exact duplicate lines), crashed twice mid-line (broken JSON) and logged a few scores as "NaN".
- decisions.csv: the maintenance system's (CMMS) semicolon-separated export with German column names
  of its own, naive local times in two formats, label spellings (Y, yes, 1, Inspect / N, no, 0, ...),
  blank lines, duplicated rows, and a few rows that are broken (no asset, an impossible date, "?").
- outcomes.csv: the work-order system's export in UTC with its own finding texts, corrections, and a
  few unusable rows.
Every row the generator damages is recorded in ``generator_record.json`` with the reason the loader
must give, so a test can check that the quarantine caught exactly those rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
POINT_ID = "pump-inspection"
TIMEZONE = "Europe/Berlin"
SHADOW_START = date(2026, 1, 5)  # a Monday: week 0 of the shadow
SHADOW_WEEKS = 40  # the bundled sample's weeks of shadow (--weeks for another length)
TRAINING_WEEKS = 26  # weeks of history before the shadow starts, used to train v1
EXPORTED_AT = datetime(2026, 10, 16, 12, 0, tzinfo=UTC)  # the Friday after the last shadow week


def exported_at(weeks: int, start: date = SHADOW_START) -> datetime:
    """The export's moment: noon UTC on the Friday after the last of `weeks` shadow weeks."""
    friday = start + timedelta(weeks=weeks, days=4)
    return datetime(friday.year, friday.month, friday.day, 12, 0, tzinfo=UTC)


assert exported_at(SHADOW_WEEKS) == EXPORTED_AT
MODEL = "pump-risk"
FEATURES = [
    "vibration_mm_s",
    "temperature_c",
    "pressure_bar",
    "age_years",
    "days_since_service",
    "asset_class",
]
SEGMENTS = ["site", "region", "asset_class"]

# The stories, by site and week (see the module docstring).
PEOPLE_BETTER_SITE = "kiel"
DRIFT_SITE, DRIFT_WEEK, DRIFT_FACTOR = "essen", 20, 0.5
SELECTIVE_SITE = "dortmund"
LATE_SITE, LATE_WEEK = "bremen", 31
V2_FROM_WEEK, V1_UNTIL_WEEK = 24, 25

SITES = {  # site: (code, region, engineers as (name, noise in logits, bias in logits))
    "hamburg": ("HAM", "north", [("m.keller", 1.3, 0.2), ("a.yilmaz", 1.6, 0.0)]),
    "bremen": ("BRE", "north", [("j.hansen", 1.4, 0.3), ("s.novak", 1.8, -0.2)]),
    "kiel": ("KIE", "north", [("h.petersen", 0.8, 0.3), ("l.jensen", 0.9, 0.4)]),
    "rostock": ("ROS", "north", [("k.wolff", 1.7, 0.4), ("t.brandt", 1.5, 0.0)]),
    "munich": ("MUC", "south", [("f.huber", 1.2, 0.2), ("e.bauer", 2.0, 0.5)]),
    "stuttgart": ("STR", "south", [("p.schmid", 1.5, 0.1), ("r.weber", 1.6, 0.3)]),
    "nuremberg": ("NUE", "south", [("c.koch", 1.9, 0.0), ("d.richter", 1.4, 0.2)]),
    "augsburg": ("AGB", "south", [("b.maier", 1.6, 0.6), ("n.graf", 1.3, 0.1)]),
    "cologne": ("CGN", "west", [("o.schulz", 1.4, 0.2), ("i.klein", 1.7, 0.0)]),
    "dortmund": ("DTM", "west", [("g.wagner", 1.5, 0.4), ("v.lange", 1.6, 0.2)]),
    "essen": ("ESS", "west", [("u.vogel", 1.3, 0.1), ("w.krause", 1.5, 0.3)]),
    "duisburg": ("DUI", "west", [("z.frank", 1.8, 0.2), ("y.berg", 1.4, 0.0)]),
}


@dataclass
class World:
    """Every case of the simulation, with the hidden truth; `history` is the pre-shadow period."""

    cases: pl.DataFrame  # one row per shadowed asset-week
    upcoming: pl.DataFrame  # the week after the export: cases not decided yet
    history: pl.DataFrame  # one row per pre-shadow asset-week (for training)
    weeks: int = SHADOW_WEEKS  # weeks of shadow in `cases`
    start: date = SHADOW_START  # the Monday the shadow starts

    @property
    def exported_at(self) -> datetime:
        return exported_at(self.weeks, self.start)


def simulate(
    seed: int = 7, pumps_per_site: int = 16, weeks: int = SHADOW_WEEKS, start: date = SHADOW_START
) -> World:
    """Run the operation week by week; vectorised across pumps."""
    rng = np.random.default_rng(seed)
    site_names = list(SITES)
    n_sites = len(site_names)
    # Pumps per site vary around the mean (small sites and big ones).
    per_site = np.maximum(4, rng.poisson(pumps_per_site, n_sites))
    site_of = np.repeat(np.arange(n_sites), per_site)
    n = len(site_of)
    pump_no = np.concatenate([np.arange(k) for k in per_site])
    recip = rng.random(n) < 0.4
    age0 = rng.uniform(1.0, 24.0, n)
    wear = rng.uniform(0.0, 0.8, n)
    since_service = rng.integers(0, 300, n).astype(float)
    wear_rate = 0.03 * (1 + 0.6 * recip) * (1 + age0 / 20)
    bearing = np.zeros(n, dtype=bool)
    corroded = np.zeros(n, dtype=bool)
    coastal = np.array([s == PEOPLE_BETTER_SITE for s in site_names])[site_of]
    drift_site = np.array([s == DRIFT_SITE for s in site_names])[site_of]
    selective_site = np.array([s == SELECTIVE_SITE for s in site_names])[site_of]
    # Each site's engineers; a case goes to one of them.
    eng_names = [[e[0] for e in SITES[s][2]] for s in site_names]
    eng_noise = np.array([[e[1] for e in SITES[s][2]] for s in site_names])
    eng_bias = np.array([[e[2] for e in SITES[s][2]] for s in site_names])

    week_frames: list[pl.DataFrame] = []
    for week in range(-TRAINING_WEEKS, weeks + 1):
        monday = np.datetime64(start) + np.timedelta64(7 * week, "D")
        season = np.sin(2 * np.pi * (week + 1) / 52)
        wear += rng.gamma(0.6, wear_rate / 0.6)
        # A defect starts with a hazard that grows with wear and stays until it is repaired.
        hazard = 0.03 + 0.3 / (1 + np.exp(-6 * (wear - 1.0)))
        bearing |= rng.random(n) < hazard
        # Salt-water corrosion at the coastal site: a defect no sensor sees (engineers do).
        corroded |= coastal & (rng.random(n) < 0.12)
        defect = bearing | corroded
        vibration = 2.2 + 1.2 * recip + 1.0 * wear + 2.2 * bearing + rng.normal(0, 1.0, n)
        temperature = 58 + 4.0 * wear + 5.0 * bearing + 2 * season + rng.normal(0, 3.5, n)
        pressure = 6.2 - 0.5 * wear - 0.7 * bearing + rng.normal(0, 0.35, n)
        age = age0 + (week + TRAINING_WEEKS) / 52
        seen_vibration = np.where(
            drift_site & (week >= DRIFT_WEEK), vibration * DRIFT_FACTOR, vibration
        )
        # The engineer: a rule of thumb on what they see on site, plus their own judgement.
        which = rng.integers(0, 2, n)
        noise, bias = eng_noise[site_of, which], eng_bias[site_of, which]
        rule = (
            1.0 * (vibration - (4.6 + 1.2 * recip))
            + 0.01 * (since_service - 90)
            + 0.1 * (temperature - 66)
            + 3.5 * corroded  # engineers at the coast see the corrosion
        )
        inspect = rule + bias + rng.normal(0, 1, n) * noise > 0
        # Times, in local time: the decision Monday to Wednesday in working hours.
        decided_local = (
            monday
            + rng.integers(0, 3, n).astype("timedelta64[D]")
            + np.timedelta64(7, "h")
            + rng.integers(0, 9 * 60, n).astype("timedelta64[m]")
        )
        # The outcome: an inspection finding within days; otherwise a failure within weeks, or
        # confirmation at the four-to-six-weekly routine check that nothing failed.
        delay_hours = np.where(
            inspect,
            rng.integers(20, 5 * 24, n),
            np.where(defect, rng.integers(3 * 24, 30 * 24, n), rng.integers(28 * 24, 42 * 24, n)),
        )
        observed = rng.random(n) >= 0.03  # some outcomes are never recorded
        observed &= ~(selective_site & ~inspect)  # Dortmund records inspection findings only
        week_frames.append(
            pl.DataFrame(
                {
                    "week": np.full(n, week),
                    "site_i": site_of,
                    "pump": pump_no,
                    "recip": recip,
                    "vibration_mm_s": np.round(seen_vibration, 2),
                    "true_vibration": vibration,
                    "temperature_c": np.round(temperature, 1),
                    "pressure_bar": np.round(pressure, 2),
                    "age_years": np.round(age, 1),
                    "days_since_service": since_service.copy(),
                    "defect": defect.copy(),
                    "corroded": corroded.copy(),
                    "inspect": inspect,
                    "engineer": which,
                    "decided_local": decided_local.astype("datetime64[us]"),
                    "delay_hours": delay_hours,
                    "observed": observed,
                }
            )
        )
        # What the decision does to the pump: an inspection repairs a defect and services the pump;
        # an uninspected defect may fail within the week, and is repaired then.
        repaired = inspect | (defect & (rng.random(n) < 0.4))
        wear = np.where(repaired & defect, wear * 0.3, np.where(inspect, wear * 0.85, wear))
        bearing &= ~repaired
        corroded &= ~repaired
        since_service = np.where(repaired, 0.0, since_service + 7)

    frame = pl.concat(week_frames)
    site_table = pl.DataFrame(
        {
            "site_i": np.arange(n_sites),
            "site": site_names,
            "code": [SITES[s][0] for s in site_names],
            "region": [SITES[s][1] for s in site_names],
        }
    )
    names = pl.DataFrame(
        {
            "site_i": np.repeat(np.arange(n_sites), 2),
            "engineer": np.tile([0, 1], n_sites),
            "decided_by": [name for names_ in eng_names for name in names_],
        }
    )
    monday = pl.lit(start) + pl.duration(days=pl.col("week") * 7)
    frame = (
        frame.join(site_table, on="site_i")
        .join(names, on=["site_i", "engineer"])
        .with_columns(
            monday=monday,
            asset_class=pl.when("recip")
            .then(pl.lit("reciprocating"))
            .otherwise(pl.lit("centrifugal")),
            human_label=_label("inspect"),
            actual_label=_label("defect"),
            decided_at=pl.col("decided_local")
            .dt.replace_time_zone(TIMEZONE)
            .dt.convert_time_zone("UTC"),
        )
        .with_columns(
            case_id=pl.format(
                "{}-P{}-{}W{}",
                "code",
                pl.col("pump").cast(pl.String).str.zfill(3),
                pl.col("monday").dt.iso_year(),
                pl.col("monday").dt.week().cast(pl.String).str.zfill(2),
            ),
            observed_at=pl.when("observed").then(
                pl.col("decided_at") + pl.duration(hours=pl.col("delay_hours"))
            ),
        )
        .sort("week", "site_i", "pump")
    )
    keep = [
        "case_id",
        "week",
        "monday",
        "site",
        "region",
        "asset_class",
        "pump",
        *FEATURES[:-1],
        "true_vibration",
        "defect",
        "corroded",
        "decided_by",
        "human_label",
        "decided_at",
        "actual_label",
        "observed_at",
    ]
    frame = frame.select(keep)
    return World(
        cases=frame.filter(pl.col("week").is_between(0, weeks - 1)),
        upcoming=frame.filter(pl.col("week") == weeks),
        history=frame.filter(pl.col("week") < 0),
        weeks=weeks,
        start=start,
    )


def _label(flag: str) -> pl.Expr:
    return pl.when(flag).then(pl.lit("inspect")).otherwise(pl.lit("no_inspect"))


# ---------------------------------------------------------------------------------------------
# The model: trained before the shadow starts (v1), retrained on more data for the upgrade (v2)


def train_models(world: World, seed: int = 7) -> dict[str, Any]:
    """v1 on the 26 weeks before the shadow; v2 on everything known when week 23 began."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    def known_by(frame: pl.DataFrame, cutoff: date) -> pl.DataFrame:
        limit = datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=UTC)
        known = frame.filter(pl.col("observed_at") < limit)
        if len(known) > 200_000:  # plenty to learn from; keeps the 10M build quick
            known = known.sample(200_000, seed=seed)
        return known

    v1_data = known_by(world.history, world.start)
    v1 = make_pipeline(
        ColumnTransformer(
            [
                ("numbers", StandardScaler(), FEATURES[:-1]),
                ("class", OneHotEncoder(), ["asset_class"]),
            ]
        ),
        LogisticRegression(max_iter=1000),
    ).fit(v1_data.select(FEATURES), v1_data["actual_label"])
    v2_cutoff = world.start + timedelta(weeks=V2_FROM_WEEK - 1)
    v2_data = known_by(pl.concat([world.history, world.cases]), v2_cutoff)
    v2 = HistGradientBoostingClassifier(
        categorical_features=["asset_class"], max_iter=150, learning_rate=0.08, random_state=seed
    ).fit(v2_data.select(FEATURES), v2_data["actual_label"])
    return {"v1": v1, "v2": v2}


def predictions(world: World, models: dict[str, Any], seed: int = 7, top: int = 3) -> pl.DataFrame:
    """Each model version scores its weeks' cases early on Monday, through `shadow score`'s code."""
    from shadow.points import parse_point
    from shadow.runner import score_frame

    point = parse_point((HERE / "pump_inspection" / "point.toml").read_text())
    rng = np.random.default_rng(seed + 1)
    cases = world.cases
    # The batch runs at 05:00 local on Monday (a few minutes' spread); at Bremen in week 31 it
    # failed and was re-run on Wednesday evening, after most engineers had decided.
    minutes = rng.integers(0, 40, len(cases))
    late = (pl.col("site") == LATE_SITE) & (pl.col("week") == LATE_WEEK)
    cases = cases.with_columns(
        predicted_at=(
            pl.col("monday").cast(pl.Datetime("us"))
            + pl.when(late).then(pl.duration(days=2, hours=18)).otherwise(pl.duration(hours=5))
            + pl.duration(minutes=pl.Series(minutes))
        )
        .dt.replace_time_zone(TIMEZONE)
        .dt.convert_time_zone("UTC")
    )
    out = []
    for version, weeks in (("v1", (0, V1_UNTIL_WEEK)), ("v2", (V2_FROM_WEEK, world.weeks - 1))):
        batch = cases.filter(pl.col("week").is_between(*weeks))
        scored = score_frame(
            models[version], batch, point=point, model_version=version, model_name=MODEL, top=top
        )
        out.append(scored)
    return pl.concat(out, how="diagonal_relaxed")


# ---------------------------------------------------------------------------------------------
# The logs as the operation's systems export them, and the record of every row made bad


@dataclass
class Export:
    """One exported file: its header and rows, and what the loader must make of them."""

    name: str
    header: str | None  # CSV files have one
    rows: list[str]
    encoding: str = "utf-8"
    duplicates: int = 0  # rows written twice
    bad: list[tuple[int, str]] = field(default_factory=list)  # (row number, reason code)


def decision_rows(world: World, seed: int) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The decisions log in contract form: one per case, plus revisions made the day after."""
    rng = np.random.default_rng(seed + 2)
    cases = world.cases
    first = cases.select("case_id", "decided_at", "human_label", "decided_by", *SEGMENTS)
    # Revisions before the outcome was known: the engineer changes their mind the next day.
    resolved_late = cases.filter(
        (pl.col("observed_at") > pl.col("decided_at") + pl.duration(days=3))
        & (pl.col("observed_at") < pl.lit(world.exported_at) - pl.duration(days=2))
    )
    picks = rng.choice(len(resolved_late), size=min(14, len(resolved_late)), replace=False)
    revised = resolved_late[np.sort(picks)]
    before = revised.head(11).with_columns(decided_at=pl.col("decided_at") + pl.duration(days=1))
    # ...and three changed after the outcome was observed: these must be ignored and flagged.
    after = revised.tail(3).with_columns(decided_at=pl.col("observed_at") + pl.duration(days=1))
    flip = pl.when(pl.col("human_label") == "inspect").then(pl.lit("no_inspect"))
    changes = pl.concat([before, after]).with_columns(human_label=flip.otherwise(pl.lit("inspect")))
    rows = pl.concat([first, changes.select(first.columns)]).sort("decided_at", "case_id")
    record = {
        "revised_before_outcome": before["case_id"].to_list(),
        "changed_after_outcome": after["case_id"].to_list(),
    }
    return rows, record


def outcome_rows(world: World, seed: int) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The outcomes known at export time; a few first recorded wrongly and corrected later."""
    rng = np.random.default_rng(seed + 3)
    exported = pl.lit(world.exported_at)
    known = world.cases.filter(pl.col("observed_at") < exported).select(
        "case_id", "observed_at", "actual_label"
    )
    corrected_at = pl.col("observed_at") + pl.duration(days=5)
    candidates = known.filter(corrected_at < exported)
    picks = np.sort(rng.choice(len(candidates), size=min(12, len(candidates)), replace=False))
    fixes = candidates[picks].with_columns(
        observed_at=corrected_at, note=pl.lit("corrected after lab report")
    )
    flip = pl.when(pl.col("actual_label") == "inspect").then(pl.lit("no_inspect"))
    wrong_first = set(fixes["case_id"].to_list())
    known = known.with_columns(
        actual_label=pl.when(pl.col("case_id").is_in(wrong_first))
        .then(flip.otherwise(pl.lit("inspect")))
        .otherwise("actual_label"),
        note=pl.lit(None, pl.String),
    )
    rows = pl.concat([known, fixes]).sort("observed_at", "case_id")
    return rows, {"corrected": fixes["case_id"].to_list()}


def _place(
    rng: np.random.Generator,
    lines: list[str],
    damaged: dict[int, str],
    *,
    blanks: int,
    blank: str,
    duplicates: int,
) -> tuple[list[str], list[tuple[int, str]]]:
    """Add blank lines and lines written twice; return the lines and the bad (row, reason) list.

    `damaged` maps an index into `lines` to the reason the loader must give for it. Rows are
    numbered from 1 without the header, as the quarantine's source_row counts them.
    """
    n = len(lines)
    undamaged = np.setdiff1d(np.arange(n), np.array(sorted(damaged), dtype=np.int64))
    twice = set(rng.choice(undamaged, size=duplicates, replace=False).tolist())
    blank_after = set(rng.choice(n, size=blanks, replace=False).tolist())
    out: list[str] = []
    bad: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        out.append(line)
        if i in damaged:
            bad.append((len(out), damaged[i]))
        if i in twice:  # the system wrote the row twice
            out.append(line)
        if i in blank_after:
            out.append(blank)
            bad.append((len(out), "blank_row"))
    return out, bad


def export_predictions(rows: pl.DataFrame, seed: int) -> Export:
    """The model service's JSON log: its own keys, local times with offsets, nested reasons."""
    rng = np.random.default_rng(seed + 4)
    rows = rows.sort("predicted_at", "case_id", "model_version")
    local = rows["predicted_at"].dt.convert_time_zone(TIMEZONE).dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
    lines = []
    for r, at in zip(rows.iter_rows(named=True), local, strict=True):
        record = {
            "asset_week": r["case_id"],
            "scored_at": at,
            "model": r["model"],
            "version": r["model_version"],
            "prediction": r["predicted_label"],
            "p_inspect": round(r["score"], 4),
            "reasons": json.loads(r["explanation"]) if r["explanation"] else None,
            "site": r["site"],
            "region": r["region"],
            "asset_class": r["asset_class"],
        }
        lines.append(json.dumps(record))
    picks = rng.choice(len(lines), size=5, replace=False).tolist()
    damaged: dict[int, str] = {}
    for i in picks[:3]:  # a division by zero upstream logged as the text "NaN"
        record = json.loads(lines[i])
        record["p_inspect"] = "NaN"
        lines[i] = json.dumps(record)
        damaged[i] = "score_not_a_number"
    for i in picks[3:]:  # the service crashed mid-line
        lines[i] = lines[i][: len(lines[i]) // 2]
        damaged[i] = "invalid_json"
    out, bad = _place(rng, lines, damaged, blanks=0, blank="", duplicates=24)
    return Export("predictions.jsonl", None, out, duplicates=24, bad=bad)


DECISION_HEADER = (
    "Objekt-Woche;Entschieden am;Prüfung;Techniker;Standort;Region;Anlagenklasse;Bemerkung"
)
NOTES = [
    "Lager läuft laut",
    "Dichtung tropft; bei nächster Runde prüfen",
    "nach Rücksprache mit Schichtleitung",
    'Kunde meldet "Klopfen"',
    "Temperatur erhöht",
]


def export_decisions(rows: pl.DataFrame, seed: int, keep: set[str]) -> Export:
    """The CMMS export: semicolons, Windows encoding, naive local times, many label spellings."""
    rng = np.random.default_rng(seed + 5)
    n = len(rows)
    local = rows["decided_at"].dt.convert_time_zone(TIMEZONE).dt.replace_time_zone(None)
    german = local.dt.strftime("%d.%m.%Y %H:%M")
    iso = local.dt.strftime("%Y-%m-%d %H:%M")
    when = np.where(rng.random(n) < 0.85, german.to_numpy(), iso.to_numpy())
    yes = np.array(["Y", "yes", "1", "Inspect"])[rng.choice(4, n, p=[0.5, 0.15, 0.1, 0.25])]
    no = np.array(["N", "no", "0", "No inspection"])[rng.choice(4, n, p=[0.5, 0.15, 0.1, 0.25])]
    label = np.where(rows["human_label"].to_numpy() == "inspect", yes, no)
    notes = np.where(rng.random(n) < 0.04, np.array(NOTES)[rng.integers(0, len(NOTES), n)], "")
    frame = pl.DataFrame(
        {
            "Objekt-Woche": rows["case_id"],
            "Entschieden am": when,
            "Prüfung": label,
            "Techniker": rows["decided_by"],
            "Standort": rows["site"],
            "Region": rows["region"],
            "Anlagenklasse": rows["asset_class"],
            "Bemerkung": notes,
        }
    )
    # Damage a few ordinary rows the way hand-typed entries go wrong.
    eligible = [i for i, c in enumerate(rows["case_id"]) if c not in keep]
    picks = rng.choice(eligible, size=8, replace=False).tolist()
    damaged: dict[int, str] = {}
    case_col, when_col, label_col = (frame[c].to_list() for c in frame.columns[:3])
    for i in picks[:2]:
        case_col[i] = ""
        damaged[i] = "missing_case_id"
    for i in picks[2:4]:
        when_col[i] = "31.02.2026 " + when_col[i][-5:]
        damaged[i] = "unparseable_timestamp"
    for i, text in zip(picks[4:7], ["?", "vielleicht", "?"], strict=True):
        label_col[i] = text
        damaged[i] = "unknown_label"
    label_col[picks[7]] = ""
    damaged[picks[7]] = "missing_label"
    frame = frame.with_columns(
        pl.Series("Objekt-Woche", case_col),
        pl.Series("Entschieden am", when_col),
        pl.Series("Prüfung", label_col),
    )
    body = frame.write_csv(separator=";", include_header=False).splitlines()
    out, bad = _place(rng, body, damaged, blanks=4, blank=";;;;;;;", duplicates=20)
    return Export("decisions.csv", DECISION_HEADER, out, "latin-1", duplicates=20, bad=bad)


def export_outcomes(rows: pl.DataFrame, seed: int, keep: set[str]) -> Export:
    """The work-order system: UTC times, its own finding texts, an extra work-order column."""
    rng = np.random.default_rng(seed + 6)
    n = len(rows)
    closed = rows["observed_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_list()
    finding = np.where(
        rows["actual_label"].to_numpy() == "inspect",
        np.array(["defect found", "failure"])[rng.integers(0, 2, n)],
        np.array(["no defect", "ok"])[rng.integers(0, 2, n)],
    ).tolist()
    eligible = [i for i, c in enumerate(rows["case_id"]) if c not in keep]
    picks = rng.choice(eligible, size=4, replace=False).tolist()
    damaged: dict[int, str] = {}
    for i in picks[:2]:
        finding[i] = "TBD"
        damaged[i] = "unknown_label"
    closed[picks[2]] = "2062" + closed[picks[2]][4:]  # a typo in the year
    damaged[picks[2]] = "future_timestamp"
    closed[picks[3]] = "n/a"
    damaged[picks[3]] = "unparseable_timestamp"
    frame = pl.DataFrame(
        {
            "work_order": [f"WO-{200000 + i}" for i in range(n)],
            "asset_week": rows["case_id"],
            "closed_at": closed,
            "finding": finding,
            "remarks": rows["note"].fill_null(""),
        }
    )
    body = frame.write_csv(include_header=False).splitlines()
    out, bad = _place(rng, body, damaged, blanks=2, blank=",,,,", duplicates=6)
    return Export("outcomes.csv", ",".join(frame.columns), out, duplicates=6, bad=bad)


def write_export(export: Export, folder: Path) -> dict[str, Any]:
    """Write the file and return its entry in the generator's record."""
    lines = ([export.header] if export.header else []) + export.rows
    (folder / export.name).write_bytes(("\n".join(lines) + "\n").encode(export.encoding))
    bad = sorted(export.bad)
    by_reason: dict[str, int] = {}
    for _, reason in bad:
        by_reason[reason] = by_reason.get(reason, 0) + 1
    rows = len(export.rows)
    return {
        "file": export.name,
        "rows": rows,
        "accepted": rows - len(bad) - export.duplicates,
        "exact_duplicates": export.duplicates,
        "quarantined": dict(sorted(by_reason.items())),
        "quarantined_rows": [{"row": row, "reason": reason} for row, reason in bad],
    }


# ---------------------------------------------------------------------------------------------


def build(
    out: Path,
    *,
    seed: int = 7,
    pumps_per_site: int = 16,
    weeks: int = SHADOW_WEEKS,
    start: date = SHADOW_START,
    top: int = 3,
    clean_parquet: bool = False,
    with_model: bool = False,
    progress: Any = print,
) -> dict[str, Any]:
    """Simulate, train, score and export; returns the generator's record."""
    out.mkdir(parents=True, exist_ok=True)
    progress(f"Simulating {len(SITES)} sites x about {pumps_per_site} pumps x {weeks} weeks ...")
    world = simulate(seed, pumps_per_site, weeks, start)
    progress(
        f"  {len(world.cases):,} shadowed cases; training the model on {len(world.history):,} earlier ones"
    )
    models = train_models(world, seed)
    progress(
        "Scoring every case with v1 and v2"
        + (f" (explaining each by its top {top} features)" if top else "")
        + " ..."
    )
    preds = predictions(world, models, seed, top)
    decisions, decision_story = decision_rows(world, seed)
    outcomes, outcome_story = outcome_rows(world, seed)
    late = preds.join(
        decisions.group_by("case_id").agg(pl.col("decided_at").min()), on="case_id"
    ).filter(pl.col("predicted_at") > pl.col("decided_at"))
    record: dict[str, Any] = {
        "generated_by": f"python sample_data/generate.py --seed {seed} --pumps-per-site {pumps_per_site}"
        + (f" --weeks {weeks}" if weeks != SHADOW_WEEKS else "")
        + (f" --start {start}" if start != SHADOW_START else ""),
        "seed": seed,
        "exported_at": world.exported_at.isoformat(),
        "cases": len(world.cases),
        "stories": {
            "people_better_site": PEOPLE_BETTER_SITE,
            "drift": {
                "site": DRIFT_SITE,
                "from_week": DRIFT_WEEK,
                "from_date": str(world.start + timedelta(weeks=DRIFT_WEEK)),
            },
            "upgrade": {
                "v2_from": str(world.start + timedelta(weeks=V2_FROM_WEEK)),
                "v1_until": str(world.start + timedelta(weeks=V1_UNTIL_WEEK + 1)),
            },
            "selective_labels_site": SELECTIVE_SITE,
            "late_predictions": {
                "site": LATE_SITE,
                "week": LATE_WEEK,
                "cases": sorted(late["case_id"].unique().to_list()),
            },
            **decision_story,
            "outcomes_corrected": outcome_story["corrected"],
        },
    }
    if clean_parquet:
        point = pl.lit(POINT_ID).alias("point_id")
        preds.select(point, pl.exclude("point_id")).write_parquet(out / "predictions.parquet")
        decisions.select(point, pl.all()).write_parquet(out / "decisions.parquet")
        outcomes.select(point, pl.all()).write_parquet(out / "outcomes.parquet")
        record["logs"] = {
            log: {"file": f"{log}.parquet"} for log in ("predictions", "decisions", "outcomes")
        }
    else:
        keep = set(decision_story["revised_before_outcome"]) | set(
            decision_story["changed_after_outcome"]
        )
        keep |= set(outcome_story["corrected"])
        progress("Writing the exports ...")
        record["logs"] = {
            "predictions": write_export(export_predictions(preds, seed), out),
            "decisions": write_export(export_decisions(decisions, seed, keep), out),
            "outcomes": write_export(export_outcomes(outcomes, seed, keep), out),
        }
    if with_model:  # for trying `shadow score`: the v2 model and next week's undecided cases
        import joblib

        joblib.dump(models["v2"], out / "pump-risk-v2.joblib")
        world.upcoming.select("case_id", *SEGMENTS, *FEATURES[:-1]).write_csv(
            out / "cases-next-week.csv"
        )
    (out / "generator_record.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=HERE / "pump_inspection", help="folder to write"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pumps-per-site", type=int, default=16)
    parser.add_argument("--cases", type=int, help="about this many cases (sets --pumps-per-site)")
    parser.add_argument(
        "--weeks",
        type=int,
        default=SHADOW_WEEKS,
        help="weeks of shadow (at least 26: v2 starts in week 24)",
    )
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        default=SHADOW_START,
        help=f"the Monday the shadow starts (default {SHADOW_START}); every log time must be past",
    )
    parser.add_argument("--top", type=int, default=3, help="features per explanation (0: none)")
    parser.add_argument(
        "--with-model",
        action="store_true",
        help="also save the v2 model and next week's cases, to try `shadow score` on",
    )
    parser.add_argument(
        "--clean-parquet",
        action="store_true",
        help="write the logs in Shadow's own columns as Parquet (for benchmarks)",
    )
    args = parser.parse_args(argv)
    pumps = args.pumps_per_site
    if args.cases:
        pumps = max(1, round(args.cases / (len(SITES) * args.weeks)))
    if args.start.weekday() != 0:
        parser.error(f"--start {args.start} is not a Monday")
    if args.weeks < V1_UNTIL_WEEK + 1:
        parser.error(
            f"--weeks must be at least {V1_UNTIL_WEEK + 1}: the model upgrade's overlap ends in week {V1_UNTIL_WEEK}"
        )
    record = build(
        args.out,
        seed=args.seed,
        pumps_per_site=pumps,
        weeks=args.weeks,
        start=args.start,
        top=args.top,
        clean_parquet=args.clean_parquet,
        with_model=args.with_model,
    )
    for log, entry in record["logs"].items():
        extra = (
            f", {entry['exact_duplicates']} duplicated, quarantine expected: {entry['quarantined']}"
            if "rows" in entry
            else ""
        )
        print(
            f"{log}: {args.out / entry['file']}"
            + (f" ({entry['rows']:,} rows{extra})" if "rows" in entry else "")
        )
    print(f"The record of what was made bad: {args.out / 'generator_record.json'}")


if __name__ == "__main__":
    sys.exit(main())
