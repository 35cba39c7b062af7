"""Stops the stack's processes when the process that started them dies, even by SIGKILL.

Each service runs in a process group of its own (a stop reaches what it forked: gunicorn's workers,
the functions host's, horovodrun's ranks), so none of them dies with the launcher (`make run`, a test,
a benchmark). `Stack` starts this watchdog on a pipe only the launcher holds, in a session of its own
(Ctrl-C in the launcher's terminal does not reach it), and writes it one line per process it starts
(`+N`) and stops (`-N`), N as `os.kill` takes it: minus a process group, or a process id. When the
launcher is gone, however it went, the pipe closes: the watchdog sends SIGTERM to what is still listed
(the Cosmos DB stand-in writes its snapshot then), and SIGKILL to what is left after `GRACE` seconds.
"""
from __future__ import annotations

import os
import signal
import sys
import time

GRACE = 5.0


def send(targets: set[int], sig: int) -> set[int]:
    """Signal each target; those that were still there."""
    there = set()
    for target in targets:
        try:
            os.kill(target, sig)
            there.add(target)
        except ProcessLookupError:
            pass
    return there


def main() -> None:
    targets: set[int] = set()
    for line in sys.stdin:  # until the launcher is gone
        (targets.add if line[0] == "+" else targets.discard)(int(line[1:]))
    left = send(targets, signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = send(left, 0)
    send(left, signal.SIGKILL)


if __name__ == "__main__":
    main()
