"""Plotly figures of the published numbers, for the app: pure functions, no Streamlit, no computing.

Every figure leaves the background, fonts and grid to the theme it is shown in (Streamlit's light or
dark), and uses mid-tone colours that read on both. Bands are the published 95% intervals.
"""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go
import polars as pl

MODEL = "#3b82f6"  # blue, the model
PEOPLE = "#f59e0b"  # amber, the people
AGREE = "#8b5cf6"  # violet, agreement
PENDING = "#94a3b8"  # slate, pending / thin evidence
NEITHER = "#ef4444"  # red, neither right / alarms
_BAND = {
    MODEL: "rgba(59,130,246,0.22)",
    PEOPLE: "rgba(245,158,11,0.22)",
    AGREE: "rgba(139,92,246,0.2)",
}
_LAYOUT: dict[str, Any] = {
    "height": 360,
    "margin": {"t": 30, "b": 40, "l": 60, "r": 20},
    "legend": {"orientation": "h", "y": 1.08, "x": 0},
    "hovermode": "x unified",
    # transparent: the page's background shows through, light or dark
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
}


def _label(value: Any) -> str:
    """A log value as Plotly text: Plotly reads <b>, <a href=...> and the like in labels and hover
    text as markup, so escape it to show the value as typed (Plotly turns &lt; back into <)."""
    return html.escape(str(value), quote=False)


def _x(frame: pl.DataFrame, column: str = "period_start") -> list[str]:
    return [str(v) for v in frame[column].to_list()]


def _band(fig: go.Figure, x: list[str], low: list[Any], high: list[Any], colour: str) -> None:
    """A shaded 95% band between low and high (gaps where there is no interval)."""
    fig.add_trace(
        go.Scatter(x=x, y=high, mode="lines", line={"width": 0}, hoverinfo="skip", showlegend=False)
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=low,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=_BAND[colour],
            hoverinfo="skip",
            showlegend=False,
        )
    )


def _share_axis(fig: go.Figure, title: str, x_title: str) -> go.Figure:
    fig.update_layout(
        **_LAYOUT,
        yaxis={"tickformat": ".0%", "title": title},
        xaxis=_time_axis(x_title),
    )
    return fig


def _time_axis(title: str) -> dict[str, Any]:
    """An x axis of period starts; months are labelled as months, not as their first day."""
    if title.startswith("month"):
        return {"title": title, "dtick": "M1", "tickformat": "%b %Y"}
    return {"title": title}


def _accuracies(fig: go.Figure, frame: pl.DataFrame, x: list[str], suffix: str = "") -> None:
    """The model's and the people's accuracy as lines with their 95% bands (n on hover)."""
    for side, colour, name in (("model", MODEL, "model"), ("person", PEOPLE, "people")):
        _band(
            fig,
            x,
            frame[f"{side}_accuracy_low"].to_list(),
            frame[f"{side}_accuracy_high"].to_list(),
            colour,
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=frame[f"{side}_accuracy"].to_list(),
                name=name + suffix,
                mode="lines+markers",
                line={"color": colour, "width": 2},
                customdata=frame["resolved"].to_list(),
                hovertemplate=f"{name}: %{{y:.1%}} (n = %{{customdata:,}})<extra></extra>",
            )
        )


def accuracy_figure(cumulative: pl.DataFrame, period: str = "week") -> go.Figure:
    """Cumulative accuracy of the model and of the people on the same resolved cases, with bands."""
    fig = go.Figure()
    x = _x(cumulative)
    _accuracies(fig, cumulative, x)
    return _share_axis(fig, "share right (cumulative)", f"{period} of decision")


def agreement_figure(periods: pl.DataFrame, period: str = "week") -> go.Figure:
    """Agreement between the model and the people in each period, with its band."""
    fig = go.Figure()
    x = _x(periods)
    _band(fig, x, periods["agreement_low"].to_list(), periods["agreement_high"].to_list(), AGREE)
    fig.add_trace(
        go.Scatter(
            x=x,
            y=periods["agreement"].to_list(),
            name="agreement",
            mode="lines+markers",
            line={"color": AGREE, "width": 2},
            customdata=periods["paired"].to_list(),
            hovertemplate="agreed: %{y:.1%} (n = %{customdata:,})<extra></extra>",
        )
    )
    return _share_axis(fig, "share of cases they agreed on", f"{period} of decision")


