#!/usr/bin/env python3
"""Runs a program with a pseudo-terminal as its controlling terminal (test-only, used by src/pty.ts).

argv: pty_bridge.py PROGRAM [ARGS...]
stdout: everything the program wrote to the terminal, byte for byte.
stdin:  one JSON object per line, {"send": "<text>", "echoWaitMs": N}: type <text> into the terminal,
        first waiting up to N ms for the program to switch echo off (as a password prompt does), so a
        PIN answered right after its prompt is never echoed by a terminal that was still echoing.
stderr: the last line is {"exitCode": N, "signal": S|null}; anything before it is the bridge's own errors.
"""
import json
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
import fcntl


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: pty_bridge.py PROGRAM [ARGS...]", file=sys.stderr)
        return 2
    argv = sys.argv[1:]
    pid, master = pty.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        except OSError as err:
            os.write(2, f"cannot run {argv[0]}: {err.strerror}\n".encode())
        os._exit(127)

    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))

    def terminate(signum, _frame):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)

    stdin = sys.stdin.fileno()
    stdin_open = True
    pending_input = b""
    sends = []  # [(bytes, deadline)], sent in order
    status = None
    master_open = True
    drain_until = None

    def echo_off() -> bool:
        try:
            # On Linux, termios read through the master are the slave's: what the program set.
            return not (termios.tcgetattr(master)[3] & termios.ECHO)
        except termios.error:
            return True

    while True:
        now = time.monotonic()
        while sends and (echo_off() or now >= sends[0][1]):
            data = sends.pop(0)[0]
            try:
                os.write(master, data)
            except OSError:
                pass

        watch = [master] if master_open else []
        if stdin_open:
            watch.append(stdin)
        if watch:
            ready = select.select(watch, [], [], 0.02)[0]
        else:
            ready = []
            time.sleep(0.02)

        if master in ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                chunk = b""
            if chunk:
                os.write(1, chunk)
            else:
                master_open = False

        if stdin in ready:
            chunk = os.read(stdin, 65536)
            if not chunk:
                stdin_open = False
            pending_input += chunk
            while b"\n" in pending_input:
                line, pending_input = pending_input.split(b"\n", 1)
                if line.strip():
                    message = json.loads(line)
                    wait = max(0, int(message.get("echoWaitMs", 0))) / 1000
                    sends.append((message["send"].encode(), time.monotonic() + wait))

        if status is None:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                status = raw
                # Output may still sit in the terminal; a grandchild may hold it open forever, so drain briefly.
                drain_until = time.monotonic() + 0.5
        if status is not None and (not master_open or time.monotonic() >= (drain_until or 0)):
            break

    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        result = {"exitCode": 128 + sig, "signal": signal.Signals(sig).name}
    else:
        result = {"exitCode": os.WEXITSTATUS(status), "signal": None}
    sys.stderr.write("\n" + json.dumps(result) + "\n")
    sys.stderr.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
