"""What one load did, in numbers: the answer to "was every row accounted for?"."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class LoadSummary:
    """What one load did: every row read is accepted, skipped as a duplicate, or quarantined."""

    log: str
    source: str
    format: str
    content_hash: str
    load_id: int | None = None
    already_loaded_as: int | None = None
    rows_read: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready values."""
        return {
            "log": self.log,
            "source": self.source,
            "format": self.format,
            "content_hash": self.content_hash,
            "load_id": self.load_id,
            "already_loaded_as": self.already_loaded_as,
            "rows_read": self.rows_read,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "quarantined_by_reason": dict(sorted(self.by_reason.items())),
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
        }
