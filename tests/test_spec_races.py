"""The task-level checks of the runner: deadlock, token overflow, races, bad flags, no FINISH.

Races are checked against a brute force written here from scratch: run the literal program
order to get every instruction's Access record, compute happens-before from the token flags
(the k-th push into a queue happens before its k-th pop) and compare every pair of instructions
of different stages.
"""

import re
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from vtaref.spec import (
    DeadlockError,
    Finish,
    Gemm,
    Load,
    MemType,
    ProgramBuilder,
    ProgramError,
    ProgramImage,
    RaceError,
    Stage,
    Store,
    TokenOverflowError,
    VtaConfig,
    encode,
    run_image,
)
from vtaref.spec.runner import fetch
from vtaref.spec.semantics import EXECUTE, FSIM
from vtaref.spec.state import MachineState
from vtaref.spec.strategies import (
    programs,
    random_programs,
    small_configs,
    tiled_gemm_programs,
)

NO_LIMIT = 1 << 30  # a token depth that never overflows
QUEUES = {  # (producer, consumer) -> (push flag, pop flag)
    (Stage.LOAD, Stage.COMPUTE): ("push_next_dep", "pop_prev_dep"),
    (Stage.COMPUTE, Stage.LOAD): ("push_prev_dep", "pop_next_dep"),
    (Stage.COMPUTE, Stage.STORE): ("push_next_dep", "pop_prev_dep"),
    (Stage.STORE, Stage.COMPUTE): ("push_prev_dep", "pop_next_dep"),
}
SMALL = VtaConfig(LOG_BLOCK=2, LOG_UOP_BUFF_SIZE=8, LOG_INP_BUFF_SIZE=8, LOG_WGT_BUFF_SIZE=10,
                  LOG_ACC_BUFF_SIZE=10)


# -- helpers: programs as instruction lists ----------------------------------------------------


def program_of(image: ProgramImage) -> list:
    return fetch(image.make_dram(), image.insn_addr, image.insn_count, image.config)


def with_program(image: ProgramImage, program: list) -> ProgramImage:
    """Return ``image`` with its instructions replaced (same count, same place)."""
    assert len(program) == image.insn_count
    dram = bytearray(image.dram)
    start = image.insn_addr - image.dram_base
    raw = b"".join(encode(insn, image.config) for insn in program)
    dram[start:start + len(raw)] = raw
    return replace(image, dram=bytes(dram), expected=None)


def token_pairs(program: list) -> list[tuple[tuple, int, int]]:
    """Return (queue, pushing index, popping index) for every matched push/pop, in order."""
    pairs = []
    for q, (push_flag, pop_flag) in QUEUES.items():
        producer, consumer = q
        pushes = [i for i, insn in enumerate(program)
                  if insn.stage == producer and getattr(insn, push_flag)]
        pops = [i for i, insn in enumerate(program)
                if insn.stage == consumer and getattr(insn, pop_flag)]
        pairs += [(q, push, pop) for push, pop in zip(pushes, pops)]
    return pairs


def drop_pairs(program: list, pairs) -> list:
    program = list(program)
    for q, push, pop in pairs:
        push_flag, pop_flag = QUEUES[q]
        program[push] = program[push].with_deps(**{push_flag: 0})
        program[pop] = program[pop].with_deps(**{pop_flag: 0})
    return program


def without_tokens(program: list) -> list:
    return [insn.with_deps(pop_prev_dep=0, pop_next_dep=0, push_prev_dep=0, push_next_dep=0)
            for insn in program]


# -- the brute force ----------------------------------------------------------------------------


def program_order_accesses(image: ProgramImage, program: list) -> list:
    """Execute ``program`` one instruction at a time in program order; return the Accesses."""
    state = MachineState(image.config, image.make_dram())
    return [EXECUTE[insn.MNEMONIC](insn, state, i, FSIM) for i, insn in enumerate(program)]


def clocks_in_program_order(program: list) -> tuple[list, list]:
    """Return each instruction's stage position and vector clock (pushes precede their pops in
    program order in every program tested here, so program order is a legal schedule)."""
    latest = {stage: [0, 0, 0] for stage in Stage}
    queues = {q: [] for q in QUEUES}
    positions, clocks = [], []
    for insn in program:
        stage = insn.stage
        clock = list(latest[stage])
        clock[stage] += 1
        for (producer, consumer), (_, pop_flag) in QUEUES.items():
            if consumer == stage and getattr(insn, pop_flag):
                clock = [max(a, b) for a, b in zip(clock, queues[producer, consumer].pop(0))]
        for (producer, consumer), (push_flag, _) in QUEUES.items():
            if producer == stage and getattr(insn, push_flag):
                queues[producer, consumer].append(clock)
        latest[stage] = clock
        positions.append(clock[stage])
        clocks.append(clock)
    return positions, clocks


