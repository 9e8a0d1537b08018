"""The runtime's parts: loop lowering, box transfers, dependency tokens, double buffering.

The central property: for any stream of loads, GEMMs, ALU operations and stores, the tokens the
runtime inserts make the pipelined run (the spec, with its race and token-depth checks) end with
the same DRAM as running the instructions one by one in program order.
"""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vtaref.compiler import operators as vta
from vtaref.compiler import reference as ref
from vtaref.compiler.backend import SpecBackend
from vtaref.compiler.conv import compile_conv2d
from vtaref.compiler.elementwise import compile_bias_requantize, compile_sum
from vtaref.compiler.loops import MAX_ITER, Affine, Nest, lower
from vtaref.compiler.pooling import compile_global_avg_pool, compile_max_pool2d
from vtaref.compiler.runtime import CommandStream
from vtaref.compiler.transfer import box_transfers
from vtaref.spec import FLAVORS, AluOp, MachineState, MemType, Stage, VtaConfig, run_image
from vtaref.spec.runner import fetch
from vtaref.spec.semantics import EXECUTE

from .conftest import CONFORMANCE

# 16 entries in every scratchpad, so random streams collide often.
SMALL = VtaConfig(LOG_BLOCK=2, LOG_UOP_BUFF_SIZE=6, LOG_INP_BUFF_SIZE=6, LOG_WGT_BUFF_SIZE=8,
                  LOG_ACC_BUFF_SIZE=8)
# Two entries in every scratchpad: the smallest valid buffers.
TINY = VtaConfig(LOG_BLOCK=2, LOG_UOP_BUFF_SIZE=3, LOG_INP_BUFF_SIZE=3, LOG_WGT_BUFF_SIZE=5,
                 LOG_ACC_BUFF_SIZE=5)


# -- loop lowering ---------------------------------------------------------------------------


@st.composite
def nests(draw):
    size = draw(st.integers(0, 4))
    extents = tuple(draw(st.integers(1, 5)) for _ in range(size))

    def affine():
        return Affine(draw(st.integers(0, 9)), tuple(draw(st.integers(0, 6)) for _ in extents))

    return Nest(extents, affine(), affine(), affine() if draw(st.booleans()) else None)


@given(nest=nests(), budget=st.integers(1, 12))
def test_lowering_visits_every_point_once(nest, budget):
    names = list(nest.affines())
    expected = Counter()
    for point in np.ndindex(*nest.extents):
        expected[tuple(nest.affines()[n].base + np.dot(nest.affines()[n].coefs, point)
                       for n in names)] += 1
    visited = Counter()
    for insn in lower(nest, budget):
        assert len(insn.uops) <= budget and max(insn.iter_out, insn.iter_in) <= MAX_ITER
        factors = {name: (out, inner) for name, out, inner in insn.factors}
        for o in range(insn.iter_out):
            for i in range(insn.iter_in):
                for uop in insn.uops:
                    fields = {"dst": uop.dst_idx, "src": uop.src_idx, "wgt": uop.wgt_idx}
                    visited[tuple(fields[n] + o * factors[n][0] + i * factors[n][1]
                                  for n in names)] += 1
    assert visited == expected


# -- box transfers ---------------------------------------------------------------------------


@st.composite
def boxes(draw):
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    start = tuple(draw(st.integers(0, n - 1)) for n in shape)
    extent = tuple(draw(st.integers(1, n - s)) for n, s in zip(shape, start))
    pads = (0, 0, 0, 0)
    if len(shape) >= 2 and draw(st.booleans()):
        pads = tuple(draw(st.integers(0, 3)) for _ in range(4))
    return shape, start, extent, pads


