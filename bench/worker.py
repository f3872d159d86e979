"""One side of one measurement: ``python -m bench.worker server|client ...``.

:mod:`bench.run` starts a server and a client process per measurement and
talks to them in lines over their stdin and stdout:

* server: prints ``PORT <n>`` once it listens. Each ``measure`` line on its
  stdin is answered with ``MEMORY <traced bytes> <rss bytes>`` (after a
  garbage collection). It exits when its stdin ends.
* client: reads ``PORT <n>`` from its stdin (so that both processes start
  at once), runs one scenario and prints ``RESULT <json>``. In the memory
  scenario it prints ``READY`` after each batch of connections and waits
  for a ``go`` line before going on.

Every loop stops at a count or at a deadline, whichever comes first, and
each process also has a hard time limit (``SIGALRM``), so a stuck peer
library cannot hang the benchmark. ``--profile FILE`` writes a cProfile
dump of the process (see bench/README.md).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import random
import signal
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from typing import Final

import trio

if __package__ in (None, ""):  # run as a script: make "bench" importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.peers import Peer, load  # noqa: E402
from bench.peers.base import Message, Session, WireCounter  # noqa: E402
from bench.scenarios import BY_NAME, Kind, Scenario  # noqa: E402

#: Concurrent connection attempts while opening many connections (the
#: listen backlog would overflow with all of them at once, and a dropped
#: SYN costs a one-second retransmission).
OPEN_AT_ONCE: Final = 50

def text_message(size: int) -> str:
    """A text message of ``size`` ASCII characters."""
    return ("0123456789abcdefghijklmnopqrstuvwxyz" * (size // 36 + 1))[:size]


def json_documents(size: int, count: int) -> list[str]:
    """``count`` different JSON-like texts of about ``size`` characters each."""
    rng = random.Random(5)
    words = ["alpha", "beta", "gamma", "delta", "user", "id", "status", "ok", "items", "price"]
    documents = []
    for _ in range(count):
        records: list[str] = []
        total = 0
        while total < size:
            record = json.dumps(
                {
                    "id": rng.randrange(10**6),
                    "name": " ".join(rng.choice(words) for _ in range(3)),
                    "active": rng.random() < 0.5,
                    "score": round(rng.random() * 100, 2),
                    "tags": rng.sample(words, 3),
                }
            )
            records.append(record)
            total += len(record) + 1
        documents.append(("[" + ",".join(records) + "]")[:size])
    return documents


# ----------------------------------------------------------------------------- server


def memory_now() -> tuple[int, int]:
    """(bytes traced by tracemalloc or 0, resident set size in bytes or 0)."""
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0
    rss = 0
    try:
        with open("/proc/self/statm") as statm:
            rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux
        pass
    return traced, rss


async def run_server(peer: Peer, compression: bool) -> None:
    """Serve until stdin ends; answer ``measure`` lines."""
    async with trio.open_nursery() as nursery:
        port: int = await nursery.start(partial(peer.serve, compression=compression))
        print(f"PORT {port}", flush=True)
        while True:
            line = await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
            if not line:
                break
            if line.strip() == "measure":
                traced, rss = memory_now()
                print(f"MEMORY {traced} {rss}", flush=True)
        nursery.cancel_scope.cancel()


# ----------------------------------------------------------------------------- client


Result = dict[str, float]


async def wait_for_go() -> None:
    """Wait for the ``go`` line from bench.run (exit if stdin ends)."""
    line = await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
    if not line:
        raise SystemExit("bench.run went away")


async def round_trips(
    session: Session, messages: list[Message], count: int, deadline: float
) -> tuple[int, int]:
    """Send a message, await its echo, repeat; return (round trips, payload bytes)."""
    send = session.send
    receive = session.receive
    clock = time.perf_counter
    done = 0
    received = 0
    rotation = len(messages)
    while done < count:
        message = messages[done % rotation]
        await send(message)
        reply = await receive()
        if len(reply) != len(message):
            raise AssertionError(f"echo of {len(message)} bytes came back as {len(reply)}")
        received += len(reply)
        done += 1
        if not done & 7 and clock() >= deadline:
            break
    return done, received


async def pipelined(session: Session, message: Message, count: int, deadline: float) -> int:
    """A sender task streams messages while this task receives the echoes; return how many."""
    stop = session.prepare_text("!" * len(message))
    sent = 0

    async def sender() -> None:
        nonlocal sent
        send = session.send
        clock = time.perf_counter
        while sent < count:
            await send(message)
            sent += 1
            if not sent & 63 and clock() >= deadline:
                break
        await send(stop)

    received = 0
    receive = session.receive
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender)
        while await receive() != stop:
            received += 1
    if received != sent:
        raise AssertionError(f"sent {sent} messages but {received} came back")
    return received


async def open_many(
    peer: Peer,
    port: int,
    nursery: trio.Nursery,
    how_many: int,
    text: str,
    release: trio.Event,
    work: Callable[[Session], Awaitable[None]] | None = None,
) -> None:
    """Open ``how_many`` connections in ``nursery``, held until ``release``.

    Each connection does one round trip of ``text`` (so that the server
    has surely set it up), then, once all of them are open, runs ``work``
    if given. Returns when all of them are open.
    """
    limiter = trio.CapacityLimiter(OPEN_AT_ONCE)
    all_open = trio.Event()
    opened = 0

    async def hold() -> None:
        nonlocal opened
        async with AsyncExitStack() as stack:
            async with limiter:
                session = await stack.enter_async_context(peer.connect(port, compression=False))
                await session.send(session.prepare_text(text))
                await session.receive()
            opened += 1
            if opened == how_many:
                all_open.set()
            await all_open.wait()
            if work is not None:
                await work(session)
            await release.wait()

    for _ in range(how_many):
        nursery.start_soon(hold)
    await all_open.wait()


async def one_connection(
    peer: Peer, port: int, scenario: Scenario, count: int, duration: float
) -> Result:
    """The scenarios on one connection: round trips, echo, pipelined, deflate."""
    clock = time.perf_counter
    kind = scenario.kind
    warm_up = duration / 5
    counter = WireCounter() if kind is Kind.DEFLATE else None
    async with peer.connect(port, compression=scenario.compression, counter=counter) as session:
        messages: list[Message]
        if kind is Kind.DEFLATE:
            messages = [session.prepare_text(t) for t in json_documents(scenario.size, 16)]
        elif scenario.binary:
            messages = [random.Random(1).randbytes(scenario.size)]
        else:
            messages = [session.prepare_text(text_message(scenario.size))]
        if kind is Kind.PIPELINED:
            await pipelined(session, messages[0], max(1, count // 10), clock() + warm_up)
            start = clock()
            ops = await pipelined(session, messages[0], count, start + duration)
            seconds = clock() - start
            return {"ops": ops, "seconds": seconds, "bytes": ops * scenario.size}
        await round_trips(session, messages, max(1, count // 10), clock() + warm_up)
        wire_before = counter.received if counter is not None else 0
        start = clock()
        ops, received = await round_trips(session, messages, count, start + duration)
        seconds = clock() - start
        wire = counter.received - wire_before if counter is not None else 0
    return {"ops": ops, "seconds": seconds, "bytes": received, "wire": wire}


async def handshakes(peer: Peer, port: int, count: int, duration: float) -> Result:
    """Open and close connections one after the other."""
    clock = time.perf_counter
    deadline = clock() + duration / 5
    for _ in range(max(1, count // 10)):
        async with peer.connect(port, compression=False):
            pass
        if clock() >= deadline:
            break
    start = clock()
    deadline = start + duration
    ops = 0
    while ops < count:
        async with peer.connect(port, compression=False):
            pass
        ops += 1
        if clock() >= deadline:
            break
    return {"ops": ops, "seconds": clock() - start, "bytes": 0}


async def concurrent(
    peer: Peer, port: int, scenario: Scenario, count: int, connections: int, duration: float
) -> Result:
    """Open many connections, then time round trips on all of them at once."""
    clock = time.perf_counter
    text = text_message(scenario.size)
    started = trio.Event()
    all_done = trio.Event()
    release = trio.Event()
    deadline = 0.0
    total = 0
    finished = 0

    async def work(session: Session) -> None:
        nonlocal total, finished
        await started.wait()
        done, _ = await round_trips(session, [session.prepare_text(text)], count, deadline)
        total += done
        finished += 1
        if finished == connections:
            all_done.set()

    async with trio.open_nursery() as nursery:
        await open_many(peer, port, nursery, connections, text, release, work)
        start = clock()
        deadline = start + duration
        started.set()
        await all_done.wait()
        seconds = clock() - start
        release.set()
    return {"ops": total, "seconds": seconds, "bytes": total * scenario.size}


async def idle_memory(
    peer: Peer, port: int, scenario: Scenario, connections: int, warm_up: int
) -> Result:
    """Open a warm-up batch, then the measured batch, pausing for the server's figures.

    The warm-up batch stays open: the baseline taken after it includes
    whatever the server allocates once (imports, caches, buffers reused
    across connections), so the difference is what each connection costs.
    """
    text = text_message(scenario.size)
    release = trio.Event()
    async with trio.open_nursery() as nursery:
        await open_many(peer, port, nursery, warm_up, text, release)
        print("READY", flush=True)
        await wait_for_go()
        await open_many(peer, port, nursery, connections, text, release)
        print("READY", flush=True)
        await wait_for_go()
        release.set()
    return {"ops": connections, "seconds": 0.0, "bytes": 0}


async def run_client(
    peer: Peer, scenario: Scenario, count: int, connections: int, duration: float, warm_up: int
) -> Result:
    """Read the server's port from stdin, run one scenario, return its raw counts."""
    line = await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
    if not line.startswith("PORT "):
        raise SystemExit(f"expected the server's port on stdin, got {line!r}")
    port = int(line.split()[1])
    kind = scenario.kind
    if kind is Kind.HANDSHAKE:
        return await handshakes(peer, port, count, duration)
    if kind is Kind.CONCURRENT:
        return await concurrent(peer, port, scenario, count, connections, duration)
    if kind is Kind.MEMORY:
        return await idle_memory(peer, port, scenario, connections, warm_up)
    return await one_connection(peer, port, scenario, count, duration)


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The worker's command line (bench.run builds it)."""
    parser = argparse.ArgumentParser(description="One side of a bench.run measurement.")
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("--lib", required=True)
    parser.add_argument("--scenario", required=True, choices=sorted(BY_NAME))
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--duration", type=float, default=1.0)
    parser.add_argument("--warm-up", type=int, default=50, help="memory: baseline connections")
    parser.add_argument("--tracemalloc", action="store_true", help="trace memory from the start")
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to a CPU")
    parser.add_argument("--profile", default=None, help="write a cProfile dump here")
    parser.add_argument("--limit", type=float, default=120.0, help="hard time limit (s)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run one side; exit non-zero with a message on stderr if it fails."""
    args = parse_args(argv)
    signal.alarm(max(1, int(args.limit)))  # the default action ends the process
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    if args.tracemalloc:
        tracemalloc.start()
    peer = load(args.lib)
    scenario = BY_NAME[args.scenario]
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    try:
        if args.role == "server":
            trio.run(run_server, peer, scenario.compression)
        else:
            result = trio.run(
                run_client,
                peer,
                scenario,
                args.count,
                args.connections,
                args.duration,
                args.warm_up,
            )
            print("RESULT " + json.dumps({**result, "version": peer.version}), flush=True)
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)


if __name__ == "__main__":
    main()
