"""A network's profile, layer by layer: the figures of ``vta profile`` and of the ResNet-18
benchmark, and their plot.

:func:`layers` turns a :class:`.graph.Profile` into one :class:`Layer` per node that ran on VTA;
:func:`totals` sums a profile; :func:`plot` draws each layer's utilization and a roofline
(achieved MACs per cycle against MACs per DRAM byte, under the compute and bus ceilings of
:func:`ceilings`). Cycles are the RTL's where the core counted them (``--backend rtl``), else the
cost model's (:attr:`.graph.ProgramCost.predicted_cycles`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from vtaref.spec import VtaConfig

from .graph import NodeProfile, Profile

# The core's counters a layer row shows, as (heading, counter): busy and token-wait cycles.
STAGE_COUNTERS = (
    ("fetch", "fetch_busy"),
    ("load", "load_busy"), ("load wait", "load_token_wait"),
    ("compute", "compute_busy"), ("compute wait", "compute_token_wait"),
    ("store", "store_busy"), ("store wait", "store_token_wait"),
)


def lanes(config: VtaConfig) -> int:
    """Return the multiply-accumulates the GEMM core does per cycle."""
    return config.batch * config.block_in * config.block_out


def ceilings(config: VtaConfig, data_width: int) -> tuple[int, float]:
    """Return the roofline's ceilings: MACs per cycle of the GEMM core and DRAM bytes per cycle
    of a ``data_width``-bit bus (one beat per cycle)."""
    return lanes(config), data_width / 8


@dataclass(frozen=True)
class Layer:
    """One node that ran on VTA: its MACs, its cycles, what it moved and what its stages did.

    ``cycles`` are the RTL's (None when no core ran it); ``counters`` every counter of the core
    (:data:`vtaref.impl.vcr.COUNTERS`), or None.
    """

    name: str
    op: str
    macs: int
    ideal_cycles: float  # macs / lanes: the GEMM core busy every cycle
    predicted_cycles: float
    cycles: int | None
    load_bytes: int
    store_bytes: int
    insn_bytes: int
    counters: dict[str, int] | None

    @property
    def shown_cycles(self) -> float:
        """Return the measured cycles, or the predicted ones if none were measured."""
        return self.predicted_cycles if self.cycles is None else self.cycles

    @property
    def utilization(self) -> float:
        """Return ideal / shown cycles: the GEMM core's share of busy cycles."""
        return self.ideal_cycles / self.shown_cycles if self.shown_cycles else 0.0

    @property
    def dram_bytes(self) -> int:
        return self.load_bytes + self.store_bytes + self.insn_bytes

    @property
    def macs_per_byte(self) -> float:
        """Return the layer's arithmetic intensity: MACs per DRAM byte moved."""
        return self.macs / self.dram_bytes if self.dram_bytes else 0.0

    @property
    def macs_per_cycle(self) -> float:
        return self.macs / self.shown_cycles if self.shown_cycles else 0.0

    @classmethod
    def of(cls, node: NodeProfile, config: VtaConfig) -> Layer:
        """Return the row of ``node``, which ran on VTA."""
        cost = node.cost
        return cls(node.node.output, node.node.op, node.macs, node.macs / lanes(config),
                   cost.predicted_cycles,
                   None if node.counters is None else node.counters["cycles"],
                   cost.load_bytes, cost.store_bytes, cost.insn_bytes, node.counters)

    def as_dict(self) -> dict:
        """Return the row as JSON-ready figures."""
        return {"name": self.name, "op": self.op, "macs": self.macs,
                "ideal_cycles": round(self.ideal_cycles),
                "predicted_cycles": round(self.predicted_cycles), "cycles": self.cycles,
                "utilization": round(self.utilization, 4), "load_bytes": self.load_bytes,
                "store_bytes": self.store_bytes, "insn_bytes": self.insn_bytes,
                "counters": self.counters}


def layers(profile: Profile, config: VtaConfig) -> list[Layer]:
    """Return a row per node of ``profile`` that ran on VTA, in execution order."""
    return [Layer.of(node, config) for node in profile.nodes if node.cost is not None]


