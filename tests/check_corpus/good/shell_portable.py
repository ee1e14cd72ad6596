# ruff: noqa
"""Shell command lines both /bin/sh and cmd.exe understand, and no shell at all."""

import os
import subprocess

subprocess.run("echo hello && echo world 2>&1 | sort > out.txt", shell=True)
subprocess.run('python -c "import sys; print(sys.argv)" "it\'s"', shell=True)
subprocess.call("make all || exit 1", shell=True)
os.system("git status")
subprocess.run(["echo", "$HOME; ls ~/x"])  # no shell: the text is an argument
subprocess.run("echo $HOME", shell=False)
