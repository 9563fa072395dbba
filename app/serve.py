"""`python app/serve.py run app/main.py ...`: Streamlit's own command (what `python -m streamlit`
runs), with the app's imports done while the server starts rather than when the first reader
opens the page. `shadow app` and `shadow demo` serve the app through it.

Streamlit imports a page's modules on its first run, so the first reader after `shadow app` waited
for Polars, DuckDB, Arrow and Plotly to import (about a second on two cores). Here a background
thread imports them while the server comes up; the first page then finds them in `sys.modules`.
Nothing else changes: the arguments go to Streamlit's command line as they are.
"""

from __future__ import annotations

import importlib
import sys
import threading

# What the pages import that Streamlit does not: the slow part of a first page.
WARM = (
    "streamlit",  # first: waits for the server's own import of it to finish, then goes on alone
    "polars",
    "duckdb",
    "pyarrow",
    "plotly.graph_objects",
    "shadow.browse",
    "shadow.charts",
    "shadow.words",
)


def _warm() -> None:
    for name in WARM:
        try:
            importlib.import_module(name)
        except Exception:  # the page reports a broken install in its own words when it imports
            return


def main() -> None:
    threading.Thread(target=_warm, name="shadow-warm-imports", daemon=True).start()
    from streamlit.web.cli import main as streamlit

    streamlit(prog_name="streamlit")


if __name__ == "__main__":
    sys.exit(main())
