"""Decision points: read their TOML definitions, check them, register and list them in the store."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from shadow.columns import LOGS, known_columns
from shadow.config import current_user, did_you_mean, load_toml, read_text
from shadow.errors import InvalidConfig, UnknownPoint
from shadow.policy import Policy, parse_policy

if TYPE_CHECKING:  # the store is handed in: a point's definition needs no database
    from shadow.store import Store

TASK_TYPES = ("binary", "multiclass")
_KEYS = (
    "id",
    "name",
    "owner",
    "task",
    "labels",
    "positive_label",
    "segments",
    "timezone",
    "policy",
)
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_RESERVED = {c for log in LOGS for c in known_columns(log)} | {"segments", "load_id", "source_row"}


@dataclass(frozen=True)
class DecisionPoint:
    """One place in the operation where a model runs in shadow next to people."""

    point_id: str
    name: str
    owner: str
    task_type: str
    labels: tuple[str, ...]
    positive_label: str | None
    segment_columns: tuple[str, ...]
    timezone: str
    policy: dict[str, Any] = field(default_factory=dict)

    def readiness(self) -> Policy:
        """The point's readiness policy, defaults filled in (it was checked when parsed)."""
        return parse_policy(self.policy, self.point_id, positive_label=self.positive_label)

    @classmethod
    def from_published(cls, row: dict[str, Any]) -> DecisionPoint:
        """The point from a row of the published `points` table (refresh writes it)."""
        return cls(
            point_id=row["point_id"],
            name=row["name"],
            owner=row["owner"],
            task_type=row["task"],
            labels=tuple(row["labels"]),
            positive_label=row["positive_label"],
            segment_columns=tuple(row["segments"]),
            timezone=row["timezone"],
            policy=json.loads(row["policy"] or "{}"),
        )


def parse_point(text: str, source: str = "<text>") -> DecisionPoint:
    """Check a decision point's TOML text and return it, or raise InvalidConfig naming the problem."""
    data = load_toml(text, source)

    def fail(problem: str, hint: str | None = None) -> InvalidConfig:
        return InvalidConfig(f"{source}: {problem}", hint=hint)

    unknown = [k for k in data if k not in _KEYS]
    if unknown:
        raise fail(
            f"unknown key {unknown[0]!r}" + did_you_mean(unknown[0], _KEYS),
            hint="the keys are " + ", ".join(_KEYS),
        )
    for key in ("id", "name", "owner", "task", "labels", "timezone"):
        if key not in data:
            raise fail(f"missing {key!r}", hint=f"add `{key} = ...` to the file")
    for key in ("id", "name", "owner", "task", "timezone"):
        if not isinstance(data[key], str) or not data[key].strip():
            raise fail(f"{key!r} must be a non-empty string")
    point_id = data["id"]
    if not _ID.match(point_id):
        raise fail(
            f"id {point_id!r} must be lower case letters, digits, '-', '_' or '.'",
            hint='for example id = "pump-inspection"',
        )
    task = data["task"]
    if task not in TASK_TYPES:
        raise fail(f"task {task!r} is not one of {', '.join(TASK_TYPES)}")
    labels = data["labels"]
    if (
        not isinstance(labels, list)
        or not all(isinstance(x, str) and x.strip() for x in labels)
        or len(set(labels)) != len(labels)
        or len(labels) < 2
    ):
        raise fail("labels must be a list of at least two different, non-empty strings")
    if task == "binary" and len(labels) != 2:
        raise fail(f"a binary task has exactly two labels, not {len(labels)}")
    positive = data.get("positive_label")
    if task == "binary" and positive is None:
        raise fail(
            "a binary task needs positive_label (the label that a missed case hurts most)",
            hint=f"for example positive_label = {labels[0]!r}",
        )
    if positive is not None and positive not in labels:
        raise fail(f"positive_label {positive!r} is not one of the labels {labels}")
    segments = data.get("segments", [])
    if not isinstance(segments, list) or not all(isinstance(s, str) for s in segments):
        raise fail("segments must be a list of column names")
    for s in segments:
        if not _SEGMENT.match(s):
            raise fail(f"segment column {s!r} must be letters, digits and '_'")
        if s in _RESERVED:
            raise fail(f"segment column {s!r} is a name the logs already use")
    if len(set(segments)) != len(segments):
        raise fail("segments lists a column twice")
    try:
        ZoneInfo(data["timezone"])
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise fail(
            f"unknown timezone {data['timezone']!r}"
            + did_you_mean(data["timezone"], sorted(available_timezones())),
            hint='use an IANA name such as "Europe/Berlin" or "UTC"',
        ) from e
    policy = data.get("policy", {})
    if not isinstance(policy, dict):
        raise fail("[policy] must be a table")
    parse_policy(policy, source, positive_label=positive)
    return DecisionPoint(
        point_id=point_id,
        name=data["name"].strip(),
        owner=data["owner"].strip(),
        task_type=task,
        labels=tuple(labels),
        positive_label=positive,
        segment_columns=tuple(segments),
        timezone=data["timezone"],
        policy=policy,
    )


