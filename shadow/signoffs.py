"""Sign-offs: a named person moves a segment to a stage, bound to a frozen snapshot of the evidence.

The log lives in the store (table `signoffs`) and is append-only: this module inserts rows and has no
way to change or remove one. Each row holds who, when, why, the owner, the policy version and the
evidence as it stood (the gate's criteria and the segment's numbers from the published snapshot,
with the data cut-off), as canonical JSON text that is shown later exactly as stored. Its hash covers
every field of the row and the hash of the sign-off before it, so `verify` finds a row that was
changed, and a row removed from the middle of the log.

Moving up one stage needs the gate of that stage to pass, or an override with its reason (recorded).
Moving down, or back to shadow (a pause), is always allowed. After a sign-off the track record is
published again, so readers see the new stage.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shadow.config import did_you_mean
from shadow.errors import ShadowError
from shadow.points import get_point, policy_version
from shadow.readiness import (
    check_segment,
    published_gates,
    published_point,
    published_segments,
    stages_of,
)
from shadow.snapshot import open_published
from shadow.store import Store

_FIELDS = (
    "signoff_id",
    "point_id",
    "segment",
    "segment_value",
    "from_stage",
    "to_stage",
    "signed_by",
    "owner",
    "reason",
    "override_reason",
    "signed_at",
    "policy_version",
    "snapshot",
    "previous_hash",
)
_NUMBERS = (
    "resolved",
    "agreement",
    "model_accuracy",
    "model_accuracy_low",
    "model_accuracy_high",
    "person_accuracy",
    "person_accuracy_low",
    "person_accuracy_high",
    "difference",
    "difference_low",
    "difference_high",
    "model_recall",
    "person_recall",
)


@dataclass(frozen=True)
class SignOff:
    """One recorded sign-off."""

    signoff_id: int
    from_stage: str
    to_stage: str
    snapshot_hash: str
    override: bool


def sign_off(
    db: Path | str,
    point_id: str,
    segment: tuple[str, str],
    to_stage: str,
    *,
    by: str,
    reason: str,
    override: str | None = None,
    now: datetime | None = None,
) -> SignOff:
    """Record that `by` moved `segment` of `point_id` to `to_stage`, or raise saying why not."""
    if not by.strip() or not reason.strip():
        raise ShadowError("A sign-off needs a name and a reason", hint="give --by and --reason")
    with open_published(db) as published:
        point = published_point(published, point_id)
        order = stages_of(point)
        if to_stage not in order:
            raise ShadowError(
                f"Unknown stage {to_stage!r}" + did_you_mean(to_stage, order),
                hint=f"the stages of {point_id} are " + ", ".join(order),
            )
        gates = published_gates(published, point_id)
        check_segment(point, segment, published_segments(gates, point_id))
        stages = published.table("stages").filter(point_id=point_id)
        numbers = published.table("numbers").filter(
            point_id=point_id, segment=segment[0], segment_value=segment[1], period="all"
        )
        meta = published.meta
    with Store.open(db) as store:
        registered = get_point(store, point_id)
        assert registered is not None  # get_point raises when it is missing
        version = policy_version(store, point_id)
        mine = stages.filter(segment=segment[0], segment_value=segment[1])
        if mine.is_empty() or mine["policy_version"][0] != version:
            raise ShadowError(
                f"The published verdicts of {point_id} are older than its policy (version {version})",
                hint="run `shadow refresh` first, so the sign-off judges the evidence under it",
            )
        current = _current_stage(store, point_id, segment) or order[0]
        if to_stage == current:
            raise ShadowError(
                f"{segment[0]} = {segment[1]} is already at {to_stage}",
                hint="see its history with `shadow stages --point " + point_id + "`",
            )
        up = order.index(to_stage) > order.index(current)
        if up and order.index(to_stage) != order.index(current) + 1:
            raise ShadowError(
                f"{segment[0]} = {segment[1]} is at {current}: it can move up one stage at a"
                f" time, to {order[order.index(current) + 1]}, not to {to_stage}",
                hint="sign off the next stage first, once its gate passes",
            )
        judged_stage = to_stage if up else current
        watch = mine.row(0, named=True)
        criteria = gates.filter(
            model_version=watch["model_version"],
            segment=segment[0],
            segment_value=segment[1],
            stage=judged_stage,
        ).sort("stage_order")
        failing = criteria.filter(~criteria["passes"])["criterion"].to_list()
        if up and failing and not override:
            raise ShadowError(
                f"The gate into {to_stage} does not pass for {segment[0]} = {segment[1]}:"
                f" {', '.join(failing)} {'fails' if len(failing) == 1 else 'fail'}",
                hint=f"see why with `shadow gates --point {point_id} --segment"
                f" {segment[0]}={segment[1]}`; to move it anyway, sign with --override REASON"
                " (recorded as an override)",
            )
        snapshot = _canonical(
            {
                "point_id": point_id,
                "owner": registered.owner,
                "segment": segment[0],
                "segment_value": segment[1],
                "model_version": watch["model_version"],
                "stage_judged": judged_stage,
                "policy_version": version,
                "alpha": watch["alpha"],
                "data_cut_off": _iso(meta.get("data_cut_off")),
                "published_at": _iso(meta.get("published_at")),
                "published_content_hash": meta.get("content_hash"),
                "gate": [
                    {k: _plain(r[k]) for k in ("criterion", "value", "threshold", "passes")}
                    | {"cases_needed": _plain(r["cases_needed"])}
                    for r in criteria.iter_rows(named=True)
                ],
                "numbers": {
                    k: _plain(v)
                    for k, v in numbers.filter(model_version=watch["model_version"])
                    .select([c for c in _NUMBERS if c in numbers.columns])
                    .to_dicts()[0]
                    .items()
                }
                if not numbers.filter(model_version=watch["model_version"]).is_empty()
                else {},
                "watch": {
                    k: _plain(watch[k])
                    for k in ("cases_since", "accuracy_since", "demotion_evalue", "review")
                },
            }
        )
        with store.transaction():
            previous = store.rows(
                "SELECT snapshot_hash FROM signoffs ORDER BY signoff_id DESC LIMIT 1"
            )
            row: dict[str, Any] = {
                "signoff_id": int(store.rows("SELECT nextval('signoff_ids')")[0][0]),
                "point_id": point_id,
                "segment": segment[0],
                "segment_value": segment[1],
                "from_stage": current,
                "to_stage": to_stage,
                "signed_by": by.strip(),
                "owner": registered.owner,
                "reason": reason.strip(),
                "override_reason": override.strip() if up and failing and override else None,
                "signed_at": (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0),
                "policy_version": version,
                "snapshot": snapshot,
                "previous_hash": previous[0][0] if previous else "",
            }
            row["snapshot_hash"] = record_hash(row)
            store.execute(
                "INSERT INTO signoffs ("
                + ", ".join(row)
                + ") VALUES ("
                + ", ".join(f"${k}" for k in row)
                + ")",
                row,
            )
    from shadow.refresh import refresh  # publish again so readers see the new stage

    refresh(db)
    return SignOff(
        row["signoff_id"],
        current,
        to_stage,
        row["snapshot_hash"],
        row["override_reason"] is not None,
    )


def record_hash(row: dict[str, Any]) -> str:
    """SHA-256 over a sign-off's fields (its snapshot text and previous hash included)."""
    values = {k: _iso(row[k]) if isinstance(row[k], datetime) else row[k] for k in _FIELDS}
    return hashlib.sha256(_canonical(values).encode()).hexdigest()


