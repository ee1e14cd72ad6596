"""Who holds a compat Queue, who can still put on it, and how many items it holds.

A small table of 64-bit words in shared memory (``RawArray``), one *slot* per
process that holds the queue, guarded by one lock (a
:class:`~compat._queue.robustlock.RobustLock`). It answers two questions the
standard library cannot:

- ``qsize()`` on every OS: each slot counts the items its process put (written
  only by that process, so ``put()`` takes no cross-process lock for it), and
  readers count what they took. No ``sem_getvalue``, which macOS lacks (IPC-01).
- *End of stream*: an iterating reader stops when the pipe is empty and no
  process can still put. A process that received the queue counts as a
  possible writer from the moment it is started until it closes the queue,
  exits or starts reading. Slots are reserved **in the parent** before the child
  exists (when the queue is pickled for a spawn/forkserver child, and in an
  ``os.register_at_fork`` hook for fork), so a writer that has not run yet is
  never missed. The creating process counts only once it has put: a parent that
  just hands the queue to its children needs no ``close()``; while the creator
  has neither put nor closed, the stream ends only after some other writer has.

A slot whose process died without closing is found by :func:`pid_alive` when a
reader waits; if that process had put anything, readers raise
:class:`~compat.ChildError` at the end of the stream instead of waiting forever.
"""

from __future__ import annotations

import os
from collections import namedtuple

from .._native.liveness import pid_alive, process_token, reap_own_children
from .._platform import LINUX, WINDOWS
from .robustlock import RobustLock
from .stream import RING_SIZE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple

__all__ = ["Registry", "Scan"]

# Header words.
_GOT = 0  # items readers took, under the read lock (Queue writes words[0] directly)
_RETIRED = 1  # items put by processes whose slots were freed
_EVIDENCE = 2  # possible writers (not the creator) that finished
_LOST = 3  # writers that died without closing after putting
_LOST_PID = 4
_LOST_UNSENT = 5
_HWM = 6  # every used slot is below this index
_UNFINISHED = 7  # JoinableQueue: items put and not yet task_done()
_STATE_OWNER = 9  # pid and process token of the holder of the table lock (2 words)
RLOCK_OWNER = 11  # pid and process token of the holder of the queue's read lock (2 words)
RING_AT = 13  # start and end of the unread bytes in the read-ahead ring (2 words)
_SERIALS = 15  # reservations made so far
_HEADER = 16

# Slot words.
_PID = 0
_FLAGS = 1
_OWNER = 2  # pid of the process that reserved a pending slot
_PUTS = 3  # items this process has written into the pipe
_UNSENT = 4  # items it put that are still in its buffer
_TOKEN = 5  # process_token() of the pid, against pid reuse
_SERIAL = 6  # which reservation a pending slot holds
_WORDS = 7

SLOTS = 256

F_USED = 1
F_PENDING = 2  # reserved for a child that has not claimed it yet
F_CREATOR = 4
F_PUT = 8
F_GOT = 16


# The fields, for the type checker; collections.namedtuple makes them at run time
# (typing.NamedTuple would import typing into every child; see compat._platform).
if TYPE_CHECKING:

    class _ScanFields(NamedTuple):
        writers: bool
        """Some process other than the reader can still put."""
        creator_waiting: bool
        """The creator has neither put nor closed, and no other writer finished yet."""
        lost: int
        lost_pid: int
        lost_unsent: int
else:
    _ScanFields = namedtuple(
        "_ScanFields", ["writers", "creator_waiting", "lost", "lost_pid", "lost_unsent"]
    )


class Scan(_ScanFields):
    """What a waiting reader learns from the table."""

    __slots__ = ()

    @property
    def ended(self) -> bool:
        return not self.writers and not self.creator_waiting


