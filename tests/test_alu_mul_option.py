"""ALU_MUL, the config option that leaves MUL out of the ALU: the config key, the spec and the
compiler refusing MUL without it, and the RTL ALU without its multipliers."""

import dataclasses
import json

import numpy as np
import pytest

from vtaref.compiler.errors import CompileError
from vtaref.compiler.loops import Affine, Nest
from vtaref.compiler.runtime import CommandStream
from vtaref.impl.alu import TensorAlu
from vtaref.spec import ConfigError, VtaConfig, literal, semantics
from vtaref.spec.errors import ProgramError
from vtaref.spec.isa import Alu, AluOp
from vtaref.spec.state import MachineState

from .impl_support import random_state, sized_config
from .test_impl_units import check_against_spec, datapath_outputs, uop_word

WITH_MUL = sized_config(LOG_BATCH=1, LOG_BLOCK=2)
NO_MUL = dataclasses.replace(WITH_MUL, ALU_MUL=False)


def test_alu_mul_defaults_to_true_and_is_written_only_when_false(tmp_path):
    assert VtaConfig().ALU_MUL is True
    assert "ALU_MUL" not in VtaConfig().to_dict()
    assert NO_MUL.to_dict()["ALU_MUL"] is False
    path = tmp_path / "vta_config.json"
    path.write_text(json.dumps(NO_MUL.to_dict()))
    assert VtaConfig.from_json(path) == NO_MUL
    path.write_text(json.dumps(WITH_MUL.to_dict()))  # a TVM-VTA file: no ALU_MUL key
    assert VtaConfig.from_json(path).ALU_MUL is True
    assert NO_MUL.name == WITH_MUL.name + "_nomul"


@pytest.mark.parametrize("value", [1, "true", None])
def test_alu_mul_must_be_a_boolean(value):
    with pytest.raises(ConfigError, match="ALU_MUL must be true or false"):
        VtaConfig(ALU_MUL=value)


def alu_insn(op: AluOp) -> Alu:
    return Alu(uop_bgn=0, uop_end=1, iter_out=1, iter_in=1, alu_opcode=op, use_imm=1, imm=3)


@pytest.mark.parametrize("execute", [semantics.alu, literal.alu])
def test_spec_refuses_mul_without_alu_mul_and_runs_the_other_ops(execute):
    state = MachineState(NO_MUL, dram=None)
    with pytest.raises(ProgramError, match="alu_opcode.*ALU_MUL is false"):
        execute(alu_insn(AluOp.MUL), state, 7)
    for op in (AluOp.MIN, AluOp.MAX, AluOp.ADD, AluOp.SHR):
        with_mul, no_mul = (random_state(config, np.random.default_rng(1))
                            for config in (WITH_MUL, NO_MUL))
        execute(alu_insn(op), with_mul, 0)
        execute(alu_insn(op), no_mul, 0)
        assert (with_mul["acc"].data == no_mul["acc"].data).all()


def test_compiler_refuses_to_emit_mul_without_alu_mul():
    nest = Nest((2,), Affine(0, (1,)), Affine(4, (0,)))
    CommandStream(NO_MUL).alu(AluOp.ADD, nest)
    CommandStream(WITH_MUL).alu(AluOp.MUL, nest)
    with pytest.raises(CompileError, match="needs ALU MUL.*ALU_MUL is false"):
        CommandStream(NO_MUL).alu(AluOp.MUL, nest)


def test_rtl_alu_without_mul_leaves_mul_lanes_unchanged_and_keeps_the_other_ops():
    cases = [(op, a, b) for op in AluOp for a in (-7, 0, 5) for b in (-2, 3)]
    got, want = datapath_outputs(NO_MUL, cases), datapath_outputs(WITH_MUL, cases)
    assert got == [a if op == AluOp.MUL else y for (op, a, _), y in zip(cases, want)]


@pytest.mark.parametrize("op", [AluOp.MIN, AluOp.MAX, AluOp.ADD, AluOp.SHR])
def test_rtl_alu_without_mul_matches_spec(op):
    state = random_state(NO_MUL, np.random.default_rng(int(op)))
    state["uop"].data[0, 0] = uop_word(NO_MUL, dst_idx=1, src_idx=2)
    insns = [Alu(uop_bgn=0, uop_end=1, iter_out=3, iter_in=2, dst_factor_out=1,
                 src_factor_in=1, alu_opcode=op, use_imm=use_imm, imm=-3)
             for use_imm in (0, 1)]
    check_against_spec(TensorAlu, semantics.alu, NO_MUL, state, insns)
