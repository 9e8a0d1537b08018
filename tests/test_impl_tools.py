"""Finding and running external tools: missing tools name their package, timeouts stop the
tool and everything it started."""

import sys
import time

import pytest

from vtaref.impl import tools


def test_missing_tool_names_its_package():
    with pytest.raises(tools.ToolError, match="^no-such-tool not found: pip install some-pkg$"):
        tools.find_tool("no-such-tool", "some-pkg")
    with pytest.raises(KeyError, match="no-such-tool not found"):
        tools.find_tool("no-such-tool", "some-pkg", KeyError)


def test_output_lines_reach_the_callback():
    seen = []
    run = tools.run_tool([sys.executable, "-c", "print('a'); print('b')"], on_line=seen.append)
    assert (run.returncode, run.output, run.timed_out) == (0, ["a", "b"], False)
    assert seen == ["a", "b"]


def test_timeout_stops_the_tool_and_its_children():
    # The child keeps the output pipe open: the run ends only once it is killed too.
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', " \
             "'import time; time.sleep(60)']); print('started', flush=True); time.sleep(60)"
    started = time.perf_counter()
    run = tools.run_tool([sys.executable, "-c", script], timeout=1)
    assert run.timed_out and run.output == ["started"]
    assert time.perf_counter() - started < 30