def read_point(path: Path) -> tuple[DecisionPoint, str]:
    """The decision point defined in the TOML file at `path`, and the file's text."""
    text = read_text(path, "decision point")
    return parse_point(text, str(path)), text


def add_point(store: Store, point: DecisionPoint, definition: str, *, update: bool = False) -> str:
    """Register `point`; returns "added", "unchanged" or "updated". Changing one needs update=True."""
    existing = get_point(store, point.point_id, missing_ok=True)
    if existing == point:
        return "unchanged"
    if existing is not None and not update:
        raise InvalidConfig(
            f"Decision point {point.point_id!r} is already registered with a different definition",
            hint="run `shadow point add FILE --update` to replace it",
        )
    if existing is not None:
        changed = [
            name
            for name in ("task_type", "labels", "positive_label")
            if getattr(existing, name) != getattr(point, name)
        ]
        if changed and _has_rows(store, point.point_id):
            raise InvalidConfig(
                f"Cannot change {', '.join(changed)} of {point.point_id!r}: logs are already loaded"
                " under the old definition",
                hint="register a new decision point id for the new task",
            )
    values = {
        "id": point.point_id,
        "name": point.name,
        "owner": point.owner,
        "task": point.task_type,
        "labels": list(point.labels),
        "positive": point.positive_label,
        "segments": list(point.segment_columns),
        "tz": point.timezone,
        "policy": json.dumps(point.policy, default=str),
        "definition": definition,
        "by": current_user(),
    }
    with store.transaction():
        store.execute("DELETE FROM decision_points WHERE point_id = $id", {"id": point.point_id})
        store.execute(
            "INSERT INTO decision_points VALUES ($id, $name, $owner, $task, $labels, $positive,"
            " $segments, $tz, $policy, $definition, now(), $by)",
            values,
        )
        _record_policy(store, point)
    return "added" if existing is None else "updated"


def policy_version(store: Store, point_id: str) -> int:
    """The version number of `point_id`'s current policy (1 for the first; 0 if none recorded)."""
    rows = store.rows(
        "SELECT coalesce(max(version), 0) FROM policy_versions WHERE point_id = $id",
        {"id": point_id},
    )
    return int(rows[0][0])


def _record_policy(store: Store, point: DecisionPoint) -> None:
    """Record the point's policy as a new version when it differs from the latest one."""
    latest = store.rows(
        "SELECT policy FROM policy_versions WHERE point_id = $id ORDER BY version DESC LIMIT 1",
        {"id": point.point_id},
    )
    if latest and json.loads(latest[0][0]) == json.loads(json.dumps(point.policy, default=str)):
        return
    store.execute(
        "INSERT INTO policy_versions VALUES ($id, $version, $policy, now(), $by)",
        {
            "id": point.point_id,
            "version": policy_version(store, point.point_id) + 1,
            "policy": json.dumps(point.policy, default=str),
            "by": current_user(),
        },
    )


def list_points(store: Store) -> list[DecisionPoint]:
    """Every registered decision point, by id."""
    rows = store.rows(
        "SELECT point_id, name, owner, task_type, labels, positive_label, segment_columns,"
        " timezone, policy FROM decision_points ORDER BY point_id"
    )
    return [
        DecisionPoint(
            point_id=r[0],
            name=r[1],
            owner=r[2],
            task_type=r[3],
            labels=tuple(r[4]),
            positive_label=r[5],
            segment_columns=tuple(r[6]),
            timezone=r[7],
            policy=json.loads(r[8]),
        )
        for r in rows
    ]


def get_point(store: Store, point_id: str, *, missing_ok: bool = False) -> DecisionPoint | None:
    """The registered decision point `point_id`; UnknownPoint (or None) if there is none."""
    points = {p.point_id: p for p in list_points(store)}
    if point_id in points:
        return points[point_id]
    if missing_ok:
        return None
    raise unknown_point(point_id, list(points))


def unknown_point(point_id: str, known: list[str]) -> UnknownPoint:
    """The error for a decision point id that is not registered, with the closest known ids."""
    message = f"Unknown decision point {point_id!r}" + did_you_mean(point_id, known)
    if known:
        hint = "registered points: " + ", ".join(known) + "; add one with `shadow point add FILE`"
    else:
        hint = "no decision point is registered yet: add one with `shadow point add FILE`"
    return UnknownPoint(message, hint=hint)


def _has_rows(store: Store, point_id: str) -> bool:
    query = " UNION ALL ".join(f"SELECT 1 FROM {log} WHERE point_id = $id" for log in LOGS)
    return bool(store.rows(f"SELECT EXISTS ({query})", {"id": point_id})[0][0])
