"""The VTA microarchitecture in Amaranth: ``wiring.Component`` units checked against the spec.

- :mod:`.isa`: instruction and micro-op layouts built from the spec's field tables, and enums;
- :mod:`.scratchpad`: row layouts and memory-port signatures of the uop/inp/wgt/acc buffers;
- :mod:`.queue`: instruction and dependency-token queues;
- :mod:`.uop_loop`: the GEMM/ALU micro-op loop, one visit per cycle;
- :mod:`.gemm`, :mod:`.alu`: the GEMM core and the tensor ALU.
"""
