"""Polars' allocator as shadow sets it up (shadow/__init__.py): freed memory kept three seconds
before it goes back to the system, so that a refresh reuses it instead of faulting it in again.

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


def test_shadow_imported_first_keeps_freed_memory_three_seconds() -> None:
    assert _decay_in_effect("import shadow\nASK") == "3000"


def test_without_shadow_polars_keeps_its_own_half_second() -> None:
    # the control: the same check sees Polars' default when shadow did not set anything
    assert _decay_in_effect("ASK") == "500"


def test_a_setting_of_the_users_own_is_left_as_it_is() -> None:
    assert _decay_in_effect("import shadow\nASK", user_setting="dirty_decay_ms:700") == "700"


def test_shadow_imported_after_polars_changes_nothing() -> None:
    # Polars read its setting when it was imported: changing the variable later would only
    # mislead (and be passed on to child processes), so shadow leaves it alone
    code = "import polars\nimport os\nbefore = os.environ.get('_RJEM_MALLOC_CONF')\nimport shadow\n"
    code += "assert os.environ.get('_RJEM_MALLOC_CONF') == before\n"
    assert _decay_in_effect(code, user_setting="stats_print:true") == "500"
