"""Errors the spec raises for bad input: each carries a one-line message naming what and where."""


class VtaError(Exception):
    """Base class of every error caused by bad input (config, image, program)."""


class ConfigError(VtaError):
    """An invalid VTA configuration: the message names the key and its allowed range."""


class ImageError(VtaError):
    """A malformed or inconsistent program image (files, JSON, sizes)."""


class ProgramError(VtaError):
    """An instruction that cannot be executed.

    ``index`` is the instruction's position in the program and ``field`` the field at fault.
    """

    def __init__(self, index: int, mnemonic: str, field: str, message: str):
        self.index = index
        self.mnemonic = mnemonic
        self.field = field
        super().__init__(f"instruction {index} ({mnemonic}): {field}: {message}")


class DeadlockError(VtaError):
    """The program waits for a dependency token that no remaining instruction pushes."""


class TokenOverflowError(VtaError):
    """A dependency-token queue may hold more tokens than the hardware's queue depth."""


class RaceError(VtaError):
    """Two stages access the same scratchpad or DRAM location with no token ordering them."""
