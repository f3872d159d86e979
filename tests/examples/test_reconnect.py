"""examples/reconnect: the client comes back after its server crashes and after it restarts."""

from __future__ import annotations

import re
import signal
from pathlib import Path

from tests.examples.programs import EXAMPLES, Program, free_port, running

SERVER = EXAMPLES / "reconnect" / "server.py"
CLIENT = EXAMPLES / "reconnect" / "client.py"


async def start_server(server: Program, name: str, port: int) -> None:
    """Wait until the server says it listens."""
    assert await server.read_line() == f"feed {name}: listening on ws://127.0.0.1:{port}/"


async def subscribed_to(client: Program, connection: int, name: str) -> None:
    """The client's next connection is number ``connection`` and gets ticks from ``name``."""
    await client.expect(f"connected (connection {connection})")
    assert await client.read_line() == f"received: tick 1 from {name}"
    assert await client.read_line() == f"received: tick 2 from {name}"


async def test_the_client_comes_back_after_a_crash_and_after_a_restart(tmp_path: Path) -> None:
    """kill -9 (1006), then SIGTERM (1001): each time the client reconnects and subscribes again."""
    port = free_port()
    server_args = ["--port", str(port), "--interval", "0.05"]
    client_args = [f"ws://127.0.0.1:{port}/", "--initial-delay", "0.1", "--max-delay", "0.5"]
    async with running(CLIENT, *client_args, tmp_path=tmp_path) as client:
        async with running(SERVER, *server_args, "--name", "first", tmp_path=tmp_path) as first:
            await start_server(first, "first", port)
            await subscribed_to(client, 1, "first")
            first.process.kill()  # a crash: no close frame
            assert await first.wait() == -signal.SIGKILL

        async with running(SERVER, *server_args, "--name", "second", tmp_path=tmp_path) as second:
            await start_server(second, "second", port)
            await subscribed_to(client, 2, "second")
            second.signal(signal.SIGTERM)  # a graceful restart: 1001
            assert await second.wait() == 0, second.stderr()
            assert second.lines[-1] == "feed second: stopped"

        async with running(SERVER, *server_args, "--name", "third", tmp_path=tmp_path) as third:
            await start_server(third, "third", port)
            await subscribed_to(client, 3, "third")

            client.signal(signal.SIGTERM)
            assert await client.wait() == 0, client.stderr()
            assert client.lines[-2:] == ["SIGTERM: stopping", "stopped after 3 connection(s)"]

    log = client.stderr()
    assert "Traceback" not in log
    # Each retry is logged, with what went wrong ("attempt <n>" counts since the
    # last healthy connection, so the numbers depend on timing).
    shown = f"connect_forever ws://127.0.0.1:{port}/: attempt "
    assert re.search(f"{re.escape(shown)}\\d+: the connection closed with 1006; next attempt in", log)
    assert re.search(
        f"{re.escape(shown)}\\d+: the connection closed with 1001 \\(server restarting\\); next attempt in", log
    )
