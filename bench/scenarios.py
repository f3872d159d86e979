"""The scenarios of the side-by-side benchmark, and how their figures are computed.

Each scenario is run by a client process (:mod:`bench.worker`) against an
echo server in another process. The client reports raw counts (operations,
payload bytes, seconds, wire bytes); :meth:`Scenario.figure` turns them
into the figure of the table.
"""

from __future__ import annotations

import enum
from typing import Final

import attrs


class Kind(enum.Enum):
    """How the client exercises the server."""

    ROUND_TRIP = "round-trip"  # send, await the echo, repeat
    PIPELINED = "pipelined"  # a sender task and a receiver task
    CONCURRENT = "concurrent"  # many connections doing round trips at once
    HANDSHAKE = "handshake"  # sequential open + close
    MEMORY = "memory"  # many idle connections, server memory measured
    DEFLATE = "deflate"  # round trips of JSON-like text, compression on


@attrs.frozen
class Scenario:
    """One column (two for deflate) of the results table.

    Attributes:
        name: The name ``--only`` takes.
        title: The column header.
        kind: What the client does.
        size: Payload bytes per message (0 when there are none).
        binary: Binary messages (else text).
        count: Most operations per connection in a full run.
        quick_count: Most operations per connection with ``--quick``.
        connections: Connections at once in a full run.
        quick_connections: Connections at once with ``--quick``.
        higher_is_better: False for memory.
    """

    name: str
    title: str
    kind: Kind
    size: int
    binary: bool
    count: int
    quick_count: int
    connections: int = 1
    quick_connections: int = 1
    higher_is_better: bool = True

    @property
    def compression(self) -> bool:
        """Whether this scenario runs with permessage-deflate on."""
        return self.kind is Kind.DEFLATE

    def figure(self, result: dict[str, float]) -> float:
        """The table's figure from a client's (and server's) raw counts.

        ``result`` has ``ops``, ``seconds``, ``bytes`` (payload bytes
        received), and for memory ``memory_delta`` (bytes, server side).
        """
        if self.kind is Kind.MEMORY:
            return result["memory_delta"] / result["ops"] / 1024
        if self.kind is Kind.DEFLATE or self.size >= 65536:
            return result["bytes"] / result["seconds"] / 1e6
        return result["ops"] / result["seconds"]


#: In the order of the table's columns.
SCENARIOS: Final = (
    Scenario("roundtrip", "64 B round trips (rt/s)", Kind.ROUND_TRIP, 64, False, 100_000, 200),
    Scenario("pipelined", "64 B pipelined (msg/s)", Kind.PIPELINED, 64, False, 1_000_000, 500),
    Scenario("echo-1m", "1 MiB echo (MB/s)", Kind.ROUND_TRIP, 1 << 20, True, 5_000, 3),
    Scenario("echo-64k", "64 KiB echo (MB/s)", Kind.ROUND_TRIP, 1 << 16, True, 50_000, 20),
    Scenario(
        "connections",
        "500 conns x 200 rt (rt/s)",
        Kind.CONCURRENT,
        64,
        False,
        200,
        5,
        connections=500,
        quick_connections=10,
    ),
    Scenario("handshake", "open + close (conn/s)", Kind.HANDSHAKE, 0, False, 20_000, 10),
    Scenario(
        "memory",
        "idle memory (KiB/conn)",
        Kind.MEMORY,
        64,
        False,
        1,
        1,
        connections=1000,
        quick_connections=20,
        higher_is_better=False,
    ),
    Scenario("deflate", "deflate 8 KiB JSON (MB/s)", Kind.DEFLATE, 8192, False, 50_000, 5),
)

BY_NAME: Final = {scenario.name: scenario for scenario in SCENARIOS}
