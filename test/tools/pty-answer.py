#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal, waits until its output contains a prompt, types an
answer, and prints everything the terminal showed. Exit status: the command's.

    pty-answer.py PROMPT ANSWER -- CMD ARGS...

Used by the tests to drive `zflash flash` without --yes, as a person at a terminal would.
"""
import os
import pty
import select
import sys
import time

prompt, answer = sys.argv[1].encode(), sys.argv[2].encode()
cmd = sys.argv[sys.argv.index("--") + 1 :]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)

seen = b""
sent = False
deadline = time.time() + 120
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 0.2)
    if ready:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    if not sent and prompt in seen:
        os.write(fd, answer + b"\r")
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode("utf-8", "replace"))
sys.stdout.flush()
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
