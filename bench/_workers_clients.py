"""The client processes of ``python -m bench.workers``: load and idle clients.

``python -m bench._workers_clients load|idle --port PORT ...`` is started by
:mod:`bench.workers`, never by hand. No client uses a WebSocket library:
they speak the few frames they need by hand (the opening handshake, masked
64-byte text frames, pongs). The load clients poll plain sockets with epoll
in one thread, not Trio, with a short sleep between polls so that each
wake-up reads many echoes: on a small machine the clients share the CPUs
with the workers, and every cycle a client saves is left to the workers.
The idle clients run on Trio, one task per connection. A client talks to
the orchestrator in lines (``READY``, ``MARK <json>``, ``OPENED <json>``,
``CHECKED <json>``), takes commands on its stdin, and exits when its stdin
ends.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import attrs
import trio

ROOT: Final = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make "bench" importable
    sys.path.insert(0, str(ROOT))

HOST: Final = "127.0.0.1"
#: The message every client sends, and the echo it expects: 64 bytes of ASCII text.
MESSAGE: Final = (b"0123456789abcdefghijklmnopqrstuvwxyz" * 2)[:64]
TEXT: Final = 0x1
CLOSE: Final = 0x8
PING: Final = 0x9
PONG: Final = 0xA
#: The echo as a server sends it: FIN + text, unmasked, 7-bit length.
ECHO_FRAME: Final = bytes([0x80 | TEXT, len(MESSAGE)]) + MESSAGE
#: Connection attempts in flight at once per client process (the listen backlog is finite).
CONNECT_AT_ONCE: Final = 100
#: Seconds for one connection and its opening handshake.
CONNECT_TIMEOUT: Final = 60.0
#: Seconds the idle clients wait for every echo of the final check.
CHECK_TIMEOUT: Final = 60.0
#: Linux's IP_BIND_ADDRESS_NO_PORT: bind the source address now, the port at connect().
IP_BIND_ADDRESS_NO_PORT: Final = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


# ----------------------------------------------------------------------------- the wire


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A final client frame, masked with a fresh key; the payload is under 126 bytes."""
    key = os.urandom(4)
    masked = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + key + masked


