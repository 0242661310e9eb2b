#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal, waits until its output contains a prompt, types an
answer, and prints everything the terminal showed. Exit status: the command's.

    pty-answer.py PROMPT ANSWER [--hook HOOK] -- CMD ARGS...

Used by the tests to drive `zflash flash` without --yes, as a person at a terminal would.
With --hook, HOOK runs (through sh -c) after the prompt appears and before the answer is
typed: what happens to the drive while the operator reads the question. If HOOK fails, the
answer is never typed: the command is killed (nothing is confirmed) and this exits 99 with
the hook's failure on stderr.
"""
import os
import pty
import select
import signal
import subprocess
import sys
import time

prompt, answer = sys.argv[1].encode(), sys.argv[2].encode()
sep = sys.argv.index("--")
hook = sys.argv[4] if sys.argv[3:5] and sys.argv[3] == "--hook" and sep > 4 else None
cmd = sys.argv[sep + 1 :]
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
        if hook is not None:
            r = subprocess.run(["sh", "-c", hook], capture_output=True, text=True)
            if r.returncode != 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                sys.stderr.write(f"hook failed ({r.returncode}): {r.stderr}{r.stdout}")
                sys.stdout.write(seen.decode("utf-8", "replace"))
                sys.exit(99)
        os.write(fd, answer + b"\r")
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode("utf-8", "replace"))
sys.stdout.flush()
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
