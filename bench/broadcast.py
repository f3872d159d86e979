"""The broadcast measurement: one message from a server to 1,000 or 10,000 clients.

``bench/run.py --broadcast`` (or ``--only broadcast``) runs it; see
bench/README.md. Per mode and number of connections, two processes:

* the server (``python -m bench.broadcast server --mode M``) accepts the
  connections with the library under test, prints ``PORT <n>`` and, once
  they are all open, ``READY``. For each ``go`` line on its stdin it takes
  ``t0`` (``time.perf_counter``), sends one message to every connection the
  mode's way, and prints ``SENT <t0> <t1>``, ``t1`` being when that call
  returned.
* the clients (``python -m bench.broadcast client``) are plain sockets in
  one process, polled with ``selectors`` (epoll): they do the opening
  handshake by hand, print ``READY``, and then count the bytes that
  arrive. When every socket has the whole k-th frame they print
  ``RECEIVED <k> <t>``. The same cheap client serves every mode, so the
  difference between modes is the server's.

``time.perf_counter`` is ``CLOCK_MONOTONIC`` on Linux, one clock for all
processes, so ``t - t0`` is the time from the start of the broadcast until
the last client had the message.

Modes: ``ws`` (``await ws.broadcast(connections, message)``), ``ws-loop``
(``for c in connections: await c.send_message(message)``) and
``websockets`` (``await websockets.trio.connection.broadcast(...)``, one
task per connection). No compression, no keepalive pings, a 64-byte text
message.
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import selectors
import signal
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Final

import attrs
import trio

if __package__ in (None, ""):  # run as a script: make "bench" importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HOST: Final = "127.0.0.1"
#: The message every broadcast sends: 64 bytes of ASCII text.
MESSAGE: Final = ("0123456789abcdefghijklmnopqrstuvwxyz" * 2)[:64]
#: Its frame from a server: 2 bytes of header (unmasked, length < 126), then the text.
FRAME_SIZE: Final = 2 + len(MESSAGE)
#: The modes, in the table's row order: (name, row label).
MODES: Final = {
    "ws": "ws.broadcast",
    "ws-loop": "ws: loop of send_message",
    "websockets": "websockets.trio broadcast",
}
#: Connection attempts in flight at once (the listen backlog is finite).
CONNECT_AT_ONCE: Final = 100


def raise_file_limit(needed: int) -> None:
    """Raise RLIMIT_NOFILE's soft limit to the hard one if ``needed`` descriptors do not fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = hard if hard == resource.RLIM_INFINITY else max(soft, min(hard, needed))
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# ----------------------------------------------------------------------------- server

Send = Callable[[], Awaitable[None]]


async def ws_server(
    connections: int, mode: str, task_status: trio.TaskStatus[tuple[int, Send]]
) -> None:
    """Serve with ws; started() with the port and the function that sends one broadcast."""
    import ws

    accepted: list[ws.WebSocketConnection] = []
    all_in = trio.Event()

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        accepted.append(connection)
        if len(accepted) == connections:
            all_in.set()
        await trio.sleep_forever()

    async def send_broadcast() -> None:
        await ws.broadcast(accepted, MESSAGE)

    async def send_loop() -> None:
        for connection in accepted:
            await connection.send_message(MESSAGE)

    options = ws.ServerOptions(compression=None, ping_interval=None)
    async with trio.open_nursery() as nursery:
        server: ws.WebSocketServer = await nursery.start(
            partial(ws.serve_websocket, handler, HOST, 0, None, options=options)
        )
        print(f"PORT {server.port}", flush=True)
        await all_in.wait()
        task_status.started((server.port, send_broadcast if mode == "ws" else send_loop))


async def websockets_server(
    connections: int, mode: str, task_status: trio.TaskStatus[tuple[int, Send]]
) -> None:
    """Serve with websockets.trio; started() with the port and the broadcast function."""
    from websockets.trio.connection import broadcast
    from websockets.trio.server import Server, ServerConnection, serve

    accepted: list[ServerConnection] = []
    all_in = trio.Event()

    async def handler(connection: ServerConnection) -> None:
        accepted.append(connection)
        if len(accepted) == connections:
            all_in.set()
        await trio.sleep_forever()

    async def send_broadcast() -> None:
        await broadcast(accepted, MESSAGE)

    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(
            partial(serve, handler, 0, host=HOST, compression=None, ping_interval=None)
        )
        port: int = server.listeners[0].socket.getsockname()[1]
        print(f"PORT {port}", flush=True)
        await all_in.wait()
        task_status.started((port, send_broadcast))