@given(box=boxes())
def test_box_transfers_copy_exactly_the_box(box):
    shape, start, extent, pads = box
    dram = np.arange(1, np.prod(shape) + 1)
    expected = dram.reshape(shape)[tuple(slice(s, s + e) for s, e in zip(start, extent))]
    expected = np.pad(expected, [(0, 0)] * (len(shape) - 2) + [pads[:2], pads[2:]]
                      if len(shape) >= 2 else [(0, 0)]).reshape(-1)
    block = np.full(expected.size, -1)
    for t in box_transfers(shape, start, extent, pads):
        y0, y1, x0, x1 = t.pads
        rect = np.zeros((y0 + t.y_size + y1, x0 + t.x_size + x1), dtype=np.int64)
        rows = t.dram_offset + t.x_stride * np.arange(t.y_size)[:, None] + np.arange(t.x_size)
        rect[y0:y0 + t.y_size, x0:x0 + t.x_size] = dram[rows]
        assert (block[t.sram_offset:t.sram_offset + rect.size] == -1).all()  # written once
        block[t.sram_offset:t.sram_offset + rect.size] = rect.reshape(-1)
    np.testing.assert_array_equal(block, expected)


# -- dependency tokens -----------------------------------------------------------------------


def span(draw, extents, depth):
    """Draw an affine index over ``extents`` that stays inside a buffer of ``depth``."""
    coefs = tuple(draw(st.integers(0, 3)) for _ in extents)
    reach = sum(c * (e - 1) for c, e in zip(coefs, extents))
    if reach >= depth:
        coefs, reach = (0,) * len(extents), 0
    return Affine(draw(st.integers(0, depth - 1 - reach)), coefs)


@st.composite
def streams(draw):
    """A random stream on SMALL: its token depth, and the operations to queue."""
    depth = 16
    operations = []
    for _ in range(draw(st.integers(1, 60))):
        kind = draw(st.sampled_from(["load", "load", "gemm", "reset", "alu", "store",
                                     "reload"]))
        if kind in ("load", "reload"):
            memory = draw(st.sampled_from([MemType.INP, MemType.WGT, MemType.ACC]))
            n = draw(st.integers(1, 6))
            operations.append((kind, memory, draw(st.integers(0, depth - n)),
                               draw(st.integers(0, 32 - n)), n))
        elif kind == "store":
            n = draw(st.integers(1, 6))
            operations.append((kind, draw(st.integers(0, depth - n)),
                               draw(st.integers(0, 32 - n)), n))
        else:
            extents = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
            nest = Nest(extents, span(draw, extents, depth), span(draw, extents, depth),
                        span(draw, extents, depth))
            op = draw(st.sampled_from([AluOp.MIN, AluOp.MAX, AluOp.ADD, AluOp.SHR]))
            imm = draw(st.none() | st.integers(-3, 3))
            operations.append((kind, nest, op, imm))
    return draw(st.sampled_from([2, 8])), operations


def queue(stream, operations, rng):
    """Queue ``operations`` on ``stream`` over random DRAM data; return the output buffer."""
    lanes = {m: f.lanes for m, f in stream.formats.items()}
    sources = {m: stream.upload(m, rng.integers(-8, 8, (32, lanes[m])), (32,))
               for m in (MemType.INP, MemType.WGT, MemType.ACC)}
    out = stream.allocate(MemType.OUT, (32,))
    # The output buffer read back as inputs: loads after stores to the same DRAM.
    out_as_inp = type(out)(out.ident, MemType.INP, out.index, out.shape)
    for kind, *args in operations:
        if kind in ("load", "reload"):
            memory, sram, offset, n = args
            source = out_as_inp if kind == "reload" and memory == MemType.INP else sources[memory]
            stream.load_box(source, sram, (offset,), (n,))
        elif kind == "store":
            sram, offset, n = args
            stream.store_box(out, sram, (offset,), (n,))
        else:
            nest, op, imm = args
            if kind == "gemm":
                stream.gemm(nest)
            elif kind == "reset":
                stream.gemm(nest, reset=True)
            else:
                stream.alu(op, Nest(nest.extents, nest.dst, nest.src), imm=imm)
    return out


def run_in_program_order(image, flavor):
    """Execute an image's instructions one after another; return the final DRAM bytes."""
    state = MachineState(image.config, image.make_dram())
    for index, insn in enumerate(fetch(state.dram, image.insn_addr, image.insn_count,
                                       image.config)):
        EXECUTE[insn.MNEMONIC](insn, state, index, FLAVORS[flavor])
    return state.dram.data.tobytes()


