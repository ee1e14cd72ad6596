# ruff: noqa
"""Popen arguments one OS lacks (SUB-06, SIG-07) and POSIX shell syntax (SUB-18)."""

import os
import subprocess

subprocess.Popen(["ls"], preexec_fn=os.nice)  # expect: SUB-06
subprocess.run(["ls"], start_new_session=True)  # expect: SIG-07
subprocess.run(["ls"], process_group=0)  # expect: SIG-07
subprocess.run(["ls"], pass_fds=(3,))  # expect: SUB-06
subprocess.run(["ls"], creationflags=subprocess.CREATE_NO_WINDOW)  # expect: SUB-06
subprocess.run("echo $HOME", shell=True)  # expect: SUB-18
subprocess.run("echo ${HOME}/bin", shell=True)  # expect: SUB-18
subprocess.check_output("echo $(date)", shell=True)  # expect: SUB-18
subprocess.call("echo `date`", shell=True)  # expect: SUB-18
subprocess.run("cd build; make", shell=True)  # expect: SUB-18
subprocess.run("export CC=clang && make", shell=True)  # expect: SUB-18
subprocess.run("grep 'a b' file.txt", shell=True)  # expect: SUB-18
subprocess.run("ls ~/projects", shell=True)  # expect: SUB-18
subprocess.run(f"echo $USER {os.getpid()}", shell=True)  # expect: SUB-18
os.system("rm -rf $TMPDIR/x")  # expect: SUB-18
subprocess.getoutput("ls; pwd")  # expect: SUB-18