async def run_server(mode: str, connections: int) -> None:
    """Accept the connections, then broadcast once per ``go`` line until stdin ends."""
    serve = websockets_server if mode == "websockets" else ws_server
    async with trio.open_nursery() as nursery:
        _, send = await nursery.start(serve, connections, mode)
        print("READY", flush=True)
        while True:
            line = await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
            if not line:
                break
            if line.strip() == "go":
                start = time.perf_counter()
                await send()
                end = time.perf_counter()
                print(f"SENT {start!r} {end!r}", flush=True)
        nursery.cancel_scope.cancel()


# ----------------------------------------------------------------------------- clients


def handshake_request(path: str) -> bytes:
    """An opening request without extensions."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def open_clients(port: int, count: int) -> list[socket.socket]:
    """Open ``count`` connections and finish their handshakes, CONNECT_AT_ONCE at a time."""
    done: list[socket.socket] = []
    while len(done) < count:
        batch = []
        for _ in range(min(CONNECT_AT_ONCE, count - len(done))):
            sock = socket.create_connection((HOST, port))
            sock.sendall(handshake_request("/"))
            batch.append(sock)
        for sock in batch:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk:
                    raise SystemExit("the server closed a connection during the handshake")
                head += chunk
            if not head.startswith(b"HTTP/1.1 101"):
                raise SystemExit(f"handshake refused: {head[:80]!r}")
            if not head.endswith(b"\r\n\r\n"):
                raise SystemExit("data came with the handshake response")
            sock.setblocking(False)
            done.append(sock)
    return done


def run_clients(port: int, count: int) -> None:
    """Open the clients, print READY, then RECEIVED <k> <t> as each broadcast completes."""
    sockets = open_clients(port, count)
    selector = selectors.DefaultSelector()
    received = dict.fromkeys(range(len(sockets)), 0)
    for index, sock in enumerate(sockets):
        selector.register(sock, selectors.EVENT_READ, index)
    # Whether stdin ended (bench.run went away): checked between broadcasts.
    selector.register(sys.stdin, selectors.EVENT_READ, -1)
    print("READY", flush=True)
    round_ = 0
    behind = count  # sockets still missing the current round's frame
    target = FRAME_SIZE
    while True:
        for key, _ in selector.select():
            index = key.data
            if index == -1:
                if not sys.stdin.readline():
                    return
                continue
            sock = sockets[index]
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                raise SystemExit("the server closed a connection")
            before = received[index]
            received[index] = before + len(data)
            if before < target <= received[index]:
                behind -= 1
                if behind == 0:
                    now = time.perf_counter()
                    round_ += 1
                    print(f"RECEIVED {round_} {now!r}", flush=True)
                    behind = count
                    target += FRAME_SIZE
                    # A socket already ahead (the next frame came) counts now.
                    behind -= sum(1 for value in received.values() if value >= target)


# ----------------------------------------------------------------------------- orchestration


@attrs.define
class Timing:
    """One broadcast: seconds until every client had it, and until the server's call returned."""

    delivered: float
    returned: float


def measure(
    mode: str,
    connections: int,
    repetitions: int,
    limit: float,
) -> list[Timing]:
    """Start a server and the clients, time ``repetitions`` broadcasts (after one warm-up)."""
    from bench.run import Child

    arguments = ["--connections", str(connections), "--limit", str(int(limit))]
    server = Child.start(
        f"{mode} broadcast server", ["server", "--mode", mode, *arguments], module="bench.broadcast"
    )
    clients: Child | None = None
    try:
        port = server.expect("PORT", 60)
        clients = Child.start(
            f"{mode} broadcast clients",
            ["client", "--port", port, *arguments],
            module="bench.broadcast",
        )
        clients.expect("READY", limit)
        server.expect("READY", limit)
        timings = []
        for round_ in range(repetitions + 1):
            server.send_line("go")
            start, end = (float(value) for value in server.expect("SENT", limit).split())
            number, arrived = clients.expect("RECEIVED", limit).split()
            if int(number) != round_ + 1:
                raise ValueError(f"expected round {round_ + 1}, the clients saw {number}")
            if round_:  # the first one warms up
                timings.append(Timing(float(arrived) - start, end - start))
        return timings
    finally:
        if clients is not None:
            clients.stop(2.0)
        server.stop(2.0)


