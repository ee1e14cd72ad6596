"""``compat.Popen``: subprocess that owns the whole process tree.

:class:`Popen` is a subclass of :class:`subprocess.Popen` (same arguments, attributes
and methods) with the differences below. It adds only ``start_new_session`` (POSIX)
or ``creationflags`` (Windows), never ``preexec_fn``, so CPython keeps its vfork
fast path on Linux (3.10+; SUB-08). subprocess (3.8-3.13) does not take its
``posix_spawn`` path when a new session is requested, so on macOS, where that
path is the fast one, compat starts children with fork+exec.

- The child is the root of a tree compat can stop: POSIX starts it in a new
  session (its pid is its process-group id), Windows in a new process group
  inside a kill-on-close Job Object (see :mod:`compat._native.tree`).
  :meth:`Popen.kill_tree`, :meth:`Popen.terminate_tree` and :meth:`Popen.interrupt`
  reach every process of it. Because the child is not in the terminal's
  foreground group, a terminal Ctrl+C reaches only the parent; compat forwards it
  (see :meth:`Popen.wait`).
- ``with Popen(...) as p:`` never leaves the tree running: on normal exit it
  waits for the child as the standard library does, then kills what the child
  left behind (background processes still in its group or job); when the block
  raises, it kills the tree first.
- The program is found by the rules of :mod:`compat._run.which` (PATH and, on
  Windows, PATHEXT; ``env['PATH']`` on every OS). Windows resolves it in the
  parent; POSIX leaves the search to the exec, which follows the same rules, and
  looks the program up itself only to explain a failure. A ``.bat``/``.cmd``
  program gets an explicit cmd.exe command line with unsafe arguments refused
  (:mod:`compat._run.cmdline`).
- Text mode decodes UTF-8 with ``errors="replace"`` unless told otherwise, and
  decodes in the calling thread on every OS (:mod:`compat._run.args`).
- ``communicate(input, timeout=...)`` returns on time on every OS: Windows writes
  ``input`` from a thread (:mod:`compat._run.feeder`), where the standard library
  writes it in the caller before its timeout starts.
- A start interrupted once the child exists (KeyboardInterrupt included) kills and
  reaps the child before the exception propagates; on Windows it would otherwise
  stay suspended forever.
- Bad arguments raise before anything starts (:mod:`compat._run.args`).
- ``die_with_parent=True`` ends the tree when the parent dies, however it dies
  (POSIX: a guardian process, :mod:`compat._native.guardian`; Windows: the job).

``compat.run``, which runs a program in a :class:`Popen`, is in :mod:`compat._run.run`.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator, Mapping

from .._native import tree
from .._platform import WINDOWS
from .._stdlib import check_popen_hooks, skip_popen_sigint_wait
from .args import (
    check_args,
    check_cwd,
    check_env,
    check_group_options,
    check_timeout,
    text_settings,
)
from .feeder import StdinFeeder
from .which import explain_start_error, locate_for_windows, program_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any, Optional, Union

    from .._native.guardian import Guardian

__all__ = ["INTERRUPT_GRACE_SECONDS", "Popen"]

#: How long a forwarded Ctrl+C is given before the caller's KeyboardInterrupt
#: continues; the standard library's ``_sigint_wait_secs``.
INTERRUPT_GRACE_SECONDS = 0.25

# compat.Popen overrides two of subprocess.Popen's internals (see compat._stdlib):
# fail at import, not by quietly losing the behaviour, if a CPython renames them.
check_popen_hooks()

if TYPE_CHECKING:
    _PopenBase = subprocess.Popen[Any]
else:
    _PopenBase = subprocess.Popen


class Popen(_PopenBase):
    """:class:`subprocess.Popen` whose child is the root of a process tree compat owns.

    Arguments are the standard library's. ``start_new_session`` defaults to True and
    may not be False, and ``process_group`` may only be 0 (POSIX 3.11+: the child
    keeps the controlling terminal), because compat needs the child in a group of
    its own. Text mode (``text``, ``universal_newlines``, ``encoding`` or
    ``errors``) uses UTF-8 and ``errors="replace"`` for what is not given.

    POSIX: the child is a session leader, so it has no controlling terminal
    (a program that opens ``/dev/tty`` fails instead of waiting for input). Its
    process group is the tree. Without ``die_with_parent`` nothing kills the tree
    if the parent dies (PROC-05).
    Windows: the child is in a new process group (Ctrl+C is disabled in it; only
    Ctrl+Break reaches it) and in a Job Object: :meth:`kill_tree` terminates the
    job, and the job also ends the tree when its last handle closes: at the end of
    the ``with`` block (:meth:`close_tree`), when this object is garbage-collected,
    or when the parent exits, however it exits. So on Windows the tree dies with
    its parent even without ``die_with_parent``: an OS difference compat keeps.

    ``die_with_parent=True`` (a bool, else TypeError): the tree ends within
    milliseconds of the parent's death, whatever kills it (SIGKILL included).
    Windows: the job above does it. POSIX: a guardian process SIGKILLs the group
    (:mod:`compat._native.guardian`: ~9 ms to start, once per parent; then ~0.1 ms
    per start; vfork stays), also after the child exited while members remain,
    until :meth:`close_tree`; processes that left the group (``setsid``) are not.
    """

    __module__ = "compat"

    _tree: Optional[tree.ProcessTree] = None
    _interrupt_forwarded = False
    _decoding: Optional[tuple[str, str]] = None
    _stdin_feeder: Optional[StdinFeeder] = None
    _communicating = False
    _guardian: Optional[Guardian] = None  # POSIX die_with_parent, until close_tree()
    _reap_reported = False

    def __init__(
        self,
        args: Any,
        bufsize: int = -1,
        executable: Any = None,
        stdin: Any = None,
        stdout: Any = None,
        stderr: Any = None,
        preexec_fn: Any = None,
        close_fds: bool = True,
        shell: bool = False,
        cwd: Any = None,
        env: Optional[Mapping[Any, Any]] = None,
        universal_newlines: Optional[bool] = None,
        startupinfo: Any = None,
        creationflags: int = 0,
        restore_signals: bool = True,
        start_new_session: bool = True,
        pass_fds: Any = (),
        *,
        text: Optional[bool] = None,
        encoding: Optional[str] = None,
        errors: Optional[str] = None,
        die_with_parent: bool = False,
        **kwargs: Any,
    ) -> None:
        args = _checked_args(args)
        process_group = kwargs.pop("process_group", None)
        _check_options(cwd, env, start_new_session, process_group, pass_fds)
        # Running before the child exists: registering it below is one write.
        guardian = _guardian_for(die_with_parent)
        text_mode, encoding, errors = text_settings(text, universal_newlines, encoding, errors)
        user_args = args
        if WINDOWS:
            args, executable = _windows_command(args, executable, shell, cwd, env)
        kwargs.update(tree.tree_popen_kwargs(creationflags, process_group))
        kwargs.setdefault("creationflags", creationflags)
        try:
            try:
                super().__init__(
                    args,
                    bufsize,
                    executable,
                    stdin,
                    stdout,
                    stderr,
                    preexec_fn,
                    close_fds,
                    shell,
                    cwd,
                    env,
                    None,  # universal_newlines: folded into encoding/errors above
                    startupinfo,
                    restore_signals=restore_signals,
                    pass_fds=pass_fds,
                    encoding=encoding if text_mode else None,
                    errors=errors if text_mode else None,
                    **kwargs,
                )
            except OSError as exc:
                program = program_name(user_args, executable, shell)
                better = explain_start_error(exc, program, cwd, env)
                if better is None:
                    raise
                raise better from exc
            if guardian is not None:
                self._guardian = guardian
                guardian.register(self.pid)
            self.args = user_args  # not the cmd.exe line compat may have built
            if text_mode and encoding is not None and errors is not None:
                self._decoding = (encoding, errors)
            # The standard library's own grace wait after a Ctrl+C assumes the child
            # got the Ctrl+C too; this one did not (it is not in the terminal's
            # group), so compat forwards it first and then waits (_forward_interrupt).
            skip_popen_sigint_wait(self)
            self._tree = tree.adopt_tree(self, creationflags)
        except BaseException:
            # From the moment the child exists until its tree is owned, any
            # exception (a Ctrl+C between CreateProcess and the job, a failed
            # adoption, one inside the standard library after the fork) must not
            # leave it behind: on Windows it is still suspended, and nothing would
            # ever resume or end it.
            self._end_unowned_child()
            self._unguard()
            raise

    def _end_unowned_child(self) -> None:
        """Kill and reap the child of a start that failed after creating it."""
        # The standard library sets pid once the child exists (Windows: with its
        # handle, which kill() uses); before that there is nothing to end.
        if getattr(self, "pid", None) is None or self.returncode is not None:
            return
        try:
            self.kill()  # POSIX SIGKILL; Windows TerminateProcess, suspended or not
        except OSError:
            return  # it cannot be ended: waiting for it could take forever
        subprocess.Popen.wait(self)

    # -- the tree -------------------------------------------------------------

    def interrupt(self) -> None:
        """Send the tree what a Ctrl+C would: POSIX SIGINT to the child's process
        group; Windows CTRL_BREAK_EVENT to its process group (only processes
        attached to the caller's console receive it; Python children get SIGBREAK,
        whose default action ends them). Windows: a child started with
        ``CREATE_NO_WINDOW``, ``DETACHED_PROCESS`` or ``CREATE_NEW_CONSOLE`` is on
        no console of the caller's, so this raises ValueError naming the flag (use
        :meth:`terminate_tree` or :meth:`kill_tree`). After :meth:`close_tree`
        this, :meth:`terminate_tree` and :meth:`kill_tree` do nothing."""
        if self._tree is not None:
            self._tree.interrupt()

    def terminate_tree(self) -> None:
        """Ask every process of the tree to end. POSIX: SIGTERM to the process group
        and to descendants that left it (their handlers run). Windows: there is no
        catchable request (SIG-06), so this is :meth:`kill_tree`."""
        if self._tree is not None:
            self._tree.terminate()

    def kill_tree(self) -> None:
        """End every process of the tree now. POSIX: the group and the descendants
        that left it (found through ``/proc`` on Linux, psutil elsewhere when
        installed) are stopped, then sent SIGKILL, so none can fork away meanwhile;
        ``returncode`` becomes -9. Windows: TerminateJobObject; ``returncode``
        becomes 1, as after :meth:`subprocess.Popen.kill`."""
        if self._tree is not None:
            self._tree.kill()

    # -- waiting and reading --------------------------------------------------

    def wait(self, timeout: Optional[float] = None) -> int:
        """Wait for the child like :meth:`subprocess.Popen.wait`; a negative or
        non-numeric timeout raises ValueError/TypeError. On KeyboardInterrupt the
        tree gets :meth:`interrupt` and up to 0.25 s to exit before the
        KeyboardInterrupt continues (the standard library only waits, because its
        child shared the terminal's process group and got the Ctrl+C too)."""
        # communicate() in the standard library ends with wait(remaining time),
        # which is negative when the time is up: that must be TimeoutExpired, as
        # the standard library's wait() makes it, not the caller's ValueError.
        if timeout is not None and not self._communicating:
            check_timeout(timeout)
        try:
            code = super().wait(timeout)
        except KeyboardInterrupt:
            self._forward_interrupt()
            raise
        if self._guardian is not None:
            self._report_reaped()
        return code

    def poll(self) -> Optional[int]:
        code = super().poll()
        if code is not None and self._guardian is not None:
            self._report_reaped()
        return code

    def communicate(self, input: Any = None, timeout: Optional[float] = None) -> tuple[Any, Any]:
        """:meth:`subprocess.Popen.communicate`, decoding in the calling thread on
        every OS (on Windows the standard library decodes in reader threads, where
        a decode error kills the thread and the output becomes None: SUB-09).

        The timeout holds on every OS, also while a child does not read its stdin.
        POSIX: as in the standard library, which polls stdin with the other pipes.
        Windows: with a timeout, ``input`` is written (and stdin closed) by a
        :class:`compat._run.feeder.StdinFeeder` thread, because the standard
        library writes it in the calling thread before its timeout starts;
        ``stdin`` is then None, as the thread owns the pipe.
        """
        if timeout is not None:
            check_timeout(timeout)
            if WINDOWS:
                input = self._feed_stdin_from_thread(input)
        self._communicating = True
        try:
            stdout, stderr = super().communicate(input, timeout)
        except KeyboardInterrupt:
            self._forward_interrupt()
            raise
        finally:
            self._communicating = False
        feeder = self._stdin_feeder
        if feeder is not None and feeder.error is not None:
            error, feeder.error = feeder.error, None
            raise error  # what writing input raised, as the standard library raises it
        return self._decode(stdout), self._decode(stderr)

    def _feed_stdin_from_thread(self, input: Any) -> Any:
        """Hand the stdin pipe and ``input`` to a :class:`StdinFeeder`; return the
        input left for the standard library's communicate() (None once taken).

        Chosen on Windows only (see :meth:`communicate`); runs on any OS."""
        stdin = self.stdin
        if stdin is None or stdin.closed:
            # Nothing to feed, or fed already: the standard library answers, with
            # ValueError for input after communication started.
            return input
        self._stdin_feeder = StdinFeeder(stdin, input)  # a bad input type raises here
        # The standard library must neither write nor close stdin now: a close()
        # would wait for the lock that a blocked write in the feeder holds.
        self.stdin = None
        return None

    def _readerthread(self, fh: IO[Any], buffer: list[Any]) -> None:
        # Overrides a private hook (compat._stdlib: Popen._readerthread), called by the
        # standard library's Windows communicate() only: read bytes
        # and leave decoding to communicate(), in the caller's thread, as POSIX does.
        raw = fh.buffer if isinstance(fh, io.TextIOWrapper) else fh
        try:
            buffer.append(raw.read())
        finally:
            fh.close()

    def _decode(self, data: Optional[Union[str, bytes]]) -> Optional[Union[str, bytes]]:
        if self._decoding is not None and isinstance(data, bytes):
            text = data.decode(*self._decoding)
            return text.replace("\r\n", "\n").replace("\r", "\n")
        return data

    def _forward_interrupt(self) -> None:
        if self._interrupt_forwarded or self.returncode is not None:
            return
        self._interrupt_forwarded = True
        try:
            self.interrupt()
        except (OSError, ValueError):  # unreachable group, or a child off our console
            return
        try:
            subprocess.Popen.wait(self, INTERRUPT_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            pass

    # -- ending ---------------------------------------------------------------

    def __exit__(self, exc_type: Any, value: Any, traceback: Any) -> None:
        try:
            if exc_type is not None and self.returncode is None:
                if issubclass(exc_type, KeyboardInterrupt):
                    self._forward_interrupt()
                if self.poll() is None:
                    self.kill_tree()
            super().__exit__(exc_type, value, traceback)
        finally:
            if self.returncode is None and self._tree is not None:
                # The standard library returns early on KeyboardInterrupt; the
                # child was killed above, so this wait is short.
                subprocess.Popen.wait(self)
            self.close_tree()

    def close_tree(self) -> None:
        """Kill what is left of the tree after the child has exited and give up
        ownership (the ``with`` block does this). POSIX: SIGKILL to the process
        group. Windows: closes the kill-on-close job."""
        if self._tree is not None:
            self._tree.close()
        self._unguard()

    # -- die_with_parent (POSIX) ------------------------------------------------

    def _report_reaped(self) -> None:
        # Reaped (or dropped unreaped: the standard library reaps it later, unseen).
        # The group id may be reused once the group is empty, so the guardian
        # keeps the group only while members remain.
        guardian = self._guardian
        if guardian is not None and not self._reap_reported:
            self._reap_reported = True
            guardian.reaped(self.pid)

    def _unguard(self) -> None:
        guardian, self._guardian = self._guardian, None
        if guardian is not None:
            guardian.release(self.pid)

    def __del__(self) -> None:
        self._report_reaped()
        super().__del__()


def _guardian_for(die_with_parent: object) -> Optional[Guardian]:
    if die_with_parent is False:  # the default: not even an import
        return None
    from .._native.guardian import guardian_for

    return guardian_for(die_with_parent, windows=WINDOWS)


def _checked_args(args: Any) -> Any:
    """``args`` after the checks of :func:`compat._run.args.check_args` (an iterator
    is read into a list first)."""
    # The common case (a list of str) is checked inline: this runs once per
    # program started (bench/bench_run.py).
    if type(args) is list and args and args[0] and all(type(a) is str for a in args):
        return args
    if isinstance(args, Iterator):  # read once here, not once per check
        args = list(args)
    check_args(args, windows=WINDOWS)
    return args


def _check_options(
    cwd: Any,
    env: Optional[Mapping[Any, Any]],
    start_new_session: bool,
    process_group: Any,
    pass_fds: Any,
) -> None:
    """Reject a bad ``cwd``, ``env``, process-group request or Windows ``pass_fds``
    before anything starts (each check is skipped for its default)."""
    if cwd is not None:
        check_cwd(cwd)
    if env is not None:
        check_env(env, windows=WINDOWS)
    if process_group is not None or start_new_session is not True:
        check_group_options(start_new_session, process_group)
    if WINDOWS and pass_fds:
        # subprocess only asserts this, and the assert vanishes under -O (SUB-06).
        raise ValueError("pass_fds is not supported on Windows; use startupinfo handle_list")


def _windows_command(
    args: Any, executable: Any, shell: bool, cwd: Any, env: Optional[Mapping[Any, Any]]
) -> tuple[Any, Any]:
    """(args, executable) for CreateProcess: the program found in the parent by the
    rules of :mod:`compat._run.which` (a batch file wrapped in a checked cmd.exe
    command line), unchanged when there is none to look up."""
    program = program_name(args, executable, shell)
    if program is None:
        return args, executable
    return locate_for_windows(program, args, cwd, env)
