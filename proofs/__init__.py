"""Formal proofs of the RTL (:mod:`vtaref.impl`) with SymbiYosys, and of the encodings and the
compiler with z3 (:mod:`.smt`): :func:`run_all` runs them all.

Each proof prints its engine, mode, depth, result and wall time (see :mod:`.sby`);
:func:`run_proofs` runs several at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from amaranth.hdl import Elaboratable

from vtaref.impl import alu as alu_unit
from vtaref.impl import gemm as gemm_unit
from vtaref.impl.alu import AluDatapath
from vtaref.impl.core import INSN_QUEUE_DEPTH
from vtaref.impl.fetch import BUFFER_DEPTH
from vtaref.impl.queue import Queue, TokenQueue
from vtaref.spec.config import KEY_RANGES, VtaConfig
from vtaref.spec.isa import Alu, Gemm
from vtaref.spec.jobs import Job, on_stop, run_jobs
from vtaref.spec.pipeline import DEFAULT_TOKEN_DEPTH

from .alu import DatapathSpec, TensorAluSpec, tiny_config
from .axi import AxiBurstSpec, axi_proofs
from .bus_error import bus_error_proofs
from .core_insn import CoreChecks, batched_core_config, check_names
from .dma_ports import ElementContractSpec, core_engine
from .fault import UopLoopFaultSpec
from .gemm import TensorGemmSpec, tiny_gemm_config
from .load import LoadWritesSpec
from .local_load import LocalLoadWritesSpec
from .loop import batched_config
from .queue import QueueSpec, TokenQueueSpec
from .sby import ProofResult, prove
from .smt import Z3Proof, z3_proofs
from .store import StoreReadsSpec
from .tokens import SIZE_BITS, ComputeTokensSpec, LoadTokensSpec, StoreTokensSpec

QUEUE_PROOF_WIDTH = 8  # entry bits in queue proofs: order and counts do not depend on them
BMC_DEPTH = 10  # steps of the bmc sibling of a k-induction proof
TWO_COMMANDS_DEPTH = 10  # steps of the GEMM and ALU proofs with two commands
BATCHED_ALU_DEPTH = 9  # the batched ALU's, with two commands (its 10th step takes minutes)
# Steps of the proofs of what the DMA bursts move, by direction (reads: more ports, slower).
BURST_DEPTHS = {"read": 5, "write": 8}
# The store's counting token proof also to sizes below 2**6, slow (a bit more doubles the
# bits the solver blasts: 7 bits took six minutes).
WIDE_STORE_SIZE_BITS = 6
FAULT_DEPTH = 24  # steps of the micro-op loop's fault proofs: their longest command, and more
FAULT_TAGS = {Gemm: gemm_unit.TAG, Alu: alu_unit.TAG}
# Steps of the whole-core checks: three ALU visits (the first at step 13); the GEMM checks, on
# every config, and order (which covers a GEMM visit), to the first GEMM visit's write (step 16
# since TensorGemm.LATENCY is 7); reads, to a GEMM reading an inp or wgt row a LOAD wrote (step
# 18); store_data, to the first STORE of data retiring (step 17); finish, to a FINISH retiring
# after a GEMM visit (step 17); liveness, 2.5 times its progress bound; the retirement bound, to
# the first instruction's offer (step 9) and its bound of 16 cycles, and one more.
CORE_DEPTH = 16
CORE_GEMM_DEPTH = 17
CORE_DEPTHS = {"gemm": CORE_GEMM_DEPTH, "gemm_reset": CORE_GEMM_DEPTH, "order": CORE_GEMM_DEPTH,
               "reads": 19, "store_data": 18, "finish": 18, "liveness": 20, "retire_bound": 26}
CORE_CI_CHECKS = ("alu_add", "tokens")  # the core checks (and covers) CI runs; the rest are slow


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


def with_bmc_siblings(chosen: list[Proof]) -> list[Proof]:
    """Return ``chosen`` with each k-induction proof followed by its bmc sibling ``NAME_bmc``
    (the same properties, :data:`BMC_DEPTH` steps from reset): where an induction does not
    close (UNKNOWN), the sibling tells a bug, with its counterexample trace, from a missing
    helper invariant."""
    result = []
    for proof in chosen:
        result.append(proof)
        if proof.mode == "prove":
            result.append(Proof(f"{proof.name}_bmc", proof.build, "bmc", BMC_DEPTH, proof.slow))
    return result


def proofs(config: VtaConfig) -> list[Proof | Z3Proof]:
    """Return the proofs for ``config``.

    The queues are proved by k-induction for every reachable state. The ALU datapath is proved
    for every operand on one lane (every lane is the same circuit; combinational, so one bmc
    step is a full proof) at every accumulator width a config allows. The whole ALU unit and
    the GEMM core are proved for a bounded run (:mod:`.loop`): one command of every length on a
    tiny 8-bit configuration (1x1 and 1x2x2), and two commands, back to back or apart, on that
    configuration and on a batched one (batch 2, 4-bit inputs, 8-bit accumulators, where a sum
    or a product overflows; slow for the ALU, and slow for one GEMM command of every length).
    Their loop, forwarding and timing do not depend on the widths.

    The dependency-token protocol of the load and store stages is proved by k-induction for
    every instruction, and with element counting for instructions of up to ``2**SIZE_BITS - 1``
    rows and columns; that of the compute stage for a bounded run on the tiny GEMM
    configuration. Where the load stage and the compute stage's loads write the scratchpads,
    and what, and which rows the store stage reads, are proved by k-induction (:mod:`.load`,
    :mod:`.local_load`, :mod:`.store`), and the
    micro-op loop's index arithmetic for a bounded run on the tiny GEMM configuration
    (:mod:`.fault`): none ever wraps an index, and each stops with a fault only where the spec
    rejects the instruction (the load and the loop exactly there).

    The DMA engine's AXI4 manager rules (:mod:`.axi`), its bus-error latch and halt, with the
    control registers' report of it (:mod:`.bus_error`), and the element-port contract the
    token proofs assume of it (:mod:`.dma_ports`) are proved by k-induction under arbitrary
    inputs; cover proofs show that the error cases are reached. What its bursts move
    (addresses, beats, WSTRB, read data, ``done`` after B) is proved for a bounded run with the
    core's port map for the tiny GEMM configuration (narrow writes): slow proofs, minutes each.

    The whole core (:mod:`.core_insn`) on the tiny GEMM configuration, under an arbitrary host
    and DRAM, is checked on its retirement port for a bounded run: each ALU opcode with and
    without immediates, GEMM with and without reset (and GEMM with scratchpads that start
    with arbitrary contents, also at batch 2 with 4-bit inputs), LOAD padding, LOAD data (the
    load stage's and the compute stage's) and STORE data against a DRAM that behaves as a
    memory, FINISH, liveness and a per-instruction retirement bound under a DRAM that answers in
    time, reads against the last write, program order and token order, each its own proof
    with a cover of its trigger.

    Each k-induction proof has a bmc sibling (:func:`with_bmc_siblings`).

    The z3 proofs (:mod:`.smt`) follow: the encodings, the DRAM addresses, and the compiler's
    convolution tiles, requantization and average pooling, each for every configuration.
    """
    lane_widths = range(KEY_RANGES["LOG_ACC_WIDTH"][0], KEY_RANGES["LOG_ACC_WIDTH"][1] + 1)
    tiny = tiny_config(3)
    gemm = tiny_gemm_config()
    batched = batched_config()
    return with_bmc_siblings([
        Proof(f"token_queue_{DEFAULT_TOKEN_DEPTH}",
              lambda: TokenQueueSpec(TokenQueue(DEFAULT_TOKEN_DEPTH)), "prove", 1),
        Proof(f"insn_queue_{INSN_QUEUE_DEPTH}",
              lambda: QueueSpec(Queue(QUEUE_PROOF_WIDTH, INSN_QUEUE_DEPTH)), "prove", 1),
        Proof(f"fetch_buffer_{BUFFER_DEPTH}",
              lambda: QueueSpec(Queue(QUEUE_PROOF_WIDTH, BUFFER_DEPTH)), "prove", 1),
        Proof("queue_3", lambda: QueueSpec(Queue(8, 3)), "prove", 1),
        *(Proof(f"alu_datapath_acc{1 << log}",
                lambda log=log: DatapathSpec(AluDatapath(tiny_config(log))), "bmc", 1)
          for log in lane_widths),
        Proof("tensor_alu_tiny", lambda: TensorAluSpec(tiny), "bmc", TensorAluSpec.bound(tiny)),
        Proof("tensor_alu_tiny_twice", lambda: TensorAluSpec(tiny, commands=2), "bmc",
              TWO_COMMANDS_DEPTH),
        Proof("tensor_alu_batched_twice", lambda: TensorAluSpec(batched, commands=2), "bmc",
              BATCHED_ALU_DEPTH, slow=True),
        Proof("tensor_gemm_tiny", lambda: TensorGemmSpec(gemm), "bmc",
              TensorGemmSpec.bound(gemm)),
        Proof("tensor_gemm_tiny_twice", lambda: TensorGemmSpec(gemm, commands=2), "bmc",
              TWO_COMMANDS_DEPTH),
        Proof("tensor_gemm_batched_twice", lambda: TensorGemmSpec(batched, commands=2), "bmc",
              TWO_COMMANDS_DEPTH),
        Proof("tensor_gemm_batched", lambda: TensorGemmSpec(batched), "bmc",
              TensorGemmSpec.bound(batched), slow=True),
        *(Proof(*proof) for proof in axi_proofs()),
        *(Proof(f"dma_bursts_{direction}_tiny",
                lambda direction=direction: AxiBurstSpec(core_engine(gemm), direction), "bmc",
                depth, slow=True) for direction, depth in BURST_DEPTHS.items()),
        Proof("dma_bursts_read_tiny_cover", lambda: AxiBurstSpec(core_engine(gemm), "read"),
              "cover", BURST_DEPTHS["read"]),
        Proof("dma_ports", lambda: ElementContractSpec(core_engine(config)), "prove", 1),
        *(Proof(*proof) for proof in bus_error_proofs()),
        Proof("load_writes_tiny", lambda: LoadWritesSpec(gemm), "prove", 1),
        Proof("load_writes_tiny_cover", lambda: LoadWritesSpec(gemm), "cover", BMC_DEPTH),
        Proof("local_load_writes_tiny", lambda: LocalLoadWritesSpec(gemm), "prove", 1),
        Proof("local_load_writes_tiny_cover", lambda: LocalLoadWritesSpec(gemm), "cover",
              BMC_DEPTH),
        Proof("store_reads_tiny", lambda: StoreReadsSpec(gemm), "prove", 1),
        Proof("store_reads_tiny_cover", lambda: StoreReadsSpec(gemm), "cover", BMC_DEPTH),
        *(Proof(f"uop_loop_fault_{unit.__name__.lower()}{suffix}",
                lambda unit=unit: UopLoopFaultSpec(gemm, unit, FAULT_TAGS[unit]), mode,
                FAULT_DEPTH) for unit in (Gemm, Alu)
          for suffix, mode in (("", "bmc"), ("_cover", "cover"))),
        Proof("tokens_load", lambda: LoadTokensSpec(config), "prove", 1),
        Proof(f"tokens_load_sizes{SIZE_BITS}",
              lambda: LoadTokensSpec(config, size_bits=SIZE_BITS), "prove", 1),
        Proof("tokens_store", lambda: StoreTokensSpec(config), "prove", 1),
        Proof(f"tokens_store_sizes{SIZE_BITS}",
              lambda: StoreTokensSpec(config, size_bits=SIZE_BITS), "prove", 1),
        Proof("tokens_compute_tiny", lambda: ComputeTokensSpec(gemm), "bmc",
              ComputeTokensSpec.bound()),
        *(Proof(f"core_{check}{suffix}", lambda check=check: CoreChecks(gemm, check), mode,
                CORE_DEPTHS.get(check, CORE_DEPTH), slow=check not in CORE_CI_CHECKS)
          for check in check_names() for suffix, mode in (("", "bmc"), ("_cover", "cover"))),
        *(Proof(f"core_gemm_arbitrary{suffix}",
                lambda: CoreChecks(gemm, "gemm", arbitrary_memories=True), mode,
                CORE_GEMM_DEPTH, slow=True)
          for suffix, mode in (("", "bmc"), ("_cover", "cover"))),
        *(Proof(f"core_gemm_batched{suffix}",
                lambda: CoreChecks(batched_core_config(), "gemm", arbitrary_memories=True),
                mode, CORE_GEMM_DEPTH)
          for suffix, mode in (("", "bmc"), ("_cover", "cover"))),
    ]) + [
        # At the full config too; the tiny ones' bmc siblings find the traces (these ones'
        # take minutes).
        Proof("load_writes", lambda: LoadWritesSpec(config), "prove", 1),
        Proof("local_load_writes", lambda: LocalLoadWritesSpec(config), "prove", 1),
        # The sizes-3 proof's sibling finds the traces (this one's took 444 s at load 5.7).
        Proof(f"tokens_store_sizes{WIDE_STORE_SIZE_BITS}",
              lambda: StoreTokensSpec(config, size_bits=WIDE_STORE_SIZE_BITS), "prove", 1,
              slow=True),
        Proof("store_reads", lambda: StoreReadsSpec(config), "prove", 1),
    ] + z3_proofs()


def run_all(config: VtaConfig, **options) -> list[ProofResult]:
    """Run every proof for ``config``; return their results (options: see :func:`run_proofs`)."""
    return run_proofs(proofs(config), **options)


class Stopped(Exception):
    """Raised inside a proof's run to stop it when the run of proofs it is part of stops."""