def handshake_request(path: str) -> bytes:
    """An opening request that offers no extension (so no compression)."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


class ProtocolTrouble(Exception):
    """The server refused a handshake, closed a connection or sent something unexpected."""


def after_response(head: bytes) -> ServerFrames:
    """Check the server's answer to :func:`handshake_request` (all of it, up to a blank line).

    Returns:
        The connection's frame reader, fed with what came after the answer.

    Raises:
        ProtocolTrouble: Not a 101 answer, or a control frame right after it.
    """
    head, _, rest = head.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101 "):
        raise ProtocolTrouble(f"handshake refused: {head[:80]!r}")
    frames = ServerFrames()
    if frames.feed(rest)[1]:
        raise ProtocolTrouble("a control frame came with the handshake response")
    return frames


@attrs.define(eq=False)
class ServerFrames:
    """Splits what a server sends into frames: counts the echoes, returns the control frames."""

    _buffer: bytearray = attrs.Factory(bytearray)
    #: Echo frames back to back: most reads are a run of whole echoes, checked at once.
    _run: bytes = ECHO_FRAME * 64

    def feed(self, data: bytes) -> tuple[int, list[tuple[int, bytes]]]:
        """Take ``data``; return (echoes completed, [(opcode, payload)] of other frames).

        Raises:
            ProtocolTrouble: A frame that is not an echo of :data:`MESSAGE` nor a control frame.
        """
        size = len(data)
        if not self._buffer and size % len(ECHO_FRAME) == 0 and data == self._run[:size]:
            return size // len(ECHO_FRAME), []
        buffer = self._buffer
        buffer += data
        echoes = 0
        controls: list[tuple[int, bytes]] = []
        position = 0
        end = len(buffer)
        while end - position >= 2:
            first = buffer[position]
            length = buffer[position + 1]
            head = 2
            if length & 0x80:
                raise ProtocolTrouble("the server sent a masked frame")
            if length == 126:
                if end - position < 4:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 4], "big")
                head = 4
            elif length == 127:
                if end - position < 10:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 10], "big")
                head = 10
            stop = position + head + length
            if stop > end:
                break
            payload = bytes(buffer[position + head : stop])
            opcode = first & 0x0F
            if opcode >= CLOSE:
                controls.append((opcode, payload))
            elif first != 0x80 | TEXT or payload != MESSAGE:
                raise ProtocolTrouble(f"expected the echo, got opcode {opcode}: {payload[:40]!r}")
            else:
                echoes += 1
            position = stop
        del buffer[:position]
        return echoes, controls


async def connect(port: int, source: str | None) -> tuple[trio.SocketStream, ServerFrames]:
    """Open a TCP connection (from ``source`` if given) and do the opening handshake.

    Raises:
        OSError: The connection failed.
        ProtocolTrouble: The server did not answer 101.
    """
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
    try:
        if source is not None:
            if sys.platform == "linux":  # the port is then chosen per destination
                sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            await sock.bind((source, 0))
        await sock.connect((HOST, port))
    except BaseException:
        sock.close()
        raise
    stream = trio.SocketStream(sock)
    try:
        await stream.send_all(handshake_request("/"))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await stream.receive_some(4096)
            if not chunk:
                raise ProtocolTrouble("the server closed the connection during the handshake")
            head += chunk
        return stream, after_response(head)
    except BaseException:
        sock.close()
        raise


OnOpen = Callable[[trio.SocketStream, ServerFrames], None]


async def open_many(
    port: int, count: int, source: str | None, on_open: OnOpen
) -> tuple[int, list[str]]:
    """Open ``count`` connections, CONNECT_AT_ONCE at a time; return (opened, errors)."""
    limiter = trio.CapacityLimiter(CONNECT_AT_ONCE)
    errors: list[str] = []
    opened = 0

    async def one() -> None:
        nonlocal opened
        async with limiter:
            try:
                with trio.fail_after(CONNECT_TIMEOUT):
                    stream, frames = await connect(port, source)
            except (OSError, ProtocolTrouble, trio.TooSlowError, trio.BrokenResourceError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return
        opened += 1
        on_open(stream, frames)

    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(one)
    return opened, errors


async def read_command() -> str | None:
    """The next line of stdin, stripped; ``None`` at its end (the orchestrator is done)."""
    line = await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
    return line.strip() if line else None


#: What a client process reports in a line: ``PREFIX <json>``.
Answer = dict[str, float | int | str]


def say(prefix: str, values: Answer) -> None:
    """Print ``PREFIX <json>`` for the orchestrator."""
    print(f"{prefix} {json.dumps(values)}", flush=True)


# ----------------------------------------------------------------------------- load clients


def open_blocking(port: int, count: int) -> list[tuple[socket.socket, ServerFrames]]:
    """Open ``count`` connections with plain blocking sockets, CONNECT_AT_ONCE at a time.

    Raises:
        OSError: A connection failed.
        ProtocolTrouble: The server refused a handshake.
    """
    done: list[tuple[socket.socket, ServerFrames]] = []
    while len(done) < count:
        batch = []
        for _ in range(min(CONNECT_AT_ONCE, count - len(done))):
            sock = socket.create_connection((HOST, port), timeout=CONNECT_TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(handshake_request("/"))
            batch.append(sock)
        for sock in batch:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk:
                    raise ProtocolTrouble("the server closed a connection during the handshake")
                head += chunk
            sock.settimeout(None)  # blocking: reads only when epoll says so; sends are small
            done.append((sock, after_response(head)))
    return done


@attrs.define(eq=False)
class Commands:
    """Lines from the orchestrator on stdin, read without Python's buffering (for epoll)."""

    _pending: bytes = b""

    def read(self) -> list[str] | None:
        """The complete lines that came; ``None`` once stdin has ended."""
        chunk = os.read(sys.stdin.fileno(), 4096)
        if not chunk:
            return None
        self._pending += chunk
        *lines, self._pending = self._pending.split(b"\n")
        return [line.decode().strip() for line in lines]


def run_load(port: int, connections: int, window: int, pause: float) -> None:
    """Open the connections, print READY; from ``go`` on, echo; answer each ``mark``.

    One thread polls every socket with epoll (``selectors``). A connection
    sends ``window`` messages in one write, and the next ``window`` once
    all their echoes are back. Between polls the process sleeps ``pause``
    seconds, so that echoes pile up and each wake-up reads many of them:
    the client then costs the workers' CPU little, and with hundreds of
    messages in flight the pause costs no throughput.
    """
    held = open_blocking(port, connections)
    selector = selectors.DefaultSelector()
    for number, (sock, _) in enumerate(held):
        selector.register(sock, selectors.EVENT_READ, number)
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, -1)
    commands = Commands()
    batch = b"".join(masked_frame(TEXT, MESSAGE) for _ in range(window))
    missing = [0] * len(held)
    echoes = 0
    going = False
    print("READY", flush=True)
    while True:
        if going and pause:
            time.sleep(pause)
        for key, _ in selector.select():
            index: int = key.data
            if index < 0:
                lines = commands.read()
                if lines is None:
                    return  # the orchestrator is done; exiting closes the sockets
                for command in lines:
                    if command == "go" and not going:
                        going = True
                        for number, (sock, _) in enumerate(held):
                            sock.sendall(batch)
                            missing[number] = window
                    elif command == "mark":
                        wall, cpu = time.perf_counter(), time.process_time()
                        say("MARK", {"echoes": echoes, "wall": wall, "cpu": cpu})
                continue
            sock, frames = held[index]
            data = sock.recv(65536)
            if not data:
                raise ProtocolTrouble("the server closed a connection under load")
            got, controls = frames.feed(data)
            echoes += got
            missing[index] -= got
            for opcode, payload in controls:
                if opcode == PING:
                    sock.sendall(masked_frame(PONG, payload))
                elif opcode == CLOSE:
                    raise ProtocolTrouble(f"the server closed a connection under load: {payload!r}")
            if missing[index] <= 0 and going:
                missing[index] += window
                sock.sendall(batch)


