"""Print the spec's simulated MACs per second on a large tiled-matmul image, whole process.

Usage: python benchmarks/spec_matmul.py [IMAGE_DIR] [--repeat N]

The default image is ../shared/bench/matmul_1g (4096x512 @ 512x512 int8, 1.07 G MACs, 4.19 M
GEMM micro-ops). Each repetition is a fresh ``python -m vtaref run`` process, so interpreter
start-up, imports, image loading, race checking and writing the result all count; the result
must equal the image's expected_dram.bin.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_IMAGE = Path(__file__).resolve().parents[2] / "shared" / "bench" / "matmul_1g"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from vtaref.spec import ProgramImage, run_image

    image = ProgramImage.load(args.image)
    _, stats = run_image(image)
    times = []
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "out.bin"
        for _ in range(args.repeat):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "vtaref", "run", str(args.image), "-o",
                            str(out)], check=True, capture_output=True)
            times.append(time.perf_counter() - started)
            if image.expected is not None and out.read_bytes() != image.expected:
                sys.exit("result differs from expected_dram.bin")
    best, median = min(times), statistics.median(times)
    print(json.dumps({"image": str(args.image), "macs": stats.macs, "uops": stats.uops,
                      "instructions": sum(stats.instructions.values()),
                      "bit_exact": image.expected is not None,
                      "seconds_best": round(best, 3), "seconds_median": round(median, 3),
                      "gmacs_per_second_best": round(stats.macs / best / 1e9, 2),
                      "gmacs_per_second_median": round(stats.macs / median / 1e9, 2)}, indent=2))


if __name__ == "__main__":
    main()
