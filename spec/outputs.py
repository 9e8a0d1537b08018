"""Output files that appear together or not at all.

A command that writes several files (a final DRAM, a trace, a waveform) or folders (program
images) reserves them all before it starts, writes each into a hidden temporary file or folder
beside its destination, and only when every one is complete renames them into place (a folder
replaces an existing one of that name). On any failure nothing is left behind, and
the error names the path the user gave, never a temporary one. Files get the permissions the
user's umask allows, as ``open`` would give them.
"""

from __future__ import annotations

import os
import shutil
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
            if temporary.is_dir():
                shutil.rmtree(temporary, ignore_errors=True)
            else:
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

    def reserve_folder(self, path: str | Path) -> Path:
        """Create the temporary folder that will become folder ``path``; return its path (fill
        it, then :meth:`commit`). Raises OutputError naming ``path`` as :meth:`reserve` does."""
        path = Path(path)
        if path not in self._staged:
            try:
                temporary = tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.")
            except OSError as err:
                raise OutputError(f"cannot write {path}: {err.strerror}") from None
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
        umask = _umask()
        for path, temporary in self._staged.items():
            try:
                if temporary.is_dir():
                    os.chmod(temporary, 0o777 & ~umask)
                    _replace_folder(temporary, path)
                else:
                    os.chmod(temporary, 0o666 & ~umask)
                    os.replace(temporary, path)
            except OSError as err:
                raise OutputError(f"cannot write {path}: {err.strerror}") from None
        self._staged.clear()


def _replace_folder(temporary: Path, path: Path) -> None:
    """Rename folder ``temporary`` to ``path``, removing what ``path`` held before."""
    if not path.is_dir():
        os.replace(temporary, path)
        return
    old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old."))
    os.replace(path, old / path.name)
    os.replace(temporary, path)
    shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