def disagreements_figure(over_time: pl.DataFrame, period: str = "week") -> go.Figure:
    """Disagreements per period by who turned out right (bars) and the model's share (line, band)."""
    fig = go.Figure()
    x = _x(over_time)
    bars = (
        ("model_right", "model right", MODEL),
        ("person_right", "people right", PEOPLE),
        ("neither_right", "neither right", NEITHER),
        ("pending", "outcome pending", PENDING),
    )
    for column, name, colour in bars:
        if over_time[column].sum() == 0 and column == "neither_right":
            continue
        fig.add_trace(
            go.Bar(x=x, y=over_time[column].to_list(), name=name, marker_color=colour, yaxis="y")
        )
    share = over_time["model_share"].to_list()
    fig.add_trace(
        go.Scatter(
            x=x,
            y=over_time["model_share_high"].to_list(),
            yaxis="y2",
            mode="lines",
            line={"width": 0},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=over_time["model_share_low"].to_list(),
            yaxis="y2",
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor="rgba(148,163,184,0.25)",
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=share,
            yaxis="y2",
            name="share the model won",
            mode="lines+markers",
            line={"color": PENDING, "width": 2, "dash": "dot"},
            customdata=over_time["resolved"].to_list(),
            hovertemplate="model won %{y:.0%} of %{customdata:,} resolved<extra></extra>",
        )
    )
    fig.update_layout(
        **_LAYOUT,
        barmode="stack",
        xaxis=_time_axis(f"{period} of decision"),
        yaxis={"title": "disagreements"},
        yaxis2={
            "title": "share the model won",
            "overlaying": "y",
            "side": "right",
            "tickformat": ".0%",
            "range": [0, 1],
            "showgrid": False,
        },
    )
    return fig


def heatmap_figure(periods: pl.DataFrame, thin: int, period: str = "week") -> go.Figure:
    """Segment value x period: model minus people accuracy; cells with thin evidence are faint."""
    values = sorted(set(periods["segment_value"].to_list()))
    starts = sorted(set(periods["period_start"].to_list()))
    x = [str(s) for s in starts]
    labels = [_label(v) for v in values]
    cell = {(r["segment_value"], r["period_start"]): r for r in periods.iter_rows(named=True)}
    strong: list[list[float | None]] = []
    weak: list[list[float | None]] = []
    text: list[list[str]] = []
    for v in values:
        strong.append([])
        weak.append([])
        text.append([])
        for s in starts:
            r = cell.get((v, s))
            n = int(r["resolved"]) if r else 0
            d = r["difference"] if r else None
            enough = n >= thin and d is not None
            strong[-1].append(d if enough else None)
            weak[-1].append(d if (not enough and n > 0) else None)
            text[-1].append(
                "no resolved case"
                if n == 0 or d is None
                else f"{100 * d:+.1f} points (n = {n:,})" + ("" if enough else ", thin evidence")
            )
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            z=weak,
            x=x,
            y=labels,
            colorscale="RdBu",
            zmid=0,
            zmin=-0.3,
            zmax=0.3,
            opacity=0.3,  # muted: the same colours, faint
            showscale=False,
            text=text,
            hovertemplate="%{y}, %{x}: %{text}<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    fig.add_trace(
        go.Heatmap(
            z=strong,
            x=x,
            y=labels,
            colorscale="RdBu",
            zmid=0,
            zmin=-0.3,
            zmax=0.3,
            colorbar={"title": "model − people", "tickformat": "+.0%"},
            text=text,
            hovertemplate="%{y}, %{x}: %{text}<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    fig.update_layout(
        **{**_LAYOUT, "height": max(260, 40 + 28 * len(values)), "hovermode": "closest"},
        xaxis={"title": f"{period} of decision"},
        yaxis={"autorange": "reversed"},
    )
    return fig


