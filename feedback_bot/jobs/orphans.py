"""What a worker process forks stops when the worker dies (on Linux).

RQ's scheduler runs in a child of the worker that holds its lock, and a pool's workers
are children of the pool (``WORKER_PROCESSES``). A parent killed outright (SIGKILL, the
kernel's OOM killer) used to leave them running on their own: a scheduler holding its
lock for a worker that is gone, still running the old code after a deployment, or a
second set of workers once the pool was started again. The kernel can signal a child when
its parent dies; SIGTERM then stops each one as if asked: a worker finishes the job in
hand, a scheduler releases its lock for the next worker's scheduler.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import signal
import sys
from typing import Any

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

# The process that is forking, recorded just before the fork: the child compares it with
# its parent once the request is in place.
_forking = 0


def _remember_parent() -> None:
    global _forking
    _forking = os.getpid()


def _stop_with_parent(prctl: Any) -> None:
    if prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("cannot ask to stop with the parent process (errno %d)", ctypes.get_errno())
        return
    if os.getppid() != _forking:
        # The parent died between the fork and the request: no signal will come for it.
        os.kill(os.getpid(), signal.SIGTERM)


def stop_children_with_this_process() -> None:
    """From now on, every child this process forks (and every child they fork) gets
    SIGTERM when its parent dies. Once per process, before anything forks."""
    if not sys.platform.startswith("linux"):
        return
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    os.register_at_fork(
        before=_remember_parent, after_in_child=functools.partial(_stop_with_parent, prctl)
    )
