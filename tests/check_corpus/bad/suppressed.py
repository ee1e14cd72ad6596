# ruff: noqa
"""Suppression comments: ignore everything, one id, a list of ids, and a wrong id."""

import os
import signal
import subprocess

os.kill(0, signal.SIGKILL)  # compat: ignore
os.kill(0, signal.SIGHUP)  # compat: ignore[SIG-01]
os.killpg(0, signal.SIGUSR1)  # compat: ignore[SIG-07, sig-01]
os.killpg(0, signal.SIGUSR2)  # compat: ignore[SIG-07]  expect: SIG-01
subprocess.run("echo $HOME", shell=True)  # compat: ignore[MAIN-01]  expect: SUB-18
