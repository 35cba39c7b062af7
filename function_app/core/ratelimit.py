"""Fixed-window rate limits: how many uses of a key a window allows, counted through a small port.

The counts live where every instance and worker process of the function app sees them (Cosmos DB,
`core.cosmos_counters`), so a limit holds however far the app scales out; `MemoryCounters` is the
in-memory twin for unit tests. Pure apart from the port: the clock is passed in.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Limit:
    count: int  # at most this many uses per window; 0: no limit
    seconds: float  # the window's length


class Counters(Protocol):
    def take(self, key: str, window: float, limit: int, seconds: float) -> bool:
        """Count one use of `key` in the window that starts at `window` (epoch seconds) and lasts
        `seconds`, unless `limit` uses are counted there already: True when counted, False (and
        nothing written) when not. A later window starts from 0. ConflictError when the count kept
        changing under it (many uses of one key at the same moment); TransientError when the store
        did not answer."""
        ...


def window_start(now: float, seconds: float) -> float:
    return math.floor(now / seconds) * seconds


def wait_seconds(now: float, limit: Limit) -> int:
    """Whole seconds until the window that holds `now` ends (at least 1): a Retry-After."""
    return max(1, math.ceil(window_start(now, limit.seconds) + limit.seconds - now))


def take(counters: Counters, key: str, limit: Limit, now: float) -> int | None:
    """None when `key` may be used now (the use is counted); else the seconds to wait."""
    if not limit.count:
        return None
    if counters.take(key, window_start(now, limit.seconds), limit.count, limit.seconds):
        return None
    return wait_seconds(now, limit)


class MemoryCounters:
    """The in-memory twin: one (window, its end, count) per key; it forgets keys whose window ended."""

    def __init__(self) -> None:
        self.counts: dict[str, tuple[float, float, int]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, window: float, limit: int, seconds: float) -> bool:
        with self._lock:
            counted_window, _, count = self.counts.get(key, (window, 0.0, 0))
            if counted_window != window:
                self._forget_ended(window)
                count = 0
            if count >= limit:
                return False
            self.counts[key] = (window, window + seconds, count + 1)
            return True

    def _forget_ended(self, now: float) -> None:
        for key in [k for k, (_, end, _) in self.counts.items() if end <= now]:
            del self.counts[key]
