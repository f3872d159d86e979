"""What the runners of real servers in tests (tests/nginx.py, tests/haproxy.py) share."""

from __future__ import annotations

import socket

import trio

__all__ = ["free_port", "listening", "stop_daemon"]

#: Seconds a server gets to stop after SIGTERM before it is killed.
STOP_TIMEOUT = 5.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def listening(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
    except OSError:
        return False
    await stream.aclose()
    return True


async def stop_daemon(process: trio.Process) -> None:
    """Stop a server with SIGTERM (nginx and HAProxy stop at once), and kill it if it lingers."""
    with trio.CancelScope(shield=True):
        if process.returncode is None:
            process.terminate()
        with trio.move_on_after(STOP_TIMEOUT):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
