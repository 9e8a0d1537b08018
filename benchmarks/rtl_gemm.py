"""Print how close the RTL core comes to one micro-op per cycle, and how fast it simulates.

For a large tiled GEMM image (default: a 512x512x512 int8 matmul compiled for the image's
config; or any image folder given), runs the image on the Verilator model of the core and
prints: cycles, ideal cycles (micro-op visits of GEMM and ALU, one per cycle at best), their
ratio, per-stage busy/stall counters, and simulated cycles per wall-clock second and per second
of the simulator's CPU time (which a loaded machine does not stretch). The spec runs
the image first and the RTL's DRAM must equal it (exit status 1 otherwise).

    python3 benchmarks/rtl_gemm.py [IMAGE_DIR] [--data-width 64] [--size 512]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

from vtaref.compiler.conv import compile_dense
from vtaref.impl.run import run_checked
from vtaref.impl.verilator import VerilatedCore
from vtaref.spec import DEFAULT_CONFIG, ProgramImage


def matmul_image(size: int) -> ProgramImage:
    """Return the image of a ``size``-cubed int8 matmul with requantization, default config."""
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, size=(size, size))
    w = rng.integers(-128, 128, size=(size, size))
    return compile_dense(a, w, shift=10, config=DEFAULT_CONFIG).image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", type=Path, help="an image folder (default: matmul)")
    parser.add_argument("--size", type=int, default=512, help="matmul size without IMAGE")
    parser.add_argument("--data-width", type=int, default=64, help="AXI data width in bits")
    args = parser.parse_args()

    image = ProgramImage.load(args.image) if args.image else matmul_image(args.size)
    what = args.image or f"matmul {args.size}x{args.size}x{args.size}"
    start = time.perf_counter()
    VerilatedCore(image.config, args.data_width).executable()
    build = time.perf_counter() - start
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    checked = run_checked(image, data_width=args.data_width)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the simulator is a child process
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    rtl = checked.rtl
    print(f"image: {what} ({image.config.name}, {image.insn_count} instructions, "
          f"{checked.spec_stats.macs / 1e6:.1f} M MACs), AXI {args.data_width} bits")
    print(f"model build (cached after the first): {build:.1f} s")
    print(f"cycles: {rtl.cycles}  ideal (uop visits): {checked.ideal_cycles}  "
          f"ratio: {rtl.cycles / max(1, checked.ideal_cycles):.3f}")
    for name, value in rtl.counters.items():
        print(f"  {name:20s} {value:12d}  {value / max(1, rtl.cycles):7.1%}")
    print(f"simulation: {rtl.seconds:.2f} s, {rtl.cycles / rtl.seconds / 1e6:.2f} M cycles/s; "
          f"{cpu:.2f} s of CPU, {rtl.cycles / cpu / 1e6:.2f} M cycles per CPU second")
    print("DRAM matches the spec: " + ("yes" if checked.matches else f"NO ({checked.mismatch})"))
    return 0 if checked.matches else 1


if __name__ == "__main__":
    sys.exit(main())
