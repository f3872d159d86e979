"""In-memory transports: two connected streams and no sockets, for tests.

The streams come from :mod:`trio.testing` (which library code may import:
it is an ordinary part of trio). Layer TLS over them with
:func:`~ws.transports.tls_stream`, :func:`~ws.transports.wrap_client_tls`
and :func:`~ws.transports.wrap_server_tls`.
"""

from __future__ import annotations

import trio.testing

from ws.transports.endpoint import Connected

__all__ = ["memory_pair"]


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
