"""Equal regions of a scratchpad used in turn: double buffering with a memory of contents.

With two slots, the load of the next tile goes to the slot the current tile is not computing on,
so (once the dependency tokens are in) loads overlap compute, like TVM-VTA's virtual threads.
Each slot remembers the key of the data it holds, so a tile whose data is already on chip skips
its load (weights reused across spatial tiles, inputs across output-channel tiles).
"""

from __future__ import annotations

from collections.abc import Hashable


class Slots:
    """``count`` regions of ``size`` entries from ``base``, reused least recently used first."""

    def __init__(self, size: int, count: int = 2, base: int = 0):
        if size < 1:
            raise ValueError(f"a slot needs at least one entry, not {size}")
        self.size = size
        self._bases = [base + i * size for i in range(count)]
        self._keys: list[Hashable] = [None] * count
        self._order = list(range(count))  # least recently used first

    def acquire(self, key: Hashable) -> tuple[int, bool]:
        """Return the base of the slot for ``key`` and whether it already holds that data."""
        hit = key is not None and key in self._keys
        slot = self._keys.index(key) if hit else self._order[0]
        self._keys[slot] = key
        self._order.remove(slot)
        self._order.append(slot)
        return self._bases[slot], hit

    def take(self) -> int:
        """Return the base of the least recently used slot, forgetting what it held."""
        return self.acquire(None)[0]


def double_buffered(depth: int, need: int = 1) -> Slots:
    """Return two halves of a ``depth``-entry scratchpad, or all of it if a half holds < need."""
    if depth // 2 >= need:
        return Slots(depth // 2)
    if depth < need:
        raise ValueError(f"a scratchpad of {depth} entries cannot hold {need}")
    return Slots(depth, count=1)
