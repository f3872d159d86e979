"""An echo client for the Autobahn TestSuite's fuzzing server.

    kosoku -m fuzzingserver -o reports/clients 127.0.0.1:9001
    python examples/autobahn/client.py ws://127.0.0.1:9001 ws
    python examples/autobahn/client.py ws://127.0.0.1:9001 ws --cases 1-16 --concurrency 4

It asks the server how many cases there are (``/getCaseCount``), runs
each one (``/runCase?case=N&agent=NAME``) by echoing every message back,
text as text and binary as binary, until the server closes, and then asks
the server to write its reports (``/updateReports?agent=NAME``).

Three settings differ from ws's defaults. Every message is compressed
(``threshold=0``; see OPTIONS). Keepalive pings are off: the suite
records every ping it receives, and a case that gets one it did not ask for
fails. And permessage-deflate is offered twice, as ws's default offer and
then once more with ``client_no_context_takeover``: the fuzzing server
accepts the parameter sets of cases 13.2, 13.5 and 13.6 only from an offer
that includes it (a server that takes the first offer it can, as most do,
never sees the second).
"""

from __future__ import annotations

import argparse
import logging
from urllib.parse import quote

import trio

import ws

logger = logging.getLogger("autobahn-client")

OPTIONS = ws.ClientOptions(
    # The 9.x cases send messages of up to 16 MiB; leave room above that.
    max_message_size=64 * 1024 * 1024,
    message_queue_size=4,
    ping_interval=None,
    # threshold=0: every message compressed, as in examples/autobahn/server.py
    # (kosoku's 12.x/13.x cases fail on an uncompressed text message).
    compression=ws.ClientPerMessageDeflateFactory(threshold=0),
    # The ignore: ClientOptions.extensions converts with a bare `tuple`, whose
    # parameter type mypy's attrs plugin leaves unsolved (Iterable[_T_co]).
    extensions=(ws.ClientPerMessageDeflateFactory(client_no_context_takeover=True, threshold=0),),
)


async def get_case_count(url: str) -> int:
    """Ask the fuzzing server how many cases it runs."""
    async with ws.open_websocket_url(f"{url}/getCaseCount", options=OPTIONS) as connection:
        return int(await connection.get_message())


async def run_case(url: str, case: int, agent: str) -> None:
    """Run one case: echo every message until the server closes the connection."""
    try:
        async with ws.open_websocket_url(
            f"{url}/runCase?case={case}&agent={quote(agent)}", options=OPTIONS
        ) as connection:
            async for message in connection:
                await connection.send_message(message)
    except ws.ConnectionClosed as exc:
        # Many cases fail the connection on purpose.
        logger.debug("case %d: closed with %s", case, exc.reason)
    except ws.HandshakeError as exc:
        logger.warning("case %d: %r", case, exc)


async def update_reports(url: str, agent: str) -> None:
    """Ask the fuzzing server to write the reports for ``agent``."""
    try:
        async with ws.open_websocket_url(
            f"{url}/updateReports?agent={quote(agent)}", options=OPTIONS
        ) as connection:
            async for _ in connection:
                pass
    except ws.ConnectionClosed:
        pass  # kosoku writes the reports and exits without a closing handshake


async def main(url: str, agent: str, first: int, last: int | None, concurrency: int) -> None:
    """Run cases ``first`` to ``last`` (1-based, inclusive), then update the reports."""
    url = url.rstrip("/")
    count = await get_case_count(url)
    last = count if last is None else min(last, count)
    logger.info("running cases %d to %d of %d as %r", first, last, count, agent)
    slots = trio.Semaphore(concurrency)

    async def one(case: int) -> None:
        try:
            logger.info("case %d", case)
            await run_case(url, case, agent)
        finally:
            slots.release()

    async with trio.open_nursery() as nursery:
        for case in range(first, last + 1):
            await slots.acquire()  # start cases in order, at most `concurrency` at once
            nursery.start_soon(one, case)
    await update_reports(url, agent)


def parse_range(text: str) -> tuple[int, int | None]:
    """``"5"``, ``"5-9"`` or ``"5-"`` as (first, last or None)."""
    first, sep, last = text.partition("-")
    if not sep:
        return int(first), int(first)
    return int(first or 1), int(last) if last else None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="ws echo client for the Autobahn TestSuite")
    parser.add_argument("url", help="the fuzzing server, e.g. ws://127.0.0.1:9001")
    parser.add_argument("agent", nargs="?", default="ws", help="agent name in the reports")
    parser.add_argument("--cases", default="1-", help="1-based case range: N, N-M or N-")
    parser.add_argument("--concurrency", type=int, default=1, help="cases run at once")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s"
    )
    start, stop = parse_range(args.cases)
    trio.run(main, args.url, args.agent, start, stop, args.concurrency)
