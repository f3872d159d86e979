"""Memory while streaming one huge message: ``python -m bench.stream_memory``.

One process runs a ws server and a ws client over loopback TCP and streams
one message of ``--size`` bytes (1 GiB by default) in each direction: the
sender with ``send_message_fragments`` from a generator that reuses one
``--piece``-sized buffer, the receiver with ``get_message_fragments``,
counting the bytes and checking a running checksum. Settings are the
defaults (``max_message_size`` 1 MiB, which bounds each frame of a
streamed message), without compression unless ``--compression``.

For each direction it prints the peak resident set size (VmHWM) above what
the process held before that direction began, after resetting the peak
through ``/proc/self/clear_refs`` (Linux). Both ends live in this process,
so the figure covers the sender and the receiver together.
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Literal

import trio

import ws

_MIB = 1024 * 1024


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    # "5" resets VmHWM to the current RSS (Linux >= 4.0).
    Path("/proc/self/clear_refs").write_text("5")


async def _pieces(total: int, piece: int) -> AsyncIterator[bytes]:
    buffer = bytes(range(256)) * (piece // 256) + bytes(piece % 256)
    sent = 0
    while sent < total:
        chunk = buffer if total - sent >= piece else buffer[: total - sent]
        sent += len(chunk)
        yield chunk


async def _receive(pieces: AsyncIterator[str | bytes]) -> tuple[int, int]:
    size = 0
    crc = 0
    async for piece in pieces:
        assert isinstance(piece, bytes)
        size += len(piece)
        crc = zlib.crc32(piece, crc)
    return size, crc


def _expected_crc(total: int, piece: int) -> int:
    buffer = bytes(range(256)) * (piece // 256) + bytes(piece % 256)
    crc = 0
    done = 0
    while done < total:
        chunk = buffer if total - done >= piece else buffer[: total - done]
        crc = zlib.crc32(chunk, crc)
        done += len(chunk)
    return crc


async def _direction(
    sender: ws.WebSocketConnection, receiver: ws.WebSocketConnection, total: int, piece: int
) -> tuple[float, int, int, int]:
    """Stream one message; return (seconds, RSS before and peak in KiB, bytes received)."""
    base = _status_kib("VmRSS")
    _reset_peak()
    result: list[tuple[int, int]] = []
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:

        # Asked for before the message comes: it is never held whole.
        pieces = receiver.get_message_fragments()

        async def receive() -> None:
            result.append(await _receive(pieces))

        nursery.start_soon(receive)
        await sender.send_message_fragments(_pieces(total, piece))
    seconds = time.perf_counter() - start
    peak = _status_kib("VmHWM")
    size, crc = result[0]
    if size != total or crc != _expected_crc(total, piece):
        raise SystemExit(f"received {size} bytes (crc {crc:#x}), not the {total} sent")
    return seconds, base, peak, size


async def main(total: int, piece: int, compression: bool) -> None:
    accepted: list[ws.WebSocketConnection] = []
    server_done = trio.Event()
    compress: Literal["deflate"] | None = "deflate" if compression else None

    async def handler(request: ws.WebSocketRequest) -> None:
        accepted.append(await request.accept())
        await server_done.wait()

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(ws.serve_websocket, handler, "127.0.0.1", 0, None, compression=compress)
        )
        port = server.port
        async with ws.open_websocket_url(
            f"ws://127.0.0.1:{port}/", compression=compress, ping_interval=None
        ) as client:
            while not accepted:
                await trio.sleep(0.01)
            served = accepted[0]
            print(f"streaming {total / _MIB:,.0f} MiB in {piece / 1024:,.0f} KiB pieces, "
                  f"compression {'on' if compression else 'off'}")
            for name, sender, receiver in (
                ("client -> server", client, served),
                ("server -> client", served, client),
            ):
                seconds, base, peak, size = await _direction(sender, receiver, total, piece)
                print(
                    f"{name}: {size:,} bytes in {seconds:.2f} s ({size / _MIB / seconds:,.0f} MiB/s); "
                    f"RSS {base / 1024:.1f} MiB before, peak {peak / 1024:.1f} MiB: "
                    f"+{(peak - base) / 1024:.1f} MiB"
                )
            server_done.set()
        nursery.cancel_scope.cancel()


def _size(text: str) -> int:
    units = {"k": 1024, "m": _MIB, "g": 1024 * _MIB}
    text = text.strip().lower().removesuffix("ib").removesuffix("b")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=_size, default=_size("1GiB"), help="message size (default 1GiB)")
    parser.add_argument("--piece", type=_size, default=_size("64KiB"), help="piece size (default 64KiB)")
    parser.add_argument("--compression", action="store_true", help="negotiate permessage-deflate")
    arguments = parser.parse_args()
    if not Path("/proc/self/clear_refs").exists():
        sys.exit("needs Linux's /proc/self/clear_refs to measure the peak RSS")
    trio.run(main, arguments.size, arguments.piece, arguments.compression)
