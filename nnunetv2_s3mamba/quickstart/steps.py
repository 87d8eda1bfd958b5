"""Run one of nnU-Net's console tools as a quickstart step: full output to a log file, a few lines to the screen.

nnU-Net prints hundreds of lines per run; the user needs the progress (epochs, Dice) while it runs and, when a
step fails, the command and the end of its output without having to look for a log file.
"""
from __future__ import annotations

import re
import shlex
import subprocess
from collections import deque
from pathlib import Path
from typing import Mapping, Sequence

TAIL_LINES = 40
NNUNET_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+: ")


class StepFailed(RuntimeError):
    """A console tool exited non-zero; the message holds the command, its exit code and the end of its output."""


def run_step(command: Sequence[str], env: Mapping[str, str], log_file: Path, echo: str | None = None) -> None:
    """Run `command`, teeing its merged stdout/stderr into `log_file`; print lines matching the regex `echo`."""
    pattern = re.compile(echo) if echo else None
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "w") as log, subprocess.Popen(
        list(command), env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
    ) as process:
        for line in process.stdout:
            log.write(line)
            tail.append(line.rstrip("\n"))
            if pattern is not None and pattern.search(line):
                print("      " + NNUNET_TIMESTAMP.sub("", line.strip()), flush=True)
    if process.returncode != 0:
        raise StepFailed(f"command failed with exit code {process.returncode}:\n  {shlex.join(command)}\n"
                         f"last {len(tail)} lines of its output (full log: {log_file}):\n" + "\n".join(tail))
