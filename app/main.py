"""Entrypoint: `streamlit run app/main.py -- --db PATH` (or `shadow app`). Pages, sidebar; nothing else."""

import streamlit as st

import ui
from shadow.errors import ShadowError

st.set_page_config(
    page_title="Shadow track record", page_icon=":material/visibility:", layout="wide"
)
page = st.navigation(
    [
        st.Page(
            "pages/track_record.py", title="Track record", icon=":material/timeline:", default=True
        ),
        st.Page("pages/disagreements.py", title="Disagreements", icon=":material/call_split:"),
        st.Page("pages/segments.py", title="Segments", icon=":material/grid_view:"),
        st.Page("pages/readiness.py", title="Readiness", icon=":material/verified:"),
        st.Page("pages/health.py", title="Model health", icon=":material/monitor_heart:"),
        st.Page("pages/data_quality.py", title="Data quality", icon=":material/fact_check:"),
    ]
)
context = ui.sidebar()
st.session_state["_context"] = context
if context is not None:
    st.session_state["_sidebar_drawn"] = True  # the page reads the file the sidebar showed
    try:
        page.run()
    except ShadowError as e:  # e.g. a snapshot removed by hand mid-read: a message, not a traceback
        ui.show_error(e)
    finally:
        del st.session_state["_sidebar_drawn"]
