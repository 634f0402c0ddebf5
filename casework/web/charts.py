"""Charts drawn on the server as SVG with matplotlib (object API only: no pyplot, no global figure state).

The SVG goes inline into the page, so the page needs no JavaScript and prints as it shows. Text stays text
(svg.fonttype none): it is crisp at any zoom and takes the page's font. One lock: matplotlib's font and
text caches are not meant for several threads at once, and charts are small.
"""
from __future__ import annotations

import datetime as dt
import io
import re
import threading
from typing import Any

import matplotlib

matplotlib.rcParams["svg.fonttype"] = "none"
matplotlib.rcParams["svg.hashsalt"] = "casework"  # stable ids, so the same figures give the same page

from matplotlib.dates import DateFormatter  # noqa: E402 - after the settings above
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from casework.config import Band, Config  # noqa: E402

_lock = threading.Lock()
COLOURS = {"present": "#2e7d32", "approved_activity": "#66bb6a", "late": "#f9a825", "authorised": "#1e88e5",
           "unauthorised": "#c62828", "not_counted": "#9e9e9e"}
LABELS = {"present": "present", "approved_activity": "approved activity", "late": "late",
          "authorised": "authorised absence", "unauthorised": "unauthorised absence", "not_counted": "not counted"}
BAND_COLOURS = {"stage_1": "#2e7d32", "monitor": "#7cb342", "stage_2": "#fdd835", "stage_3": "#fb8c00",
                "stage_4": "#e53935", "stage_5": "#8e0000", None: "#bdbdbd"}


def _svg(fig: Figure, label: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # inline: no XML declaration or DOCTYPE
    # a label for screen readers, and let CSS size it
    return re.sub(r"<svg ", f'<svg role="img" aria-label="{label}" class="chart" ', text, count=1)


def band_lines(config: Config) -> list[tuple[str, float]]:
    """The STG band boundaries (lower bounds), highest first: the lines drawn across the charts."""
    stages = config.policy.stages
    out = [(name, b.lower) for name in type(stages).model_fields
           if isinstance(b := getattr(stages, name), Band) and 0 < b.lower < 100]
    return sorted(out, key=lambda x: -x[1])


def weekly_attendance(weeks: list[dict[str, Any]], config: Config) -> str:
    """Attendance week by week (bars) and the year to date (line), against the band lines."""
    with _lock:
        fig = Figure(figsize=(7.5, 3.2))
        ax = fig.subplots()
        xs = [w["week"] for w in weeks]
        ax.bar(xs, [w["week_pct"] if w["week_pct"] is not None else 0 for w in weeks], width=4,
               color="#90caf9", label="that week")
        ax.plot(xs, [w["ytd_pct"] for w in weeks], color="#0d47a1", marker="o", markersize=3,
                label="year to date")
        for name, lower in band_lines(config):
            ax.axhline(lower, color="#616161", linewidth=0.8, linestyle="--")
            ax.text(1.01, lower, f"{lower:g}% {name.replace('_', ' ')}", transform=ax.get_yaxis_transform(),
                    fontsize=7, va="center", color="#424242")
        lows = [v for w in weeks for v in (w["week_pct"], w["ytd_pct"]) if v is not None]
        floor = min([80.0, *lows])
        ax.set_ylim(max(0.0, floor - 5), 101)
        ax.set_ylabel("attendance %")
        ax.xaxis.set_major_formatter(DateFormatter("%d %b"))
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.legend(loc="lower left", fontsize=7, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        return _svg(fig, "Attendance week by week with the band lines")


def marks_heatmap(days: dict[dt.date, str | None], school_days: list[dt.date]) -> str:
    """The year's school days as a calendar (a column per week, Monday at the top), coloured by the
    day's worst mark: unauthorised over authorised over late over present."""
    with _lock:
        if not school_days:
            return ""
        start = school_days[0] - dt.timedelta(days=school_days[0].weekday())
        n_weeks = (school_days[-1] - start).days // 7 + 1
        fig = Figure(figsize=(max(4.0, n_weeks * 0.16 + 1.2), 1.9))
        ax = fig.subplots()
        for d in school_days:
            col, row = (d - start).days // 7, d.weekday()
            cat = days.get(d)
            ax.add_patch(Rectangle((col, 4 - row), 0.9, 0.9, facecolor=COLOURS.get(cat or "", "#eeeeee"),
                                   edgecolor="none"))
        ax.set_xlim(-0.2, n_weeks + 0.1)
        ax.set_ylim(-0.2, 5.1)
        ax.set_yticks([4.45, 2.45, 0.45], ["Mon", "Wed", "Fri"], fontsize=7)
        months = [(i, start + dt.timedelta(weeks=i)) for i in range(n_weeks)]
        firsts = [(i, d) for i, d in months if i == 0 or d.month != months[i - 1][1].month]
        ax.set_xticks([i + 0.45 for i, _ in firsts], [f"{d:%b}" for _, d in firsts], fontsize=7)
        ax.tick_params(length=0)
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        handles = [Patch(color=COLOURS[k], label=LABELS[k]) for k in COLOURS]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=6, fontsize=6,
                  frameon=False)
        return _svg(fig, "Calendar of the year's marks")


def bands_by_year(counts: dict[int, dict[str | None, int]], order: list[str | None]) -> str:
    """Pupils per band, a stacked bar per year group (the leaders' dashboard)."""
    with _lock:
        years = sorted(counts)
        fig = Figure(figsize=(7.0, 0.45 * max(len(years), 2) + 1.0))
        ax = fig.subplots()
        left = [0] * len(years)
        for band in order:
            values = [counts[y].get(band, 0) for y in years]
            if not any(values):
                continue
            ax.barh([f"Year {y}" for y in years], values, left=left, color=BAND_COLOURS.get(band, "#bdbdbd"),
                    label=(band or "too early").replace("_", " "))
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.set_xlabel("pupils")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.invert_yaxis()
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=4, fontsize=7, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        return _svg(fig, "Pupils per band by year group")
