"""A checker finding, and the fix each registry id suggests."""

from __future__ import annotations

from dataclasses import dataclass

GUARD = 'if __name__ == "__main__":'

#: Registry id -> the fix the checker suggests (one sentence, imperative).
FIXES = {
    "MAIN-01": f"move it under `{GUARD}` (or into a function called only from there)",
    "MAIN-03": f"define the function at module level, above `{GUARD}`",
    "MAIN-05": (
        "pass a function defined at module level (bind arguments with functools.partial "
        "of a module-level function)"
    ),
    "MAIN-10": (
        f"call set_start_method() under `{GUARD}`, or use multiprocessing.get_context(method) "
        "(or compat.get_context) instead of the global"
    ),
    "START-02": (
        "start children with multiprocessing or compat.spawn_child, or guard the call with "
        "hasattr(os, 'fork')"
    ),
    "SIG-01": (
        "guard POSIX-only signal code with a platform check or getattr(signal, NAME, None); "
        "stop children with Process.kill()/Popen.kill() and time out with threading.Timer"
    ),
    "SIG-07": (
        "use compat.Popen/compat.run, whose handle stops the child's whole tree on every OS, "
        "or guard the call with a platform check"
    ),
    "SUB-06": "guard the argument with a platform check, or leave the setup to the child program",
    "SUB-18": (
        "pass a list without shell=True and expand in Python (os.environ, "
        "os.path.expanduser), or give each platform its own command"
    ),
    "IPC-01": "use compat.Queue (qsize() works on every OS), or q.empty(), which works everywhere",
}


@dataclass(frozen=True)
class Finding:
    """One problem: a registry id, where (1-based line and column), what, and the fix."""

    id: str
    path: str
    line: int
    col: int
    message: str
    fix: str

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "message": self.message,
            "fix": self.fix,
        }
