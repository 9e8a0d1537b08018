"""The RTL's instruction and micro-op layouts read the bits the spec's encoder writes."""

from amaranth.hdl import Module, Signal
from amaranth.lib import enum
from amaranth.sim import Simulator
from hypothesis import given
from hypothesis import strategies as st

from vtaref.impl import isa as rtl
from vtaref.spec import VtaConfig, isa
from vtaref.spec.strategies import configs

CLASSES = list(isa.INSN_CLASSES.values()) + [isa.Uop]
ALL_CONFIGS = configs(log_inp_width=(0, 4), log_wgt_width=(0, 4), log_batch=(0, 6),
                      log_block=(0, 7))


def spec_layout(cls, config):
    return isa.uop_layout(config) if cls is isa.Uop else isa.insn_layout(cls, config)


def rtl_layout(cls, config):
    return rtl.uop_layout(config) if cls is isa.Uop else rtl.insn_layout(cls, config)


def encode(value, config) -> int:
    raw = isa.encode_uop(value, config) if isinstance(value, isa.Uop) else isa.encode(value, config)
    return int.from_bytes(raw, "little")


@st.composite
def values(draw, cls, config, enum_members_only=False):
    """Draw an instruction (or micro-op) of ``cls`` with every field anywhere in its range."""
    fields = {}
    for f in spec_layout(cls, config):
        if f.name == "opcode":
            continue
        if enum_members_only and f.name in rtl.ENUM_FIELDS:
            fields[f.name] = draw(st.sampled_from([m.value for m in rtl.ENUM_FIELDS[f.name]]))
        else:
            fields[f.name] = draw(st.integers(f.low, f.high))
    return cls(**fields)


def spec_fields(value) -> dict:
    return value.fields() if isinstance(value, isa.Insn) else vars(value)


def test_enums_are_the_spec_enums_with_the_field_widths():
    pairs = [(rtl.Opcode, isa.Opcode), (rtl.MemType, isa.MemType), (rtl.AluOp, isa.AluOp)]
    for rtl_enum, spec_enum in pairs:
        assert issubclass(rtl_enum, enum.Enum)
        assert {m.name: m.value for m in rtl_enum} == {m.name: m.value for m in spec_enum}
    for cls in isa.INSN_CLASSES.values():
        for f in isa.insn_layout(cls, VtaConfig()):
            if f.name in rtl.ENUM_FIELDS:
                assert rtl.ENUM_FIELDS[f.name].as_shape().width == f.width


@given(data=st.data())
def test_const_cast_reads_every_field(data):
    config = data.draw(ALL_CONFIGS)
    cls = data.draw(st.sampled_from(CLASSES))
    value = data.draw(values(cls, config, enum_members_only=True))
    view = rtl_layout(cls, config).from_bits(encode(value, config))
    for name, expected in spec_fields(value).items():
        got = view[name]
        assert (got.value if isinstance(got, enum.Enum) else got) == expected, name


@given(data=st.data())
def test_simulated_view_reads_every_field(data):
    """Drive raw 128-bit words into a module that views them; read each field's bits."""
    config = data.draw(ALL_CONFIGS)
    cls = data.draw(st.sampled_from(CLASSES))
    batch = data.draw(st.lists(values(cls, config), min_size=1, max_size=20))
    layout = rtl_layout(cls, config)
    raw = Signal(layout.size)
    view = Signal(layout)
    m = Module()
    m.d.comb += view.eq(raw)

    async def bench(ctx):
        for value in batch:
            ctx.set(raw, encode(value, config))
            for name, expected in spec_fields(value).items():
                field = view[name]
                bits = field.as_value() if name in rtl.ENUM_FIELDS else field
                assert ctx.get(bits) == expected, name

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


def test_decoding_starts_from_the_generic_fields():
    config = VtaConfig()
    insn = isa.Store(pop_prev_dep=1, push_prev_dep=1, memory_type=4)
    generic = rtl.generic_layout(config).from_bits(encode(insn, config))
    assert generic.opcode == rtl.Opcode.STORE
    assert (generic.pop_prev_dep, generic.pop_next_dep, generic.push_prev_dep,
            generic.push_next_dep) == (1, 0, 1, 0)
    assert rtl.insn_layout(isa.Store, config).from_bits(encode(insn, config)).memory_type == (
        rtl.MemType.OUT)