def history(db: Path | str) -> list[dict[str, Any]]:
    """Every sign-off in the store, oldest first, as stored."""
    with Store.open(db, read_only=True) as store:
        frame = store.frame("SELECT * FROM signoffs ORDER BY signoff_id")
    return frame.to_dicts()


def verify(db: Path | str) -> list[str]:
    """One line per sign-off whose hash does not match what it holds, or whose chain is broken."""
    problems = []
    previous = ""
    for row in history(db):
        sid = row["signoff_id"]
        if row["previous_hash"] != previous:
            problems.append(f"sign-off {sid}: the sign-off before it was changed or removed")
        if record_hash(row) != row["snapshot_hash"]:
            problems.append(f"sign-off {sid}: its contents no longer match its hash (changed)")
        previous = row["snapshot_hash"]
    return problems


def show(db: Path | str, signoff_id: int) -> str:
    """One sign-off and its evidence snapshot, as text built only from what was stored."""
    rows = [r for r in history(db) if r["signoff_id"] == signoff_id]
    if not rows:
        raise ShadowError(
            f"No sign-off {signoff_id}", hint="list them with `shadow stages --point ID`"
        )
    r = rows[0]
    snap = json.loads(r["snapshot"])
    lines = [
        f"Sign-off {r['signoff_id']}: {r['point_id']}, {r['segment']} = {r['segment_value']},"
        f" {r['from_stage']} -> {r['to_stage']}",
        f"Signed by {r['signed_by']} at {_iso(r['signed_at'])}"
        + ("" if r["signed_by"] == r["owner"] else f" (owner: {r['owner']})"),
        f"Reason: {r['reason']}",
    ]
    if r["override_reason"]:
        lines.append(f"OVERRIDE (the gate did not pass): {r['override_reason']}")
    lines += [
        f"Policy version {r['policy_version']}; model {snap['model_version']};"
        f" data cut-off {snap['data_cut_off']}; gate judged: {snap['stage_judged']}",
        f"Evidence snapshot (hash {r['snapshot_hash']}):",
        json.dumps(snap, indent=2, sort_keys=True),
    ]
    return "\n".join(lines) + "\n"


def _current_stage(store: Store, point_id: str, segment: tuple[str, str]) -> str | None:
    rows = store.rows(
        "SELECT to_stage FROM signoffs WHERE point_id = $p AND segment = $s"
        " AND segment_value = $v ORDER BY signoff_id DESC LIMIT 1",
        {"p": point_id, "s": segment[0], "v": segment[1]},
    )
    return str(rows[0][0]) if rows else None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str)


def _plain(x: Any) -> Any:
    """A JSON-safe value: non-finite floats as text, so the snapshot keeps them exactly."""
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return str(x)
    return x


def _iso(x: Any) -> str | None:
    return None if x is None else x.isoformat() if hasattr(x, "isoformat") else str(x)