def _footprint(access):
    """(scratchpad entries read, written, DRAM byte intervals read, written) as plain Python."""
    reads = {(name, int(i)) for name, idx in access.reads.items() for i in idx}
    writes = {(name, int(i)) for name, idx in access.writes.items() for i in idx}
    dram = []
    for ranges in (access.dram_reads, access.dram_writes):
        dram.append([] if ranges is None else list(zip(ranges.starts.tolist(),
                                                       ranges.ends.tolist())))
    return reads, writes, dram[0], dram[1]


def _intervals_meet(a, b) -> bool:
    return any(s1 < e2 and s2 < e1 for s1, e1 in a for s2, e2 in b)


def brute_force(image: ProgramImage, program: list) -> tuple[set, set]:
    """Return (unordered conflicting pairs (i, j), i < j; instructions not before FINISH)."""
    accesses = program_order_accesses(image, program)
    positions, clocks = clocks_in_program_order(program)
    prints = [_footprint(access) for access in accesses]
    stages = [insn.stage for insn in program]
    races = set()
    for j in range(len(program)):
        rj, wj, drj, dwj = prints[j]
        for i in range(j):
            if stages[i] == stages[j] or clocks[j][stages[i]] >= positions[i]:
                continue  # same stage, or ordered by tokens
            ri, wi, dri, dwi = prints[i]
            if (wi & (rj | wj) or ri & wj or _intervals_meet(dwi, drj + dwj)
                    or _intervals_meet(dri, dwj)):
                races.add((i, j))
    finish = next(i for i, insn in enumerate(program) if isinstance(insn, Finish))
    late = {i for i in range(len(program))
            if i != finish and clocks[finish][stages[i]] < positions[i]}
    return races, late


def named(error: Exception) -> list[int]:
    return [int(n) for n in re.findall(r"#(\d+)", str(error))]


def check_against_brute_force(image: ProgramImage, program: list) -> str:
    """Run ``program`` and hold the runner's verdict to the brute force; return the verdict."""
    races, late = brute_force(image, program)
    try:
        run_image(with_program(image, program), token_depth=NO_LIMIT)
    except RaceError as err:
        first, second = named(err)
        if "data race" in str(err):
            assert tuple(sorted((first, second))) in races, (str(err), races)
            return "race"
        assert not races, f"runner missed data races {races}: {err}"
        assert first in late and "not ordered before FINISH" in str(err), (str(err), late)
        return "late"
    assert not races and not late, f"runner missed races {races} / late {late}"
    return "clean"


# -- (a) deadlock -------------------------------------------------------------------------------


def image_of(program: list, config: VtaConfig = SMALL, finish: bool = True) -> ProgramImage:
    builder = ProgramBuilder(config)
    builder.reserve(MemType.INP, 4)
    for insn in program:
        builder.emit(insn)
    return builder.build(finish=finish)


INP = dict(memory_type=MemType.INP, dram_base=0x1000 // SMALL.inp_elem_bytes, y_size=1, x_size=1,
           x_stride=1)
NOP_COMPUTE = Load(memory_type=MemType.UOP)
NOP_STORE = Store(memory_type=MemType.OUT)
RESET = Gemm(reset_reg=1, uop_bgn=0, uop_end=1, iter_out=1, iter_in=1)

DEADLOCKS = [
    # (program, the instruction that waits, the queue it waits on)
    ([Load(**INP, pop_next_dep=1)], "LOAD #0 (load stage)", "compute->load"),
    ([Gemm(pop_prev_dep=1, uop_bgn=0, uop_end=1, iter_out=1, iter_in=1)],
     "GEMM #0 (compute stage)", "load->compute"),
    ([NOP_STORE.with_deps(pop_prev_dep=1)], "STORE #0 (store stage)", "compute->store"),
    ([Finish(pop_next_dep=1)], "FINISH #0 (compute stage)", "store->compute"),
    # One push, two pops: the second pop waits forever.
    ([Load(**INP, push_next_dep=1), NOP_COMPUTE.with_deps(pop_prev_dep=1),
      NOP_COMPUTE.with_deps(pop_prev_dep=1)], "LOAD #2 (compute stage)", "load->compute"),
    # A cycle: each stage waits for a token the other pushes only afterwards.
    ([Load(**INP, pop_next_dep=1, push_next_dep=1), NOP_COMPUTE.with_deps(pop_prev_dep=1,
                                                                          push_prev_dep=1)],
     "LOAD #0 (load stage)", "compute->load"),
    ([NOP_COMPUTE.with_deps(pop_next_dep=1, push_next_dep=1),
      NOP_STORE.with_deps(pop_prev_dep=1, push_prev_dep=1)],
     "LOAD #0 (compute stage)", "store->compute"),
]


