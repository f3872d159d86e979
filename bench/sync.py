"""Blocking clients side by side: ``python -m bench.sync``.

``ws.sync`` against ``websockets.sync`` on the same server in the same run.
Each server (a ws async server; websockets' asyncio server) runs in a
process of its own for the whole benchmark and echoes every message; each
measurement runs one client library in a fresh process
(``python -m bench.sync client ...``), the libraries taking turns in an
order that rotates from run to run. A client measures, on one connection:

* round trips: send a 64-byte text message, ``recv()`` its echo, repeat;
* pipelined: send a batch of 64-byte messages, then ``recv()`` their
  echoes, repeat (batches of 1,000, well within the socket buffers, so
  neither side waits for the other to read).

Each loop stops at ``--count`` messages or after ``--duration`` seconds,
whichever comes first, after an untimed warm-up of a fifth of that. The
table shows the median and the best of ``--runs`` runs, and the ratio
ws.sync / websockets.sync of the medians. Compression is off on both sides;
everything else is each library's default. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Final, Protocol

import trio

if __package__ in (None, ""):  # run as a script: make "bench" importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ws  # noqa: E402
from bench.peers.base import HOST, MAX_MESSAGE_SIZE  # noqa: E402

ROOT: Final = Path(__file__).resolve().parent.parent
#: Client libraries and servers, by their name on the command line.
CLIENTS: Final = ("ws.sync", "websockets.sync")
SERVERS: Final = ("ws", "websockets")
MESSAGE: Final = ("0123456789abcdefghijklmnopqrstuvwxyz" * 2)[:64]
BATCH: Final = 1000
#: Seconds a server has to print its port, and a client process to finish.
START_TIMEOUT: Final = 30.0


class _Client(Protocol):
    def send(self, message: str) -> None: ...
    def recv(self, timeout: float | None = None) -> str | bytes: ...


# -- servers (each in its own process: python -m bench.sync server KIND) -----------------


async def _serve_ws() -> None:
    async def echo(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        try:
            while True:
                await connection.send_message(await connection.get_message())
        except ws.ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        server: ws.WebSocketServer = await nursery.start(
            partial(ws.serve_websocket, echo, HOST, 0, None, compression=None)
        )
        print(f"PORT {server.port}", flush=True)
        await trio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)
        nursery.cancel_scope.cancel()


async def _serve_websockets() -> None:
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed

    async def echo(connection: ServerConnection) -> None:
        try:
            async for message in connection:
                await connection.send(message)
        except ConnectionClosed:
            pass

    async with serve(echo, HOST, 0, compression=None, max_size=MAX_MESSAGE_SIZE) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"PORT {port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def run_server(kind: str) -> None:
    """Serve until stdin ends."""
    if kind == "ws":
        trio.run(_serve_ws)
    else:
        asyncio.run(_serve_websockets())


# -- clients (python -m bench.sync client LIB --port N ...) -------------------------------


def _connect(lib: str, url: str) -> AbstractContextManager[_Client]:
    if lib == "ws.sync":
        import ws.sync

        return ws.sync.connect(url, compression=None, max_message_size=MAX_MESSAGE_SIZE)
    from websockets.sync.client import connect

    return connect(url, compression=None, max_size=MAX_MESSAGE_SIZE)


def _round_trips(client: _Client, count: int, deadline: float) -> int:
    send, recv = client.send, client.recv
    done = 0
    while done < count:
        send(MESSAGE)
        recv()
        done += 1
        if not done % 100 and time.perf_counter() >= deadline:
            break
    return done


def _pipelined(client: _Client, count: int, deadline: float) -> int:
    send, recv = client.send, client.recv
    done = 0
    while done < count:
        batch = min(BATCH, count - done)
        for _ in range(batch):
            send(MESSAGE)
        for _ in range(batch):
            recv()
        done += batch
        if time.perf_counter() >= deadline:
            break
    return done


def _timed(loop: Callable[[_Client, int, float], int], client: _Client, count: int, duration: float) -> float:
    """Messages per second of ``loop``, after an untimed warm-up of a fifth."""
    loop(client, max(1, count // 5), time.perf_counter() + duration / 5)
    start = time.perf_counter()
    done = loop(client, count, start + duration)
    return done / (time.perf_counter() - start)


def run_client(lib: str, port: int, count: int, pipelined: int, duration: float) -> dict[str, float]:
    """Measure both loops on one connection; return their figures."""
    with _connect(lib, f"ws://{HOST}:{port}/") as client:
        return {
            "roundtrip": _timed(_round_trips, client, count, duration),
            "pipelined": _timed(_pipelined, client, pipelined, duration),
        }


# -- the driver -------------------------------------------------------------------------


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.sync", *args]


@contextmanager
def _server(kind: str) -> Iterator[int]:
    """Start a server process; yield its port; stop it (by closing its stdin)."""
    process = subprocess.Popen(
        _command("server", kind), cwd=ROOT, stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        line = process.stdout.readline()  # the server prints its port at once, or dies
        if not line.startswith("PORT "):
            raise RuntimeError(f"the {kind} server did not start (it printed {line!r})")
        yield int(line.split()[1])
    finally:
        if process.stdin is not None:
            process.stdin.close()  # the server's signal to stop
        try:
            process.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _measure(lib: str, port: int, args: argparse.Namespace) -> dict[str, float]:
    done = subprocess.run(
        _command(
            "client", lib, "--port", str(port), "--count", str(args.count),
            "--pipelined", str(args.pipelined), "--duration", str(args.duration),
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT + 4 * args.duration,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
            return result
    raise RuntimeError(f"the {lib} client failed:\n{done.stderr}")


def _available(clients: list[str], servers: list[str]) -> tuple[list[str], list[str], list[str]]:
    """The clients and servers whose library is installed, and notes about the others."""
    notes: list[str] = []
    try:
        import websockets.sync.client  # noqa: F401
    except ImportError:
        notes.append("websockets is not installed (scripts/install-peers): its client and server are skipped")
        clients = [lib for lib in clients if lib != "websockets.sync"]
        servers = [kind for kind in servers if kind != "websockets"]
    return clients, servers, notes


def _cell(figures: list[float]) -> str:
    return f"{statistics.median(figures):,.0f} ({max(figures):,.0f})"


def _list(text: str, choices: tuple[str, ...]) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(choices))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown: {', '.join(unknown)}; choose from {', '.join(choices)}")
    return names


def drive(args: argparse.Namespace) -> None:
    """Run every client against every server, ``--runs`` times; print the table."""
    clients, servers, notes = _available(args.clients, args.servers)
    figures: dict[tuple[str, str], dict[str, list[float]]] = {
        (lib, kind): {"roundtrip": [], "pipelined": []} for lib in clients for kind in servers
    }
    with ExitStack() as stack:
        ports = {kind: stack.enter_context(_server(kind)) for kind in servers}
        for run in range(args.runs):
            order = clients[run % len(clients):] + clients[: run % len(clients)]
            for kind in servers:
                for lib in order:
                    print(f"run {run + 1}/{args.runs}: {lib} -> {kind} server", file=sys.stderr)
                    result = _measure(lib, ports[kind], args)
                    for name, value in result.items():
                        figures[lib, kind][name].append(value)
    print(f"ws {ws.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{args.runs} run(s), 64 B text messages, compression off")
    print()
    print("| client | server | 64 B round trips (rt/s), median (best) | pipelined 64 B (msg/s), median (best) |")
    print("|---|---|---|---|")
    for kind in servers:
        for lib in clients:
            cells = figures[lib, kind]
            print(f"| {lib} | {kind} | {_cell(cells['roundtrip'])} | {_cell(cells['pipelined'])} |")
        if set(CLIENTS) <= set(clients):
            ratios = [
                statistics.median(figures["ws.sync", kind][name])
                / statistics.median(figures["websockets.sync", kind][name])
                for name in ("roundtrip", "pipelined")
            ]
            print(f"| ratio ws.sync / websockets.sync | {kind} | {ratios[0]:.2f}x | {ratios[1]:.2f}x |")
    for note in notes:
        print(f"\nnote: {note}")


def main(argv: list[str] | None = None) -> None:
    """The command line: the driver by default, or one server or client process."""
    parser = argparse.ArgumentParser(prog="python -m bench.sync", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per client and server (default 5)")
    parser.add_argument("--count", type=int, default=20_000, help="round trips per measurement at most")
    parser.add_argument("--pipelined", type=int, default=200_000, help="pipelined messages per measurement at most")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per measurement at most (default 2)")
    parser.add_argument("--quick", action="store_true", help="tiny counts, 1 run: checks that it works")
    parser.add_argument(
        "--clients", type=lambda text: _list(text, CLIENTS), default=list(CLIENTS),
        help="client libraries, comma-separated (default: ws.sync,websockets.sync)",
    )
    parser.add_argument(
        "--servers", type=lambda text: _list(text, SERVERS), default=list(SERVERS),
        help="servers, comma-separated (default: ws,websockets)",
    )
    sub = parser.add_subparsers(dest="role")
    server = sub.add_parser("server", help="(internal) run one echo server, print its port")
    server.add_argument("kind", choices=SERVERS)
    client = sub.add_parser("client", help="(internal) run one client measurement, print RESULT <json>")
    client.add_argument("lib", choices=CLIENTS)
    client.add_argument("--port", type=int, required=True)
    client.add_argument("--count", type=int, required=True)
    client.add_argument("--pipelined", type=int, required=True)
    client.add_argument("--duration", type=float, required=True)
    args = parser.parse_args(argv)
    if args.role == "server":
        run_server(args.kind)
    elif args.role == "client":
        result = run_client(args.lib, args.port, args.count, args.pipelined, args.duration)
        print("RESULT " + json.dumps(result), flush=True)
    else:
        if args.quick:
            args.runs, args.count, args.pipelined, args.duration = 1, 300, 3000, 0.3
        drive(args)


if __name__ == "__main__":
    main()
