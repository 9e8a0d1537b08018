"""Formal proofs of the RTL (:mod:`vtaref.impl`) with SymbiYosys, and of the encodings and the
compiler with z3 (:mod:`.smt`): :func:`run_all` runs them all.

Each proof prints its engine, mode, depth, result and wall time (see :mod:`.sby`);
:func:`run_proofs` runs several at once.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from amaranth.hdl import Elaboratable

from vtaref.impl.alu import AluDatapath
from vtaref.impl.core import INSN_QUEUE_DEPTH
from vtaref.impl.fetch import BUFFER_DEPTH
from vtaref.impl.queue import Queue, TokenQueue
from vtaref.spec.config import VtaConfig
from vtaref.spec.pipeline import DEFAULT_TOKEN_DEPTH

from .alu import DatapathSpec, TensorAluSpec, tiny_config
from .axi import axi_proofs
from .bus_error import bus_error_proofs
from .gemm import TensorGemmSpec, tiny_gemm_config
from .queue import QueueSpec, TokenQueueSpec
from .sby import ProofResult, prove
from .smt import Z3Proof, z3_proofs
from .tokens import SIZE_BITS, ComputeTokensSpec, LoadTokensSpec, StoreTokensSpec

QUEUE_PROOF_WIDTH = 8  # entry bits in queue proofs: order and counts do not depend on them


@dataclass(frozen=True)
class Proof:
    """One proof: how to build its property module, and how to check it. A ``slow`` proof
    (minutes or more) runs only when asked for: ``vta prove --all`` or ``--only NAME``."""

    name: str
    build: Callable[[], Elaboratable]
    mode: str
    depth: int
    slow: bool = False

    def run(self, **options) -> ProofResult:
        """Run the proof; ``options`` go to :func:`.sby.prove` (timeout, traces, verbose...)."""
        return prove(self.name, self.build(), mode=self.mode, depth=self.depth, **options)


def proofs(config: VtaConfig) -> list[Proof | Z3Proof]:
    """Return the proofs for ``config``.

    The queues are proved by k-induction for every reachable state. The ALU datapath is proved
    for every operand at the config's accumulator width on one lane (every lane is the same
    circuit). The whole ALU unit is proved for a bounded run on a tiny 8-bit configuration:
    its loop, forwarding and timing do not depend on the widths. So is the GEMM core, on a
    1x2x2 configuration with 8-bit lanes.

    The dependency-token protocol of the load and store stages is proved by k-induction for
    every instruction, and with element counting for instructions of up to ``2**SIZE_BITS - 1``
    rows and columns; that of the compute stage for a bounded run on the tiny GEMM
    configuration.

    The DMA engine's AXI4 manager rules (:mod:`.axi`) and its bus-error latch and halt, with
    the control registers' report of it (:mod:`.bus_error`), are proved by k-induction under
    arbitrary inputs; cover proofs show that the error cases are reached.

    The z3 proofs (:mod:`.smt`) follow: the encodings, the DRAM addresses, and the compiler's
    convolution tiles, requantization and average pooling, each for every configuration.
    """
    lane = tiny_config(config.LOG_ACC_WIDTH)
    tiny = tiny_config(3)
    gemm = tiny_gemm_config()
    return [
        Proof(f"token_queue_{DEFAULT_TOKEN_DEPTH}",
              lambda: TokenQueueSpec(TokenQueue(DEFAULT_TOKEN_DEPTH)), "prove", 1),
        Proof(f"insn_queue_{INSN_QUEUE_DEPTH}",
              lambda: QueueSpec(Queue(QUEUE_PROOF_WIDTH, INSN_QUEUE_DEPTH)), "prove", 1),
        Proof(f"fetch_buffer_{BUFFER_DEPTH}",
              lambda: QueueSpec(Queue(QUEUE_PROOF_WIDTH, BUFFER_DEPTH)), "prove", 1),
        Proof("queue_3", lambda: QueueSpec(Queue(8, 3)), "prove", 1),
        Proof(f"alu_datapath_acc{config.acc_width}", lambda: DatapathSpec(AluDatapath(lane)),
              "prove", 1),
        Proof("tensor_alu_tiny", lambda: TensorAluSpec(tiny), "bmc", TensorAluSpec.bound(tiny)),
        Proof("tensor_gemm_tiny", lambda: TensorGemmSpec(gemm), "bmc",
              TensorGemmSpec.bound(gemm)),
        *(Proof(*proof) for proof in axi_proofs()),
        *(Proof(*proof) for proof in bus_error_proofs()),
        Proof("tokens_load", lambda: LoadTokensSpec(config), "prove", 1),
        Proof(f"tokens_load_sizes{SIZE_BITS}",
              lambda: LoadTokensSpec(config, size_bits=SIZE_BITS), "prove", 1),
        Proof("tokens_store", lambda: StoreTokensSpec(config), "prove", 1),
        Proof(f"tokens_store_sizes{SIZE_BITS}",
              lambda: StoreTokensSpec(config, size_bits=SIZE_BITS), "prove", 1),
        Proof("tokens_compute_tiny", lambda: ComputeTokensSpec(gemm), "bmc",
              ComputeTokensSpec.bound()),
        *z3_proofs(),
    ]


def run_all(config: VtaConfig, **options) -> list[ProofResult]:
    """Run every proof for ``config``; return their results (options: see :func:`run_proofs`)."""
    return run_proofs(proofs(config), **options)


class Stopped(Exception):
    """Raised inside a proof's run to stop it when the caller of :func:`run_proofs` is
    interrupted."""


def run_proofs(chosen: Sequence[Proof | Z3Proof], *, jobs: int | None = None,
               on_start: Callable[[Proof | Z3Proof], None] | None = None,
               on_result: Callable[[ProofResult], None] | None = None,
               **options) -> list[ProofResult]:
    """Run the ``chosen`` proofs, ``jobs`` at a time (default: as many as this process has
    CPUs); return their results in the same order.

    ``on_start`` gets each proof as it starts and ``on_result`` each result as it comes, both in
    the calling thread, which starts the next proof when one finishes. ``options`` go to
    :meth:`Proof.run`. An exception (a missing tool, an interrupt) stops the running proofs
    and propagates.
    """
    jobs = jobs or len(os.sched_getaffinity(0))
    results: list[ProofResult | None] = [None] * len(chosen)
    queued = deque(enumerate(chosen))
    running: dict[Future, int] = {}  # -> index in chosen
    stopping = threading.Event()

    def stop_if_asked(line: str) -> None:
        if stopping.is_set():
            raise Stopped

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="proof") as pool:
        try:
            while queued or running:
                while queued and len(running) < jobs:
                    index, proof = queued.popleft()
                    if on_start is not None:
                        on_start(proof)
                    running[pool.submit(proof.run, on_line=stop_if_asked, **options)] = index
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    index = running.pop(future)
                    results[index] = future.result()
                    if on_result is not None:
                        on_result(results[index])
        except BaseException:
            stopping.set()  # the running proofs stop at their next line of output
            raise
    return results
