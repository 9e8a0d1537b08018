"""The instruction-level timing model (compiler/timing.py): DMA beats and bursts, the read
channel granted per burst, the stages' overlap through tokens, and its agreement with the tile
search's cost model."""

import dataclasses

import numpy as np
import pytest

from vtaref.compiler import tiling
from vtaref.compiler.conv import compile_dense
from vtaref.compiler.timing import (
    DEFAULT_TIMING,
    MAX_BURST_BEATS,
    READ_BURSTS,
    Timing,
    command_beats,
    predict,
)
from vtaref.spec import VtaConfig
from vtaref.spec.isa import Finish, Gemm, Load, MemType, Stage
from vtaref.spec.runner import fetch

CONFIG = VtaConfig()


def instructions(program):
    image = program.image
    return fetch(image.make_dram(), image.insn_addr, image.insn_count, image.config)


def dense_program(rows: int = 64, size: int = 128):
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, size=(rows, size))
    w = rng.integers(-128, 128, size=(size, size))
    return compile_dense(a, w, shift=8, config=CONFIG)


def test_a_command_moves_whole_beats_in_bursts_that_respect_4k_and_256_beats():
    assert command_beats(0, 16, DEFAULT_TIMING) == (2, 1)
    assert command_beats(4, 4, DEFAULT_TIMING) == (1, 1)  # a micro-op inside one beat
    assert command_beats(6, 4, DEFAULT_TIMING) == (2, 1)  # straddling two beats
    assert command_beats(4096 - 8, 16, DEFAULT_TIMING) == (2, 2)  # across a 4 KiB boundary
    assert command_beats(0, 4096, DEFAULT_TIMING) == (512, 2)  # 256 beats at most
    assert command_beats(0, 4096, Timing(data_width=512)) == (64, 1)
    assert command_beats(0, 0, DEFAULT_TIMING) == (0, 0)


def test_a_lone_gemm_takes_its_visits_and_the_fixed_costs():
    gemm = Gemm(uop_end=3, iter_out=5, iter_in=7)
    alone = predict([gemm, Finish()], CONFIG).cycles
    longer = predict([dataclasses.replace(gemm, iter_in=8), Finish()], CONFIG).cycles
    assert longer - alone == 3 * 5


def test_overlapped_stages_take_about_as_long_as_the_busiest():
    program = dense_program()
    prediction = predict(instructions(program), CONFIG)
    busiest = max(prediction.busy.values())
    assert busiest <= prediction.cycles <= 1.01 * busiest + DEFAULT_TIMING.run_overhead


def test_a_wider_bus_makes_a_load_bound_program_faster():
    insns = instructions(dense_program(rows=1, size=512))
    narrow = predict(insns, CONFIG, Timing(data_width=64)).cycles
    wide = predict(insns, CONFIG, Timing(data_width=256)).cycles
    assert wide < narrow / 2


def test_a_pop_that_no_push_answers_is_a_deadlock():
    waiting = Load(memory_type=MemType.INP, pop_next_dep=1, x_size=1, y_size=1, x_stride=1)
    with pytest.raises(ValueError, match="deadlocked"):
        predict([waiting, Finish()], CONFIG)


def test_the_tile_search_uses_the_timing_models_bus_and_instruction_costs():
    assert tiling.DRAM_BYTES_PER_CYCLE == DEFAULT_TIMING.bus_bytes
    assert tiling.cycles(800, 0, 0, 1) == 100 + tiling.CYCLES_PER_INSN


def test_a_bias_broadcast_load_reads_its_element_once_and_writes_a_row_per_cycle():
    def broadcast(rows):
        load = Load(memory_type=MemType.ACC, x_size=1, x_stride=0, y_size=rows)
        return predict([load, Finish()], CONFIG).cycles
    assert broadcast(64) - broadcast(1) == 63


def test_an_accumulator_load_waits_behind_a_few_bursts_of_a_long_weight_load_not_all():
    weights = Load(memory_type=MemType.WGT, x_size=256, x_stride=256, y_size=1)  # 64 KiB
    bias = Load(memory_type=MemType.ACC, x_size=1, x_stride=1, y_size=1)
    prediction = predict([weights, bias, weights, Finish()], CONFIG)
    beats = 256 * CONFIG.wgt_elem_bytes // DEFAULT_TIMING.bus_bytes
    assert prediction.busy[Stage.LOAD] >= 2 * beats + 8  # delayed by the bias's 8 beats
    assert prediction.busy[Stage.COMPUTE] <= READ_BURSTS * MAX_BURST_BEATS + 64 < beats / 4


def test_an_accumulator_load_sends_its_command_once_the_gemm_is_idle():
    gemm = Gemm(uop_end=1, iter_out=10, iter_in=100)
    bias = Load(memory_type=MemType.ACC, x_size=1, x_stride=1, y_size=1)
    alone = predict([gemm, Finish()], CONFIG).cycles
    assert predict([gemm, bias, Finish()], CONFIG).cycles >= alone + 8  # its 8 beats after
