"""Find and read the files in sql/. No other module opens a .sql file."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from shadow.errors import StoreError

# A checkout (or editable install) reads sql/ at the repository root; a wheel carries it as _sql/.
_PACKAGED = Path(__file__).resolve().parent / "_sql"
SQL_DIR = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parent.parent / "sql"


@cache
def read(kind: str, name: str) -> str:
    """Text of sql/<kind>/<name>.sql, e.g. read("queries", "loads")."""
    path = SQL_DIR / kind / f"{name}.sql"
    if not path.is_file():
        raise StoreError(f"No SQL file {kind}/{name}.sql in {SQL_DIR}")
    return path.read_text(encoding="utf-8")


def migrations() -> list[str]:
    """Names of sql/migrations/*.sql, in the order they must be applied."""
    return sorted(p.stem for p in (SQL_DIR / "migrations").glob("*.sql"))
