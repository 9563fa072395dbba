"""Small shared helpers: read users' TOML files, suggest close names, name the current user."""

from __future__ import annotations

import difflib
import getpass
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from shadow.errors import InvalidConfig


def read_text(path: Path, what: str) -> str:
    """The text of a file the user wrote (`what`: "mapping", "decision point"), or InvalidConfig."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise InvalidConfig(f"No such {what} file: {path}") from e
    except UnicodeDecodeError as e:
        raise InvalidConfig(f"The {what} file {path} is not UTF-8 text") from e
    except IsADirectoryError as e:
        raise InvalidConfig(f"The {what} file {path} is a folder") from e


def load_toml(text: str, source: str) -> dict[str, Any]:
    """The TOML `text` as a dict, or InvalidConfig naming `source` and where the syntax broke."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InvalidConfig(f"{source} is not valid TOML: {e}") from e


def did_you_mean(word: str, options: Iterable[str], *, show: str = "{!r}") -> str:
    """' (did you mean 'x'?)' for the closest of `options`, or '' when none is close."""
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {show.format(close[0])}?)" if close else ""


def current_user() -> str:
    """The login name of whoever runs this process (recorded with loads and sign-offs)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
