"""Backends: where a compiled program image runs.

The interface, the spec backend and the registry are :mod:`vtaref.spec.backends`, shared with
the ``vta`` command: a backend is anything with a ``name`` and ``run(image) -> bytes`` (the final
DRAM), and :data:`BACKENDS` names ``spec``, ``rtl`` and ``external``. Operators and graphs take
a backend or one of those names.
"""

from __future__ import annotations

from vtaref.spec.backends import BACKENDS, Backend, BackendError, SpecBackend, get_backend

__all__ = ["BACKENDS", "Backend", "BackendError", "SpecBackend", "get_backend"]
