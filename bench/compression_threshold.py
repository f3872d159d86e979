"""What permessage-deflate costs and saves on small messages: the data behind ``threshold``.

Run it from the project root::

    python bench/compression_threshold.py            # about half a minute
    python bench/compression_threshold.py --quick    # a smoke test, a few seconds

For message sizes from 16 bytes to 4 KiB, it sends a fixed, seeded corpus
of JSON messages (chat lines, trades, quotes, order-book updates: similar
to each other but never identical, as real traffic is) from one sans-IO
:class:`ws.protocol.Protocol` to another, with permessage-deflate
negotiated by the default factories (context takeover on). Each message
goes once compressed and once not (``compress=True`` / ``False``), and the
script prints, per size:

* the bytes on the wire per message, frame header included, both ways;
* the CPU time per message for the whole trip: make the frame (compress,
  mask), parse it, inflate, decode the text. ``time.process_time`` over
  many messages, the best of several repetitions (the least disturbed by
  other processes on a shared machine), the two modes taking turns;
* what compression costs per byte it saves: extra CPU per message divided
  by the bytes saved per message.

Both directions are measured: server to client (the server's defaults:
12-bit window, memLevel 5; the client unmasks nothing) and client to server
(15-bit window, memLevel 8; masked frames).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ws.events import Message  # noqa: E402
from ws.extensions.permessage_deflate import (  # noqa: E402
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from ws.protocol import Protocol, Side  # noqa: E402

SIZES = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
#: The corpus of each size holds at least this many bytes, four times the
#: largest window (32 KiB): were it shorter, the compressor would find
#: whole earlier copies of each message in its window once the corpus
#: repeats, which real traffic does not offer.
CORPUS_BYTES = 4 * 32768
SEED = 7692

_WORDS = (
    "the a to and of in is it you that for on with this be are have not at was "
    "but so if we can just what all do get like my your now no one up out about "
    "how when there know will think time see good new back yes ok thanks sure "
    "meeting today tomorrow later order price market deploy build release fixed "
    "issue ticket review merge branch server client test broken works again "
    "coffee lunch call team update soon check looks great done please maybe"
).split()
_USERS = ("ana", "bo", "chen", "dara", "eli", "fatou", "gus", "hana", "ivo", "jun")
_ROOMS = ("general", "ops", "random", "trading", "support")
_SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD", "AAPL", "MSFT", "EURUSD", "XAUUSD")


@attrs.define(eq=False)
class _Market:
    """Random-walk prices, so that consecutive quotes differ a little."""

    rng: random.Random
    prices: dict[str, float] = attrs.Factory(dict)
    clock: int = 1_718_000_000_000

    def tick(self) -> tuple[str, float, int]:
        symbol = self.rng.choice(_SYMBOLS)
        price = self.prices.get(symbol) or self.rng.uniform(1, 70_000)
        price = round(price * (1 + self.rng.gauss(0, 0.0005)), 2)
        self.prices[symbol] = price
        self.clock += self.rng.randrange(1, 900)
        return symbol, price, self.clock


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _message(rng: random.Random, market: _Market, size: int) -> str:
    """One JSON message of about ``size`` bytes, of a kind that size is typical of."""
    symbol, price, ts = market.tick()
    if size <= 24:
        return _dumps({"p": price})
    if size <= 48:
        return _dumps({"s": symbol, "p": price, "q": rng.randrange(1, 5000)})
    if size <= 96:
        return _dumps(
            {"e": "trade", "s": symbol, "p": f"{price:.2f}", "q": f"{rng.random():.4f}", "T": ts}
        )
    if rng.random() < 0.5:
        # A chat line: the text grows to the size.
        line = {
            "type": "chat",
            "room": rng.choice(_ROOMS),
            "user": rng.choice(_USERS),
            "id": rng.randrange(10**7),
            "ts": ts,
            "text": "",
        }
        words: list[str] = []
        while len(_dumps(line)) < size:
            words.append(rng.choice(_WORDS))
            line["text"] = " ".join(words)
        return _dumps(line)
    # An order-book update: levels are added up to the size.
    book: dict[str, object] = {"e": "depth", "s": symbol, "T": ts, "b": [], "a": []}
    bids: list[list[str]] = []
    asks: list[list[str]] = []
    book["b"], book["a"] = bids, asks
    step = max(0.01, round(price * 0.0001, 2))
    while len(_dumps(book)) < size:
        side = bids if len(bids) <= len(asks) else asks
        sign = -1 if side is bids else 1
        level = price + sign * step * (len(side) + 1)
        side.append([f"{level:.2f}", f"{rng.random() * 10:.3f}"])
    return _dumps(book)


def corpus(size: int) -> list[str]:
    """The seeded corpus of messages of about ``size`` bytes, ``CORPUS_BYTES`` in all."""
    rng = random.Random(SEED * 100_003 + size)
    market = _Market(rng)
    return [_message(rng, market, size) for _ in range(CORPUS_BYTES // size + 1)]


def pair(server_sends: bool) -> tuple[Protocol, Protocol]:
    """A sender and a receiver with permessage-deflate negotiated by the default factories.

    ``threshold=0``: the script chooses per message with ``compress=``.
    """
    client_factory = ClientPerMessageDeflateFactory(threshold=0)
    server_factory = ServerPerMessageDeflateFactory(threshold=0)
    params, server_ext = server_factory.process_request_params(
        client_factory.get_request_params(), []
    )
    client_ext = client_factory.process_response_params(params, [])
    server = Protocol(Side.SERVER, [server_ext], max_message_size=None)
    client = Protocol(Side.CLIENT, [client_ext], max_message_size=None)
    return (server, client) if server_sends else (client, server)


Trip = Callable[[int], int]


def trip(sender: Protocol, receiver: Protocol, messages: list[str], compress: bool) -> Trip:
    """``run(count)`` sends ``count`` messages through the pair; returns the wire bytes."""
    send_text = sender.send_text
    data_to_send = sender.data_to_send
    receive_data = receiver.receive_data
    events_received = receiver.events_received
    total = len(messages)
    position = 0

    def run(count: int) -> int:
        nonlocal position
        wire = 0
        for _ in range(count):
            send_text(messages[position], True, compress)
            position = (position + 1) % total
            for chunk in data_to_send():
                wire += len(chunk)
                receive_data(chunk)
            events_received()
        return wire

    return run


@attrs.frozen
class Row:
    """The figures of one size and direction."""

    size: int
    payload: float  # mean JSON bytes per message
    wire_plain: float  # wire bytes per message, uncompressed
    wire_deflate: float
    cpu_plain: float  # CPU seconds per message
    cpu_deflate: float

    @property
    def saved(self) -> float:
        """Wire bytes saved per message by compressing."""
        return self.wire_plain - self.wire_deflate

    @property
    def ns_per_byte(self) -> float:
        """Extra CPU nanoseconds per byte saved (inf when nothing is saved)."""
        if self.saved <= 0:
            return float("inf")
        return (self.cpu_deflate - self.cpu_plain) * 1e9 / self.saved


def check(sender: Protocol, receiver: Protocol, messages: list[str], compress: bool) -> None:
    """Send the corpus once and check every message arrives intact (and warm the window)."""
    for message in messages:
        sender.send_text(message, True, compress)
        for chunk in sender.data_to_send():
            receiver.receive_data(chunk)
        events = receiver.events_received()
        assert events == [Message(message)], (message, events)


def measure(size: int, server_sends: bool, repeats: int, target: float) -> Row:
    """Bytes and CPU per message for one size and direction, both modes."""
    messages = corpus(size)
    runs: dict[bool, Trip] = {}
    wire: dict[bool, float] = {}
    for compress in (False, True):
        sender, receiver = pair(server_sends)
        check(sender, receiver, messages, compress)
        run = trip(sender, receiver, messages, compress)
        # Steady state: the second pass through the corpus, window warm.
        wire[compress] = run(len(messages)) / len(messages)
        runs[compress] = run
    # Calibrate the count so that one repetition takes about `target` seconds.
    count = 200
    while True:
        start = time.process_time()
        runs[True](count)
        spent = time.process_time() - start
        if spent >= target / 4 or count >= 1 << 22:
            break
        count *= 2
    count = max(50, int(count * target / max(spent, 1e-6)))
    best = {False: float("inf"), True: float("inf")}
    for _ in range(repeats):
        for compress in (False, True):
            start = time.process_time()
            runs[compress](count)
            best[compress] = min(best[compress], (time.process_time() - start) / count)
    payload = sum(len(message.encode()) for message in messages) / len(messages)
    return Row(size, payload, wire[False], wire[True], best[False], best[True])


def table(title: str, rows: list[Row]) -> str:
    """The markdown table of one direction."""
    lines = [
        f"{title}",
        "",
        "| size | JSON bytes | wire, plain | wire, deflate | saved | CPU plain (us) "
        "| CPU deflate (us) | extra CPU (us) | ns per byte saved |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        saved_pct = 100 * row.saved / row.wire_plain
        per_byte = "-" if row.ns_per_byte == float("inf") else f"{row.ns_per_byte:,.0f}"
        lines.append(
            f"| {row.size} | {row.payload:,.1f} | {row.wire_plain:,.1f} | {row.wire_deflate:,.1f} "
            f"| {row.saved:,.1f} ({saved_pct:.0f}%) | {row.cpu_plain * 1e6:.2f} "
            f"| {row.cpu_deflate * 1e6:.2f} | {(row.cpu_deflate - row.cpu_plain) * 1e6:.2f} "
            f"| {per_byte} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke-test run")
    parser.add_argument("--repeats", type=int, default=None, help="repetitions per figure (best is kept)")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 7)
    target = 0.01 if args.quick else 0.15
    print(
        f"permessage-deflate on small JSON messages: Python {sys.version.split()[0]}, "
        f"zlib {zlib.ZLIB_RUNTIME_VERSION}, best of {repeats}, context takeover"
    )
    for server_sends, title in (
        (True, "server to client (12-bit window, memLevel 5)"),
        (False, "client to server (15-bit window, memLevel 8, masked)"),
    ):
        rows = []
        for size in SIZES:
            print(f"  measuring {size} B, {title.split(' (')[0]}", file=sys.stderr)
            rows.append(measure(size, server_sends, repeats, target))
        print()
        print(table(title, rows))


if __name__ == "__main__":
    main()