@pytest.mark.parametrize("program, waiter, queue", DEADLOCKS)
def test_deadlock_names_the_waiting_instruction(program, waiter, queue):
    with pytest.raises(DeadlockError, match=re.escape(f"{waiter} waits for a {queue} token")):
        run_image(image_of(program))


def test_deadlock_in_a_cycle_names_both_sides():
    program = DEADLOCKS[5][0]
    with pytest.raises(DeadlockError) as info:
        run_image(image_of(program))
    assert "LOAD #0 (load stage)" in str(info.value)
    assert "LOAD #1 (compute stage) waits for a load->compute token" in str(info.value)


@given(st.data())
def test_a_missing_push_deadlocks(data):
    """Clearing one push flag of a valid program leaves one pop that nothing satisfies."""
    config = data.draw(small_configs())
    image = data.draw(programs(config))
    program = program_of(image)
    pairs = token_pairs(program)
    assume(pairs)
    q, push, _ = data.draw(st.sampled_from(pairs))
    program[push] = program[push].with_deps(**{QUEUES[q][0]: 0})
    consumer = q[1].name.lower()
    queue = "->".join(stage.name.lower() for stage in q)
    with pytest.raises(DeadlockError, match=re.escape(f"({consumer} stage) waits for a ")
                       + f".*{re.escape(queue)} token"):
        run_image(with_program(image, program))


# -- (b) token overflow -------------------------------------------------------------------------


def pushes_then_pops(count: int, back_pressure: bool = False) -> list:
    """``count`` LOADs each pushing a load->compute token, each popped by a compute no-op.

    Program order interleaves them; with ``back_pressure`` each LOAD first pops a token the
    previous compute no-op pushed back, so at most one token is ever outstanding.
    """
    program = []
    for k in range(count):
        program.append(Load(**INP, push_next_dep=1, pop_next_dep=int(back_pressure and k > 0)))
        program.append(NOP_COMPUTE.with_deps(pop_prev_dep=1,
                                             push_prev_dep=int(back_pressure and k < count - 1)))
    program.append(Finish())
    return program


@pytest.mark.parametrize("count", [1, 7, 8])
def test_eight_outstanding_tokens_fit(count):
    _, stats = run_image(image_of(pushes_then_pops(count)))
    assert stats.max_tokens["load->compute"] == count


def test_nine_outstanding_tokens_overflow():
    # The compute no-ops pop in between, but nothing tells the load stage: it may run ahead.
    with pytest.raises(TokenOverflowError,
                       match=r"instruction 16 \(LOAD\): token queue load->compute may hold 9 "
                             "tokens, more than the hardware depth 8"):
        run_image(image_of(pushes_then_pops(9)))


def test_back_pressure_keeps_one_token_outstanding():
    _, stats = run_image(image_of(pushes_then_pops(20, back_pressure=True)))
    assert stats.max_tokens["load->compute"] == 1


@given(count=st.integers(1, 12), depth=st.integers(1, 10))
def test_overflow_exactly_above_the_depth(count, depth):
    image = image_of(pushes_then_pops(count))
    if count > depth:
        with pytest.raises(TokenOverflowError, match=f"may hold {depth + 1} tokens"):
            run_image(image, token_depth=depth)
    else:
        run_image(image, token_depth=depth)


def test_overflow_in_every_queue():
    programs = {
        "compute->load": [NOP_COMPUTE.with_deps(push_prev_dep=1)] * 9
        + [Load(**INP, pop_next_dep=1)] * 9,
        "compute->store": [NOP_COMPUTE.with_deps(push_next_dep=1)] * 9
        + [NOP_STORE.with_deps(pop_prev_dep=1)] * 9,
        "store->compute": [NOP_STORE.with_deps(push_prev_dep=1)] * 9
        + [NOP_COMPUTE.with_deps(pop_next_dep=1)] * 9,
    }
    for name, program in programs.items():
        with pytest.raises(TokenOverflowError, match=f"{name} may hold 9 tokens"):
            run_image(image_of(program))