@given(stream=streams(), seed=st.integers(0, 2**32 - 1), flavor=st.sampled_from(sorted(FLAVORS)))
def test_tokens_make_the_pipelined_run_equal_program_order(stream, seed, flavor):
    token_depth, operations = stream
    commands = CommandStream(SMALL, token_depth=token_depth)
    queue(commands, operations, np.random.default_rng(seed))
    program = commands.compile(lambda read: None)
    # The spec raises on races, deadlocks and token queues deeper than token_depth.
    backend = SpecBackend(token_depth=token_depth, flavor=flavor)
    assert backend.run(program.image) == run_in_program_order(program.image, flavor)
    assert max(backend.last_stats.max_tokens.values(), default=0) <= token_depth


def test_finish_waits_for_the_last_store():
    commands = CommandStream(SMALL)
    out = queue(commands, [("store", 0, 0, 4)], np.random.default_rng(0))
    insns = commands.compile(lambda read: read(out))
    state, _ = run_image(insns.image)
    program = fetch(state.dram, insns.image.insn_addr, insns.image.insn_count, SMALL)
    assert program[-2].push_prev_dep and program[-1].pop_next_dep


# -- double buffering and the operators at the smallest buffers ------------------------------


@pytest.mark.parametrize("config", [SMALL, VtaConfig(LOG_BLOCK=2, LOG_UOP_BUFF_SIZE=12,
                                                     LOG_INP_BUFF_SIZE=12,
                                                     LOG_WGT_BUFF_SIZE=12,
                                                     LOG_ACC_BUFF_SIZE=12)],
                         ids=["16-entry", "small"])
def test_loads_run_ahead_of_compute(config):
    rng = np.random.default_rng(3)
    x, w = rng.integers(-128, 128, (1, 16, 12, 12)), rng.integers(-128, 128, (16, 16, 3, 3))
    program = compile_conv2d(x, w, padding=1, shift=8, config=config)
    clocks = {}
    run_image(program.image, tracer=lambda index, insn, stage, clock, *_: clocks.update(
        {index: (insn, stage, clock)}))
    last_gemm, overlapping = None, 0
    for index in sorted(clocks):
        insn, stage, clock = clocks[index]
        if insn.MNEMONIC == "GEMM" and not insn.reset_reg:
            last_gemm = clock[Stage.COMPUTE]
        elif stage == Stage.LOAD and insn.x_size and last_gemm is not None:
            # The load does not wait for the GEMM queued just before it: it runs during it.
            assert clock[Stage.COMPUTE] < last_gemm
            overlapping += 1
    assert overlapping > 4


@pytest.mark.parametrize("call, expected", [
    (lambda c, x, w: vta.conv2d(x, w, padding=1, shift=9, relu=True, config=c),
     lambda c, x, w: ref.conv2d(x, w, padding=(1, 1), shift=9, relu=True, config=c)),
    (lambda c, x, w: vta.max_pool2d(x, 3, 2, 1, config=c),
     lambda c, x, w: ref.max_pool2d(x, (3, 3), (2, 2), (1, 1), config=c)),
    (lambda c, x, w: vta.add(x, x[:, ::-1], shift=1, config=c),
     lambda c, x, w: ref.add(x, x[:, ::-1], shift=1, config=c)),
    (lambda c, x, w: vta.global_avg_pool(x, config=c),
     lambda c, x, w: ref.global_avg_pool(x, config=c)),
    (lambda c, x, w: vta.bias_add(x * 1000, w[:, 0, 0, 0], shift=3, config=c),
     lambda c, x, w: ref.bias_add(x * 1000, w[:, 0, 0, 0], shift=3, config=c)),
])
def test_operators_fit_the_smallest_buffers(call, expected):
    rng = np.random.default_rng(5)
    x, w = rng.integers(-128, 128, (1, 5, 4, 3)), rng.integers(-128, 128, (5, 5, 3, 3))
    np.testing.assert_array_equal(call(TINY, x, w), expected(TINY, x, w))


