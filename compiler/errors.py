"""Errors the compiler raises when a request cannot be lowered to VTA instructions."""


class CompileError(Exception):
    """A computation that cannot be expressed under the configuration (the message says why)."""
