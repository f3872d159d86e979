"""Micro-benchmark of the sans-IO codec: parsing, serializing, masking, deflate.

Run it from the project root::

    python bench/codec.py            # about 20 seconds
    python bench/codec.py --quick    # a smoke test, about 2 seconds

It prints a markdown table of throughput in MB/s (10**6 bytes of payload per
second; for deflate, of uncompressed text). Each figure is the median of
several timed runs, and every loop is bounded by a time budget, so the
script ends in about the same time on any machine. Figures vary with the
machine and its load; compare them within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ws.frames import Frame, FrameParser, Opcode, apply_mask, serialize  # noqa: E402
from ws.extensions.base import Extension  # noqa: E402
from ws.extensions.permessage_deflate import (  # noqa: E402
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from ws.frames import mask as mask_module  # noqa: E402

KEY = b"\x12\x34\x56\x78"


Work = Callable[[], tuple[int, float]]


def timed(body: Callable[[], int]) -> Work:
    """Wrap ``body`` (which returns payload bytes done) so it reports its own time."""

    def work() -> tuple[int, float]:
        start = time.perf_counter()
        done = body()
        return done, time.perf_counter() - start

    return work


def measure(work: Work, budget: float, runs: int) -> float:
    """Median MB/s of ``work`` over ``runs`` runs of about ``budget / runs`` seconds each.

    ``work`` returns the payload bytes it processed and the seconds that
    count (setup it does outside its own timer is not counted).
    """
    rates = []
    for _ in range(runs):
        done = 0
        spent = 0.0
        deadline = time.perf_counter() + budget / runs
        while True:
            nbytes, seconds = work()
            done += nbytes
            spent += seconds
            if time.perf_counter() >= deadline:
                break
        rates.append(done / spent / 1e6)
    return statistics.median(rates)


def parse_work(size: int) -> Work:
    """Parse and unmask a batch of masked frames of ``size`` bytes, fed in 64 KiB reads."""
    count = max(1, (1 << 20) // size)
    wire = b"".join(serialize(Opcode.BINARY, os.urandom(size), mask_key=KEY) for _ in range(count))
    reads = [wire[i : i + 65536] for i in range(0, len(wire), 65536)]

    def work() -> int:
        parser = FrameParser(mask_required=True)
        frames = 0
        for chunk in reads:
            parser.feed(chunk)
            while parser.next_frame() is not None:
                frames += 1
        assert frames == count
        return count * size

    return timed(work)


def serialize_work(size: int) -> Work:
    """Serialize and mask a batch of frames of ``size`` bytes."""
    count = max(1, (1 << 20) // size)
    payload = os.urandom(size)

    def work() -> int:
        for _ in range(count):
            serialize(Opcode.BINARY, payload, True, 0, KEY)
        return count * size

    return timed(work)


def json_text(size: int) -> bytes:
    """JSON-like text of about ``size`` bytes, with realistic repetition."""
    rng = random.Random(42)
    words = ["alpha", "beta", "gamma", "delta", "user", "id", "status", "ok", "items", "price"]
    records = []
    total = 0
    while total < size:
        record = {
            "id": rng.randrange(10**6),
            "name": " ".join(rng.choice(words) for _ in range(3)),
            "active": rng.random() < 0.5,
            "score": round(rng.random() * 100, 2),
            "tags": rng.sample(words, 3),
        }
        text = json.dumps(record)
        records.append(text)
        total += len(text) + 1
    return ("[" + ",".join(records) + "]").encode()[:size]


def deflate_works(size: int) -> tuple[Work, Work, float]:
    """Compress and inflate JSON-like messages with permessage-deflate's defaults."""
    client_factory = ClientPerMessageDeflateFactory()
    server_factory = ServerPerMessageDeflateFactory()
    text = json_text(size)
    count = max(1, (1 << 20) // size)

    def pair() -> tuple[Extension, Extension]:
        params, sender = server_factory.process_request_params(
            client_factory.get_request_params(), []
        )
        return sender, client_factory.process_response_params(params, [])

    server_ext, _ = pair()
    ratio = len(text) / len(server_ext.encode(Frame(Opcode.TEXT, text)).payload)

    def encode() -> int:
        for _ in range(count):
            server_ext.encode(Frame(Opcode.TEXT, text))
        return count * size

    def decode() -> tuple[int, float]:
        # The client must inflate what its own peer deflated, in order (the
        # LZ77 window is shared across messages): compress outside the timer.
        sender, receiver = pair()
        frames = [sender.encode(Frame(Opcode.TEXT, text)) for _ in range(count)]
        start = time.perf_counter()
        for frame in frames:
            receiver.decode(frame, max_size=None)
        return count * size, time.perf_counter() - start

    return timed(encode), decode, ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke-test run")
    args = parser.parse_args()
    budget, runs = (0.2, 3) if args.quick else (2.0, 5)

    masking = "C helper" if getattr(mask_module, "SPEEDUPS", False) else "pure Python"
    print(f"ws codec micro-benchmark: Python {sys.version.split()[0]}, masking: {masking}")
    print()
    print("| operation | 64 B | 1 MiB |")
    print("|---|---:|---:|")
    for name, maker in (("parse + unmask", parse_work), ("serialize + mask", serialize_work)):
        small = measure(maker(64), budget, runs)
        large = measure(maker(1 << 20), budget, runs)
        print(f"| {name} (MB/s) | {small:,.1f} | {large:,.1f} |")
    small_mask = measure(timed(lambda: len(apply_mask(b"x" * 64, KEY))), budget, runs)
    big = os.urandom(1 << 20)
    large_mask = measure(timed(lambda: len(apply_mask(big, KEY))), budget, runs)
    print(f"| apply_mask alone (MB/s) | {small_mask:,.1f} | {large_mask:,.1f} |")
    print()
    print("| permessage-deflate, JSON-like text | 1 KiB messages | 64 KiB messages |")
    print("|---|---:|---:|")
    rows: dict[str, list[str]] = {"deflate (MB/s)": [], "inflate (MB/s)": [], "ratio": []}
    for size in (1024, 65536):
        encode, decode, ratio = deflate_works(size)
        rows["deflate (MB/s)"].append(f"{measure(encode, budget, runs):,.1f}")
        rows["inflate (MB/s)"].append(f"{measure(decode, budget, runs):,.1f}")
        rows["ratio"].append(f"{ratio:.1f}x")
    for name, cells in rows.items():
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