@pytest.mark.parametrize("build", [
    lambda c, x, w: compile_conv2d(x, w, padding=1, shift=8, config=c),
    lambda c, x, w: compile_conv2d(x, w, w[:, 0, 0, 0], stride=2, shift=8, config=c),
    lambda c, x, w: compile_max_pool2d(x, 3, 2, 1, config=c),
    lambda c, x, w: compile_global_avg_pool(x, config=c),
    lambda c, x, w: compile_sum([x, x], shift=1, config=c),
    lambda c, x, w: compile_bias_requantize(x * 1000, x[0, :, 0, 0], shift=4, config=c),
])
def test_programs_are_portable_to_the_hls_flavor(build):
    rng = np.random.default_rng(2)
    x, w = rng.integers(-128, 128, (1, 6, 9, 9)), rng.integers(-128, 128, (7, 6, 3, 3))
    program = build(SMALL, x, w)
    results = []
    for flavor in sorted(FLAVORS):
        state, _ = run_image(program.image, flavor=FLAVORS[flavor], strict=True)
        results.append(program.decode(state.dram.data.tobytes()))
    np.testing.assert_array_equal(*results)


CONFORMANCE_CONFIGS = {folder.name: VtaConfig.from_json(next(folder.glob("*/config.json")))
                       for folder in sorted(CONFORMANCE.iterdir()) if folder.is_dir()}


@pytest.mark.parametrize("config", CONFORMANCE_CONFIGS.values(), ids=CONFORMANCE_CONFIGS.keys())
def test_operators_at_every_conformance_configuration(config):
    """int4 operands, 16-bit accumulators, batches of 4: the same code, bit-exact."""
    rng = np.random.default_rng(3)
    half_inp, half_wgt = 1 << (config.inp_width - 1), 1 << (config.wgt_width - 1)
    x = rng.integers(-half_inp, half_inp, (2, 7, 6, 5))
    w = rng.integers(-half_wgt, half_wgt, (9, 7, 3, 3))
    bias = rng.integers(-1000, 1000, 9)
    np.testing.assert_array_equal(
        vta.conv2d(x, w, bias, padding=1, shift=3, relu=True, config=config),
        ref.conv2d(x, w, bias, padding=(1, 1), shift=3, relu=True, config=config))
    np.testing.assert_array_equal(vta.max_pool2d(x, 2, config=config),
                                  ref.max_pool2d(x, (2, 2), (2, 2), (0, 0), config=config))
    np.testing.assert_array_equal(vta.add(x, x, shift=1, config=config),
                                  ref.add(x, x, shift=1, config=config))
    # 16-bit accumulators hold the floor of the mean of 4x4 planes, not of 6x5 ones.
    np.testing.assert_array_equal(vta.global_avg_pool(x[:, :, :4, :4], config=config),
                                  ref.global_avg_pool(x[:, :, :4, :4], config=config))
    np.testing.assert_array_equal(vta.bias_add(x * 50, bias[:7], shift=2, config=config),
                                  ref.bias_add(x * 50, bias[:7], shift=2, config=config))


def test_kernels_are_reloaded_when_the_uop_buffer_is_full():
    x, w = np.ones((1, 4, 3, 3), np.int64), np.ones((4, 4, 3, 3), np.int64)
    program = compile_conv2d(x, w, padding=1, config=TINY)
    assert program.stats["flushes"] > 0
    assert program.stats["uops loaded"] > program.stats["uops placed"]


def test_any_object_with_run_is_a_backend():
    class Recording:
        name = "recording"

        def __init__(self):
            self.images = []

        def run(self, image):
            self.images.append(image)
            return SpecBackend().run(image)

    backend = Recording()
    x = np.arange(-8, 8).reshape(1, 16)
    assert vta.relu(x, backend=backend).tolist() == np.maximum(x, 0).tolist()
    assert len(backend.images) == 1
