"""Output files that appear together or not at all.

A command that writes several files (a final DRAM, a trace, a waveform) reserves them all
before it starts, writes each into a hidden temporary file beside its destination, and only
when every one is complete renames them into place. On any failure nothing is left behind, and
the error names the path the user gave, never a temporary one. Files get the permissions the
user's umask allows, as ``open`` would give them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class OutputError(OSError):
    """An output file cannot be written; the message names the path given."""


class Outputs:
    """A set of output files committed together (use as a context manager).

    Leaving the ``with`` block without :meth:`commit` removes every temporary file.
    """

    def __init__(self):
        self._staged: dict[Path, Path] = {}  # destination -> temporary file beside it

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, *exc_info) -> None:
        for temporary in self._staged.values():
            temporary.unlink(missing_ok=True)
        self._staged.clear()

    def reserve(self, path: str | Path) -> Path:
        """Create the temporary file that will become ``path``; return the temporary's path.

        Raises OutputError naming ``path`` when its folder cannot take a file.
        """
        path = Path(path)
        if path in self._staged:
            return self._staged[path]
        try:
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        except OSError as err:
            raise OutputError(f"cannot write {path}: {err.strerror}") from None
        os.close(handle)
        self._staged[path] = Path(temporary)
        return self._staged[path]

    def write(self, path: str | Path, data: bytes) -> None:
        """Write ``data`` as the future contents of ``path`` (reserving it if need be)."""
        temporary = self.reserve(path)
        try:
            temporary.write_bytes(data)
        except OSError as err:
            raise OutputError(f"cannot write {path}: {err.strerror}") from None

    def commit(self) -> None:
        """Move every reserved file into place, with the permissions the umask allows."""
        mode = 0o666 & ~_umask()
        for path, temporary in self._staged.items():
            try:
                os.chmod(temporary, mode)
                os.replace(temporary, path)
            except OSError as err:
                raise OutputError(f"cannot write {path}: {err.strerror}") from None
        self._staged.clear()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
