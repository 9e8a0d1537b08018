"""The designs ``vta synth`` synthesizes: the whole core, or one compute unit with its memories.

A unit alone would be optimized away (nothing outside could see what it computes), so
:class:`UnitTop` gives it the scratchpads it uses, as the core does, and exposes what the
other stages would otherwise do: a write port for each scratchpad the unit only reads (as load
fills inp and wgt) and a read port for each one it writes (as store reads acc).
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import Out

from vtaref.impl import scratchpad
from vtaref.impl.alu import TensorAlu
from vtaref.impl.gemm import TensorGemm
from vtaref.spec.config import VtaConfig

UNITS = ("core", "gemm", "alu")
UNIT_CLASSES = {"gemm": TensorGemm, "alu": TensorAlu}


def _buffer(name: str, member: wiring.Member) -> str | None:
    """Return the scratchpad that the unit's memory port ``name`` reaches, or None."""
    if member.is_port or not isinstance(
            member.signature, (memory.ReadPort.Signature, memory.WritePort.Signature)):
        return None
    buffer = name.split("_")[0]
    return buffer if buffer in scratchpad.BUFFERS else None


class UnitTop(wiring.Component):
    """``unit`` (a GEMM or ALU unit for ``config``) wired to the scratchpads it uses.

    The unit's other members (``cmd``, ``idle``) are the top's own. ``<buffer>_wr`` is a write
    port of each scratchpad the unit only reads; ``<buffer>_rd`` a read port of each one it
    writes. The unit's reads of a scratchpad it writes are transparent for its writes, as the
    units require.
    """

    def __init__(self, unit: wiring.Component, config: VtaConfig):
        self.unit = unit
        self.config = config
        members = unit.signature.members
        buffers = {name: _buffer(name, member) for name, member in members.items()}
        self.ports = {name: buffer for name, buffer in buffers.items() if buffer is not None}
        self.written = sorted({buffer for name, buffer in self.ports.items()
                               if isinstance(members[name].signature,
                                             memory.WritePort.Signature)})
        self.read_only = sorted(set(self.ports.values()) - set(self.written))
        own = {name: member for name, member in members.items() if name not in self.ports}
        for buffer in self.read_only:
            own[f"{buffer}_wr"] = Out(scratchpad.write_port(buffer, config))
        for buffer in self.written:
            own[f"{buffer}_rd"] = Out(scratchpad.read_port(buffer, config))
        super().__init__(own)

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self.unit
        memories = {}
        for buffer in sorted(set(self.ports.values())):
            memories[buffer] = memory.Memory(shape=scratchpad.row_layout(buffer, self.config),
                                             depth=1 << scratchpad.addr_width(buffer, self.config),
                                             init=[])
            m.submodules[f"{buffer}_buffer"] = memories[buffer]

        writes = {}
        for buffer in self.read_only:
            writes[buffer] = memories[buffer].write_port()
            wiring.connect(m, wiring.flipped(getattr(self, f"{buffer}_wr")), writes[buffer])
        for name, buffer in self.ports.items():
            if buffer in self.written and name.endswith("_wr"):
                writes[buffer] = memories[buffer].write_port()
                wiring.connect(m, getattr(unit, name), writes[buffer])
        for name, buffer in self.ports.items():
            if not name.endswith("_wr"):
                transparent = (writes[buffer],) if buffer in self.written else ()
                wiring.connect(m, getattr(unit, name),
                               memories[buffer].read_port(transparent_for=transparent))
        for buffer in self.written:
            wiring.connect(m, wiring.flipped(getattr(self, f"{buffer}_rd")),
                           memories[buffer].read_port())

        for name, member in unit.signature.members.items():
            if name in self.ports:
                continue
            ours, theirs = getattr(self, name), getattr(unit, name)
            if not member.is_port:
                wiring.connect(m, wiring.flipped(ours), theirs)
            elif member.flow == wiring.Out:
                m.d.comb += ours.eq(theirs)
            else:
                m.d.comb += theirs.eq(ours)
        return m


def build(unit: str, config: VtaConfig, data_width: int = 64, *,
          packed: bool = False, gemm_dsps: int | None = None) -> wiring.Component:
    """Return the design for ``unit`` (one of :data:`UNITS`) and ``config``.

    ``data_width`` is the AXI4 data width of the core (ignored for the other units).
    ``packed`` makes the GEMM (of the core or the ``gemm`` unit) take two int8 products from
    each multiplier (:class:`vtaref.impl.packed_mul.PackedMul`, for Xilinx DSP48E1s);
    ``gemm_dsps`` bounds the GEMM's products on DSP blocks, the rest are LUT multipliers
    (:class:`vtaref.impl.gemm.TensorGemm`'s ``dsp_products``; None: all on DSPs).
    """
    if packed and unit == "alu":
        raise ValueError("packed multipliers are built into the GEMM: the alu has none")
    if unit == "core":
        from vtaref.impl.core import VtaCore  # late: the core imports every stage

        return VtaCore(config, data_width=data_width, packed_gemm=packed, gemm_dsps=gemm_dsps)
    if unit not in UNIT_CLASSES:
        raise ValueError(f"unknown unit {unit!r} (known: {', '.join(UNITS)})")
    if unit == "gemm":
        return UnitTop(TensorGemm(config, packed=packed, dsp_products=gemm_dsps), config)
    return UnitTop(UNIT_CLASSES[unit](config), config)
