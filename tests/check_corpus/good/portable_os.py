# ruff: noqa
"""POSIX-only names used only where the code asks which platform it is on."""

import os
import signal
import subprocess
import sys

KILL = getattr(signal, "SIGKILL", signal.SIGTERM)
HANGUP = signal.SIGHUP if hasattr(signal, "SIGHUP") else None
FLAGS = subprocess.CREATE_NEW_PROCESS_GROUP if sys.platform == "win32" else 0

if os.name == "posix":
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)

try:
    from signal import SIGALRM
except ImportError:
    SIGALRM = None


def kill_group(proc):
    if sys.platform == "win32":
        proc.kill()
        return
    os.killpg(os.getpgid(proc.pid), signal.SIGKILL)


def fork_if_possible():
    if hasattr(os, "fork"):
        return os.fork()
    return None


def alarm(seconds):
    try:
        signal.alarm(seconds)
    except AttributeError:
        pass


def start(args):
    return subprocess.Popen(args, creationflags=FLAGS, start_new_session=False)
