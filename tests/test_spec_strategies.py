"""The public Hypothesis strategies: valid configs, and programs that run cleanly on the spec.

Every strategy's programs must run with race checking and 8-deep token queues, give the same
DRAM on every run and in plain program order (so stage interleaving cannot matter), never read a
scratchpad element before writing it, and (structured ones) store what numpy computes. The
random programs' state machine shrinks a failure to the few steps that cause it.
"""

import dataclasses
import itertools
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, event, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import initialize, run_state_machine_as_test

from vtaref.spec import Alu, AluOp, Finish, Gemm, Load, MemType, Store, VtaConfig, run_image
from vtaref.spec.config import KEY_RANGES
from vtaref.spec.errors import ConfigError
from vtaref.spec.semantics import EXECUTE, FSIM
from vtaref.spec.state import MachineState
from vtaref.spec.strategies import (
    configs,
    conv2d_programs,
    pipelined_programs,
    programs,
    random_programs,
    requantize_programs,
    small_configs,
    tiled_gemm_programs,
)
from vtaref.spec.strategies.actions import ProgramMachine, RandomProgram, slot_counts

from .test_spec_races import program_of


def sized(log_depth: int, **keys) -> VtaConfig:
    """A config whose four scratchpads are 2^log_depth elements deep."""
    k = {**{key: getattr(VtaConfig, key) for key in ("LOG_INP_WIDTH", "LOG_WGT_WIDTH",
                                                      "LOG_ACC_WIDTH", "LOG_BATCH",
                                                      "LOG_BLOCK")}, **keys}
    terms = {"INP": k["LOG_INP_WIDTH"] + k["LOG_BATCH"] + k["LOG_BLOCK"],
             "WGT": k["LOG_WGT_WIDTH"] + 2 * k["LOG_BLOCK"],
             "ACC": k["LOG_ACC_WIDTH"] + k["LOG_BATCH"] + k["LOG_BLOCK"]}
    return VtaConfig(**keys, LOG_UOP_BUFF_SIZE=log_depth + 2,
                     **{f"LOG_{k}_BUFF_SIZE": log_depth + t - 3 for k, t in terms.items()})


FIXED_CONFIGS = [
    VtaConfig(),
    sized(1, LOG_BLOCK=2),  # every scratchpad two elements deep
    sized(5, LOG_INP_WIDTH=0, LOG_WGT_WIDTH=1, LOG_ACC_WIDTH=3, LOG_BATCH=1, LOG_BLOCK=2),
    sized(4, LOG_ACC_WIDTH=4, LOG_BATCH=2, LOG_BLOCK=2),
    sized(3, LOG_INP_WIDTH=1, LOG_BATCH=2, LOG_BLOCK=0),
    sized(6, LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2, LOG_BLOCK=3),
]
CONFIGS = st.one_of(st.sampled_from(FIXED_CONFIGS), small_configs())

STRATEGIES = {
    "random": random_programs,
    "tiled_gemm": tiled_gemm_programs,
    "conv2d": conv2d_programs,
    "requantize": requantize_programs,
    "pipelined": pipelined_programs,
    "any": programs,
}


# -- configs ------------------------------------------------------------------------------------


@given(configs())
def test_configs_are_valid_and_in_the_default_bounds(config):
    assert isinstance(config, VtaConfig)
    assert 0 <= config.LOG_INP_WIDTH <= 3 and 0 <= config.LOG_WGT_WIDTH <= 3
    assert 3 <= config.LOG_ACC_WIDTH <= 5
    assert 0 <= config.LOG_BATCH <= 2 and 0 <= config.LOG_BLOCK <= 4
    for key, (low, high) in KEY_RANGES.items():
        assert low <= getattr(config, key) <= high