def run_proofs(chosen: Sequence[Proof | Z3Proof], *, jobs: int | None = None,
               scheduler: str | None = None,
               on_start: Callable[[Proof | Z3Proof], None] | None = None,
               on_result: Callable[[ProofResult], None] | None = None,
               **options) -> list[ProofResult]:
    """Run the ``chosen`` proofs on Dask (:func:`vtaref.spec.jobs.run_jobs`), ``jobs`` at a time;
    return their results in the same order.

    Without ``scheduler`` they run on a local cluster of ``jobs`` worker processes (default: as
    many as this process has CPUs; one runs them in this process); with it, on that cluster
    (default: as many at once as it has worker threads). ``on_start`` gets each proof as it
    starts and ``on_result`` each result as it comes, both in the calling thread. ``options`` go
    to :meth:`Proof.run`. An exception (a missing tool, an interrupt) stops the running proofs
    and propagates; JobsError if the scheduler cannot be reached.
    """
    queued = [Job(proof.name, _run_proof, (proof, options)) for proof in chosen]
    position = {id(job): index for index, job in enumerate(queued)}

    def started(job: Job) -> None:
        if on_start is not None:
            on_start(job.args[0])

    results: list[ProofResult | None] = [None] * len(chosen)
    for job, result in run_jobs(queued, workers=jobs, scheduler=scheduler, on_start=started):
        results[position[id(job)]] = result
        if on_result is not None:
            on_result(result)
    return results


def _run_proof(proof: Proof | Z3Proof, options: dict) -> ProofResult:
    """Run ``proof`` as a job: stop at its next line of output if the run of jobs stops."""
    stopping = threading.Event()

    def stop_if_asked(line: str) -> None:
        if stopping.is_set():
            raise Stopped

    with on_stop(stopping.set):
        return proof.run(on_line=stop_if_asked, **options)