def most_tokens(program: list) -> dict[str, int]:
    """Brute force: per queue, the most tokens it may hold, i.e. the largest (pushes so far -
    pops that happen before the push) over its pushes."""
    positions, clocks = clocks_in_program_order(program)
    most = {}
    for (producer, consumer), (push_flag, pop_flag) in QUEUES.items():
        pops = [positions[i] for i, insn in enumerate(program)
                if insn.stage == consumer and getattr(insn, pop_flag)]
        pushes = [i for i, insn in enumerate(program)
                  if insn.stage == producer and getattr(insn, push_flag)]
        for k, i in enumerate(pushes, 1):
            known = sum(1 for p in pops if p <= clocks[i][consumer])
            name = f"{producer.name.lower()}->{consumer.name.lower()}"
            most[name] = max(most.get(name, 0), k - known)
    return most


@given(st.data())
def test_token_counts_match_the_brute_force(data):
    """Dropping token pairs lets stages run further ahead; the runner's count of tokens a queue
    may hold is the brute force's, and it overflows exactly above the depth."""
    config = data.draw(small_configs())
    image = data.draw(programs(config))
    program = program_of(image)
    pairs = token_pairs(program)
    program = drop_pairs(program, data.draw(st.lists(st.sampled_from(pairs), unique=True))
                         if pairs else [])
    most = most_tokens(program)
    _, stats = run_image(with_program(image, program), check_races=False, token_depth=NO_LIMIT)
    assert stats.max_tokens == most
    depth = data.draw(st.integers(1, 10))
    worst = max(most.values(), default=0)
    event("overflows" if worst > depth else "fits")
    if worst > depth:
        with pytest.raises(TokenOverflowError, match=f"may hold {depth + 1} tokens"):
            run_image(with_program(image, program), check_races=False, token_depth=depth)
    else:
        run_image(with_program(image, program), check_races=False, token_depth=depth)


# -- (c) races ----------------------------------------------------------------------------------


def pair_whose_removal(image, program, queue, unorders) -> tuple | None:
    """Return the first token pair on ``queue`` (None: any) whose removal leaves some
    conflicting pair (i, j) unordered with ``unorders(program[i], program[j])`` true."""
    candidates = []
    for pair in token_pairs(program):
        if queue is not None and pair[0] != queue:
            continue
        races, _ = brute_force(image, drop_pairs(program, [pair]))
        hits = [unorders(program[i], program[j]) for i, j in races]
        if any(hits):
            candidates.append((not all(hits), pair))  # prefer pairs that order only those
    return min(candidates)[1] if candidates else None


def is_load(insn, stage=Stage.LOAD):
    return isinstance(insn, Load) and insn.stage == stage


def writes_acc(insn):
    return isinstance(insn, Gemm) or is_load(insn, Stage.COMPUTE) and insn.memory_type in (
        MemType.ACC, MemType.ACC_8BIT)


