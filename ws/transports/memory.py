"""In-memory transports: two connected streams and no sockets, for tests.

The streams come from :mod:`trio.testing` (which library code may import:
it is an ordinary part of trio). Layer TLS over them with
:func:`~ws.transports.tls_stream`, :func:`~ws.transports.wrap_client_tls`
and :func:`~ws.transports.wrap_server_tls`.
"""

from __future__ import annotations

import math

import attrs
import trio
import trio.testing

from ws.transports.endpoint import Connected

__all__ = ["MemoryListener", "memory_pair"]


def memory_pair(*, lockstep: bool = False, name: str = "memory") -> tuple[Connected, Connected]:
    """Make a connected client and server over in-memory streams.

    Both streams have ``send_eof``, which closes one direction.

    Args:
        lockstep: ``False`` gives :func:`trio.testing.memory_stream_pair`
            (an unbounded buffer: ``send_all`` returns at once);
            ``True`` gives :func:`trio.testing.lockstep_stream_pair` (no
            buffer: ``send_all`` waits until the peer receives everything,
            which makes back-pressure visible).
        name: A label for this pair; the ends are described as
            ``f"{name}:client"`` and ``f"{name}:server"``.

    Returns:
        ``(client, server)``; the client's ``local`` is the server's
        ``remote`` and the other way round.
    """
    pair: tuple[trio.abc.HalfCloseableStream, trio.abc.HalfCloseableStream]
    if lockstep:
        pair = trio.testing.lockstep_stream_pair()
    else:
        pair = trio.testing.memory_stream_pair()
    client_stream, server_stream = pair
    client_end, server_end = f"{name}:client", f"{name}:server"
    return (
        Connected(client_stream, client_end, server_end),
        Connected(server_stream, server_end, client_end),
    )


@attrs.define(eq=False)
class MemoryListener(trio.abc.Listener[trio.abc.HalfCloseableStream]):
    """A listener for in-memory connections: no sockets, no ports.

    :meth:`connect` makes a :func:`memory_pair`, queues the server end for
    :meth:`accept` and returns the client end. Serve it like any listener,
    e.g. with :class:`ws.WebSocketServer` (which is what :mod:`ws.testing`
    does).

    Args:
        name: A label; connection ``n`` has the ends ``f"{name}-{n}:client"``
            and ``f"{name}-{n}:server"``.
    """

    name: str = "memory"
    _accepted: dict[int, Connected] = attrs.field(factory=dict, init=False)
    _count: int = attrs.field(default=0, init=False)
    _send: trio.MemorySendChannel[Connected] = attrs.field(init=False)
    _receive: trio.MemoryReceiveChannel[Connected] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[Connected](math.inf)

    def __repr__(self) -> str:
        # What WebSocketServer.listeners shows for it.
        return f"MemoryListener(name={self.name!r})"

    async def connect(self, *, lockstep: bool = False) -> Connected:
        """Open a connection to this listener; returns the client's end.

        Raises:
            trio.ClosedResourceError: The listener is closed.
        """
        await trio.lowlevel.checkpoint()
        self._count += 1
        client, server = memory_pair(lockstep=lockstep, name=f"{self.name}-{self._count}")
        try:
            self._send.send_nowait(server)
        except trio.BrokenResourceError:
            raise trio.ClosedResourceError(f"the listener {self.name!r} is closed") from None
        return client

    async def accept(self) -> trio.abc.HalfCloseableStream:
        """Wait for the next connection; returns the server's end of its stream."""
        try:
            connected = await self._receive.receive()
        except trio.EndOfChannel:  # pragma: no cover - only the listener closes the channel
            raise trio.ClosedResourceError("the listener is closed") from None
        stream = connected.stream
        assert isinstance(stream, trio.abc.HalfCloseableStream)
        self._accepted[id(stream)] = connected
        return stream

    def describe(self, stream: trio.abc.Stream) -> Connected:
        """The :class:`Connected` (with its named ends) for a stream :meth:`accept` returned."""
        connected = self._accepted.pop(id(stream), None)
        if connected is None or connected.stream is not stream:
            return Connected.from_stream(stream)
        return connected

    async def aclose(self) -> None:
        """Stop accepting; connections already accepted stay open."""
        self._send.close()
        await self._receive.aclose()
        for connected in self._accepted.values():
            await trio.aclose_forcefully(connected.stream)
        self._accepted.clear()
