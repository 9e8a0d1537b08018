"""The z3 proofs (vtaref.proofs.smt): the fast ones pass, each rejects a broken version of
what it proves, and the terms they are built from agree with the spec they stand for."""

import dataclasses
import xml.etree.ElementTree as ET

import pytest
import z3
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import vtaref.proofs
from vtaref import cli
from vtaref.compiler.conv import tile_fits, window
from vtaref.compiler.epilogue import emit_requantize
from vtaref.compiler.reference import average_scale
from vtaref.proofs import proofs
from vtaref.proofs.smt import Z3Proof, lut_mul, packed_mul, z3_proofs
from vtaref.proofs.smt.alu_lanes import alu_lane
from vtaref.proofs.smt.average import average_obligations
from vtaref.proofs.smt.conv_slots import conv_obligations
from vtaref.proofs.smt.dram_address import address_obligations, spec_accepts
from vtaref.proofs.smt.encoding import encoding_obligations
from vtaref.proofs.smt.lut_mul import lut_mul_obligations
from vtaref.proofs.smt.packed_mul import packed_obligations
from vtaref.proofs.smt.requantize import requantize_obligations
from vtaref.proofs.smt.terms import SymbolicConfig, insn_layouts, micro_op_layout, validity
from vtaref.spec import AluOp, ConfigError, VtaConfig, bitfields
from vtaref.spec.config import KEY_RANGES
from vtaref.spec.isa import insn_layout, uop_layout
from vtaref.spec.literal import alu_op
from vtaref.spec.semantics import FSIM

FAST = [proof for proof in z3_proofs() if not proof.slow]


def run(name: str, build) -> object:
    return Z3Proof(name, build).run(verbose=False)


def counterexample(result) -> dict[str, str]:
    """Return the ``name = value`` lines of a FAIL's log."""
    assert result.status == "FAIL", result
    assert ": counterexample" in result.log
    return dict(line.strip().split(" = ", 1) for line in result.log.splitlines()
                if line.startswith("  ") and " = " in line)


@pytest.mark.parametrize("proof", FAST, ids=[proof.name for proof in FAST])
def test_fast_z3_proof_passes(proof):
    result = proof.run(verbose=False)
    assert (result.status, result.engine, result.mode, result.depth) == (
        "PASS", "z3", "prove", proof.bound)
    assert "counterexample" not in result.log


def test_z3_proofs_are_registered_beside_the_sby_ones():
    registered = {proof.name: proof for proof in proofs(VtaConfig())}
    for proof in z3_proofs():
        assert (type(registered[proof.name]), registered[proof.name].slow) == (Z3Proof,
                                                                              proof.slow)
    slow = {name for name, proof in registered.items() if proof.slow and name.startswith("z3_")}
    assert slow == {"z3_conv_slots_65536", "z3_average_256"}


# -- mutants: each proof rejects a broken version of what it proves ---------------------------


def test_encoding_rejects_an_encoder_that_drops_a_fields_top_bit():
    def join(layout, values):
        return sum((values[f.name] & (f.mask >> 1)) << f.offset for f in layout)

    values = counterexample(run("mutant", lambda ctx: encoding_obligations(ctx, join=join)))
    assert "LOAD.dram_base" in values and "LOG_BLOCK" in values


def test_encoding_rejects_a_decoder_that_reads_a_field_one_bit_late():
    def split(layout, word):
        return bitfields.unpack([dataclasses.replace(f, offset=f.offset + (f.name == "x_size"))
                                 for f in layout], word)

    values = counterexample(run("mutant", lambda ctx: encoding_obligations(ctx, split=split)))
    assert "LOAD.x_size" in values


def test_dram_address_rejects_a_pitch_register_that_wraps():
    def row_address(t):  # x_stride << log_bytes kept in 16 bits
        pitch = (t.x_stride * t.elem_bytes) % (1 << 16)
        return (t.dram_base * t.elem_bytes + t.row * pitch) % (1 << 32)

    values = counterexample(run("mutant", lambda ctx: address_obligations(
        ctx, row_address=row_address)))
    assert values["spec address"] != values["RTL address"]


