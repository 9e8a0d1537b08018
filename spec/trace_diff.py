"""Find the first instruction where two traces (:mod:`.trace`) of one program differ.

Traces list instructions in program order, so the first line that differs names the first
instruction whose behaviour differs, even when its effect shows in DRAM only much later (the
result of a wrong ALU instruction is stored by a STORE several instructions on).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import VtaError

COMPARED = ("stage", "pop", "push", "clock", "writes")  # per instruction, in this order
SHOWN = 8  # differing lanes or bytes listed per write entry


class TraceError(VtaError):
    """A trace file that cannot be read or compared: missing, malformed or of another program."""


def parse_trace(lines: list[str], where: str) -> list[dict]:
    """Return the records of the trace ``lines`` (read from ``where``), checking that they are
    JSON objects numbered 0, 1, 2, ... with the fields of docs/image-format.md §3."""
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise TraceError(f"{where}:{number}: not a JSON line ({err.msg})") from None
        if not isinstance(record, dict):
            raise TraceError(f"{where}:{number}: not a JSON object")
        missing = [name for name in ("index", "mnemonic", "fields", *COMPARED)
                   if name not in record]
        if missing:
            raise TraceError(f"{where}:{number}: no {', '.join(missing)} field")
        if record["index"] != len(records):
            raise TraceError(f"{where}:{number}: instruction {record['index']!r} where "
                             f"instruction {len(records)} was expected")
        records.append(record)
    return records


def read_trace(path: Path) -> list[dict]:
    """Return the records of the trace file ``path`` (see :func:`parse_trace`)."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise TraceError(f"cannot read {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise TraceError(f"{path}: not a text file") from None
    return parse_trace(text.splitlines(), str(path))


@dataclass(frozen=True)
class Difference:
    """The first instruction (``index``, ``mnemonic``, ``stage``) whose ``field`` differs
    between two traces; ``details`` say how, one line each."""

    index: int
    mnemonic: str
    stage: str
    field: str
    details: tuple[str, ...]

    def describe(self) -> str:
        """Return the difference as one line."""
        return (f"instruction {self.index} ({self.mnemonic}, {self.stage} stage) is the first "
                f"to differ, in {self.field}: " + "; ".join(self.details))


def first_difference(a: list[dict], b: list[dict], names: tuple[str, str] = ("A", "B")
                     ) -> Difference | None:
    """Return the first difference between the traces ``a`` and ``b`` (called ``names`` in
    the details), or None if they are equal. Raises TraceError if they are traces of different
    programs (another instruction count, or another instruction at some index)."""
    if len(a) != len(b):
        raise TraceError(f"traces of different programs: {names[0]} has {len(a)} instructions, "
                         f"{names[1]} has {len(b)}")
    for x, y in zip(a, b):
        if (x["mnemonic"], x["fields"]) != (y["mnemonic"], y["fields"]):
            raise TraceError(f"traces of different programs: instruction {x['index']} is "
                             f"{_insn(x)} in {names[0]}, {_insn(y)} in {names[1]}")
        for name in COMPARED:
            if x[name] != y[name]:
                if name == "writes":
                    details = _write_details(x[name], y[name], names)
                else:
                    details = (f"{x[name]} in {names[0]}, {y[name]} in {names[1]}",)
                return Difference(x["index"], x["mnemonic"], x["stage"], name, details)
    return None


def _insn(record: dict) -> str:
    fields = " ".join(f"{k}={v}" for k, v in record["fields"].items())
    return f"{record['mnemonic']} {fields}"


def _write_details(a: list[dict], b: list[dict], names: tuple[str, str]) -> tuple[str, ...]:
    """Return a line per written space that differs, naming the differing lanes or bytes when
    both traces carry values."""
    by_space = [{entry["space"]: entry for entry in writes} for writes in (a, b)]
    details = []
    for space in sorted(set(by_space[0]) | set(by_space[1])):
        x, y = by_space[0].get(space), by_space[1].get(space)
        if x == y:
            continue
        if x is None or y is None:
            writer, entry = (names[1], y) if x is None else (names[0], x)
            details.append(f"only {writer} writes {space} ({_extent(entry)})")
        elif "values" in x and "values" in y:
            details.append(_lane_differences(space, x, y, names))
        elif "bytes" in x and "bytes" in y:
            details.append(_byte_differences(x, y, names))
        else:
            details.append(f"{space}: {_extent(x)} in {names[0]}, {_extent(y)} in {names[1]} "
                           "(trace with values to see which lanes differ)")
    return tuple(details)


def _extent(entry: dict) -> str:
    first, last = entry["first"], entry["last"]
    if entry["space"] == "dram":
        return f"{entry['count']} bytes, {first:#x}..{last:#x}, sha256 {entry['sha256'][:12]}"
    return f"{entry['count']} rows, {first}..{last}, sha256 {entry['sha256'][:12]}"


def _listed(differences: list[str]) -> str:
    more = len(differences) - SHOWN
    return ", ".join(differences[:SHOWN]) + (f" and {more} more" if more > 0 else "")


def _lane_differences(space: str, x: dict, y: dict, names: tuple[str, str]) -> str:
    rows = [dict(zip(entry["rows"], entry["values"])) for entry in (x, y)]
    differences = []
    for row in sorted(set(rows[0]) | set(rows[1])):
        lanes_x, lanes_y = rows[0].get(row), rows[1].get(row)
        if lanes_x is None or lanes_y is None:
            differences.append(f"{space}[{row}] written by "
                               f"{names[1] if lanes_x is None else names[0]} only")
            continue
        differences += [f"{space}[{row}][{lane}] {u} vs {v}"
                        for lane, (u, v) in enumerate(zip(lanes_x, lanes_y)) if u != v]
    return f"{space} ({names[0]} vs {names[1]}): {_listed(differences)}"


def _byte_differences(x: dict, y: dict, names: tuple[str, str]) -> str:
    memories = []
    for entry in (x, y):
        data = bytes.fromhex(entry["bytes"])
        addresses = [a for start, end in entry["ranges"] for a in range(start, end)]
        memories.append(dict(zip(addresses, data)))
    differences = []
    for address in sorted(set(memories[0]) | set(memories[1])):
        u, v = memories[0].get(address), memories[1].get(address)
        if u != v:
            shown = [f"{value:#04x}" if value is not None else "unwritten" for value in (u, v)]
            differences.append(f"dram[{address:#x}] {shown[0]} vs {shown[1]}")
    return f"dram ({names[0]} vs {names[1]}): {_listed(differences)}"
