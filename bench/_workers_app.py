"""The application that ``bench/workers.py`` serves: ``python -m ws serve ... bench._workers_app:echo``.

:func:`echo` echoes every message back on its connection, as the echo
server of ``python -m ws serve`` does, and keeps count of the connections
it holds.

A WebSocket connection to ``/stats`` is not echoed: it receives one text
message, a JSON object describing the worker process that accepted it (see
:func:`stats`), and is closed. It goes over WebSocket rather than plain HTTP
because ``python -m ws serve APP`` takes a handler only, with no
``process_request`` hook. ``SO_REUSEPORT`` hands each new connection to a
worker by a hash of its addresses and ports, so the benchmark asks again on
new connections until it has heard from every worker; each answer names
its process.
"""

from __future__ import annotations

import gc
import json
import os
from typing import Final

import ws

#: The path that answers with the worker's figures instead of echoing.
STATS_PATH: Final = "/stats"

#: The echo connections this process holds now (``/stats`` ones are not counted).
_held = 0


def _status_kib(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (Linux), or -1 elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return -1


def _open_descriptors() -> int:
    """How many file descriptors this process has open (Linux), or -1 elsewhere."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def stats() -> dict[str, int]:
    """The figures ``/stats`` reports, after a garbage collection.

    Returns:
        ``pid``; ``connections``, the echo connections held; ``rss_kib``,
        the resident set size (``VmRSS``); ``fds``, the open file
        descriptors (the listening socket and the process's own included).
    """
    gc.collect()
    return {
        "pid": os.getpid(),
        "connections": _held,
        "rss_kib": _status_kib("VmRSS"),
        "fds": _open_descriptors(),
    }


async def echo(request: ws.WebSocketRequest) -> None:
    """Echo each message back; on ``/stats``, send :func:`stats` as JSON and close.

    Args:
        request: The opening handshake, which this handler accepts.
    """
    global _held
    connection = await request.accept()
    if request.path == STATS_PATH:
        await connection.send_message(json.dumps(stats()))
        return  # the server closes the connection (1000)
    _held += 1
    try:
        async for message in connection:
            await connection.send_message(message)
    finally:
        _held -= 1
