"""vta dse: the sweep space, a point's stages, the cache, the Pareto front, the winner, and a
small cost-only sweep of ResNet-18 on a local Dask cluster."""

import csv
import io
import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from vtaref import cli_dse
from vtaref.cli import main
from vtaref.fpga import dse
from vtaref.fpga.dse_cache import Cache
from vtaref.fpga.dse_plot import plot
from vtaref.fpga.dse_space import FIELDS, SpaceError, parse_values, points
from vtaref.fpga.pareto import front
from vtaref.spec import VtaConfig

TINY = ["--resolution", "16", "--width", "8", "--log-uop-buff", "10", "--log-wgt-buff", "10",
        "--log-acc-buff", "12", "--confirm", "0"]
# BLOCK 8 with an 8-byte input buffer is a config VTA rejects (one input row is 8 bytes);
# BLOCK 4 with it compiles no tiling for the residual sums; with 1 KiB both compile.
SWEEP = [*TINY, "--block", "4,8", "--log-inp-buff", "3,10", "--stage", "cost", "-j", "2"]


def _sweep(tmp_path, *extra):
    result = CliRunner().invoke(main, ["dse", *SWEEP, "--cache", str(tmp_path / "cache"),
                                       "--out", str(tmp_path / "out"), *extra])
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "points.csv").read_text())))
    return result, {(row["block"], row["log_inp_buff"]): row for row in rows}


def test_a_cost_sweep_on_a_local_cluster_marks_failures_and_is_then_served_from_the_cache(
        tmp_path):
    result, rows = _sweep(tmp_path)
    assert result.exit_code == 0, result.output
    assert len(rows) == 4
    rejected = rows["8", "3"]
    assert (rejected["stage"], rejected["status"]) == ("config", "failed")
    assert "LOG_INP_BUFF_SIZE gives log2(inp buffer depth) = 0" in rejected["reason"]
    refused = rows["4", "3"]
    assert (refused["stage"], refused["status"]) == ("cost", "failed")
    assert refused["reason"] == ("ResNet-18 16x16 width 8: layer1.0.out: no tiling fits the "
                                 "scratchpads")
    done = [rows["4", "10"], rows["8", "10"]]
    for row in done:
        assert (row["stage"], row["status"], row["clock"], row["cached"]) == (
            "cost", "ok", "nominal", "")
        assert float(row["fps"]) == pytest.approx(100e6 / int(row["cycles"]), rel=1e-5)
    assert int(rows["8", "10"]["cycles"]) < int(rows["4", "10"]["cycles"])
    assert "4 points: 2 ok, 2 failed; 3 computed" in result.output
    written = json.loads((tmp_path / "out" / "vta_config.json").read_text())
    assert VtaConfig.from_dict(written, complete=True).name == rows["8", "10"]["config"]
    # The winner's folder: its config and its programs, which vta conform replays.
    winner = tmp_path / "out" / "winner"
    assert json.loads((winner / "vta_config.json").read_text()) == written
    programs = sorted(path.name for path in winner.iterdir() if path.is_dir())
    assert "23_fc" in programs and len(programs) == 23
    assert all(json.loads((winner / name / "config.json").read_text()) == written
               for name in programs)
    replayed = CliRunner().invoke(main, ["conform", str(winner)])
    assert (replayed.exit_code, replayed.output.splitlines()[-1]) == (0, "23 passed, 0 failed")
    assert not (tmp_path / "out" / "pareto.png").exists()  # the cost stage counts no resources

    again, cached = _sweep(tmp_path)
    assert again.exit_code == 0, again.output
    assert "0 computed" in again.output
    for key in [("4", "3"), ("4", "10"), ("8", "10")]:
        assert cached[key]["cached"] == "cost"
        assert {k: v for k, v in cached[key].items() if k != "cached"} == {
            k: v for k, v in rows[key].items() if k != "cached"}


