"""What a program run for a reader is held to: it dies with the process that started it, even after
a kill -9 (Linux prctl PR_SET_PDEATHSIG), and it gets an address-space and a CPU-time limit.

`limits(...)` gives the `preexec_fn` for subprocess: it runs in the child between fork and exec.
Everything it needs (libc, the parent's pid) is looked up before the fork, so the child only makes
system calls.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl  # noqa: B018 - not Linux: no prctl
    except (OSError, AttributeError):
        return None
    return libc


def die_with_parent(parent: int, libc: ctypes.CDLL | None = None) -> None:
    """Called in a child: SIGKILL when the parent (the thread that forked) ends. If the parent died
    before prctl took effect, the child has been reparented already: it ends at once."""
    libc = libc or _libc()
    if libc is None:
        return  # not Linux: the parent's pipes closing is all there is
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def limits(memory: int, cpu_seconds: float) -> Callable[[], None]:
    """preexec_fn: die with this process, at most `memory` bytes of address space, and
    `cpu_seconds` of CPU (SIGXCPU then, SIGKILL a second later)."""
    parent = os.getpid()
    libc = _libc()
    cpu = max(1, int(cpu_seconds + 0.999))

    def in_child() -> None:
        die_with_parent(parent, libc)
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))

    return in_child