def available_modes() -> tuple[list[str], list[str]]:
    """The modes whose library is installed, and notes for those skipped."""
    modes = ["ws", "ws-loop"]
    notes = []
    try:
        import websockets.trio.connection  # noqa: F401
    except ImportError as exc:
        notes.append(f"- websockets.trio broadcast skipped: {exc}.")
    else:
        modes.append("websockets")
    return modes, notes


def run_table(sizes: Sequence[int], runs: int, repetitions: int, limit: float) -> str:
    """Measure every mode at every size; return the markdown table and its notes."""
    from bench.run import ChildFailed

    modes, notes = available_modes()
    results: dict[tuple[str, int], list[Timing]] = {}
    errors: dict[tuple[str, int], str] = {}
    for size in sizes:
        for run in range(runs):
            shift = run % len(modes)
            for mode in modes[shift:] + modes[:shift]:
                started = time.monotonic()
                try:
                    timings = measure(mode, size, repetitions, limit)
                except (ChildFailed, ValueError) as exc:
                    errors[mode, size] = str(exc)
                    print(
                        f"  broadcast {mode:<10} {size:>6} run {run + 1}: failed: {exc}",
                        file=sys.stderr,
                        flush=True,
                    )
                    continue
                results.setdefault((mode, size), []).extend(timings)
                median_ms = statistics.median(t.delivered for t in timings) * 1000
                print(
                    f"  broadcast {mode:<10} {size:>6} run {run + 1}/{runs} {median_ms:9.2f} ms"
                    f"  ({time.monotonic() - started:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    headers = ["broadcast, 64 B text"]
    for size in sizes:
        headers += [f"{size:,} conns: ms to all", f"{size:,}: server returns (ms)"]
    lines = ["| " + " | ".join(headers) + " |", "|---" + "|---:" * (len(headers) - 1) + "|"]
    medians: dict[tuple[str, int], float] = {}
    for mode in modes:
        row = [MODES[mode]]
        for size in sizes:
            measured = results.get((mode, size))
            if not measured:
                row += ["failed", "failed"]
                continue
            delivered = statistics.median(t.delivered for t in measured)
            returned = statistics.median(t.returned for t in measured)
            medians[mode, size] = delivered
            row += [f"{delivered * 1000:,.2f}", f"{returned * 1000:,.2f}"]
        lines.append("| " + " | ".join(row) + " |")
    ratio_row = ["ratio ws.broadcast / websockets.trio (speed)"]
    for size in sizes:
        ours, theirs = medians.get(("ws", size)), medians.get(("websockets", size))
        ratio_row += [f"{theirs / ours:.2f}x" if ours and theirs else "n/a", ""]
    lines.append("| " + " | ".join(ratio_row) + " |")
    lines.append("")
    lines.append(
        "Medians over every timed broadcast (after one warm-up per run): time from the server"
        " starting the broadcast until the last client had the whole frame, and until the"
        " server's call returned. The ratio is websockets.trio's time over ws.broadcast's:"
        " how many times faster ws.broadcast is."
    )
    lines += notes
    for (mode, size), error in errors.items():
        lines.append(f"- {MODES[mode]} at {size:,} connections failed at least once: {error}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    """One side of a broadcast measurement (bench.run starts both)."""
    parser = argparse.ArgumentParser(description="One side of a broadcast measurement.")
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("--mode", choices=sorted(MODES), default="ws")
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--limit", type=float, default=300.0, help="hard time limit (s)")
    args = parser.parse_args(argv)
    signal.alarm(max(1, int(args.limit)))  # the default action ends the process
    raise_file_limit(args.connections + 100)
    if args.role == "server":
        trio.run(run_server, args.mode, args.connections)
    else:
        run_clients(args.port, args.connections)


if __name__ == "__main__":
    main()
