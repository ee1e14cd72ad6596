# ruff: noqa
"""Names one OS lacks: fork (START-02), signals (SIG-01), process groups (SIG-07)."""

import os
import signal
from os import setsid  # expect: SIG-07
from signal import SIGUSR1, SIGINT  # expect: SIG-01


def child_stuff(pid):
    if os.fork() == 0:  # expect: START-02
        os._exit(0)
    os.forkpty()  # expect: START-02
    os.kill(pid, signal.SIGKILL)  # expect: SIG-01
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # expect: SIG-01
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.alarm(5)  # expect: SIG-01
    signal.pause()  # expect: SIG-01
    signal.setitimer(signal.ITIMER_REAL, 1.0)  # expect: SIG-01 SIG-01
    os.killpg(os.getpgid(pid), signal.SIGTERM)  # expect: SIG-07 SIG-07
    os.setsid()  # expect: SIG-07
    print(signal.Signals.SIGCHLD, signal.SIGBREAK)  # expect: SIG-01 SIG-01
