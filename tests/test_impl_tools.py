"""Finding and running external tools: missing tools name their package, timeouts stop the
tool and everything it started, YoWASP runs have caches of their own."""

import os
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


# A stand-in for a YoWASP launcher: it reports whether its module is in $YOWASP_CACHE_DIR and
# how many names the file has, "compiles" it if not, and exits with the status it is given.
FAKE_LAUNCHER = """#!{python}
import os, sys
from pathlib import Path
module = Path(os.environ["YOWASP_CACHE_DIR"]) / "yowasp_fake" / "fake.wasm" / "0123abcd"
print(os.environ["YOWASP_CACHE_DIR"])
print(module.stat().st_nlink if module.exists() else "missing")
if not module.exists():
    module.parent.mkdir(parents=True)
    module.write_text("compiled")
sys.exit(int(sys.argv[1]))
"""


@pytest.fixture
def launcher(tmp_path, monkeypatch):
    monkeypatch.setattr(tools, "YOWASP_CACHE", tmp_path / "cache")
    path = tmp_path / "bin" / "yowasp-fake"
    path.parent.mkdir()
    path.write_text(FAKE_LAUNCHER.format(python=sys.executable))
    path.chmod(0o755)
    return str(path)


def test_each_yowasp_run_has_a_cache_of_its_own_seeded_by_successful_runs(launcher, tmp_path):
    failed = tools.run_tool([launcher, "1"])
    first = tools.run_tool([launcher, "0"])
    second = tools.run_tool([launcher, "0"])
    assert failed.output[1] == first.output[1] == "missing"  # a failed run publishes nothing
    assert second.output[1] == "2"  # a hard link to the module the first run compiled
    assert len({failed.output[0], first.output[0], second.output[0]}) == 3
    shared = list((tmp_path / "cache").glob("wasmtime-*/yowasp_fake/fake.wasm/0123abcd"))
    assert [path.read_text() for path in shared] == ["compiled"]
    assert not any(os.path.exists(run.output[0]) for run in (failed, first, second))


def test_a_killed_runs_cache_is_removed_by_the_next_run(launcher, tmp_path):
    gone = tools.run_tool([sys.executable, "-c", "import os; print(os.getpid())"]).output[0]
    orphan = tmp_path / "cache" / f"run-{gone}-abc" / "yowasp_fake"
    orphan.mkdir(parents=True)
    mine = tmp_path / "cache" / f"run-{os.getpid()}-abc"
    mine.mkdir()
    tools.run_tool([launcher, "0"])
    assert not orphan.parent.exists() and mine.exists()


def test_other_tools_keep_their_environment(monkeypatch):
    monkeypatch.setenv("YOWASP_CACHE_DIR", "/elsewhere")
    run = tools.run_tool([sys.executable, "-c", "import os; print(os.environ['YOWASP_CACHE_DIR'])"])
    assert run.output == ["/elsewhere"]