def calibration_figure(bins: pl.DataFrame) -> go.Figure:
    """Reliability curve: the share that turned out positive against the mean score, per bin."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line={"color": PENDING, "dash": "dash", "width": 1},
            name="perfectly calibrated",
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=bins["mean_score"].to_list(),
            y=bins["observed_rate"].to_list(),
            mode="lines+markers",
            name="model",
            line={"color": MODEL, "width": 2},
            marker={"size": [6 + min(14, n**0.5 / 3) for n in bins["bin_cases"].to_list()]},
            customdata=bins["bin_cases"].to_list(),
            hovertemplate="scored %{x:.2f} on average: %{y:.1%} turned out positive"
            " (n = %{customdata:,})<extra></extra>",
        )
    )
    fig.update_layout(
        **{**_LAYOUT, "hovermode": "closest"},
        xaxis={"title": "model's probability (mean in bin)", "range": [0, 1]},
        yaxis={"title": "share that turned out positive", "range": [0, 1], "tickformat": ".0%"},
    )
    return fig


def drift_figure(drift: pl.DataFrame) -> go.Figure:
    """PSI of each week's scores against the first weeks, with what chance alone gives."""
    fig = go.Figure()
    x = _x(drift, "week")
    fig.add_trace(
        go.Scatter(
            x=x,
            y=drift["psi_noise"].to_list(),
            name="chance level at this volume",
            mode="lines",
            line={"color": PENDING, "dash": "dot"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=drift["psi"].to_list(),
            name="PSI",
            mode="lines+markers",
            line={"color": MODEL, "width": 2},
            customdata=drift["window_scores"].to_list(),
            hovertemplate="PSI %{y:.3f} (n = %{customdata:,} scores)<extra></extra>",
        )
    )
    fig.add_hline(y=0.25, line={"color": NEITHER, "dash": "dash", "width": 1})
    fig.update_layout(
        **_LAYOUT,
        xaxis={"title": "week of decision"},
        yaxis={"title": "PSI", "rangemode": "tozero"},
    )
    return fig


def rolling_figure(rolling: pl.DataFrame, alarms: list[Any]) -> go.Figure:
    """Accuracy over the last four weeks at each week, both sides, with bands and decline alarms."""
    fig = go.Figure()
    x = _x(rolling)
    _accuracies(fig, rolling, x, " (last 4 weeks)")
    for day in alarms:
        fig.add_vline(x=str(day), line={"color": NEITHER, "dash": "dash", "width": 1})
    if alarms:
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                line={"color": NEITHER, "dash": "dash"},
                name="decline alarm",
            )
        )
    return _share_axis(fig, "share right (rolling 4 weeks)", "week of decision")


def loads_figure(loads: pl.DataFrame) -> go.Figure:
    """Rows per load: accepted, duplicates skipped, quarantined."""
    fig = go.Figure()
    x = [f"load {i} ({log})" for i, log in zip(loads["load_id"], loads["log"], strict=True)]
    for column, name, colour in (
        ("rows_accepted", "accepted", MODEL),
        ("rows_duplicate", "duplicates skipped", PENDING),
        ("rows_quarantined", "quarantined", NEITHER),
    ):
        fig.add_trace(go.Bar(x=x, y=loads[column].to_list(), name=name, marker_color=colour))
    fig.update_layout(
        **{**_LAYOUT, "hovermode": "closest"}, barmode="stack", yaxis={"title": "rows"}
    )
    return fig


def coverage_figure(weeks: pl.DataFrame) -> go.Figure:
    """Per week of decision: the share of decided cases whose outcome is known, with late predictions."""
    fig = go.Figure()
    x = _x(weeks)
    fig.add_trace(
        go.Scatter(
            x=x,
            y=weeks["outcome_coverage"].to_list(),
            name="outcome known",
            mode="lines+markers",
            line={"color": MODEL, "width": 2},
            customdata=weeks["decided"].to_list(),
            hovertemplate="outcome known for %{y:.0%} of %{customdata:,} decided<extra></extra>",
        )
    )
    fig.add_trace(
        go.Bar(
            x=x,
            y=weeks["late_predictions"].to_list(),
            name="late predictions (not counted)",
            marker_color=NEITHER,
            yaxis="y2",
            opacity=0.7,
        )
    )
    fig.update_layout(
        **_LAYOUT,
        xaxis={"title": "week of decision"},
        yaxis={"title": "share with a known outcome", "tickformat": ".0%", "range": [0, 1.05]},
        yaxis2={
            "title": "late predictions",
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "showgrid": False,
        },
    )
    return fig


def delay_figure(delays: pl.DataFrame) -> go.Figure:
    """Days from decision to outcome, median and 90th percentile, per week of decision."""
    fig = go.Figure()
    x = _x(delays, "week")
    for column, name, colour, dash in (
        ("median_days", "median", MODEL, None),
        ("p90_days", "90th percentile", PEOPLE, "dot"),
    ):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=delays[column].to_list(),
                name=name,
                mode="lines+markers",
                line={"color": colour, "dash": dash},
                hovertemplate=f"{name}: %{{y:.1f}} days<extra></extra>",
            )
        )
    fig.update_layout(
        **_LAYOUT,
        xaxis={"title": "week of decision"},
        yaxis={"title": "days until the outcome", "rangemode": "tozero"},
    )
    return fig
