"""``reuse_port=True`` (ws/transports/tcp.py, serve_websocket): processes share a port.

The processes are real: a small script runs ``serve_websocket(..., reuse_port=True)``
and answers every connection with its process id, so the test sees which
process the kernel gave each connection to. The port is reserved for the
test by a bound socket that does not listen (as ``python -m ws serve
--workers`` reserves its port); it takes no connections itself.
"""

from __future__ import annotations

import errno
import platform
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest
import trio

import ws
from tests.interop.harness import stop_process
from ws.transports.tcp import (
    ReusePortUnsupported,
    connect_tcp,
    open_tcp_listeners,
    reserve_tcp_port,
)

ROOT = Path(__file__).resolve().parents[1]
#: Seconds any one step may take (a process's start-up included).
STEP = 15
#: Connections tried before giving up on seeing every process answer.
MAX_CONNECTIONS = 256

SERVER = """
import os, sys
from functools import partial
import trio, ws

async def handler(request):
    connection = await request.accept()
    await connection.send_message(str(os.getpid()))

async def main(port, reuse_port):
    async with trio.open_nursery() as nursery:
        try:
            await nursery.start(partial(
                ws.serve_websocket, handler, "127.0.0.1", port, None, reuse_port=reuse_port
            ))
        except OSError as exc:
            print("errno", exc.errno, flush=True)
            return 3
        print("ready", flush=True)

sys.exit(trio.run(main, int(sys.argv[1]), sys.argv[2] == "reuse"))
"""


@pytest.fixture
async def reserved_port() -> AsyncIterator[int]:
    """A free port of 127.0.0.1, held by a bound SO_REUSEPORT socket that does not listen."""
    (sock,) = await reserve_tcp_port(0, "127.0.0.1")
    with sock:
        port: int = sock.getsockname()[1]
        yield port


async def start_server(port: int, mode: str) -> tuple[trio.Process, str]:
    """Run the script; return the process and the first line it printed."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-c", SERVER, str(port), mode],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        start_new_session=True,
    )
    assert process.stdout is not None
    data = b""
    try:
        with trio.fail_after(STEP):
            while b"\n" not in data:
                chunk = await process.stdout.receive_some()
                if not chunk:
                    break
                data += chunk
    except BaseException:
        await stop_process(process)
        raise
    return process, data.partition(b"\n")[0].decode()


async def answering_pids(port: int, expected: set[int]) -> set[int]:
    """Connect again and again until every process in ``expected`` answered (bounded)."""
    seen: set[int] = set()
    with trio.fail_after(STEP):
        for _ in range(MAX_CONNECTIONS):
            async with ws.open_websocket_url(f"ws://127.0.0.1:{port}/") as connection:
                seen.add(int(await connection.get_message()))
            if seen >= expected:
                break
    return seen


async def test_two_processes_on_one_port_both_get_connections(reserved_port: int) -> None:
    """Two reuse_port servers share the port; the kernel gives connections to both."""
    processes: list[trio.Process] = []
    try:
        for _ in range(2):
            process, line = await start_server(reserved_port, "reuse")
            processes.append(process)
            assert line == "ready"
        pids = {process.pid for process in processes}
        assert await answering_pids(reserved_port, pids) == pids
    finally:
        for process in processes:
            await stop_process(process)


async def test_without_reuse_port_a_second_server_cannot_bind(reserved_port: int) -> None:
    """A server without reuse_port cannot join a port a reuse_port server listens on."""
    first, line = await start_server(reserved_port, "reuse")
    try:
        assert line == "ready"
        second, line = await start_server(reserved_port, "plain")
        try:
            assert line == f"errno {errno.EADDRINUSE}"
            with trio.fail_after(STEP):
                assert await second.wait() == 3
        finally:
            await stop_process(second)
        assert await answering_pids(reserved_port, {first.pid}) == {first.pid}
    finally:
        await stop_process(first)


async def test_every_socket_on_the_port_must_set_reuse_port() -> None:
    """Either order fails with EADDRINUSE when one of the two sockets lacks reuse_port."""
    (first,) = await open_tcp_listeners(0, "127.0.0.1", reuse_port=True)
    async with first:
        port = first.socket.getsockname()[1]
        with pytest.raises(OSError) as caught:
            await open_tcp_listeners(port, "127.0.0.1")
        assert caught.value.errno == errno.EADDRINUSE
        async with trio.open_nursery() as nursery:
            with pytest.raises(OSError) as caught:
                await nursery.start(partial(ws.serve_websocket, _refuse, "127.0.0.1", port, None))
        assert caught.value.errno == errno.EADDRINUSE
    (plain,) = await open_tcp_listeners(0, "127.0.0.1")
    async with plain:
        port = plain.socket.getsockname()[1]
        with pytest.raises(OSError) as caught:
            await open_tcp_listeners(port, "127.0.0.1", reuse_port=True)
        assert caught.value.errno == errno.EADDRINUSE


async def test_listeners_in_one_process_share_the_port_and_set_the_options() -> None:
    """Two reuse_port listeners on one port both accept; options as trio sets them."""
    first = await open_tcp_listeners(0, "127.0.0.1", reuse_port=True, backlog=8)
    port = first[0].socket.getsockname()[1]
    second = await open_tcp_listeners(port, "127.0.0.1", reuse_port=True)
    for listener in (*first, *second):
        sock = listener.socket
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        assert sock.getsockname()[1] == port
    for listener in (*first, *second):
        await listener.aclose()


async def test_every_interface_gets_ipv6_only_sockets() -> None:
    """host=None binds each family; the IPv6 socket is IPv6-only, as with trio's listeners."""
    listeners = await open_tcp_listeners(0, None, reuse_port=True)
    try:
        assert listeners
        for listener in listeners:
            sock = listener.socket
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            if sock.family == socket.AF_INET6:
                assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
    finally:
        for listener in listeners:
            await listener.aclose()


