"""Program images: the language-neutral interchange format (docs/image-format.md).

An image is a folder holding ``config.json`` (vta_config.json keys), ``dram.bin`` (initial DRAM
from physical byte address ``dram_base``) and ``run.json`` (``dram_base``, ``insn_addr``,
``insn_count``). Conformance cases add ``expected_dram.bin``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import VtaConfig
from .errors import ConfigError, ImageError
from .isa import INSN_BYTES
from .state import Dram

RUN_KEYS = ("dram_base", "insn_addr", "insn_count")


@dataclass
class ProgramImage:
    """A loaded image: its config, initial DRAM bytes and where the program is."""

    config: VtaConfig
    dram: bytes
    dram_base: int
    insn_addr: int
    insn_count: int
    expected: bytes | None = None

    @classmethod
    def load(cls, folder: str | Path) -> ProgramImage:
        """Read and validate an image folder; any defect raises ImageError naming the file."""
        folder = Path(folder)
        if not folder.is_dir():
            raise ImageError(f"{folder}: not an image folder")
        try:
            config = VtaConfig.from_json(folder / "config.json")
        except ConfigError as err:
            raise ImageError(str(err)) from None
        run = _read_json(folder / "run.json")
        unknown = sorted(set(run) - set(RUN_KEYS))
        if unknown:
            raise ImageError(f"{folder / 'run.json'}: unknown key {unknown[0]!r} (known: "
                             f"{', '.join(RUN_KEYS)})")
        for key in RUN_KEYS:
            value = run.get(key)
            if type(value) is not int or value < 0:
                raise ImageError(f"{folder / 'run.json'}: {key} must be a non-negative integer, "
                                 f"not {value!r}")
        dram = _read_bytes(folder / "dram.bin")
        expected_path = folder / "expected_dram.bin"
        expected = _read_bytes(expected_path) if expected_path.exists() else None
        image = cls(config, dram, run["dram_base"], run["insn_addr"], run["insn_count"], expected)
        image.validate(folder)
        return image

    def validate(self, where: str | Path = "image") -> None:
        """Raise ImageError unless the program lies inside DRAM at an instruction boundary."""
        if self.insn_addr % INSN_BYTES:
            raise ImageError(f"{where}: insn_addr {self.insn_addr:#x} is not a multiple of "
                             f"{INSN_BYTES}")
        if self.insn_count == 0:
            raise ImageError(f"{where}: insn_count is 0 (a program ends with FINISH)")
        end = self.insn_addr + self.insn_count * INSN_BYTES
        if self.insn_addr < self.dram_base or end > self.dram_base + len(self.dram):
            raise ImageError(
                f"{where}: instructions [{self.insn_addr:#x}, {end:#x}) are not inside dram.bin "
                f"[{self.dram_base:#x}, {self.dram_base + len(self.dram):#x}); dram.bin may be "
                "truncated")
        if self.expected is not None and len(self.expected) != len(self.dram):
            raise ImageError(f"{where}: expected_dram.bin has {len(self.expected)} bytes, "
                             f"dram.bin {len(self.dram)}")

    def make_dram(self) -> Dram:
        """Return a fresh, writable DRAM holding the image's initial contents."""
        return Dram(self.dram_base, np.frombuffer(self.dram, dtype=np.uint8).copy())

    def save(self, folder: str | Path) -> None:
        """Write the image (and ``expected_dram.bin`` if present) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        run = {"dram_base": self.dram_base, "insn_addr": self.insn_addr,
               "insn_count": self.insn_count}
        (folder / "run.json").write_text(json.dumps(run, indent=2) + "\n")
        (folder / "dram.bin").write_bytes(self.dram)
        if self.expected is not None:
            (folder / "expected_dram.bin").write_bytes(self.expected)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ImageError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ImageError(f"{path}: cannot read: {err}") from None
    except json.JSONDecodeError as err:
        raise ImageError(f"{path}: bad JSON at line {err.lineno}: {err.msg}") from None
    if not isinstance(data, dict):
        raise ImageError(f"{path}: must hold a JSON object")
    return data


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path}: missing") from None
    except OSError as err:
        raise ImageError(f"{path}: cannot read: {err.strerror}") from None
