"""Pareto plots of a bench: accuracy vs throughput, and accuracy vs energy per word (or example).

Drawn with matplotlib's object API (a Figure on the Agg canvas; no pyplot global state, no
display needed). Every point is labelled with its system's name. The Pareto front (systems that
no other system beats on both axes) is a dashed line through ringed markers. When no system has
an energy figure, the energy panel says why in words instead of staying silently empty; the
:class:`PlotRecord` returned beside the PNG lists exactly what was drawn.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path

FRONT = "Pareto front"
PANELS = ("throughput", "energy")
LABEL_OFFSETS = ((6, 6), (6, -12), (6, 18), (6, -24))


@dataclass
class Series:
    panel: str  # "throughput" | "energy"
    name: str  # a group of systems, or FRONT
    points: list[tuple[float, float, str]]  # (x, y, label)


@dataclass
class PlotRecord:
    """What the figure shows: its series per panel, and per panel why systems are missing."""

    series: list[Series]
    notes: dict[str, list[str]] = field(default_factory=dict)
    path: Path | None = None

    def series_names(self, panel: str) -> list[str]:
        return [s.name for s in self.series if s.panel == panel]

    def points(self, panel: str, name: str) -> list[tuple[float, float, str]]:
        return [p for s in self.series if s.panel == panel and s.name == name for p in s.points]

    def to_json(self) -> dict:
        return {"path": str(self.path) if self.path else None, "series": [asdict(s) for s in self.series],
                "notes": self.notes}


def pareto_front(points: list[tuple[float, float]], maximize_x: bool) -> list[int]:
    """Indices of the points no other point dominates (y is maximized; x maximized or minimized),
    ordered by x. Equal points do not dominate each other."""

    def at_least(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return (a[0] >= b[0] if maximize_x else a[0] <= b[0]) and a[1] >= b[1]

    front = [i for i, p in enumerate(points)
             if not any(at_least(q, p) and q != p for j, q in enumerate(points) if j != i)]
    return sorted(front, key=lambda i: points[i][0])


def group(row) -> str:
    """The legend entry of a bench row."""
    if row.family != "edge-time":
        return row.family
    return "edge-time PyTorch" if row.kind == "PyTorch" else "edge-time bundle"


def render_pareto(result) -> tuple[bytes, PlotRecord]:
    """The PNG of both panels for a :class:`~edge_time.bench.api.BenchResult`, and what it shows."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    unit = result.unit[:-1]
    panels = {
        "throughput": (lambda row: row.throughput_best, True,
                       f"throughput ({result.unit}/s at each system's best batch size)"),
        "energy": (lambda row: row.energy_mj, False, f"energy (mJ per {unit} above idle)"),
    }
    figure = Figure(figsize=(13, 5.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2)
    record = PlotRecord(series=[], notes={panel: [] for panel in PANELS})
    for ax, panel in zip(axes, PANELS):
        x_of, maximize_x, x_label = panels[panel]
        rows = []
        for row in result.rows:
            x = x_of(row)
            if row.metric_value is None:
                record.notes[panel].append(f"{row.name}: no {result.metric} score")
            elif x is None:
                record.notes[panel].append(f"{row.name}: {row.energy.get('reason')}")
            else:
                rows.append((row, float(x)))
        if panel == "energy" and result.energy_note:
            record.notes[panel] = [f"no system has an energy figure: {result.energy_note}"]
        if not rows:
            ax.text(0.5, 0.5, textwrap.fill("; ".join(record.notes[panel]), 50), ha="center", va="center",
                    transform=ax.transAxes, fontsize=10)
            ax.set_axis_off()
            continue
        labelled = 0  # staggered label offsets, so systems at nearly the same point stay readable
        for name in dict.fromkeys(group(row) for row, _ in rows):
            points = [(x, row.metric_value, row.name) for row, x in rows if group(row) == name]
            record.series.append(Series(panel, name, points))
            ax.scatter([p[0] for p in points], [p[1] for p in points], label=name, s=45, zorder=3)
            for x, y, label in points:
                ax.annotate(label, (x, y), textcoords="offset points", xytext=LABEL_OFFSETS[labelled % 4], fontsize=8)
                labelled += 1
        coords = [(x, row.metric_value) for row, x in rows]
        front = [(coords[i][0], coords[i][1], rows[i][0].name) for i in pareto_front(coords, maximize_x)]
        record.series.append(Series(panel, FRONT, front))
        ax.plot([p[0] for p in front], [p[1] for p in front], "--", color="0.4", zorder=2)
        ax.scatter([p[0] for p in front], [p[1] for p in front], s=160, facecolors="none", edgecolors="0.2",
                   label=FRONT, zorder=4)
        xs = [x for _, x in rows]
        if min(xs) > 0 and max(xs) / min(xs) > 10:
            ax.set_xscale("log")
        ax.set_xlabel(x_label + (" → better" if maximize_x else " ← better"))
        ax.set_ylabel(f"{result.metric} ↑")
        ax.margins(x=0.2, y=0.1)  # room for the labels of the outermost points
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        if record.notes[panel]:
            ax.set_title("not shown: " + "; ".join(record.notes[panel]), fontsize=8)
    figure.suptitle(f"edge-time bench: {result.task} on {Path(result.data['path']).name}, {result.config.threads} "
                    f"thread(s)", fontsize=11)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue(), record

