"""The VTA microarchitecture in Amaranth: ``wiring.Component`` units checked against the spec.

- :mod:`.isa`: instruction and micro-op layouts built from the spec's field tables, and enums;
- :mod:`.scratchpad`: row layouts and memory-port signatures of the uop/inp/wgt/acc buffers;
- :mod:`.queue`: instruction and dependency-token queues;
- :mod:`.uop_loop`: the GEMM/ALU micro-op loop, one visit per cycle;
- :mod:`.gemm`, :mod:`.alu`: the GEMM core and the tensor ALU;
- :mod:`.ports`, :mod:`.axi`: element ports between stages and DMA, AXI4 / AXI4-Lite signatures;
- :mod:`.fetch`, :mod:`.load`, :mod:`.compute`, :mod:`.store`: the four stages;
- :mod:`.dma`: element transfers as AXI4 bursts; :mod:`.vcr`: the control registers;
- :mod:`.core`: the whole core;
- :mod:`.pysim`, :mod:`.verilator`, :mod:`.axi_ram`: simulation (Amaranth's, and compiled);
- :mod:`.run`: images run on the RTL and checked against the spec (the ``rtl`` backend);
- :mod:`.tools`: finding and running yosys, Verilator and sby (with timeouts).
"""