def some_config_fits(bounds: dict) -> bool:
    """Brute force: does any config satisfy ``bounds``? (Fewest elements per buffer first: a
    shallower buffer only makes the instruction fields narrower.)"""
    low, high = bounds["log_depth"]
    for iw, ww, aw, batch, block in itertools.product(
            *(range(bounds[key][0], bounds[key][1] + 1) for key in (
                "log_inp_width", "log_wgt_width", "log_acc_width", "log_batch", "log_block"))):
        terms = {"UOP": 5, "INP": iw + batch + block, "WGT": ww + 2 * block,
                 "ACC": aw + batch + block}
        sizes = {f"LOG_{name}_BUFF_SIZE": max(low, 6 - term) + term - 3
                 for name, term in terms.items()}
        if any(max(low, 6 - term) > high for term in terms.values()):
            continue
        try:
            VtaConfig(LOG_INP_WIDTH=iw, LOG_WGT_WIDTH=ww, LOG_ACC_WIDTH=aw, LOG_BATCH=batch,
                      LOG_BLOCK=block, **sizes)
        except ConfigError:
            continue
        return True
    return False


@given(st.data())
def test_configs_respect_their_bounds(data):
    def span(low, high):
        a = data.draw(st.integers(low, high))
        return a, data.draw(st.integers(a, high))

    bounds = dict(log_inp_width=span(0, 3), log_wgt_width=span(0, 3), log_acc_width=span(3, 5),
                  log_batch=span(0, 2), log_block=span(0, 4), log_depth=span(1, 16))
    try:
        config = data.draw(configs(**bounds))
    except InvalidArgument:
        assert not some_config_fits(bounds)
        event("no config fits")
        return
    for key, name in (("log_inp_width", "LOG_INP_WIDTH"), ("log_wgt_width", "LOG_WGT_WIDTH"),
                      ("log_acc_width", "LOG_ACC_WIDTH"), ("log_batch", "LOG_BATCH"),
                      ("log_block", "LOG_BLOCK")):
        low, high = bounds[key]
        assert low <= getattr(config, name) <= high
    for depth in ("uop", "inp", "wgt", "acc"):
        low, high = bounds["log_depth"]
        assert low <= getattr(config, f"log_{depth}_buff_depth") <= high


@given(configs(log_inp_width=0, log_wgt_width=0, log_depth=(1, 4)))
def test_one_bit_operands(config):
    assert config.inp_width == config.wgt_width == 1
    assert config.inp_elem_bytes >= 1 and config.wgt_elem_bytes >= 1
    assert max(config.log_inp_buff_depth, config.log_acc_buff_depth) <= 4


@given(configs(log_depth=(8, 16)))
def test_configs_shrink_depths_that_do_not_fit(config):
    """Deep buffers make micro-ops and instructions too wide: the largest depths shrink."""
    depths = [config.log_uop_buff_depth, config.log_inp_buff_depth, config.log_wgt_buff_depth,
              config.log_acc_buff_depth]
    assert all(8 <= depth <= 16 for depth in depths)


def test_depths_that_cannot_shrink_are_refused():
    @settings(max_examples=1)
    @given(configs(log_depth=16))
    def draw(config):
        pass

    with pytest.raises(InvalidArgument, match="no valid config within the given depth bounds"):
        draw()


def test_infeasible_config_bounds_are_refused():
    @settings(max_examples=1)
    @given(configs(log_inp_width=0, log_batch=0, log_block=(0, 1)))
    def draw(config):
        pass

    with pytest.raises(InvalidArgument, match="no valid config"):
        draw()


# -- every program runs cleanly -----------------------------------------------------------------


def run_in_program_order(image):
    """Run the instructions one by one in program order (no stages, no tokens); check that
    nothing reads a scratchpad element (uops included) before something wrote it."""
    state = MachineState(image.config, image.make_dram())
    written = {name: np.zeros(buf.depth, dtype=bool) for name, buf in state.buffers.items()}
    for index, insn in enumerate(program_of(image)):
        if isinstance(insn, Gemm | Alu) and insn.uop_end > insn.uop_bgn:
            assert written["uop"][insn.uop_bgn:insn.uop_end].all(), f"#{index} reads uops"
        access = EXECUTE[insn.MNEMONIC](insn, state, index, FSIM)
        for name, entries in access.reads.items():
            assert written[name][entries].all(), f"#{index} {insn} reads unwritten {name}"
        for name, entries in access.writes.items():
            written[name][entries] = True
    return state.dram.data.tobytes()


