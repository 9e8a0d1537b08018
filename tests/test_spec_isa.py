"""Instruction and micro-op encodings: round trips, conformance bytes, and GCC's own layout."""

import json
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vtaref.spec import ProgramImage, VtaConfig, isa
from vtaref.spec.strategies import configs

from .conftest import CONFORMANCE

SMALL_CONFIGS = [
    VtaConfig(),
    VtaConfig(LOG_BATCH=1, LOG_BLOCK=3, LOG_UOP_BUFF_SIZE=13, LOG_INP_BUFF_SIZE=13,
              LOG_WGT_BUFF_SIZE=15, LOG_ACC_BUFF_SIZE=15),
    VtaConfig(LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2, LOG_BLOCK=3, LOG_UOP_BUFF_SIZE=14,
              LOG_INP_BUFF_SIZE=13, LOG_WGT_BUFF_SIZE=15, LOG_ACC_BUFF_SIZE=15),
    VtaConfig(LOG_ACC_WIDTH=4, LOG_BATCH=2, LOG_BLOCK=2, LOG_UOP_BUFF_SIZE=12,
              LOG_INP_BUFF_SIZE=12, LOG_WGT_BUFF_SIZE=12, LOG_ACC_BUFF_SIZE=13),
    # A deep uop buffer pushes GEMM/ALU iter_in across the 64-bit boundary.
    VtaConfig(LOG_UOP_BUFF_SIZE=16, LOG_INP_BUFF_SIZE=12, LOG_WGT_BUFF_SIZE=16,
              LOG_ACC_BUFF_SIZE=13),
]


@st.composite
def instructions(draw, config):
    cls = draw(st.sampled_from(list(isa.INSN_CLASSES.values()) + [isa.Uop]))
    layout = isa.uop_layout(config) if cls is isa.Uop else isa.insn_layout(cls, config)
    values = {f.name: draw(st.integers(f.low, f.high)) for f in layout if f.name != "opcode"}
    return cls(**values)


@given(data=st.data())
def test_decode_inverts_encode(data):
    config = data.draw(configs())
    insn = data.draw(instructions(config))
    if isinstance(insn, isa.Uop):
        raw = isa.encode_uop(insn, config)
        assert len(raw) == 4 and isa.decode_uop(raw, config) == insn
    else:
        raw = isa.encode(insn, config)
        assert len(raw) == 16 and isa.decode(raw, config) == insn


def test_out_of_range_field_is_refused():
    with pytest.raises(ValueError, match="uop_bgn=8192 outside"):
        isa.encode(isa.Gemm(uop_bgn=8192), VtaConfig())
    with pytest.raises(ValueError, match="imm=32768"):
        isa.encode(isa.Alu(imm=32768), VtaConfig())


def test_unknown_opcode():
    with pytest.raises(isa.DecodeError, match="opcode 7 is not a VTA opcode"):
        isa.decode(bytes([7]) + bytes(15), VtaConfig())


@pytest.mark.parametrize("case", sorted(CONFORMANCE.glob("*/*")), ids=lambda p: p.parent.name
                         + "/" + p.name)
def test_conformance_instructions_reencode_bit_exactly(case):
    image = ProgramImage.load(case)
    start = image.insn_addr - image.dram_base
    for index in range(image.insn_count):
        raw = image.dram[start + 16 * index:start + 16 * (index + 1)]
        assert isa.encode(isa.decode(raw, image.config), image.config) == raw, index


def _c_struct(name: str, layout, unit: str) -> str:
    body = "".join(f"  {'int64_t' if f.signed else unit} {f.name} : {f.width};\n" for f in layout)
    return f"typedef struct {{\n{body}}} {name};\n"


def _c_probe(name: str, layout) -> str:
    # Set one field to all ones and print the struct's bytes, for each field.
    lines = []
    for f in layout:
        lines.append(f"  {{ {name} s; memset(&s, 0, sizeof s); s.{f.name} = -1; "
                     f'dump("{name}", "{f.name}", &s, sizeof s); }}')
    return "\n".join(lines)


def _gcc_layouts(config: VtaConfig) -> dict:
    structs, probes = [], []
    for cls in isa.INSN_CLASSES.values():
        layout = isa.insn_layout(cls, config)
        structs.append(_c_struct(cls.__name__, layout, "uint64_t"))
        probes.append(_c_probe(cls.__name__, layout))
    structs.append(_c_struct("Uop", isa.uop_layout(config), "uint32_t"))
    probes.append(_c_probe("Uop", isa.uop_layout(config)))
    return "\n".join(structs), "\n".join(probes)


C_MAIN = r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>
%s
static void dump(const char *s, const char *f, const void *p, size_t n) {
  const unsigned char *b = p;
  printf("%%s %%s %%zu ", s, f, n);
  for (size_t i = 0; i < n; i++) printf("%%02x", b[i]);
  printf("\n");
}
int main(void) {
%s
  return 0;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to compile the C structs")
@pytest.mark.parametrize("config", SMALL_CONFIGS, ids=lambda c: c.name)
def test_layout_matches_gcc_bit_fields(config, tmp_path: Path):
    """Compile the hw_spec.h-style bit-field structs with GCC and compare every field."""
    structs, probes = _gcc_layouts(config)
    source = tmp_path / "layout.c"
    source.write_text(C_MAIN % (structs, probes))
    binary = tmp_path / "layout"
    subprocess.run(["gcc", "-O0", "-o", str(binary), str(source)], check=True)
    output = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout
    layouts = {cls.__name__: isa.insn_layout(cls, config) for cls in isa.INSN_CLASSES.values()}
    layouts["Uop"] = isa.uop_layout(config)
    checked = 0
    for line in output.splitlines():
        struct, name, size, hexbytes = line.split()
        field = next(f for f in layouts[struct] if f.name == name)
        word = int.from_bytes(bytes.fromhex(hexbytes), "little")
        assert word == field.mask << field.offset, (struct, name)
        assert int(size) <= (4 if struct == "Uop" else 16)
        checked += 1
    assert checked == sum(len(layout) for layout in layouts.values())


def test_field_tables_follow_hw_spec_order():
    names = [f.name for f in fields(isa.Gemm)]
    assert names[:5] == ["pop_prev_dep", "pop_next_dep", "push_prev_dep", "push_next_dep",
                         "reset_reg"]
    assert json.dumps([f.name for f in isa.insn_layout(isa.Alu, VtaConfig())][-3:]) == (
        '["alu_opcode", "use_imm", "imm"]')