def test_dram_address_rejects_a_bounds_check_that_wraps_at_4_gib():
    def accepts(t):  # as a 32-bit check would: an end past 4 GiB looks like one below it
        return spec_accepts(dataclasses.replace(t, end=t.end + (1 << 32)))

    values = counterexample(run("mutant", lambda ctx: address_obligations(ctx, accepts=accepts)))
    assert int(values["spec address"]) + int(values["x_size"]) > 1 << 32 or (
        values["spec address"] != values["RTL address"])


def test_conv_slots_reject_a_tiler_that_overruns_the_input_slot_by_one():
    def fits(s, halves, ob, oh, ow, cb, kh, kw):
        inp_half, wgt_half, acc_half = halves
        return tile_fits(s, (inp_half + 1, wgt_half, acc_half), ob, oh, ow, cb, kh, kw)

    result = run("mutant", lambda ctx: conv_obligations(ctx, bound=16, fits=fits))
    values = counterexample(result)
    assert "the padded input window fits its half" in result.log
    rows = window(int(values["ohn"]), int(values["sh"]), int(values["khn"]))
    cols = window(int(values["own"]), int(values["sw"]), int(values["kwn"]))
    assert int(values["cbn"]) * rows * cols == int(values["inp_half"]) + 1


def test_requantize_rejects_rounding_to_nearest():
    def emit(stream, base, dims, shift, relu):
        if shift:
            stream.alu(AluOp.ADD, None, imm=1 << (shift - 1))
        emit_requantize(stream, base, dims, shift, relu)

    values = counterexample(run("mutant", lambda ctx: requantize_obligations(ctx, emit=emit)))
    assert values["emitted"] != values["definition"]


def test_requantize_rejects_a_shift_off_by_one():
    def emit(stream, base, dims, shift, relu):
        emit_requantize(stream, base, dims, shift + 1, relu)

    values = counterexample(run("mutant", lambda ctx: requantize_obligations(ctx, emit=emit)))
    assert int(values["emitted"]) == int(values["definition"]) >> 1


def test_average_rejects_a_scale_rounded_up():
    def scale(area, config):
        m, k = average_scale(area, config)
        return m + (area & (area - 1) != 0), k

    values = counterexample(run("mutant", lambda ctx: average_obligations(ctx, planes=16,
                                                                          scale=scale)))
    assert values["m"] and values["k"]


# -- the terms stand for the spec ---------------------------------------------------------


@given(st.fixed_dictionaries({key: st.integers(low, high)
                              for key, (low, high) in KEY_RANGES.items()}))
def test_symbolic_validity_is_the_specs(keys):
    try:
        VtaConfig(**keys)
        valid = True
    except ConfigError:
        valid = False
    config = SymbolicConfig(z3.Context())
    known = [term == keys[key] for key, term in config.keys.items()]
    assert z3.is_true(z3.simplify(z3.substitute(z3.And(validity(config)),
                                                *[(t.arg(0), t.arg(1)) for t in known]))) \
        == valid


# The second pushes GEMM's and ALU's loop fields across the 64-bit boundary.
@pytest.mark.parametrize("config", [VtaConfig(), VtaConfig(
    LOG_BATCH=2, LOG_BLOCK=2, LOG_INP_WIDTH=1, LOG_ACC_WIDTH=3, LOG_UOP_BUFF_SIZE=18,
    LOG_INP_BUFF_SIZE=10, LOG_WGT_BUFF_SIZE=10, LOG_ACC_BUFF_SIZE=10)])
