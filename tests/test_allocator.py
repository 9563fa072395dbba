"""Polars' allocator as the `shadow` command sets it up (cli.keep_freed_memory): freed memory kept
three seconds before it goes back to the system, so that a refresh reuses it instead of faulting
it in again. The library itself sets nothing process-wide.

Checked in a process of its own, as the `shadow` command starts, by what the allocator itself
reports: jemalloc prints its options at exit when asked to (stats_print).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest


def _decay_in_effect(code: str, user_setting: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    if user_setting is not None:
        env["_RJEM_MALLOC_CONF"] = user_setting
    # ask jemalloc for its statistics at exit, whatever else the variable holds by then
    ask = (
        "import os; held = os.environ.get('_RJEM_MALLOC_CONF'); "
        "os.environ['_RJEM_MALLOC_CONF'] = (held + ',' if held else '') + 'stats_print:true'"
    )
    script = code.replace("ASK", ask) + "\nimport polars as pl\npl.DataFrame({'a': [1]})\n"
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    found = re.search(r"opt\.dirty_decay_ms: (-?\d+)", run.stderr + run.stdout)
    if found is None:
        pytest.skip("this Polars build does not use jemalloc (no allocator options printed)")
    return found.group(1)


COMMAND = "from shadow import cli\ncli.keep_freed_memory()\nASK"


def test_the_command_keeps_freed_memory_three_seconds() -> None:
    assert _decay_in_effect(COMMAND) == "3000"


def test_the_library_sets_nothing() -> None:
    # the control: importing the library (and its refresh, which imports Polars) changes no
    # setting, and Polars keeps its own half second
    # (Polars itself adds its defaults to the variable when it is imported)
    code = "ASK\nimport os\nimport shadow\nimport shadow.refresh\n"
    code += "assert '3000' not in os.environ['_RJEM_MALLOC_CONF']\n"
    assert _decay_in_effect(code) == "500"


def test_a_setting_of_the_users_own_is_left_as_it_is() -> None:
    assert _decay_in_effect(COMMAND, user_setting="dirty_decay_ms:700") == "700"


def test_the_setting_comes_too_late_once_polars_is_imported() -> None:
    # Polars read its setting when it was imported: changing the variable later would only
    # mislead (and be passed on to child processes), so the command leaves it alone
    code = "import polars\nimport os\nbefore = os.environ.get('_RJEM_MALLOC_CONF')\n"
    code += "from shadow import cli\ncli.keep_freed_memory()\n"
    code += "assert os.environ.get('_RJEM_MALLOC_CONF') == before\n"
    assert _decay_in_effect(code, user_setting="stats_print:true") == "500"


def test_the_shadow_command_sets_it_before_anything_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from shadow import cli

    calls: list[str] = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append("allocator"))
    monkeypatch.setattr(cli, "cli", lambda: calls.append("command"))
    cli.main()
    assert calls == ["allocator", "command"]
