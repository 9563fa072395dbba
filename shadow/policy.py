"""Readiness policies: the stages a decision point's model can earn and the gate into each.

A point's `[policy]` table (TOML) names the stages in order and, per stage, its gate. Anything left
out takes the defaults of docs/statistics.md 9.1. A policy with an unknown key, a stage out of order or a
value outside its range is refused with a message naming the key and the fix.

    [policy]
    stages = ["shadow", "advisory", "assisted", "autonomous"]
    family_alpha = 0.05      # chance that any segment is ever wrongly found ready for a stage
    split = "bonferroni"     # family_alpha / number of segments, or "none" (per segment)
    [policy.costs]           # optional: what each kind of error costs
    false_negative = 50
    false_positive = 1
    [policy.gates.advisory]  # optional: anything not given takes the default
    min_resolved = 100
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from shadow.config import did_you_mean
from shadow.errors import InvalidConfig

STAGES = ("shadow", "advisory", "assisted", "autonomous")
SPLITS = ("bonferroni", "none")
_TOP = ("stages", "family_alpha", "split", "segments_in_family", "costs", "gates")
_COSTS = ("false_negative", "false_positive", "true_positive", "true_negative")


@dataclass(frozen=True)
class Gate:
    """What a segment must show before it moves into one stage (docs/statistics.md 9.2)."""

    min_resolved: int
    min_positives: int
    min_weeks: float
    accuracy_floor: float
    recall_floor: float | None = None
    margin: float = 0.05
    superiority: bool = False
    max_cost_difference: float | None = None
    max_calibration_gap: float | None = None
    max_psi: float | None = 0.25
    quiet_weeks: float = 4.0


# docs/statistics.md 9.1 (sponsor-tunable, not statistical truths); no decline alarm in the last 4 weeks.
DEFAULT_GATES = {
    "advisory": Gate(100, 10, 4, 0.85, margin=0.05, max_psi=0.25),
    "assisted": Gate(300, 30, 4, 0.85, margin=0.03, max_psi=0.25, max_calibration_gap=0.05),
    "autonomous": Gate(
        1000, 50, 4, 0.85, margin=0.0, superiority=True, max_psi=0.10, max_calibration_gap=0.05
    ),
}
_GATE_KEYS = tuple(Gate.__dataclass_fields__)
_SHARES = ("accuracy_floor", "recall_floor", "margin", "max_calibration_gap")
_WEEKS = ("min_weeks", "quiet_weeks")
_MAX_WEEKS = 5200


@dataclass(frozen=True)
class Policy:
    """A point's stages in order, the gate into each, and how the error rate is shared."""

    stages: tuple[str, ...]
    gates: dict[str, Gate]
    family_alpha: float = 0.05
    split: str = "bonferroni"
    segments_in_family: int | None = None
    costs: dict[str, float] | None = None

    def alpha(self, segments: int) -> float:
        """The error rate each segment's gate is judged at, with `segments` segments judged."""
        if self.split == "none":
            return self.family_alpha
        return self.family_alpha / max(segments, self.segments_in_family or 1, 1)

    def next_stage(self, stage: str) -> str | None:
        """The stage after `stage`, or None at the last one."""
        i = self.stages.index(stage)
        return self.stages[i + 1] if i + 1 < len(self.stages) else None

    def as_json(self) -> str:
        """The policy in full (defaults filled in), as canonical JSON."""
        return json.dumps(asdict(self), sort_keys=True)


