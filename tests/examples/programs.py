"""Run an example program as a user would: ``python examples/x/y.py ...``, with bounds.

:func:`running` starts a long-lived program (a server, a reconnecting
client), lets the test read its output line by line, and kills its whole
process group on the way out, whatever happened; :func:`run` runs a
program that ends by itself (a one-shot client) and returns what it
printed. Every wait is bounded by :data:`STEP` seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import trio

from tests.interop.harness import stop_process

__all__ = ["EXAMPLES", "STEP", "Completed", "Program", "free_port", "run", "running"]

#: The repository's ``examples/`` directory.
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: Seconds any one step may take (a program's start-up included).
STEP = 10.0


def _environment() -> dict[str, str]:
    # Unbuffered output: the test reads lines as the program prints them.
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@attrs.define(eq=False)
class Program:
    """A running example program and what it printed so far."""

    process: trio.Process
    stderr_path: Path
    #: Every complete line read so far, in order.
    lines: list[str] = attrs.Factory(list)
    _buffer: bytearray = attrs.Factory(bytearray)

    async def read_line(self) -> str:
        """The next line the program prints; fails if it exits first or takes over :data:`STEP`."""
        stdout = self.process.stdout
        assert stdout is not None
        with trio.fail_after(STEP):
            while b"\n" not in self._buffer:
                chunk = await stdout.receive_some()
                if not chunk:
                    raise AssertionError(
                        f"the program exited before printing a line; stdout so far: "
                        f"{self._buffer.decode(errors='replace')!r}\nstderr:\n{self.stderr()}"
                    )
                self._buffer += chunk
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer[:] = rest
        text = line.decode()
        self.lines.append(text)
        return text

    async def expect(self, prefix: str) -> str:
        """Read lines until one starts with ``prefix``; return it (each read is bounded)."""
        while not (line := await self.read_line()).startswith(prefix):
            pass
        return line

    async def wait(self) -> int:
        """Wait for the program to exit; its status, with the rest of its output read."""
        stdout = self.process.stdout
        assert stdout is not None
        with trio.fail_after(STEP):
            while chunk := await stdout.receive_some():
                self._buffer += chunk
            await self.process.wait()
        rest = self._buffer.decode()
        self._buffer.clear()
        self.lines.extend(rest.splitlines())
        returncode = self.process.returncode
        assert returncode is not None
        return returncode

    def signal(self, signum: signal.Signals) -> None:
        """Send a signal to the program."""
        self.process.send_signal(signum)

    def stderr(self) -> str:
        """What the program wrote to stderr so far."""
        return self.stderr_path.read_text(errors="replace")


@contextlib.asynccontextmanager
async def running(
    script: Path, *args: str, tmp_path: Path, cwd: Path | None = None
) -> AsyncIterator[Program]:
    """Start ``python script args...``; kill it when the block ends.

    On failure the program's stderr is printed, so pytest shows it.
    """
    stderr_path = tmp_path / f"{script.parent.name}-{script.stem}-{os.urandom(3).hex()}.stderr"
    with stderr_path.open("wb") as stderr:
        process = await trio.lowlevel.open_process(
            [sys.executable, str(script), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=_environment(),
            cwd=cwd,
            start_new_session=True,
        )
    program = Program(process, stderr_path)
    try:
        yield program
    except BaseException:
        print(f"{script.name} printed:\n" + "\n".join(program.lines))
        print(f"{script.name}'s stderr:\n{program.stderr()}")
        raise
    finally:
        await stop_process(process)


@attrs.frozen
class Completed:
    """A program that ran to its end."""

    returncode: int
    stdout: str
    stderr: str


async def run(script: Path, *args: str, cwd: Path | None = None) -> Completed:
    """Run ``python script args...`` to its end (at most :data:`STEP` seconds)."""
    with trio.fail_after(STEP):
        result = await trio.run_process(
            [sys.executable, str(script), *args],
            stdin=subprocess.DEVNULL,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=_environment(),
            cwd=cwd,
        )
    return Completed(result.returncode, result.stdout.decode(), result.stderr.decode())