def test_baselines_are_evaluated_and_compared_with_but_never_win(tmp_path):
    faster = {**VtaConfig().to_dict(), "LOG_BLOCK": 3, "LOG_UOP_BUFF_SIZE": 10,
              "LOG_INP_BUFF_SIZE": 10, "LOG_WGT_BUFF_SIZE": 10, "LOG_ACC_BUFF_SIZE": 12}
    (tmp_path / "faster.json").write_text(json.dumps(faster))
    result = CliRunner().invoke(main, [
        "dse", *TINY, "--block", "4", "--log-inp-buff", "10", "--stage", "cost", "-j", "1",
        "--baseline", "default", "--baseline", str(tmp_path / "faster.json"),
        "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "points.csv").read_text())))
    assert [(row["block"], row["baseline"], row["status"]) for row in rows] == [
        ("4", "", "ok"), ("16", "default", "ok"), ("8", str(tmp_path / "faster.json"), "ok")]
    swept, default, fast = rows
    assert int(fast["cycles"]) < int(swept["cycles"])  # faster, and still not the winner
    assert json.loads((tmp_path / "out" / "vta_config.json").read_text())["LOG_BLOCK"] == 2
    assert f"winner: {swept['config']} 64-bit" in result.output
    for row, name in ((default, "default"), (fast, str(tmp_path / "faster.json"))):
        ratio = int(row["cycles"]) / int(swept["cycles"])
        assert (f"baseline {name} ({row['config']}): {float(row['fps']):.2f} fps at 100 MHz "
                f"(nominal); the winner has {ratio:.2f}x its frames per second") in result.output


@pytest.mark.parametrize(("arguments", "message"), [
    (["--block", "8,12"], "--block 12: not a power of two"),
    (["--log-acc-buff", "14,,15"], "--log-acc-buff '': not an integer"),
    (["--part", "xc7z020"], "stage pnr needs an ECP5 part: no open place and route for the "
                            "xc7z020 (PYNQ-Z1)"),
    (["--workload", "missing.onnx"], "missing.onnx: no such file"),
    (["--workload", "missing.onnx", "--width", "8"],
     "--width is ResNet-18's: give --workload resnet18"),
    (["--bitstream", "--part", "xc7z020", "--stage", "synth"],
     "--bitstream needs an ECP5 part: no open place and route for the xc7z020 (PYNQ-Z1)"),
])
def test_bad_input_is_one_line_before_anything_runs(tmp_path, monkeypatch, arguments, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["dse", *arguments, "--out", "o"])
    assert (result.exit_code, result.output) == (1, f"vta: error: {message}\n")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("field", "text", "message"), [
    ("block", "x", "x: not an integer"),
    ("batch", "", "'': not an integer"),
    ("log_wgt_buff", "15,27", "27: outside [3, 26]"),
    ("acc_width", "64", "64: outside [8, 32]"),
    ("data_width", "96", "96: not one of 64, 128, 256, 512"),
    ("alu_mul", "2", "2: not 0 or 1"),
])
def test_a_value_no_config_takes_is_named(field, text, message):
    with pytest.raises(SpaceError) as raised:
        parse_values(field, text)
    assert str(raised.value) == message


def test_points_are_every_combination_and_a_rejected_one_carries_the_reason():
    space = {"block": parse_values("block", "16,4"), "data_width": parse_values("data_width",
                                                                               "64,128,64")}
    swept = points(space)
    assert [(p.values()["block"], p.data_width) for p in swept] == [
        (16, 64), (16, 128), (4, 64), (4, 128)]
    assert swept[0].config == VtaConfig()
    assert swept[2].config is None  # TVM-VTA's buffers give BLOCK 4 too wide micro-ops
    assert "micro-op fields of 40 bits" in swept[2].reason
    assert swept[2].label == "block=4 data_width=64"


def test_the_cli_spells_the_stages_and_fields_of_the_module():
    assert cli_dse.STAGES == dse.STAGES
    assert cli_dse.SWEPT == tuple(FIELDS)


def test_pareto_front_on_hand_made_points():
    # (throughput, cost): 1 is beaten by 0 (more throughput, less cost), 3 by 2 (same
    # throughput, less cost); 4 and 5 are equal, so both stay; 6 costs most but is fastest.
    pairs = [(10, 5), (8, 6), (12, 7), (12, 8), (5, 2), (5, 2), (20, 30)]
    assert front(pairs) == [4, 5, 0, 2, 6]
    assert front([]) == []
    assert front([(1, 1)]) == [0]


def test_the_cache_gives_back_what_was_stored_under_the_same_key_only(tmp_path):
    cache = Cache(tmp_path / "c")
    key = {"stage": "cost", "point": {"LOG_BLOCK": 4}}
    assert cache.get(key) is None
    cache.put(key, {"cycles": 7})
    assert cache.get(key) == {"cycles": 7}
    assert cache.get({**key, "stage": "synth"}) is None
    cache.path(key).write_text("{not json")
    assert cache.get(key) is None


def _row(setup, block, results):
    (point,) = points({"block": (block,), "log_uop_buff": (10,), "log_inp_buff": (10,),
                       "log_wgt_buff": (10,), "log_acc_buff": (12,)})
    return dse.Row(point, results, (), setup)


def _synth(luts, dsps, brams, fits=True):
    return {"luts": luts, "ffs": 1000, "brams": brams, "dsps": dsps, "fit": fits,
            "misfit": None if fits else "vta_core does not fit", "gemm_dsps": None}


def test_the_winner_fits_and_failures_are_marked_with_their_stage(tmp_path):
    setup = dse.Sweep(dse.ResNet18(16, 8), "pnr", "LFE5U-25F", 100.0, None)
    cost = {"cycles": 100_000, "macs": 10**6}
    fast_misfit = _row(setup, 4, {"cost": {**cost, "cycles": 1000},
                                  "synth": _synth(30000, 40, 20, fits=False)})
    routed = _row(setup, 2, {"cost": cost, "synth": _synth(9000, 6, 8),
                             "pnr": {"luts": 9500, "ffs": 1100, "brams": 8, "dsps": 6,
                                     "fmax_mhz": 40.0}})
    timed_out = _row(setup, 1, {"cost": cost, "synth": _synth(6000, 3, 4),
                                "pnr": {"error": "nextpnr timed out", "transient": True}})
    assert dse.winner([fast_misfit, routed, timed_out]) is routed
    assert routed.as_dict()["clock"] == "fmax"
    assert (routed.routing, timed_out.routing) == ("", "")  # not said (a cached result)
    for driven, stalled, how, clock in [
            (True, None, "timing-driven", "(Fmax)"),
            (False, None, "congestion", "(Fmax, congestion)"),
            (False, "router2 stalled: ...", "congestion after a stall",
             "(Fmax, congestion after a stall)")]:
        said = dse.Row(routed.point, {**routed.results, "pnr": {
            **routed.results["pnr"], "timing_driven": driven, "stalled": stalled}}, (), setup)
        assert said.as_dict()["routing"] == how
        assert cli_dse._line(said).startswith(f"{said.point.label}: 100,000 cycles, 400.00 fps "
                                              f"at 40 MHz {clock}; 9500 LUTs")
    assert routed.fps == pytest.approx(40e6 / 100_000)
    assert (routed.counted_by, routed.resources()["luts"]) == ("nextpnr", 9500)
    assert (timed_out.stage, timed_out.ok, timed_out.reason) == ("pnr", False,
                                                                 "nextpnr timed out")
    assert timed_out.as_dict()["clock"] == "nominal"
    assert fast_misfit.ok and fast_misfit.reason == "vta_core does not fit"
    faster_baseline = dse.Row(replace(routed.point, baseline="default"),
                              {**routed.results, "cost": {**cost, "cycles": 10}}, (), setup)
    assert dse.winner([fast_misfit, routed, timed_out, faster_baseline]) is routed
    assert faster_baseline.as_dict()["baseline"] == "default"
    picture = plot([fast_misfit, routed, timed_out, faster_baseline], "test")
    assert picture.startswith(b"\x89PNG")
    assert plot([_row(setup, 2, {"cost": cost})], "test") is None

    cache = Cache(tmp_path)
    design = {"rtlil": "0" * 64}
    dse.store(cache, setup, timed_out.point, {**timed_out.results, "design": design})
    assert cache.get(setup.key(timed_out.point, "synth", design["rtlil"])) == (
        timed_out.results["synth"])
    # A timeout is tried again.
    assert cache.get(setup.key(timed_out.point, "pnr", design["rtlil"])) is None
    # Place and route needs the netlist: synthesis runs again.
    assert dse.plan(timed_out.point, setup, cache) == ({"cost": cost, "design": design},
                                                       ("synth", "pnr"))


def test_profiling_without_a_backend_predicts_what_a_run_predicts():
    from vtaref.compiler.networks import random_input, resnet18

    config = VtaConfig(LOG_BLOCK=3, LOG_UOP_BUFF_SIZE=10, LOG_INP_BUFF_SIZE=10,
                       LOG_WGT_BUFF_SIZE=10, LOG_ACC_BUFF_SIZE=12)
    graph = resnet18(16, 0, width=8, config=config)
    x = random_input(graph.input_shape, 1, config=config)
    compiled, ran = (graph.profile(x, config=config, backend=backend) for backend in (None, "spec"))
    assert [p.cost for p in compiled.nodes] == [p.cost for p in ran.nodes]
    assert all((compiled.tensors[name] == ran.tensors[name]).all() for name in ran.tensors)
    assert all(p.run_seconds == 0 for p in compiled.nodes if p.cost is not None)


def test_an_onnx_model_is_a_workload_keyed_by_its_contents(tmp_path):
    import numpy as np

    from vtaref.compiler.onnx.samples import quantize, residual_onnx

    model = residual_onnx()
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    rng = np.random.default_rng(0)
    quantize(model, [rng.standard_normal(shape).astype(np.float32) for _ in range(2)],
             tmp_path / "int8.onnx")
    arguments = ["dse", "--workload", str(tmp_path / "int8.onnx"), "--block", "8,16",
                 "--log-uop-buff", "10", "--log-inp-buff", "10", "--log-wgt-buff", "10",
                 "--log-acc-buff", "12", "--stage", "cost", "-j", "1", "--confirm", "0",
                 "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "points.csv").read_text())))
    assert [(row["block"], row["status"]) for row in rows] == [("8", "ok"), ("16", "ok")]
    assert all(int(row["cycles"]) > 0 and int(row["host_nodes"]) > 0 for row in rows)
    # Another model at the same path.
    quantize(residual_onnx(seed=1), [rng.standard_normal(shape).astype(np.float32)],
             tmp_path / "int8.onnx")
    assert "2 computed" in CliRunner().invoke(main, arguments).output


def test_a_cache_that_cannot_be_written_is_one_line_and_no_output(tmp_path):
    (tmp_path / "file").write_text("")
    result = CliRunner().invoke(main, ["dse", *TINY, "--block", "8", "--log-inp-buff", "10",
                                       "--stage", "cost", "-j", "1",
                                       "--cache", str(tmp_path / "file" / "cache"),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].startswith(
        f"vta: error: cannot write the cache {tmp_path / 'file' / 'cache'}: ")
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_one_line_and_no_output(tmp_path, monkeypatch):
    from vtaref.spec import jobs

    monkeypatch.setattr(jobs, "SCHEDULER_TIMEOUT", 1.0)
    result = CliRunner().invoke(main, ["dse", *TINY, "--block", "8", "--stage", "cost",
                                       "--scheduler", "tcp://127.0.0.1:9",
                                       "--cache", str(tmp_path / "cache"),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output.startswith("vta: error: cannot reach the Dask scheduler at "
                                    "'tcp://127.0.0.1:9'")
    assert len(result.output.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def _fake_hardware(calls):
    """A stand-in for yosys and nextpnr that records the RTLIL digests it is given."""
    import hashlib

    def hardware(text, dsps, sweep, place):
        calls.append(hashlib.sha256(text.encode()).hexdigest())
        return {"synth": {**_synth(9000, 6, 8), "seconds": 1.0}}

    return hardware


def test_synthesis_is_cached_on_the_designs_rtlil_not_on_vtarefs_sources(tmp_path, monkeypatch):
    from vtaref.fpga import dse_cache, synth

    calls = []
    monkeypatch.setattr(dse, "_hardware", _fake_hardware(calls))
    arguments = ["dse", *TINY, "--block", "4,8", "--log-inp-buff", "10", "--stage", "synth",
                 "--part", "LFE5U-25F", "-j", "1", "--cache", str(tmp_path / "cache"),
                 "--out", str(tmp_path / "out")]

    def sweep():
        result = CliRunner().invoke(main, arguments)
        assert result.exit_code == 0, result.output
        rows = csv.DictReader(io.StringIO((tmp_path / "out" / "points.csv").read_text()))
        return result.output, [(row["block"], row["fit"], row["cached"]) for row in rows]

    output, rows = sweep()  # the cost and the design's digest, then synthesis
    assert rows == [("4", "yes", ""), ("8", "yes", "")]
    assert "2 computed" in output and len(set(calls)) == 2  # two cores, two RTLILs
    assert sweep()[1] == [("4", "yes", "cost+design+synth"), ("8", "yes", "cost+design+synth")]
    assert len(calls) == 2

    # An edit to vtaref's hardware sources that leaves the RTLIL as it was: the digests are
    # computed again, the synthesis results kept.
    edited = {**dse_cache.versions(), "hardware-sources": "edited"}
    monkeypatch.setattr(dse_cache, "versions", lambda: edited)
    assert sweep()[1] == [("4", "yes", "cost+synth"), ("8", "yes", "cost+synth")]
    assert len(calls) == 2
    # Another yosys script misses the cache (the synthesis job builds the design again).
    script = synth.script
    monkeypatch.setattr(synth, "script", lambda *a, **k: script(*a, **k) + "opt\n")
    assert sweep()[1] == [("4", "yes", "cost"), ("8", "yes", "cost")]
    assert len(calls) == 4 and calls[2:] == calls[:2]


def test_the_designs_rtlil_has_no_source_locations():
    # A digest that named the checkout's folder or the sources' line numbers would miss the
    # tools' results from another folder, or another machine of a cluster.
    setup = dse.Sweep(dse.ResNet18(16, 8), "synth", "LFE5U-25F", 100.0, None)
    (point,) = points({"block": (4,), "log_uop_buff": (10,), "log_inp_buff": (10,),
                       "log_wgt_buff": (10,), "log_acc_buff": (12,)})
    text, _ = dse.design(point, setup)
    assert "module \\vta_core" in text and "attribute \\src" not in text


def test_the_hardware_key_is_the_rtlils_digest_and_the_tools(tmp_path, monkeypatch):
    setup = dse.Sweep(dse.ResNet18(16, 8), "pnr", "LFE5U-25F", 100.0, None,
                      {"yosys": "1", "nextpnr": "2", "hardware-sources": "a"})
    small, large = (_row(setup, block, {}).point for block in (2, 3))
    digests = [dse.evaluate(point, setup, ("design",))["design"]["rtlil"]
               for point in (small, small, large)]
    assert digests[0] == digests[1] != digests[2]
    # Two points whose RTLIL is the same share their results; the point is not in the key.
    for step in ("synth", "pnr"):
        assert setup.key(small, step, digests[0]) == setup.key(large, step, digests[0])
        assert setup.key(small, step, digests[0]) != setup.key(small, step, digests[2])
        other_part = dse.Sweep(setup.workload, "pnr", "LFE5U-45F", 100.0, None, setup.versions)
        assert setup.key(small, step, digests[0]) != other_part.key(small, step, digests[0])
    slower = dse.Sweep(setup.workload, "pnr", "LFE5U-25F", 50.0, None, setup.versions)
    assert setup.key(small, "synth", "d") == slower.key(small, "synth", "d")
    assert setup.key(small, "pnr", "d") != slower.key(small, "pnr", "d")
    from vtaref.fpga import pnr
    before = setup.key(small, "pnr", "d")
    monkeypatch.setattr(pnr, "TIMING_DRIVEN_UP_TO", 0.25)
    assert setup.key(small, "pnr", "d") != before
    before = setup.key(small, "pnr", "d")
    monkeypatch.setattr(pnr, "STALL_ITERATIONS", 10)
    assert setup.key(small, "pnr", "d") != before
    assert setup.key(small, "synth", "d") == slower.key(small, "synth", "d")
    assert setup.key(small, "design") != setup.key(large, "design")
    with pytest.raises(ValueError, match="needs the design's RTLIL digest"):
        setup.key(small, "synth")


def test_the_front_runner_is_confirmed_on_the_rtl_and_the_confirmation_cached(tmp_path):
    arguments = ["dse", *TINY, "--block", "4,8", "--log-inp-buff", "10", "--stage", "cost",
                 "--confirm", "1", "-j", "1", "--cache", str(tmp_path / "cache"),
                 "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "points.csv").read_text())))
    small, large = rows
    assert (small["rtl_cycles"], small["model_error"]) == ("", "")  # not a front-runner
    measured = int(large["rtl_cycles"])
    assert measured > 0
    assert float(large["model_error"]) == pytest.approx(int(large["cycles"]) / measured - 1,
                                                        abs=1e-5)
    assert large["cached"] == ""
    assert f"RTL: {measured:,} cycles measured, {int(large['cycles']):,} predicted" in (
        result.output)
    assert "model against RTL on 1 front-runner (predicted / measured cycles - 1): " in (
        result.output)
    again = CliRunner().invoke(main, arguments)
    assert again.exit_code == 0, again.output
    assert "0 computed" in again.output
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "points.csv").read_text())))
    assert (rows[1]["rtl_cycles"], rows[1]["cached"]) == (str(measured), "cost+rtl")


def test_the_winners_bitstream_comes_from_a_job_into_its_folder(tmp_path, monkeypatch):
    made = []

    def bitstream(point, sweep):
        made.append(point.config.name)
        return b"bits of " + point.config.name.encode()

    monkeypatch.setattr(dse, "bitstream", bitstream)
    result = CliRunner().invoke(main, ["dse", *TINY, "--block", "4,8", "--log-inp-buff", "10",
                                       "--stage", "cost", "--bitstream", "-j", "1",
                                       "--cache", str(tmp_path / "cache"),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    (name,) = made
    assert name.startswith("1x8_")
    assert (tmp_path / "out" / "winner" / "vta_core.bit").read_bytes() == f"bits of {name}".encode()