def test_symbolic_layouts_are_the_specs(config):
    symbolic = SymbolicConfig(z3.Context())
    keys = [(term, z3.BitVecVal(getattr(config, key), term.size(), term.ctx))
            for key, term in symbolic.keys.items()]

    def concrete(term):
        term = term if z3.is_expr(term) else z3.BitVecVal(term, 136, symbolic.ctx)
        return z3.simplify(z3.substitute(term, *keys)).as_long()

    for cls, layout in insn_layouts(symbolic).items():
        assert [(f.name, concrete(f.offset), concrete(f.width)) for f in layout] == [
            (f.name, f.offset, f.width) for f in insn_layout(cls, config)]
    assert [(f.name, concrete(f.offset), concrete(f.width))
            for f in micro_op_layout(symbolic)] == [(f.name, f.offset, f.width)
                                                    for f in uop_layout(config)]


@given(st.sampled_from(list(AluOp)), st.sampled_from([8, 16, 32]), st.data())
def test_alu_lanes_are_the_specs(op, width, data):
    a = data.draw(st.integers(-(1 << (width - 1)), (1 << (width - 1)) - 1))
    b = data.draw(st.integers(-(1 << 15), (1 << 15) - 1))
    lane = alu_lane(op, z3.BitVecVal(a, width), b)
    assert z3.simplify(lane).as_signed_long() == alu_op(op, a, b, width, FSIM)


# -- running ------------------------------------------------------------------------------


def test_a_proof_past_its_timeout_stops():
    result = Z3Proof("z3_requantize", requantize_obligations).run(timeout=0, verbose=False)
    assert (result.status, result.passed) == ("TIMEOUT", False)


def test_an_exception_from_on_line_stops_the_proof():
    class Stop(Exception):
        pass

    def stop(line):
        raise Stop(line)

    with pytest.raises(Stop, match="acc_width 8, out_width 1, shift 0"):
        Z3Proof("z3_requantize", requantize_obligations).run(on_line=stop, verbose=False)


def test_vta_prove_prints_a_z3_counterexample_and_reports_it(monkeypatch, tmp_path):
    def row_address(t):  # a 31-bit address register
        return (t.dram_base + t.row * t.x_stride) * t.elem_bytes % (1 << 31)

    mutant = Z3Proof("narrow_address", lambda ctx: address_obligations(
        ctx, row_address=row_address))
    real = next(proof for proof in z3_proofs() if proof.name == "z3_dram_address")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(vtaref.proofs, "proofs", lambda config: [real, mutant])
    result = CliRunner().invoke(cli.main, ["prove", "-j", "2", "--junit", "report.xml"])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("z3_dram_address: PASS (prove, depth 0, z3) in ")
               for line in lines), lines
    assert any(line.startswith("narrow_address: FAIL (prove, depth 0, z3) in ")
               for line in lines), lines
    assert lines[-1] == "1 passed, 1 failed: narrow_address (FAIL)"
    assert "  RTL address = " in result.stderr
    failure = ET.parse(tmp_path / "report.xml").getroot()[0].find(
        "testcase[@name='narrow_address']/failure")
    assert failure.get("type") == "FAIL" and "  spec address = " in failure.text
    assert not (tmp_path / "proof-traces").exists()


def test_packed_mul_rejects_the_shift_that_overflows_the_a_port(monkeypatch):
    monkeypatch.setattr(packed_mul, "SHIFT", 17)
    result = Z3Proof("z3_packed_mul", packed_obligations).run(verbose=False)
    assert result.log.startswith("the packed operand fits the 25-bit A port: counterexample")
    values = counterexample(result)
    assert int(values["a0"]) + (int(values["a1"]) << 17) < -(1 << 24)


def test_lut_mul_rejects_a_booth_digit_table_with_one_wrong_digit(monkeypatch):
    # Code 0b010 (b[2j] set alone) is digit 1; as 2 it doubles a single set bit of b.
    digits = list(lut_mul.BOOTH_DIGITS)
    digits[0b010] = 2
    monkeypatch.setattr(lut_mul, "BOOTH_DIGITS", tuple(digits))
    result = Z3Proof("z3_lut_mul", lut_mul_obligations).run(verbose=False)
    assert "1 x 2 bits: p = a * b: counterexample" in result.log
    values = counterexample(result)
    assert int(values["b"]) == 1 and int(values["a"]) != 0