# ----------------------------------------------------------------------------- idle clients


@attrs.define(eq=False)
class Held:
    """One idle connection."""

    stream: trio.SocketStream
    frames: ServerFrames
    send_lock: trio.Lock = attrs.Factory(trio.Lock)
    open: bool = True
    awaiting_echo: bool = False


@attrs.define(eq=False)
class IdleClients:
    """The idle connections of one process, and the final check's bookkeeping."""

    held: list[Held] = attrs.Factory(list)
    lost: int = 0
    lost_reason: str = ""
    pending: int = 0
    echoed: int = 0
    all_echoed: trio.Event = attrs.Factory(trio.Event)

    async def hold(self, held: Held) -> None:
        """Answer pings until the connection ends; note the echo of the check."""
        reason = "the server closed the connection"
        try:
            while True:
                data = await held.stream.receive_some(4096)
                if not data:
                    break
                echoes, controls = held.frames.feed(data)
                if echoes and held.awaiting_echo:
                    held.awaiting_echo = False
                    self.echoed += 1
                    self._one_less()
                for opcode, payload in controls:
                    if opcode == PING:
                        async with held.send_lock:
                            await held.stream.send_all(masked_frame(PONG, payload))
                    elif opcode == CLOSE:
                        reason = f"the server sent a close frame {payload!r}"
                        return
        except (trio.BrokenResourceError, ProtocolTrouble) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            held.open = False
            self.lost += 1
            self.lost_reason = self.lost_reason or reason
            if held.awaiting_echo:
                held.awaiting_echo = False
                self._one_less()

    def _one_less(self) -> None:
        self.pending -= 1
        if self.pending == 0:
            self.all_echoed.set()

    async def check(self) -> Answer:
        """Send one message on every open connection and wait for the echoes."""
        self.all_echoed = trio.Event()
        self.echoed = 0
        alive = [held for held in self.held if held.open]
        self.pending = len(alive)
        if not alive:
            self.all_echoed.set()
        frame = masked_frame(TEXT, MESSAGE)
        for held in alive:
            held.awaiting_echo = True
            try:
                async with held.send_lock:
                    await held.stream.send_all(frame)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # its hold task notices and counts it lost
        with trio.move_on_after(CHECK_TIMEOUT):
            await self.all_echoed.wait()
        return {"sent": len(alive), "echoed": self.echoed, "lost": self.lost, "reason": self.lost_reason}


async def run_idle(port: int, source: str) -> None:
    """Open connections on ``open K`` (answering OPENED), check them on ``check`` (CHECKED)."""
    clients = IdleClients()
    async with trio.open_nursery() as nursery:

        def start(stream: trio.SocketStream, frames: ServerFrames) -> None:
            held = Held(stream, frames)
            clients.held.append(held)
            nursery.start_soon(clients.hold, held)

        while (command := await read_command()) is not None:
            name, _, argument = command.partition(" ")
            if name == "open":
                started = time.perf_counter()
                opened, errors = await open_many(port, int(argument), source, start)
                say(
                    "OPENED",
                    {
                        "opened": opened,
                        "failed": len(errors),
                        "error": errors[0] if errors else "",
                        "seconds": time.perf_counter() - started,
                        "lost": clients.lost,
                    },
                )
            elif name == "check":
                say("CHECKED", await clients.check())
        nursery.cancel_scope.cancel()



def client_main(argv: Sequence[str]) -> None:
    """``python -m bench.workers load|idle ...``: one client process (bench.workers starts them)."""
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description="a client process")
    parser.add_argument("role", choices=["load", "idle"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=1, help="load: connections")
    parser.add_argument("--window", type=int, default=8, help="load: messages in flight per connection")
    parser.add_argument("--source", default="127.0.0.2", help="idle: the source address")
    parser.add_argument("--pause", type=float, default=0.0005, help="load: seconds between polls")
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to a CPU")
    parser.add_argument("--limit", type=float, default=600.0, help="hard time limit (s)")
    args = parser.parse_args(argv)
    signal.alarm(max(1, int(args.limit)))  # the default action ends the process
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    if args.role == "load":
        run_load(args.port, args.connections, args.window, args.pause)
    else:
        trio.run(run_idle, args.port, args.source)




if __name__ == "__main__":
    client_main(sys.argv[1:])
