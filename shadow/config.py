"""Small shared helpers: read users' TOML files, suggest close names, name the current user."""

from __future__ import annotations

import difflib
import getpass
import tomllib
from collections.abc import Iterable
from typing import Any

from shadow.errors import InvalidConfig


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
