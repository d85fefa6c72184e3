"""The search: which points to try, at which shape, in which order, within a time budget.

The algorithm is free of I/O: it calls ``evaluate(point, rung) -> seconds or None`` and a
clock, and returns what it tried. Small spaces are searched exhaustively at every rung;
large ones by successive halving over a ladder of shapes (one rung per shape bucket, smallest
first): rung 0 screens as many points as its share of the budget allows (the default point
first, then the rest in a seeded random order); each next rung takes the best third (at
least two) of the previous one at the next bucket's shape, in the order: the previous
rung's best, the default point, then the others best first. So even a rung with time for
only two points weighs the winner so far against the default.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EXHAUSTIVE_MAX", "Search", "search"]

#: spaces up to this many points are searched exhaustively
EXHAUSTIVE_MAX = 24
#: share of the budget of each rung of successive halving (rungs beyond get the last share)
_SHARES = (0.3, 0.3, 0.4)
_ETA = 3


@dataclass
class Search:
    """What a search tried: ``tried[rung]`` is ``[(point, seconds or None), ...]``."""

    mode: str
    tried: list[list[tuple[dict[str, Any], float | None]]] = field(default_factory=list)
    budget_s: float = 0.0
    spent_s: float = 0.0

    def best(self, rung: int) -> tuple[dict[str, Any], float] | None:
        """The fastest valid point of ``rung`` (``None`` if none was valid)."""
        ok = (
            [(p, s) for p, s in self.tried[rung] if s is not None] if rung < len(self.tried) else []
        )
        return min(ok, key=lambda ps: ps[1]) if ok else None


def search(
    points: Sequence[Mapping[str, Any]],
    default: Mapping[str, Any],
    rungs: int,
    evaluate: Callable[[dict[str, Any], int], float | None],
    budget_s: float,
    *,
    seed: int = 0,
    clock: Callable[[], float] = time.monotonic,
    estimate: Callable[[int, float], float] | None = None,
) -> Search:
    """Search ``points`` over ``rungs`` rungs within ``budget_s`` seconds.

    ``evaluate(point, rung)`` verifies and times a point at rung ``rung``'s shape and returns
    seconds per call, or ``None`` for an invalid point (it records why).
    ``estimate(rung, best_s)`` guesses the seconds one evaluation at ``rung`` takes from
    the previous rung's best time; a rung whose first point would end past its deadline is
    skipped (its bucket keeps the default) instead of overrunning the budget.
    """
    start = clock()
    rest = [dict(p) for p in points if dict(p) != dict(default)]
    random.Random(seed).shuffle(rest)
    order = [dict(default), *rest]
    mode = "exhaustive" if len(order) <= EXHAUSTIVE_MAX else "halving"
    out = Search(mode, budget_s=budget_s)
    shares = _shares(rungs)
    for r in range(rungs):
        share = shares[r]
        if mode == "exhaustive":
            deadline = start + budget_s
            pool = order
        else:
            deadline = min(
                start + budget_s,
                clock() + share * budget_s + _unspent(start, clock(), budget_s, shares[:r]),
            )
            if r == 0:
                pool = order
            else:
                prev = sorted(
                    ((p, s) for p, s in out.tried[r - 1] if s is not None), key=lambda ps: ps[1]
                )
                keep = max(2, len(prev) // _ETA)
                top = [p for p, _ in prev[:keep]]
                pool = [*top[:1], dict(default)]
                pool += [p for p in top[1:] if p not in pool]
                if len(pool) > 1 and pool[0] == pool[1]:
                    pool.pop(0)
        tried: list[tuple[dict[str, Any], float | None]] = []
        last = 0.0
        if r > 0 and estimate is not None and (won := out.best(r - 1)) is not None:
            last = estimate(r, won[1])
        for p in pool:
            now = clock()
            if now >= deadline or now + last > deadline:
                break
            tried.append((p, evaluate(p, r)))
            last = clock() - now
        out.tried.append(tried)
    out.spent_s = clock() - start
    return out


def _shares(rungs: int) -> list[float]:
    """Each rung's share of the budget (summing to 1)."""
    raw = [_SHARES[min(i, len(_SHARES) - 1)] for i in range(rungs)]
    return [x / sum(raw) for x in raw]


def _unspent(start: float, now: float, budget: float, earlier: list[float]) -> float:
    """Budget the earlier rungs did not use (it goes to the next rung)."""
    return max(0.0, sum(earlier) * budget - (now - start))