@pytest.mark.parametrize("kind", STRATEGIES)
@given(data=st.data())
def test_programs_run_cleanly_and_deterministically(kind, data):
    config = data.draw(CONFIGS)
    image = data.draw(STRATEGIES[kind](config))
    program = program_of(image)
    assert isinstance(program[-1], Finish)
    assert sum(isinstance(insn, Finish) for insn in program) == 1
    first, stats = run_image(image)  # races checked, token depth 8
    second, again = run_image(image)
    dram = first.dram.data.tobytes()
    assert dram == second.dram.data.tobytes() and stats.as_dict() == again.as_dict()
    assert dram == run_in_program_order(image)
    assert max(stats.max_tokens.values(), default=0) <= 8
    if image.expected is not None:
        assert dram == image.expected
    event(f"{len(program) // 10 * 10}+ instructions")


@given(data=st.data())
def test_programs_draw_their_own_config(data):
    image = data.draw(programs())
    state, _ = run_image(image)
    assert state.dram.data.tobytes() == run_in_program_order(image)


@pytest.mark.parametrize("kind", ["random", "tiled_gemm", "pipelined"])
@given(data=st.data())
def test_programs_fit_shallower_token_queues(kind, data):
    max_tokens = data.draw(st.integers(2, 8))
    config = data.draw(small_configs())
    image = data.draw(STRATEGIES[kind](config, max_tokens=max_tokens))
    _, stats = run_image(image, token_depth=max_tokens)
    assert max(stats.max_tokens.values(), default=0) <= max_tokens


@given(data=st.data())
def test_pipelines_keep_their_rings_full(data):
    config = data.draw(small_configs())
    image, reference = data.draw(pipelined_programs(config, with_reference=True))
    _, stats = run_image(image)
    tasks = len(reference.inputs["a"])
    assert stats.max_tokens["load->compute"] == min(reference.inputs["depth"], tasks)
    assert stats.max_tokens["compute->store"] == min(reference.inputs["acc_depth"], tasks)


@pytest.mark.parametrize("alu_ops", [(AluOp.MIN, AluOp.MAX, AluOp.ADD, AluOp.SHR), ()])
@given(data=st.data())
def test_alu_ops_can_be_left_out(alu_ops, data):
    config = data.draw(small_configs())
    image = data.draw(random_programs(config, alu_ops=alu_ops))
    used = {insn.alu_opcode for insn in program_of(image) if isinstance(insn, Alu)}
    assert used <= set(alu_ops)
    run_image(image)


# -- what the random programs contain -----------------------------------------------------------


def has(predicate):
    return lambda image: any(predicate(insn) for insn in program_of(image))


def padded(insn):
    return insn.y_pad_0 or insn.y_pad_1 or insn.x_pad_0 or insn.x_pad_1


def store_then_load(image):
    """Some LOAD reads DRAM an earlier STORE wrote."""
    program = program_of(image)
    config = image.config
    out = config.out_elem_bytes
    written = set()
    for insn in program:
        if isinstance(insn, Store) and insn.x_size:
            written |= {(insn.dram_base + y * insn.x_stride) * out + b for y in range(insn.y_size)
                        for b in range(insn.x_size * out)}
        elif isinstance(insn, Load) and insn.x_size and insn.memory_type == MemType.INP:
            start = insn.dram_base * config.inp_elem_bytes
            if any(start + y * insn.x_stride * config.inp_elem_bytes + b in written
                   for y in range(insn.y_size) for b in range(insn.x_size * config.inp_elem_bytes)):
                return True
    return False


FEATURES = {
    "padded ACC_8BIT load": has(lambda i: isinstance(i, Load) and i.x_size and padded(i)
                                and i.memory_type == MemType.ACC_8BIT),
    "padded UOP load": has(lambda i: isinstance(i, Load) and i.memory_type == MemType.UOP
                           and i.x_size and padded(i)),
    "2D strided UOP load": has(lambda i: isinstance(i, Load) and i.memory_type == MemType.UOP
                               and i.y_size == 2 and i.x_stride > i.x_size),
    "GEMM over both loops": has(lambda i: isinstance(i, Gemm) and not i.reset_reg
                                and i.iter_out > 1 and i.iter_in > 1 and i.uop_end - i.uop_bgn > 1),
    "vector MUL": has(lambda i: isinstance(i, Alu) and i.alu_opcode == AluOp.MUL and not i.use_imm),
    "negative SHR": has(lambda i: isinstance(i, Alu) and i.alu_opcode == AluOp.SHR and i.use_imm
                        and i.imm < 0),
    "strided STORE": has(lambda i: isinstance(i, Store) and i.y_size > 1
                         and i.x_stride > i.x_size),
    "LOAD of stored data": store_then_load,
}


