"""The checker's OS rules, as pure functions of a resolved name or a call's keywords:
POSIX-only functions and signals (START-02, SIG-01, SIG-07), platform-only Popen
arguments (SUB-06, SIG-07) and POSIX shell syntax in ``shell=True`` commands (SUB-18)."""

from __future__ import annotations

import ast

from .shell import posix_only_syntax

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

FORKS = {"fork", "forkpty"}
GROUP_FUNCTIONS = {"killpg", "getpgid", "setsid", "setpgid", "getsid", "setpgrp", "getpgrp"}
POSIX_SIGNALS = {
    "SIGKILL", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGCHLD", "SIGCLD", "SIGQUIT",
    "SIGPIPE", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGWINCH", "SIGXCPU",
    "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGIO", "SIGPOLL", "SIGSYS", "SIGTRAP", "SIGURG",
    "SIGBUS", "SIGPWR", "SIGIOT", "SIGEMT", "SIGINFO", "SIGSTKFLT", "SIGRTMIN", "SIGRTMAX",
    "ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF",
}  # fmt: skip
POSIX_SIGNAL_FUNCTIONS = {
    "alarm", "pause", "setitimer", "getitimer", "siginterrupt", "pthread_kill",
    "pthread_sigmask", "sigpending", "sigwait", "sigwaitinfo", "sigtimedwait",
}  # fmt: skip
WINDOWS_SIGNALS = {"SIGBREAK", "CTRL_C_EVENT", "CTRL_BREAK_EVENT"}

SUBPROCESS_CALLS = {
    "subprocess.Popen", "subprocess.run", "subprocess.call", "subprocess.check_call",
    "subprocess.check_output", "asyncio.create_subprocess_exec",
    "asyncio.create_subprocess_shell",
}  # fmt: skip
#: Calls that always run their command through the shell (cmd.exe on Windows).
SHELL_CALLS = {
    "os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput",
    "asyncio.create_subprocess_shell",
}  # fmt: skip
POSIX_ONLY_ARGS = {
    "preexec_fn": "Popen raises ValueError on Windows",
    "user": "Popen raises ValueError on Windows",
    "group": "Popen raises ValueError on Windows",
    "extra_groups": "Popen raises ValueError on Windows",
    "pass_fds": "Windows refuses it with an AssertionError (ignored under python -O)",
}
WINDOWS_ONLY_ARGS = ("creationflags", "startupinfo")


def name_problem(qualname: str) -> Optional[tuple[str, str]]:
    """(registry id, message) when ``qualname`` (``os.fork``, ``signal.SIGKILL``) is a
    name that one OS lacks, else None."""
    module, _, attr = qualname.rpartition(".")
    if module == "signal.Signals":
        module = "signal"
    if module == "os" and attr in FORKS:
        return "START-02", f"os.{attr}() does not exist on Windows (AttributeError)"
    if module == "os" and attr in GROUP_FUNCTIONS:
        return "SIG-07", f"os.{attr}() does not exist on Windows (AttributeError)"
    if module == "signal" and attr in POSIX_SIGNALS:
        return "SIG-01", f"signal.{attr} does not exist on Windows (AttributeError)"
    if module == "signal" and attr in POSIX_SIGNAL_FUNCTIONS:
        return "SIG-01", f"signal.{attr}() does not exist on Windows (AttributeError)"
    if module == "signal" and attr in WINDOWS_SIGNALS:
        return "SIG-01", f"signal.{attr} exists only on Windows (AttributeError elsewhere)"
    return None


def literal_text(node: Optional[ast.AST]) -> Optional[str]:
    """The text of a string literal, an f-string (each replacement field as ``x``) or a
    sum of them; None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(literal_text(v) or "x" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = literal_text(node.left), literal_text(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def _is_const(node: ast.AST, *values: object) -> bool:
    return isinstance(node, ast.Constant) and any(
        node.value is v or (type(node.value) is type(v) and node.value == v) for v in values
    )


def _empty(node: ast.AST) -> bool:
    return _is_const(node, None) or (
        isinstance(node, (ast.Tuple, ast.List, ast.Set)) and not node.elts
    )


def _known(node: ast.AST, names_too: bool = False) -> bool:
    return names_too or not isinstance(node, ast.Name)


def call_problems(
    call: ast.Call, qualname: str, compat_call: bool
) -> list[tuple[ast.AST, str, str]]:
    """(node, registry id, message) for each platform-only argument of a call that
    starts a program: ``subprocess.*``, ``asyncio.create_subprocess_*``, ``os.system``
    and ``compat.run``/``compat.Popen`` (``compat_call``), which start their own
    process group on every OS and so are not told about ``start_new_session``."""
    qualname = qualname.replace("asyncio.subprocess.", "asyncio.")
    if not (compat_call or qualname in SUBPROCESS_CALLS or qualname in SHELL_CALLS):
        return []
    found: list[tuple[ast.AST, str, str]] = []
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    # A variable may hold a per-platform value (FLAGS = ... if WINDOWS else 0): only a
    # function given as preexec_fn is known to be there whatever the platform.
    for arg, effect in POSIX_ONLY_ARGS.items():
        value = keywords.get(arg)
        if value is not None and not _empty(value) and _known(value, arg == "preexec_fn"):
            found.append((value, "SUB-06", f"{arg}= is POSIX-only: {effect}"))
    for arg in WINDOWS_ONLY_ARGS:
        value = keywords.get(arg)
        if value is not None and not _empty(value) and not _is_const(value, 0) and _known(value):
            message = f"{arg}= is Windows-only: Popen raises ValueError on POSIX"
            found.append((value, "SUB-06", message))
    if not compat_call:
        value = keywords.get("start_new_session")
        if value is not None and _is_const(value, True):
            found.append(
                (value, "SIG-07", "start_new_session=True is silently ignored on Windows, "
                 "where the child stays in the parent's console group")
            )  # fmt: skip
        value = keywords.get("process_group")
        if value is not None and not _is_const(value, None):
            found.append(
                (value, "SIG-07", "process_group= is silently ignored on Windows, where "
                 "the child stays in the parent's process group")
            )  # fmt: skip
    shell = keywords.get("shell")
    if qualname in SHELL_CALLS or (shell is not None and _is_const(shell, True)):
        command = call.args[0] if call.args else keywords.get("args", keywords.get("cmd"))
        text = literal_text(command)
        syntax = posix_only_syntax(text) if text is not None else []
        if command is not None and syntax:
            found.append(
                (command, "SUB-18", f"the shell command uses POSIX shell syntax "
                 f"({', '.join(syntax)}) that cmd.exe does not understand on Windows")
            )  # fmt: skip
    return found