def parse_policy(
    data: dict[str, Any], source: str = "<policy>", *, positive_label: str | None = "?"
) -> Policy:
    """Check a [policy] table and return it with defaults filled in, or raise InvalidConfig."""

    def fail(problem: str, hint: str | None = None) -> InvalidConfig:
        return InvalidConfig(f"{source}: [policy] {problem}", hint=hint)

    _no_unknown(data, _TOP, "", fail)
    stages = data.get("stages", list(STAGES))
    if not isinstance(stages, list) or not all(isinstance(s, str) for s in stages) or not stages:
        raise fail("stages must be a list of stage names", hint=f"for example stages = {STAGES!r}")
    for s in stages:
        if s not in STAGES:
            raise fail(
                f"unknown stage {s!r}" + did_you_mean(s, STAGES),
                hint="the stages are " + ", ".join(STAGES) + ", in that order",
            )
    if stages[0] != "shadow":
        raise fail(f"stages must start with 'shadow', not {stages[0]!r}")
    order = [STAGES.index(s) for s in stages]
    for a, b, name in zip(order, order[1:], stages[1:], strict=False):
        if b <= a:
            raise fail(
                f"stage {name!r} is out of order",
                hint="list the stages in the order " + " -> ".join(STAGES),
            )
    alpha = _number(data, "family_alpha", 0.05, fail)
    if not 0 < alpha < 1:
        raise fail(f"family_alpha {alpha} must be between 0 and 1", hint="for example 0.05")
    split = data.get("split", "bonferroni")
    if split not in SPLITS:
        raise fail(f"split {split!r} is not one of " + ", ".join(SPLITS))
    size = data.get("segments_in_family")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
        raise fail("segments_in_family must be a whole number of at least 1")
    costs = data.get("costs")
    if costs is not None:
        if not isinstance(costs, dict):
            raise fail("costs must be a table", hint="[policy.costs] false_negative = 50 ...")
        _no_unknown(costs, _COSTS, "costs.", fail)
        costs = {k: _number(costs, k, 0.0, fail, "costs.") for k in costs}
        if any(v < 0 for v in costs.values()):
            raise fail("costs cannot be negative")
    gates_table = data.get("gates", {})
    if not isinstance(gates_table, dict):
        raise fail("gates must be a table of stages", hint="[policy.gates.advisory] ...")
    for name in gates_table:
        if name not in stages[1:]:
            raise fail(
                f"gates.{name} is not a stage a segment can move into"
                + did_you_mean(name, stages[1:]),
                hint="the stages after shadow are " + ", ".join(stages[1:]),
            )
    gates = {
        s: _gate(s, gates_table.get(s, {}), fail, costs is not None, positive_label)
        for s in stages[1:]
    }
    return Policy(tuple(stages), gates, alpha, split, size, costs)


def _gate(stage: str, table: Any, fail: Any, has_costs: bool, positive_label: str | None) -> Gate:
    where = f"gates.{stage}."
    if not isinstance(table, dict):
        raise fail(f"gates.{stage} must be a table")
    _no_unknown(table, _GATE_KEYS, where, fail)
    default = DEFAULT_GATES[stage]
    values: dict[str, Any] = {}
    for key in table:
        if key == "superiority":
            if not isinstance(table[key], bool):
                raise fail(f"{where}superiority must be true or false")
            values[key] = table[key]
            continue
        values[key] = _number(table, key, 0.0, fail, where)
        if key in _SHARES and not 0 <= values[key] <= 1:
            raise fail(
                f"{where}{key} {values[key]} is outside [0, 1]",
                hint="give it as a share: 0.05 means 5 points",
            )
        if values[key] < 0:
            raise fail(f"{where}{key} cannot be negative")
        if key in _WEEKS and values[key] > _MAX_WEEKS:
            # far beyond any track record, and too many days for the refresh to count in
            raise fail(
                f"{where}{key} {values[key]:g} is more than {_MAX_WEEKS} weeks (a century)",
                hint="give the weeks of track record the gate needs, e.g. 4",
            )
        if key in ("min_resolved", "min_positives"):
            values[key] = int(values[key])
    gate = replace(default, **values)
    if gate.superiority and "margin" in values and gate.margin != 0:
        raise fail(f"{where}superiority asks for better than people: its margin must be 0")
    if gate.superiority:
        gate = replace(gate, margin=0.0)
    if gate.max_cost_difference is not None and not has_costs:
        raise fail(
            f"{where}max_cost_difference needs the costs of errors",
            hint="add [policy.costs] with false_negative and false_positive",
        )
    if gate.recall_floor is not None and positive_label is None:
        raise fail(f"{where}recall_floor needs a positive_label (a binary task)")
    return gate


def _no_unknown(table: dict[str, Any], known: tuple[str, ...], where: str, fail: Any) -> None:
    for key in table:
        if key not in known:
            raise fail(
                f"unknown key {where + key!r}" + did_you_mean(key, known),
                hint="the keys are " + ", ".join(known),
            )


def _number(table: dict[str, Any], key: str, default: float, fail: Any, where: str = "") -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(f"{where}{key} must be a number, not {value!r}")
    # TOML has nan and inf: a gate of nan cases never (or always) passes, and int(nan) raises
    if not math.isfinite(value):
        raise fail(f"{where}{key} must be a finite number, not {value!r}")
    return float(value)