# Look for an example without shrinking it.
SEARCH = settings(max_examples=1000, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("feature", FEATURES)
def test_random_programs_contain(feature):
    config = FIXED_CONFIGS[2]
    find(random_programs(config), FEATURES[feature],
         settings=SEARCH)


def test_random_programs_keep_several_tokens_outstanding():
    config = FIXED_CONFIGS[3]

    def deep(image):
        _, stats = run_image(image)
        return max(stats.max_tokens.values(), default=0) >= 3

    find(random_programs(config), deep,
         settings=SEARCH)


# -- a failure shrinks to the steps that cause it ----------------------------------------------


def alu_max_is_min(insn, state, index, flavor=FSIM):
    """ALU with a planted bug: MAX computes MIN."""
    if insn.alu_opcode == AluOp.MAX:
        insn = dataclasses.replace(insn, alu_opcode=int(AluOp.MIN))
    return EXECUTE["ALU"](insn, state, index, flavor)


class PlantedAluBug(ProgramMachine):
    """Random programs on the spec and on the spec with :func:`alu_max_is_min`."""

    @initialize(slots=slot_counts())
    def start(self, slots):
        self.program = RandomProgram(FIXED_CONFIGS[3], slots=slots)

    def teardown(self):
        if self.program is not None:  # None only when start itself failed
            image = self.program.build()
            state, _ = run_image(image)
            planted, _ = run_image(image, execute={**EXECUTE, "ALU": alu_max_is_min})
            assert planted.dram.data.tobytes() == state.dram.data.tobytes()


def test_a_failure_shrinks_to_the_steps_that_cause_it():
    """The planted bug needs two steps, accumulator data and an ALU MAX (the program ends by
    storing every accumulator element): the shrunk failure shows them and little else."""
    with pytest.raises(AssertionError) as failure:
        run_state_machine_as_test(PlantedAluBug, settings=settings(
            max_examples=100, stateful_step_count=10, derandomize=True, database=None,
            phases=[Phase.generate, Phase.shrink]))
    lines = "\n".join(failure.value.__notes__).splitlines()
    steps = [line for line in lines if re.match(r"(\w+ = )?state\.(?!start|teardown)", line)]
    assert 2 <= len(steps) <= 3, steps
    assert re.fullmatch(r"acc_0 = state\.(load_acc|reset)\(.*\)", steps[0])
    assert re.fullmatch(r"state\.alu(_vector)?\(dst=acc_0, .*loop=AluLoop\(.*op=AluOp\.MAX.*\)",
                        steps[-1])


# -- structured programs compute what numpy computes --------------------------------------------


def wrap(values, width):
    """Two's complement wrap to ``width`` bits, written independently of the spec."""
    values = np.asarray(values, dtype=np.int64)
    half = 1 << (width - 1)
    return np.mod(values + half, 2 * half) - half


def requantized(acc, shift, clip, config):
    if shift is not None:
        acc = acc >> shift
    if clip:
        top = 2 ** (config.out_width - 1) - 1
        acc = np.minimum(np.maximum(acc, -top - 1), top)
    return wrap(acc, config.out_width)


def expect_tiled_gemm(config, inputs):
    a, results = inputs["a"], {}
    for name, b, bias, shift, clip in zip("cd", inputs["b"], inputs["bias"], inputs["shift"],
                                          inputs["clip"]):
        acc = a @ b + (0 if bias is None else bias)
        a = results[name] = requantized(wrap(acc, config.acc_width), shift, clip, config)
    return results


def expect_conv2d(config, inputs):
    x, w = inputs["x"], inputs["w"]
    sh, sw = inputs["stride"]
    top, bottom, left, right = inputs["padding"]
    batch, _, h, width = x.shape
    cout, _, kh, kw = w.shape
    padded = np.zeros((batch, x.shape[1], h + top + bottom, width + left + right),
                      dtype=np.int64)
    padded[:, :, top:top + h, left:left + width] = x
    oh = (padded.shape[2] - kh) // sh + 1
    ow = (padded.shape[3] - kw) // sw + 1
    out = np.zeros((batch, cout, oh, ow), dtype=np.int64)
    for r in range(oh):
        for c in range(ow):
            window = padded[:, :, r * sh:r * sh + kh, c * sw:c * sw + kw]
            out[:, :, r, c] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))
    return {"out": requantized(wrap(out, config.acc_width), inputs["shift"], inputs["clip"],
                               config)}


