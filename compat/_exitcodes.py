"""One exit-code convention on every OS: ``>= 0`` for an exit, ``-N`` for signal N.

POSIX already works this way. Windows has no signals: ``TerminateProcess`` sets
whatever code the caller chose (multiprocessing uses 0x10000 and reports -15 for
both ``terminate()`` and ``kill()``), and crashes end with NTSTATUS codes such as
0xC0000005. :func:`normalize_exitcode` maps those to the POSIX signal a Linux or
macOS user would have seen, so ``exitcode == -11`` means "segfault" everywhere.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

SIGINT, SIGILL, SIGABRT, SIGFPE, SIGKILL, SIGSEGV, SIGTERM = 2, 4, 6, 8, 9, 11, 15

#: Windows NTSTATUS exit codes of crashed processes, and the POSIX signal that
#: reports the same failure. Values as GetExitCodeProcess returns them (unsigned).
WINDOWS_CRASH_CODES = {
    0xC0000005: SIGSEGV,  # STATUS_ACCESS_VIOLATION
    0xC00000FD: SIGSEGV,  # STATUS_STACK_OVERFLOW
    0xC0000006: SIGSEGV,  # STATUS_IN_PAGE_ERROR
    0xC000001D: SIGILL,  # STATUS_ILLEGAL_INSTRUCTION
    0xC0000096: SIGILL,  # STATUS_PRIVILEGED_INSTRUCTION
    0xC0000094: SIGFPE,  # STATUS_INTEGER_DIVIDE_BY_ZERO
    0xC000008E: SIGFPE,  # STATUS_FLOAT_DIVIDE_BY_ZERO
    0xC0000409: SIGABRT,  # STATUS_STACK_BUFFER_OVERRUN: abort()/__fastfail in the MSVC CRT
    0xC000013A: SIGINT,  # STATUS_CONTROL_C_EXIT: ended by Ctrl+C/Ctrl+Break
}

#: The code multiprocessing passes to TerminateProcess (popen_spawn_win32.TERMINATE).
MP_TERMINATE_CODE = 0x10000


def normalize_exitcode(raw: Optional[int], *, windows: bool, killed: bool = False) -> Optional[int]:
    """Map a raw exit code to compat's convention (None while still running).

    ``windows`` says the code came from Windows; ``killed`` that compat itself
    asked for ``kill()`` (so the -15 multiprocessing reports becomes -9, as on POSIX).
    """
    if raw is None or not windows:
        return raw
    if raw in (-SIGTERM, MP_TERMINATE_CODE):
        return -SIGKILL if killed else -SIGTERM
    unsigned = raw & 0xFFFFFFFF
    signal = WINDOWS_CRASH_CODES.get(unsigned)
    if signal is not None:
        return -signal
    return raw
