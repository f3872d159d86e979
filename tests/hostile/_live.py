"""The defending side: a live ``ws`` echo server, a well-behaved client, memory meters.

Every attack test starts :func:`live_server` in its own nursery, attacks
``server.port`` with :mod:`tests.hostile._raw`, then checks with
:func:`check_echo` that a well-behaved ``ws`` client still gets its echo
promptly, and with :class:`MemoryMeter` that the memory the server used
stayed bounded. The server runs in the test process, so ``tracemalloc``
sees its allocations (and the attacker's, which the tests keep small and
allocate before measuring).
"""

from __future__ import annotations

import gc
import math
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Final

import attrs
import trio

import ws
from ws.options import DEFAULT_MAX_MESSAGE_SIZE, Compression
from tests.hostile._raw import RawPeer, connect

__all__ = [
    "CLOSE_AFTER_ONE",
    "FAST",
    "PROMPT",
    "MiB",
    "LiveServer",
    "MemoryMeter",
    "check_echo",
    "live_server",
    "options",
    "unwrap_single_exception",
    "wait_until",
]

#: How long a well-behaved client may take for one echo (virtual seconds
#: under the MockClock, real ones otherwise): "promptly".
PROMPT: Final = 5.0


def options(
    *,
    compression: Compression = "deflate",
    max_message_size: float = DEFAULT_MAX_MESSAGE_SIZE,
    connect_timeout: float = 10,
    disconnect_timeout: float = 5,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
) -> ws.ServerOptions:
    """Server options for attack tests: short timeouts and no keepalive unless asked."""
    return ws.ServerOptions(
        compression=compression,
        max_message_size=max_message_size,
        connect_timeout=connect_timeout,
        disconnect_timeout=disconnect_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
    )


#: The path on which the echo server closes after one message.
CLOSE_AFTER_ONE: Final = "/close-after-one"

#: Options for tests that are not about timeouts or compression.
FAST: Final = options(compression=None)


@attrs.define(eq=False)
class LiveServer:
    """A running echo server and what its handlers saw.

    Attributes:
        port: The TCP port on 127.0.0.1.
        started: Handlers that began (one per complete, valid request).
        running: Handlers still running.
        closes: The close codes handlers saw, in order.
        errors: Exceptions other than ``ConnectionClosed`` raised in handlers.

    A connection to the path ``/close-after-one`` is closed by the server
    (1000) after one echo; every other path echoes until the client closes.
    """

    port: int = 0
    started: int = 0
    running: int = 0
    closes: list[int] = attrs.Factory(list)
    errors: list[BaseException] = attrs.Factory(list)
    peers: list[RawPeer] = attrs.Factory(list)

    @property
    def url(self) -> str:
        """The server's ws:// URL."""
        return f"ws://127.0.0.1:{self.port}/"

    async def attack(self) -> RawPeer:
        """Open a raw connection to the server; it is closed when the server stops."""
        peer = await connect(self.port)
        self.peers.append(peer)
        return peer

    async def handler(self, request: ws.WebSocketRequest) -> None:
        """Accept and echo every message (only one on ``/close-after-one``)."""
        self.started += 1
        self.running += 1
        try:
            connection = await request.accept()
            limit = 1 if request.path == CLOSE_AFTER_ONE else math.inf
            echoed = 0
            while echoed < limit:
                message = await connection.get_message()
                await connection.send_message(message)
                echoed += 1
            await connection.aclose()
        except ws.ConnectionClosed as exc:
            self.closes.append(exc.reason.code)
        except Exception as exc:
            self.errors.append(exc)
            raise
        finally:
            self.running -= 1


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    leaves: list[BaseException] = []
    for exc in group.exceptions:
        leaves.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return leaves


@contextmanager
def unwrap_single_exception() -> Iterator[None]:
    """Re-raise a lone exception out of the test's own nurseries, for readable failures."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        if len(leaves) == 1:
            raise leaves[0] from None
        raise


@asynccontextmanager
async def live_server(server_options: ws.ServerOptions = FAST) -> AsyncIterator[LiveServer]:
    """Run an echo server on 127.0.0.1 for the duration of the block.

    On exit, checks that no handler failed with an unexpected exception;
    an exception escaping the server itself fails the test through the nursery.
    """
    state = LiveServer()
    with unwrap_single_exception():
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                partial(
                    ws.serve_websocket, state.handler, "127.0.0.1", 0, None, options=server_options
                )
            )
            assert isinstance(server, ws.WebSocketServer)
            state.port = server.port
            try:
                yield state
            finally:
                for peer in state.peers:
                    await trio.aclose_forcefully(peer.stream)
                nursery.cancel_scope.cancel()
    assert not state.errors, state.errors


async def check_echo(
    server: LiveServer,
    message: str = "still alive",
    *,
    compression: Compression = "deflate",
) -> None:
    """A well-behaved ``ws`` client connects and gets its echo promptly."""
    client_options = ws.ClientOptions(
        compression=compression, connect_timeout=PROMPT, disconnect_timeout=PROMPT,
        ping_interval=None, ping_timeout=None,
    )
    with trio.fail_after(3 * PROMPT):
        async with ws.open_websocket_url(server.url, options=client_options) as connection:
            await connection.send_message(message)
            assert await connection.get_message() == message
            await connection.send_message(message.encode())
            assert await connection.get_message() == message.encode()


async def wait_until(predicate: Callable[[], bool], *, poll: float = 0.1) -> None:
    """Wait (under the caller's cancel scope) until ``predicate()`` holds.

    Under the autojump clock each poll costs 50 ms of real idleness, so the
    interval is a tenth of a (virtual) second, not less.
    """
    while not predicate():
        await trio.sleep(poll)


@attrs.define(eq=False)
class MemoryMeter:
    """Measures, with tracemalloc, the peak memory allocated during a block.

    ``peak`` is the highest traced total during the block minus the total at
    its start: what the server (and the small attacker) allocated at most.
    """

    baseline: int = 0
    peak: int = 0
    current: int = 0
    _was_tracing: bool = False

    def __enter__(self) -> MemoryMeter:
        self._was_tracing = tracemalloc.is_tracing()
        gc.collect()
        if not self._was_tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        self.baseline = tracemalloc.get_traced_memory()[0]
        return self

    def sample(self) -> None:
        """Record the peak so far (call while the attack is in progress)."""
        current, peak = tracemalloc.get_traced_memory()
        self.current = current - self.baseline
        self.peak = max(self.peak, peak - self.baseline)

    def __exit__(self, *exc_info: object) -> None:
        self.sample()
        if not self._was_tracing:
            tracemalloc.stop()


MiB: Final = 1024 * 1024