# At most two elements per buffer: every ring reuses its slots.
REUSE = dict(layers=1, m_tiles=2, n_tiles=2, max_rows=2)
SCENARIOS = {
    # The load->compute token before a GEMM that reads freshly loaded inp/wgt rows.
    "load->gemm": (REUSE, (Stage.LOAD, Stage.COMPUTE),
                   lambda a, b: is_load(a) and isinstance(b, Gemm) and not b.reset_reg),
    # The store->compute token that keeps acc rows a STORE reads from being overwritten.
    "store->acc overwrite": (REUSE, (Stage.STORE, Stage.COMPUTE),
                             lambda a, b: isinstance(a, Store) and writes_acc(b)),
    # STORE -> compute -> LOAD when the second layer LOADs the output the first one STOREd.
    # (Two slots per ring: no slot is reused, so no other token carries this ordering.)
    "store->load via DRAM": (dict(layers=2, m_tiles=1, k_tiles=1, n_tiles=1, slots=2), None,
                             lambda a, b: isinstance(a, Store) and is_load(b)),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
@given(data=st.data())
def test_dropping_a_needed_token_pair_is_a_race(scenario, data):
    shape, queue, unorders = SCENARIOS[scenario]
    config = data.draw(small_configs(log_depth=(3, 6)))
    image = data.draw(tiled_gemm_programs(config, **shape))
    program = program_of(image)
    pair = pair_whose_removal(image, program, queue, unorders)
    assert pair is not None, "the structured program lacks the scenario's token"
    dropped = drop_pairs(program, [pair])
    races, _ = brute_force(image, dropped)
    with pytest.raises(RaceError, match="data race on") as info:
        run_image(with_program(image, dropped), token_depth=NO_LIMIT)
    first, second = named(info.value)
    assert tuple(sorted((first, second))) in races
    event("only the scenario's races" if all(unorders(program[i], program[j])
                                               for i, j in races) else "other races too")
    if all(unorders(program[i], program[j]) for i, j in races):
        # The only races are the scenario's: the error names both of its instructions.
        assert unorders(*(program[i] for i in sorted((first, second))))
        if scenario == "store->load via DRAM":
            assert "data race on DRAM" in str(info.value)


@given(st.data())
def test_dropping_all_tokens_never_hides_a_race(data):
    """With no tokens at all (FINISH still last) the runner reports a race exactly when the
    brute force finds a conflicting pair (or an instruction not ordered before FINISH)."""
    config = data.draw(small_configs())
    image = data.draw(random_programs(config, min_actions=4, max_actions=10))
    verdict = check_against_brute_force(image, without_tokens(program_of(image)))
    event(verdict)
    assert verdict != "clean" or all(insn.stage == Stage.COMPUTE for insn in program_of(image))


@given(st.data())
def test_dropping_some_token_pairs_matches_the_brute_force(data):
    config = data.draw(small_configs())
    image = data.draw(programs(config))
    program = program_of(image)
    pairs = token_pairs(program)
    dropped = data.draw(st.lists(st.sampled_from(pairs), unique=True)) if pairs else []
    event(check_against_brute_force(image, drop_pairs(program, dropped)))


@given(st.data())
def test_valid_programs_agree_with_the_brute_force(data):
    config = data.draw(small_configs())
    image = data.draw(programs(config))
    assert check_against_brute_force(image, program_of(image)) == "clean"


def test_store_not_ordered_before_finish():
    program = [NOP_COMPUTE.with_deps(push_next_dep=1),
               Store(memory_type=MemType.OUT, sram_base=0, dram_base=0x1000 // 4, y_size=1,
                     x_size=1, x_stride=1, pop_prev_dep=1)]
    image = image_of([RESET] + program, config=SMALL)
    with pytest.raises(RaceError, match=r"STORE #2 \(store stage\) is not ordered before "
                                        r"FINISH #3"):
        run_image(image)


def test_race_between_load_and_gemm_names_both():
    program = [Load(memory_type=MemType.UOP, dram_base=0x1000 // 4, y_size=1, x_size=1,
                    x_stride=1),  # a zero uop: dst, src and wgt index 0
               RESET.with_deps(push_prev_dep=1),
               Load(**INP, pop_next_dep=1, push_next_dep=1),
               Gemm(uop_bgn=0, uop_end=1, iter_out=1, iter_in=1, pop_prev_dep=1),
               Load(**INP)]  # rewrites inp[0] while nothing orders it after the GEMM's read
    with pytest.raises(RaceError, match=r"data race on inp\[0\]: .*#4.*#3|"
                                        r"data race on inp\[0\]: .*#3.*#4"):
        run_image(image_of(program))


# -- (d) flags toward a stage that does not exist, (e) FINISH ---------------------------------


BAD_FLAGS = [
    (Load(**INP), "pop_prev_dep", "the load stage has no previous stage"),
    (Load(**INP), "push_prev_dep", "the load stage has no previous stage"),
    (Load(memory_type=MemType.WGT, y_size=1, x_size=1, x_stride=1), "pop_prev_dep",
     "the load stage has no previous stage"),
    (NOP_STORE, "push_next_dep", "the store stage has no next stage"),
    (NOP_STORE, "pop_next_dep", "the store stage has no next stage"),
]


@pytest.mark.parametrize("insn, flag, message", BAD_FLAGS)
def test_flag_toward_a_missing_stage(insn, flag, message):
    image = image_of([NOP_COMPUTE, insn.with_deps(**{flag: 1})])
    with pytest.raises(ProgramError, match=f"instruction 1 .*: {flag}: {message}") as info:
        run_image(image)
    assert info.value.index == 1 and info.value.field == flag


COMPUTE_FLAGS = {
    "pop_prev_dep": [Load(**INP, push_next_dep=1), NOP_COMPUTE.with_deps(pop_prev_dep=1)],
    "push_prev_dep": [NOP_COMPUTE.with_deps(push_prev_dep=1),
                      Load(**INP, pop_next_dep=1, push_next_dep=1),
                      NOP_COMPUTE.with_deps(pop_prev_dep=1)],
    "push_next_dep": [NOP_COMPUTE.with_deps(push_next_dep=1),
                      NOP_STORE.with_deps(pop_prev_dep=1, push_prev_dep=1),
                      Finish(pop_next_dep=1)],
    "pop_next_dep": [NOP_STORE.with_deps(push_prev_dep=1),
                     NOP_COMPUTE.with_deps(pop_next_dep=1)],
}


@pytest.mark.parametrize("flag", COMPUTE_FLAGS)
def test_compute_loads_may_use_every_flag(flag):
    """A UOP LOAD runs on the compute stage, which has both neighbours."""
    run_image(image_of(COMPUTE_FLAGS[flag]))


def test_program_without_finish():
    with pytest.raises(ProgramError, match="the program has no FINISH") as info:
        run_image(image_of([Load(**INP)], finish=False))
    assert info.value.index == 1


def test_program_with_two_finishes():
    with pytest.raises(ProgramError, match="second FINISH") as info:
        run_image(image_of([Finish(), NOP_COMPUTE, Finish()], finish=False))
    assert info.value.index == 2


def test_compute_after_finish_is_reported():
    with pytest.raises(RaceError, match="not ordered before FINISH #0"):
        run_image(image_of([Finish(), NOP_COMPUTE], finish=False))


def test_helpers_see_the_bundled_matmul_as_clean():
    from vtaref.spec.examples import bundled_example

    image, _ = bundled_example()
    program = program_of(image)
    assert check_against_brute_force(image, program) == "clean"
    races, late = brute_force(image, without_tokens(program))
    assert races and late


@pytest.mark.parametrize("repeats", [1, 3])
def test_an_access_listing_rows_many_times_races_like_one_listing_them_once(repeats):
    """A loop may list the same rows over and over (more entries than the buffer has rows);
    the checker must find the race, on the same row, however often the row is listed."""
    from vtaref.spec.access import Access
    from vtaref.spec.races import RaceChecker

    depths = {"uop": 4, "inp": 4, "wgt": 4, "acc": 4, "out": 4}
    checker = RaceChecker(depths)
    checker.record(0, "LOAD", Stage.LOAD, (1, 0, 0), Access(writes={"inp": np.array([2])}))
    reads = np.tile(np.array([3, 2, 1]), 2 * repeats)  # 6 or 18 entries, 4 rows
    with pytest.raises(RaceError, match=r"data race on inp\[2\]: GEMM #1"):
        checker.record(1, "GEMM", Stage.COMPUTE, (0, 1, 0), Access(reads={"inp": reads}))


@given(first=st.integers(0, 9), count=st.integers(0, 6), pitch=st.integers(0, 8),
       length=st.integers(1, 6))
def test_dram_row_ranges_cover_exactly_the_row_bytes_merged(first, count, pitch, length):
    """ByteRanges.rows (used for every LOAD and STORE) covers exactly the rows' bytes, as
    sorted ranges with a gap between each two."""
    from vtaref.spec.access import ByteRanges

    ranges = ByteRanges.rows(first, count, pitch, length)
    rows = {b for y in range(count) for b in range(first + y * pitch, first + y * pitch + length)}
    pairs = list(zip(ranges.starts.tolist(), ranges.ends.tolist()))
    assert {b for start, end in pairs for b in range(start, end)} == rows
    assert all(end < next_start for (_, end), (next_start, _) in zip(pairs, pairs[1:]))


row_ranges = st.tuples(st.integers(0, 40), st.integers(0, 5), st.integers(0, 9),
                       st.integers(1, 6))  # first, count, pitch, length


@given(a=row_ranges, b=row_ranges)
def test_dram_range_overlap_found_exactly_when_bytes_are_shared(a, b):
    """ByteRanges.overlap (the DRAM race check) returns a range of bytes both hold, and None
    only when they share no byte (also when their spans are far apart or empty)."""
    from vtaref.spec.access import ByteRanges

    first, second = ByteRanges.rows(*a), ByteRanges.rows(*b)

    def byte_set(ranges):
        return {x for s, e in zip(ranges.starts.tolist(), ranges.ends.tolist())
                for x in range(s, e)}

    shared = byte_set(first) & byte_set(second)
    hit = first.overlap(second)
    if not shared:
        assert hit is None
    else:
        assert hit is not None and hit[0] < hit[1]
        assert set(range(*hit)) <= shared
