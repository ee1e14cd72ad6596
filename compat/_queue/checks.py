"""The argument checks of compat's queues, and the errors they build.

``check_maxsize`` and ``check_timeout`` validate what ``Queue``, ``JoinableQueue``
and their ``put()``/``get()`` receive; ``table_full`` and ``lost_error`` build the
errors a queue raises when its registry has no slot left, or when a writer ended
without closing it.
"""

from __future__ import annotations

import operator
import warnings

from .._errors import ChildError, CompatError, PortabilityWarning
from .._stdlib import StdlibChanged
from .registry import SLOTS
from .transport import QueuePlan, current_plan

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["check_maxsize", "check_timeout", "lost_error", "table_full"]

_MACOS_SEM_MAX = 32767


def check_maxsize(maxsize: Any, plan: QueuePlan) -> int:
    """Validate ``maxsize`` for ``plan``'s platform; 0 means unbounded."""
    if isinstance(maxsize, bool):
        raise TypeError("maxsize must be an int (0 means unbounded), not bool")
    try:
        size = operator.index(maxsize)
    except TypeError:
        raise TypeError(
            f"maxsize must be an int (0 means unbounded), not {type(maxsize).__name__}"
        ) from None
    if size < 0:
        raise ValueError(f"maxsize must be 0 (unbounded) or positive, not {size}")
    limit = plan.sem_value_max
    if plan is current_plan():
        try:
            from .._stdlib import SEM_VALUE_MAX

            limit = min(limit, int(SEM_VALUE_MAX))
        except StdlibChanged:
            raise
        except ImportError:  # no working semaphores here (SYNC-03)
            pass
    if size > limit:
        raise ValueError(
            f"maxsize={size} is above this platform's ({plan.platform}) semaphore limit "
            f"{limit}; use maxsize <= {limit}, or 0 for an unbounded queue"
        )
    if size > _MACOS_SEM_MAX:
        warnings.warn(
            f"Queue(maxsize={size}) fails on macOS, whose semaphores stop at "
            f"{_MACOS_SEM_MAX} (IPC-02); use maxsize <= {_MACOS_SEM_MAX} or 0 (unbounded)",
            PortabilityWarning,
            stacklevel=3,
        )
    return size


def check_timeout(timeout: Any) -> Optional[float]:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"'timeout' must be a number or None, not {type(timeout).__name__}")
    if timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")
    return float(timeout)


def lost_error(pid: int, unsent: int) -> ChildError:
    items = "1 item it put was" if unsent == 1 else f"{unsent} items it put were"
    lost = f"; up to {items} not sent" if unsent else ""
    return ChildError(
        f"a process that put items on this queue (pid {pid}) ended without closing it{lost}. "
        "Every item it sent was delivered before this error",
        pid=pid,
    )


def table_full() -> CompatError:
    return CompatError(
        f"at most {SLOTS} processes can hold one compat.Queue at a time; "
        "share work through several queues or a Pool"
    )
