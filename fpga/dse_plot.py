"""The picture of a sweep (``vta dse``'s pareto.png): frames per second (a log scale) against
LUTs, DSPs and block RAM, one marker per point with resource counts, the Pareto front
(:mod:`.pareto`) of the points that fit joined by a line, the points that do not fit or failed
drawn apart, each baseline as a star (hollow if it does not fit), and the part's capacity as a
dashed line.
"""

from __future__ import annotations

import io
import itertools

from .dse import Row
from .pareto import front
from .parts import PARTS, RESOURCE_NAMES

PANELS = ("luts", "dsps", "brams")
BASELINE_COLORS = ("tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


def plot(rows: list[Row], title: str) -> bytes | None:
    """Return the PNG of ``rows`` (their frames per second at the clock each row names), or
    None if no row has resource counts (a sweep of the cost stage alone)."""
    drawn = [row for row in rows if row.resources() is not None and row.fps is not None]
    if not drawn:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    part = PARTS[drawn[0].sweep.part]
    swept = [row for row in drawn if not row.point.baseline]
    groups = {
        "fits": ([row for row in swept if row.ok and row.fit], "o", "tab:blue"),
        "does not fit": ([row for row in swept if row.ok and not row.fit], "x", "tab:gray"),
        "failed": ([row for row in swept if not row.ok], "s", "tab:red"),
    }
    baselines = [row for row in drawn if row.point.baseline]
    figure = Figure(figsize=(15, 5), layout="constrained")
    for axes, resource in zip(figure.subplots(1, 3, sharey=True), PANELS):
        for label, (members, marker, color) in groups.items():
            if members:
                axes.scatter([row.resources()[resource] for row in members],
                             [row.fps for row in members], marker=marker, color=color,
                             label=f"{label} ({len(members)})", zorder=3,
                             facecolors="none" if marker == "s" else None)
        for row, color in zip(baselines, itertools.cycle(BASELINE_COLORS)):
            fits = row.ok and row.fit
            axes.scatter([row.resources()[resource]], [row.fps], marker="*", s=160,
                         color=color, facecolors=None if fits else "none", zorder=4,
                         label=f"baseline {row.point.baseline}"
                               + ("" if fits else " (does not fit)" if row.ok else " (failed)"))
        fitting = groups["fits"][0]
        pairs = [(row.fps, row.resources()[resource]) for row in fitting]
        on_front = front(pairs)
        if on_front:
            axes.plot([pairs[i][1] for i in on_front], [pairs[i][0] for i in on_front],
                      color="tab:orange", label="Pareto front", zorder=2)
        axes.axvline(part.capacity[resource], color="black", linestyle="--", linewidth=1,
                     label=f"{part.name} capacity")
        axes.set_yscale("log")  # a sweep's rates span orders of magnitude
        axes.set_xlabel(RESOURCE_NAMES[resource])
        axes.grid(alpha=0.3)
    figure.axes[0].set_ylabel("frames per second")
    figure.axes[0].legend(loc="best", fontsize=8)
    clocks = sorted({"Fmax (nextpnr)" if row.fmax_mhz else f"nominal {row.clock_mhz:g} MHz"
                     for row in drawn})
    counters = " and ".join(sorted({row.counted_by for row in drawn}))
    figure.suptitle(f"{title}: frames per second at {' or '.join(clocks)}; "
                    f"resources counted by {counters}")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