async def test_a_bound_socket_that_does_not_listen_refuses_connections(
    reserved_port: int,
) -> None:
    """The reserving socket holds the port, yet connections to it alone are refused."""
    with pytest.raises(ConnectionRefusedError):
        await connect_tcp("127.0.0.1", reserved_port)
    with pytest.raises(OSError) as caught:
        await open_tcp_listeners(reserved_port, "127.0.0.1")
    assert caught.value.errno == errno.EADDRINUSE


async def test_a_system_without_so_reuseport_gets_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without SO_REUSEPORT (Windows), reuse_port=True raises ReusePortUnsupported, saying why."""
    monkeypatch.delattr(socket, "SO_REUSEPORT")
    monkeypatch.delattr(socket, "SO_REUSEPORT_LB", raising=False)
    with pytest.raises(ReusePortUnsupported) as caught:
        await open_tcp_listeners(0, "127.0.0.1", reuse_port=True)
    assert isinstance(caught.value, OSError)
    assert caught.value.errno == errno.ENOPROTOOPT
    message = str(caught.value)
    assert f"{platform.system()} has no SO_REUSEPORT" in message
    assert "one server per port" in message
    async with trio.open_nursery() as nursery:
        with pytest.raises(ReusePortUnsupported):
            await nursery.start(
                partial(ws.serve_websocket, _refuse, "127.0.0.1", 0, None, reuse_port=True)
            )
    # Without the switch nothing changes.
    (listener,) = await open_tcp_listeners(0, "127.0.0.1")
    await listener.aclose()


async def test_a_kernel_that_refuses_the_option_gets_the_same_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SO_REUSEPORT defined but refused (Linux before 3.9): ReusePortUnsupported, chained."""
    monkeypatch.setattr(socket, "SO_REUSEPORT", 0x7FFF, raising=False)  # no such option
    monkeypatch.delattr(socket, "SO_REUSEPORT_LB", raising=False)
    with pytest.raises(ReusePortUnsupported) as caught:
        await open_tcp_listeners(0, "127.0.0.1", reuse_port=True)
    assert isinstance(caught.value.__cause__, OSError)
    assert caught.value.__cause__.errno in (errno.ENOPROTOOPT, errno.EINVAL)


async def _refuse(request: ws.WebSocketRequest) -> None:
    await request.reject(403)

