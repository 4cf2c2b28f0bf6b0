"""Run the `dgdr` command with standard error on a pseudo-terminal, as a user's shell does."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios


def run_with_terminal_stderr(argv: list[str], *, expected_rc: int) -> str:
    """Run `dgdr argv` with standard error on a pseudo-terminal and return what it wrote there.

    The exit status must be `expected_rc`.
    """
    master, terminal = pty.openpty()
    # A new pseudo-terminal is 0 columns wide, and tqdm draws nothing in 0 columns.
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "dgdr_kernel", *argv], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=terminal
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO once every process holding the terminal has exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.wait() == expected_rc
    return b"".join(chunks).decode()
