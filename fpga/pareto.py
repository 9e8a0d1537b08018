"""The Pareto front of a sweep: the points no other point beats on throughput for a resource.

A point (throughput, cost) is dominated when another has at least its throughput at no more
cost, and more throughput or less cost; the front is the points no other dominates (so two equal
points are both on it). :func:`front` takes plain pairs, so the caller chooses which points
compete (``vta dse``: those that fit the part) and which resource is the cost.
"""

from __future__ import annotations

from collections.abc import Sequence


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Return whether ``a`` = (throughput, cost) dominates ``b``."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def front(pairs: Sequence[tuple[float, float]]) -> list[int]:
    """Return the indices of the (throughput, cost) ``pairs`` on the Pareto front, by rising
    cost (then throughput)."""
    on_front = [i for i, pair in enumerate(pairs)
                if not any(dominates(other, pair) for other in pairs)]
    return sorted(on_front, key=lambda i: (pairs[i][1], pairs[i][0]))