class Registry:
    """The shared table of one queue; travels to children with the queue."""

    def __init__(self, array: Any, lock: Any, steal: Any, ring: Any) -> None:
        self._array = array
        self.ring = ring
        self._raw_lock = lock
        self.steal = steal
        self.words: Any = memoryview(array).cast("B").cast("q")
        self.lock = RobustLock(lock, steal, self.words, _STATE_OWNER)

    @classmethod
    def create(cls, ctx: Any) -> Registry:
        array = ctx.RawArray("q", _HEADER + SLOTS * _WORDS)
        return cls(array, ctx.Lock(), ctx.Lock(), ctx.RawArray("B", RING_SIZE))

    def robust(self, lock: Any, at: int) -> RobustLock:
        """``lock`` (a multiprocessing Lock of this queue) with its holder in word ``at``."""
        return RobustLock(lock, self.steal, self.words, at)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Registry, (self._array, self._raw_lock, self.steal, self.ring))

    # -- slots ------------------------------------------------------------
    def _base(self, slot: int) -> int:
        return _HEADER + slot * _WORDS

    def _take(self, pid: int, flags: int, owner: int = 0, token: int = 0) -> int:
        """Allocate a free slot (lock held); -1 when the table is full."""
        w = self.words
        for slot in range(SLOTS):
            b = self._base(slot)
            if not w[b + _FLAGS] & F_USED:
                w[b + _PID] = pid
                w[b + _FLAGS] = flags | F_USED
                w[b + _OWNER] = owner
                w[b + _PUTS] = 0
                w[b + _UNSENT] = 0
                w[b + _TOKEN] = token
                if slot + 1 > w[_HWM]:
                    w[_HWM] = slot + 1
                return slot
        return -1

    def _free(self, slot: int) -> None:
        w = self.words
        b = self._base(slot)
        w[_RETIRED] += w[b + _PUTS]  # items it wrote; unsent ones never arrive
        w[b + _FLAGS] = 0
        w[b + _PID] = 0

    def claim_creator(self, pid: int) -> int:
        token = process_token(pid)
        with self.lock:
            return self._take(pid, F_CREATOR, token=token)

    def reserve(self, owner: int) -> int:
        """Reserve a slot for a child about to be started by ``owner``.

        Returns a ticket for :meth:`claim` and :meth:`void` (a slot and a serial
        number, so that a late ``void`` cannot drop a later reservation of the
        same slot), or -1 when the table is full.
        """
        token = process_token(owner)
        w = self.words
        with self.lock:
            slot = self._take(0, F_PENDING, owner, token)
            if slot < 0:
                return -1
            w[_SERIALS] += 1
            w[self._base(slot) + _SERIAL] = w[_SERIALS]
            return slot + SLOTS * int(w[_SERIALS])

    def claim(self, ticket: int, pid: int) -> int:
        """Turn a reservation into this process's slot (or take a new slot)."""
        w = self.words
        token = process_token(pid)
        with self.lock:
            if ticket >= 0:
                slot, serial = ticket % SLOTS, ticket // SLOTS
                b = self._base(slot)
                if w[b + _FLAGS] & F_PENDING and w[b + _SERIAL] == serial:
                    w[b + _PID] = pid
                    w[b + _FLAGS] = F_USED
                    w[b + _TOKEN] = token
                    return slot
            return self._take(pid, 0, token=token)

    def void(self, ticket: int, owner: int) -> None:
        """Drop a reservation nobody claimed (the child never started).

        Only ``owner`` itself does this: a copy of its finalizers that a forked
        child inherited must not drop the parent's reservations.
        """
        if ticket < 0 or os.getpid() != owner:
            return
        slot, serial = ticket % SLOTS, ticket // SLOTS
        w = self.words
        with self.lock:
            b = self._base(slot)
            flags = w[b + _FLAGS]
            if flags & F_PENDING and w[b + _OWNER] == owner and w[b + _SERIAL] == serial:
                self._free(slot)

    def claimed(self, ticket: int) -> bool:
        """Whether the reservation ``ticket`` is no longer pending (claimed or dropped)."""
        slot, serial = ticket % SLOTS, ticket // SLOTS
        b = self._base(slot)
        w = self.words
        return not (w[b + _FLAGS] & F_PENDING and w[b + _SERIAL] == serial)

    def void_all(self, owner: int) -> None:
        """Drop every reservation ``owner`` made that is still unclaimed (at its exit)."""
        if os.getpid() != owner:
            return
        w = self.words
        with self.lock:
            for slot in range(w[_HWM]):
                b = self._base(slot)
                if w[b + _FLAGS] & F_PENDING and w[b + _OWNER] == owner:
                    self._free(slot)

    def add_flag(self, slot: int, flag: int) -> None:
        with self.lock:
            self.words[self._base(slot) + _FLAGS] |= flag

    def release(self, slot: int, pid: int, *, lost: int = 0) -> bool:
        """Free this process's slot at close; returns True if it was a writer's.

        ``lost`` is the number of items put but never sent (cancel_join_thread).
        """
        w = self.words
        with self.lock:
            b = self._base(slot)
            flags = w[b + _FLAGS]
            if not flags & F_USED or w[b + _PID] != pid:
                return False
            w[b + _UNSENT] = lost
            if lost:
                w[_LOST] += 1
                w[_LOST_PID] = pid
                w[_LOST_UNSENT] = lost
            writer = _writerish(flags)
            if writer and not flags & F_CREATOR:
                w[_EVIDENCE] += 1
            self._free(slot)
            return writer

    def puts_index(self, slot: int) -> int:
        """Index in :attr:`words` of the written-items counter of ``slot`` (owner only)."""
        return self._base(slot) + _PUTS

    def unsent_index(self, slot: int) -> int:
        """Index in :attr:`words` of the unsent counter of ``slot`` (owner only)."""
        return self._base(slot) + _UNSENT

    def add_unsent(self, slot: int, delta: int) -> None:
        self.words[self._base(slot) + _UNSENT] += delta

    def unfinished_add(self, delta: int) -> int:
        """JoinableQueue counter (caller holds its condition's lock)."""
        self.words[_UNFINISHED] += delta
        return int(self.words[_UNFINISHED])

    # -- questions ----------------------------------------------------------
    def qsize(self) -> int:
        w = self.words
        with self.lock:
            total = w[_RETIRED]
            for slot in range(w[_HWM]):
                b = self._base(slot)
                if w[b + _FLAGS] & F_USED:
                    if w[b + _UNSENT] and not pid_alive(w[b + _PID], w[b + _TOKEN]):
                        self._bury(slot)  # its unsent items will never arrive
                        continue
                    total += w[b + _PUTS] + w[b + _UNSENT]
            return max(0, int(total - w[_GOT]))

    def scan(self, me: int) -> Scan:
        """Who can still put, seen from slot ``me`` (an iterating reader)."""
        w = self.words
        if not LINUX and not WINDOWS:
            reap_own_children()  # a dead child stays a zombie, alive to kill(0)
        with self.lock:
            writers = False
            creator_waiting = False
            for slot in range(w[_HWM]):
                b = self._base(slot)
                flags = w[b + _FLAGS]
                if not flags & F_USED or slot == me:
                    continue
                if flags & F_PENDING:
                    if pid_alive(w[b + _OWNER], w[b + _TOKEN]):
                        writers = True
                    else:  # the parent died before its child claimed the slot
                        self._free(slot)
                    continue
                if not pid_alive(w[b + _PID], w[b + _TOKEN]):
                    self._bury(slot)
                elif flags & F_CREATOR and not flags & F_PUT:
                    creator_waiting = True
                elif _writerish(flags):
                    writers = True
            if creator_waiting and w[_EVIDENCE]:
                creator_waiting = False
            return Scan(writers, creator_waiting, w[_LOST], w[_LOST_PID], w[_LOST_UNSENT])

    def _bury(self, slot: int) -> None:
        """Free the slot of a process that died without closing (lock held)."""
        w = self.words
        b = self._base(slot)
        flags = w[b + _FLAGS]
        if flags & F_PUT:
            w[_LOST] += 1
            w[_LOST_PID] = w[b + _PID]
            w[_LOST_UNSENT] = w[b + _UNSENT]
        if _writerish(flags) and not flags & F_CREATOR:
            w[_EVIDENCE] += 1
        self._free(slot)


def _writerish(flags: int) -> bool:
    """A holder that put, or that never read: it may put (more)."""
    return bool(flags & F_PUT or not flags & F_GOT)