def expect_requantize(config, inputs):
    x, y = inputs["x"], inputs["y"]
    for op, imm in inputs["ops"]:
        b = y if imm is None else imm
        x = wrap({AluOp.MIN: np.minimum, AluOp.MAX: np.maximum, AluOp.ADD: np.add,
                  AluOp.MUL: np.multiply, AluOp.SHR: np.right_shift}[op](x, b),
                 config.acc_width)
    return {"out": wrap(x, config.out_width)}


def expect_pipelined(config, inputs):
    acc = wrap(np.einsum("tbk,kn->tbn", inputs["a"], inputs["b"]), config.acc_width)
    return {"out": wrap(wrap(acc + inputs["imm"], config.acc_width), config.out_width)}


REFERENCES = {
    "tiled_gemm": (tiled_gemm_programs, expect_tiled_gemm),
    "conv2d": (conv2d_programs, expect_conv2d),
    "requantize": (requantize_programs, expect_requantize),
    "pipelined": (pipelined_programs, expect_pipelined),
}


@pytest.mark.parametrize("kind", REFERENCES)
@given(data=st.data())
def test_structured_outputs_match_numpy(kind, data):
    strategy, expect = REFERENCES[kind]
    config = data.draw(CONFIGS)
    image, reference = data.draw(strategy(config, with_reference=True))
    state, _ = run_image(image)
    dram = state.dram.data.tobytes()
    assert dram == image.expected
    stored = reference.read(dram, image.dram_base)
    expected = expect(config, reference.inputs)
    assert stored.keys() == expected.keys() == reference.expected.keys()
    for name in expected:
        np.testing.assert_array_equal(stored[name], expected[name], err_msg=name)
        np.testing.assert_array_equal(reference.expected[name], expected[name], err_msg=name)
    # Before the run the outputs hold other bytes, so the STOREs did write them.
    before = reference.read(image.dram, image.dram_base)
    event("outputs changed" if any(not np.array_equal(before[n], expected[n]) for n in expected)
          else "outputs happened to hold the result")


@given(data=st.data())
def test_two_layer_gemm_feeds_the_first_output_to_the_second(data):
    config = data.draw(small_configs())
    image, reference = data.draw(tiled_gemm_programs(config, layers=2, with_reference=True))
    assert set(reference.expected) == {"c", "d"}
    state, _ = run_image(image)
    stored = reference.read(state.dram.data.tobytes(), image.dram_base)
    b, bias = reference.inputs["b"][1], reference.inputs["bias"][1]
    acc = wrap(stored["c"] @ b + (0 if bias is None else bias), config.acc_width)
    np.testing.assert_array_equal(
        stored["d"], requantized(acc, reference.inputs["shift"][1], reference.inputs["clip"][1],
                                 config))


@pytest.mark.parametrize("strategy", [tiled_gemm_programs, conv2d_programs,
                                      requantize_programs, pipelined_programs])
def test_structured_programs_fit_the_smallest_buffers(strategy):
    """Two-element scratchpads: every ring has a single slot, tokens serialize everything."""
    config = FIXED_CONFIGS[1]

    @settings(max_examples=10)
    @given(strategy(config, with_reference=True))
    def check(drawn):
        image, _ = drawn
        state, _ = run_image(image)
        assert state.dram.data.tobytes() == image.expected

    check()
