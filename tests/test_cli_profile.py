"""``vta profile``: per-layer figures of a small ResNet-18, as JSON, a table and a PNG."""

import json

import pytest

from vtaref.compiler.profiling import ceilings
from vtaref.impl.vcr import COUNTERS
from vtaref.spec import VtaConfig

from .impl_support import sized_config
from .test_cli import assert_clean_error, vta

SMALL = ("--resolution", "32", "--width", "16")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def profile_json(*args):
    result = vta("profile", *SMALL, "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_profile_on_the_spec_reports_each_layer_and_a_png(tmp_path):
    png = tmp_path / "profile.png"
    report = profile_json("--png", png)
    layers, totals = report["layers"], report["totals"]
    assert len(layers) == totals["nodes_on_vta"] == 23  # the sums run in conv2d_add nodes
    assert png.read_bytes().startswith(PNG_MAGIC)
    assert sum(layer["macs"] for layer in layers) == totals["macs"]
    assert sum(layer["load_bytes"] for layer in layers) == totals["dram_bytes"]["load"]
    for layer in layers:
        assert layer["cycles"] is None and layer["counters"] is None
        assert layer["ideal_cycles"] == round(layer["macs"] / 256)
        expected = layer["macs"] / 256 / layer["predicted_cycles"]
        assert layer["utilization"] == pytest.approx(expected, abs=1e-3)
    assert "backend_cycles" not in totals


def test_profile_prints_a_table_then_the_totals():
    result = vta("profile", *SMALL)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["node", "op", "M", "MACs"]
    assert lines[1].split()[:2] == ["stem", "conv2d"]
    assert json.loads("\n".join(lines[24:]))["nodes_on_vta"] == 23


def test_profile_on_the_rtl_reports_the_cores_counters(tmp_path):
    report = profile_json("--backend", "rtl")
    layers, totals = report["layers"], report["totals"]
    for layer in layers:
        assert set(layer["counters"]) == set(COUNTERS)
        assert layer["cycles"] == layer["counters"]["cycles"] > layer["ideal_cycles"]
        assert layer["counters"]["compute_busy"] <= layer["cycles"]
        # The timing model is fitted to the RTL (benchmarks/timing_fit.py re-fits it): every
        # node of this network within 4.5 % when fitted (docs/compiler.md section 5.1).
        assert layer["predicted_cycles"] == pytest.approx(layer["cycles"], rel=0.06)
    assert totals["backend_cycles"] == sum(layer["cycles"] for layer in layers)
    assert totals["counters"]["gemm_visits"] == sum(layer["counters"]["gemm_visits"]
                                                    for layer in layers)


def test_the_roofline_ceilings_follow_the_config_and_the_bus():
    assert ceilings(VtaConfig(), 64) == (256, 8)
    assert ceilings(sized_config(LOG_BATCH=1, LOG_BLOCK=3), 256) == (128, 32)


def test_profile_refuses_an_unwritable_png_before_running(tmp_path):
    result = vta("profile", *SMALL, "--png", tmp_path / "missing" / "p.png")
    assert_clean_error(result, "missing")


def test_profile_refuses_a_bad_config(tmp_path):
    config = tmp_path / "vta_config.json"
    config.write_text("{")
    assert_clean_error(vta("profile", *SMALL, "--config", config), str(config))