def totals(profile: Profile, config: VtaConfig) -> dict:
    """Return the whole network's figures: times, instructions, micro-ops, bytes, MACs, ideal
    and predicted cycles; with the RTL's counters, the measured cycles and each counter's sum."""
    vta = [p for p in profile.nodes if p.cost is not None]
    costs = [p.cost for p in vta]
    macs = sum(p.macs for p in profile.nodes)
    ideal = macs / lanes(config)
    predicted = sum(c.predicted_cycles for c in costs)
    executed = [p.backend_stats for p in vta if p.backend_stats is not None]
    figures = {
        "nodes": len(profile.nodes), "nodes_on_vta": len(vta),
        "host_nodes": [p.node.output for p in profile.nodes if p.cost is None],
        "compile_seconds": round(sum(p.compile_seconds for p in vta), 3),
        "run_seconds": round(sum(p.run_seconds for p in vta), 3),
        "host_seconds": round(sum(p.run_seconds for p in profile.nodes if p.cost is None), 3),
        "programs": len(vta),
        "instructions": sum(c.instructions for c in costs),
        "uops_emitted": sum(c.uops for c in costs),
        "uop_visits": sum(c.uop_visits for c in costs),
        "dram_bytes": {
            "total": sum(c.dram_bytes for c in costs),
            "load": sum(c.load_bytes for c in costs),
            "store": sum(c.store_bytes for c in costs),
            "instructions": sum(c.insn_bytes for c in costs),
        },
        "macs": macs,
        "gemm_macs_incl_padding": sum(c.gemm_macs for c in costs),
        "ideal_cycles": round(ideal),
        "predicted_cycles": round(predicted),
        "predicted_gemm_utilization": round(ideal / predicted, 4) if predicted else 0.0,
    }
    if executed:
        figures["executed_uop_visits"] = sum(s.uops for s in executed)
        figures["executed_macs"] = sum(s.macs for s in executed)
    counted = [p.counters for p in vta if p.counters is not None]
    if vta and len(counted) == len(vta):
        counters = {name: sum(c[name] for c in counted) for name in counted[0]}
        figures["backend_cycles"] = counters["cycles"]
        figures["measured_gemm_utilization"] = round(ideal / counters["cycles"], 4)
        figures["counters"] = counters
    return figures


def table(rows: list[Layer]) -> list[str]:
    """Return a text table of ``rows``: cycles, ideal, utilization, bytes and, where the core
    counted them, each stage's busy and token-wait cycles as a share of the layer's cycles."""
    measured = any(row.cycles is not None for row in rows)
    kind = "cycles" if measured else "predicted"
    heading = (f"{'node':<20} {'op':<16} {'M MACs':>8} {kind:>10} {'ideal':>10} {'util':>6} "
               f"{'load KB':>8} {'store KB':>8}")
    if measured:
        heading += " " + " ".join(f"{title:>12}" for title, _ in STAGE_COUNTERS)
        heading += f" {'model err':>9}"
    lines = [heading]
    for row in rows:
        line = (f"{row.name:<20} {row.op:<16} {row.macs / 1e6:8.1f} {row.shown_cycles:10.0f} "
                f"{row.ideal_cycles:10.0f} {row.utilization:6.1%} {row.load_bytes / 1e3:8.1f} "
                f"{row.store_bytes / 1e3:8.1f}")
        if measured and row.counters is not None:
            line += " " + " ".join(f"{row.counters[name] / row.cycles:12.1%}"
                                   for _, name in STAGE_COUNTERS)
            line += f" {row.predicted_cycles / row.cycles - 1:+9.1%}"
        lines.append(line)
    return lines


def plot(rows: list[Layer], config: VtaConfig, data_width: int, title: str) -> bytes:
    """Return a PNG of each layer's utilization (measured and predicted) and a roofline of the
    layers under the compute and bus ceilings."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    compute, bus = ceilings(config, data_width)
    figure = Figure(figsize=(14, 5.5), layout="constrained")
    bars, roof = figure.subplots(1, 2, width_ratios=(3, 2))
    positions = range(len(rows))
    measured = [row.cycles is not None for row in rows]
    bars.bar(positions, [row.utilization for row in rows], color="tab:blue",
             label="measured (RTL)" if all(measured) else "predicted")
    if all(measured):
        bars.plot(positions, [row.ideal_cycles / row.predicted_cycles for row in rows], "_",
                  color="tab:red", markersize=12, mew=2, label="predicted")
    bars.set_xticks(list(positions), [row.name for row in rows], rotation=90, fontsize=7)
    bars.set_ylim(0, 1.05)
    bars.set_ylabel("GEMM utilization (ideal / cycles)")
    bars.set_title(f"{title}: utilization per layer")
    bars.legend(loc="upper left")

    intensity = [row.macs_per_byte for row in rows if row.macs]
    achieved = [row.macs_per_cycle for row in rows if row.macs]
    low = min([*intensity, compute / bus]) / 4
    high = max([*intensity, compute / bus]) * 4
    ridge = compute / bus
    roof.plot([low, ridge, high], [low * bus, compute, compute], color="black")
    roof.text(low, low * bus * 1.15, f"bus {bus:g} B/cycle", fontsize=8)
    roof.text(ridge, compute * 1.1, f"compute {compute} MAC/cycle", fontsize=8)
    roof.scatter(intensity, achieved, color="tab:blue", zorder=3)
    for row in rows:
        if row.macs:
            roof.annotate(row.name, (row.macs_per_byte, row.macs_per_cycle), fontsize=6,
                          xytext=(3, 3), textcoords="offset points")
    roof.set_xscale("log")
    roof.set_yscale("log")
    roof.set_xlabel("MACs per DRAM byte")
    roof.set_ylabel("achieved MACs per cycle")
    roof.set_title("roofline")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()
