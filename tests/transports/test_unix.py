"""Tests for ws.transports.unix: Unix socket connections and the socket-file-aware listener."""

from __future__ import annotations

import errno
import os
import socket
import stat
import sys
from pathlib import Path

import pytest
import trio
import trio.testing

import ws.transports.unix
from ws.transports import (
    UNNAMED_UNIX_SOCKET,
    UnixSocketListener,
    connect_unix,
    listener_address,
    open_unix_listener,
)

from .helpers import fill_stream, unix_pair

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="abstract names and backlog probing are Linux's"
)


def _stale_socket_file(path: Path) -> None:
    """Leave a socket file behind, as a server that crashed would."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))


async def _half_closeable_pair(
    path: Path,
) -> tuple[trio.abc.HalfCloseableStream, trio.abc.HalfCloseableStream]:
    client, server = await unix_pair(str(path))
    assert isinstance(client.stream, trio.SocketStream)
    assert isinstance(server.stream, trio.SocketStream)
    return client.stream, server.stream


async def test_unix_stream_passes_trio_stream_checks(tmp_path: Path) -> None:
    """A Unix socket connection behaves as a trio half-closeable stream."""
    path = tmp_path / "s"

    async def stream_maker() -> tuple[trio.abc.HalfCloseableStream, trio.abc.HalfCloseableStream]:
        return await _half_closeable_pair(path)

    async def clogged_stream_maker() -> tuple[
        trio.abc.HalfCloseableStream, trio.abc.HalfCloseableStream
    ]:
        left, right = await _half_closeable_pair(path)
        await fill_stream(left)
        await fill_stream(right)
        return left, right

    await trio.testing.check_half_closeable_stream(stream_maker, clogged_stream_maker)


async def test_ends_are_the_path_and_the_unnamed_client(tmp_path: Path) -> None:
    """The server's end is the socket path; the client's (unbound) end is UNNAMED_UNIX_SOCKET."""
    path = str(tmp_path / "s")
    client, server = await unix_pair(path)
    async with client.stream, server.stream:
        assert client.local == UNNAMED_UNIX_SOCKET
        assert client.remote == path
        assert server.local == path
        assert server.remote == UNNAMED_UNIX_SOCKET


async def test_listener_applies_mode(tmp_path: Path) -> None:
    """mode is applied to the socket file, which is a socket."""
    path = tmp_path / "s"
    async with await open_unix_listener(path, mode=0o600) as listener:
        info = os.stat(path)
        assert stat.S_ISSOCK(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == 0o600
        assert listener.path == str(path)
        assert listener_address(listener) == str(path)


async def test_listener_removes_its_file_on_close(tmp_path: Path) -> None:
    """Closing the listener removes the socket file; closing again is harmless."""
    path = tmp_path / "s"
    listener = await open_unix_listener(path)
    assert path.exists()
    await listener.aclose()
    assert not path.exists()
    await listener.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await listener.accept()


async def test_open_connections_outlive_the_listener(tmp_path: Path) -> None:
    """Closing the listener does not close the connections it accepted."""
    client, server = await unix_pair(str(tmp_path / "s"))
    async with client.stream, server.stream:
        await client.stream.send_all(b"still here")
        assert await server.stream.receive_some() == b"still here"


async def test_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    """A socket file nobody listens on (a dead server's) is replaced."""
    path = tmp_path / "s"
    _stale_socket_file(path)
    async with await open_unix_listener(path) as listener:
        client = await connect_unix(path)
        async with client.stream, await listener.accept():
            pass
    assert not path.exists()


async def test_live_socket_is_address_in_use(tmp_path: Path) -> None:
    """A socket somebody listens on is left alone: EADDRINUSE."""
    path = tmp_path / "s"
    async with await open_unix_listener(path) as listener:
        with pytest.raises(OSError, match="a server is listening") as info:
            await open_unix_listener(path)
        assert info.value.errno == errno.EADDRINUSE
        assert info.value.filename == str(path)
        # The live server still works.
        client = await connect_unix(path)
        async with client.stream, await listener.accept():
            pass


@pytest.mark.parametrize("kind", ["file", "directory", "symlink"])
async def test_something_else_at_the_path_is_file_exists(tmp_path: Path, kind: str) -> None:
    """A regular file, a directory or a symlink (even to a stale socket) is never replaced."""
    path = tmp_path / "s"
    if kind == "file":
        path.write_bytes(b"precious")
    elif kind == "directory":
        path.mkdir()
    else:
        _stale_socket_file(tmp_path / "target")
        path.symlink_to(tmp_path / "target")
    with pytest.raises(FileExistsError):
        await open_unix_listener(path)
    if kind == "file":
        assert path.read_bytes() == b"precious"
    elif kind == "directory":
        assert path.is_dir()
    else:
        assert path.is_symlink()


async def test_socket_replaced_by_another_server_is_not_removed(tmp_path: Path) -> None:
    """If another server took over the path, closing our listener leaves its file."""
    path = tmp_path / "s"
    ours = await open_unix_listener(path)
    path.unlink()
    async with await open_unix_listener(path) as theirs:
        await ours.aclose()
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        client = await connect_unix(path)
        async with client.stream, await theirs.accept():
            pass
    assert not path.exists()


async def test_regular_file_at_the_path_on_close_is_not_removed(tmp_path: Path) -> None:
    """If our socket file was replaced by a regular file, closing leaves it."""
    path = tmp_path / "s"
    listener = await open_unix_listener(path)
    path.unlink()
    path.write_bytes(b"someone else's")
    await listener.aclose()
    assert path.read_bytes() == b"someone else's"


async def test_deleted_socket_file_does_not_break_close(tmp_path: Path) -> None:
    """If somebody deleted our socket file, closing still works."""
    path = tmp_path / "s"
    listener = await open_unix_listener(path)
    path.unlink()
    await listener.aclose()
    assert not path.exists()


async def test_relative_path_is_removed_after_chdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative path is remembered absolutely: changing directory does not confuse close."""
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    listener = await open_unix_listener("s")
    monkeypatch.chdir(tmp_path / "elsewhere")
    await listener.aclose()
    assert not (tmp_path / "s").exists()


async def test_missing_directory_fails_without_leaking(tmp_path: Path) -> None:
    """bind() errors propagate (FileNotFoundError for a missing directory)."""
    with pytest.raises(FileNotFoundError):
        await open_unix_listener(tmp_path / "missing" / "s")


async def test_failure_after_bind_removes_the_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If setting up the bound socket fails (here: chmod), its file is removed again."""

    def refuse(path: str, mode: int) -> None:
        raise PermissionError(errno.EPERM, "not allowed", path)

    monkeypatch.setattr(os, "chmod", refuse)
    path = tmp_path / "s"
    with pytest.raises(PermissionError):
        await open_unix_listener(path, mode=0o600)
    assert not path.exists()


async def test_socket_that_cannot_be_probed_is_address_in_use(tmp_path: Path) -> None:
    """A socket file we cannot connect to as a stream (a datagram socket) is left alone."""
    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as datagram:
        datagram.bind(str(path))
        with pytest.raises(OSError, match="cannot be probed") as info:
            await open_unix_listener(path)
    assert info.value.errno == errno.EADDRINUSE
    assert path.exists()


@linux_only
async def test_socket_with_full_backlog_is_address_in_use(tmp_path: Path) -> None:
    """A live server whose backlog is full is still live: EADDRINUSE, without blocking."""
    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(0)
        waiting: list[socket.socket] = []
        try:
            # Queue connections until the backlog pushes back.
            for _ in range(16):
                pending = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                pending.setblocking(False)
                waiting.append(pending)
                try:
                    pending.connect(str(path))
                except BlockingIOError:
                    break
            else:
                pytest.skip("this kernel does not push back on a full Unix socket backlog")
            with pytest.raises(OSError, match="a server is listening") as info:
                await open_unix_listener(path)
            assert info.value.errno == errno.EADDRINUSE
        finally:
            for pending in waiting:
                pending.close()


async def test_argument_errors(tmp_path: Path) -> None:
    """An empty path and a non-int backlog are rejected before anything is created."""
    with pytest.raises(ValueError, match="empty"):
        await open_unix_listener("")
    with pytest.raises(TypeError, match="backlog"):
        await open_unix_listener(tmp_path / "s", backlog=True)
    assert not (tmp_path / "s").exists()


async def test_backlog_and_bytes_paths(tmp_path: Path) -> None:
    """A bytes path and an explicit backlog work."""
    path = os.fsencode(tmp_path / "s")
    async with await open_unix_listener(path, backlog=4) as listener:
        assert listener.path == os.fsdecode(path)
        client = await connect_unix(path)
        async with client.stream, await listener.accept() as accepted:
            await client.stream.send_all(b"bytes path")
            assert await accepted.receive_some() == b"bytes path"


async def test_connect_errors(tmp_path: Path) -> None:
    """Connecting to nothing is FileNotFoundError; to a stale socket, ConnectionRefusedError."""
    with pytest.raises(FileNotFoundError):
        await connect_unix(tmp_path / "missing")
    _stale_socket_file(tmp_path / "stale")
    with pytest.raises(ConnectionRefusedError):
        await connect_unix(tmp_path / "stale")


async def test_listener_exposes_its_socket(tmp_path: Path) -> None:
    """The listener's socket is a listening AF_UNIX trio socket."""
    async with await open_unix_listener(tmp_path / "s") as listener:
        assert isinstance(listener, UnixSocketListener)
        assert listener.socket.family == socket.AF_UNIX


@linux_only
async def test_abstract_names(tmp_path: Path) -> None:
    """Linux abstract names work: no file, reported with their leading NUL."""
    name = "\0" + str(tmp_path / "abstract")
    async with await open_unix_listener(name) as listener:
        assert listener_address(listener) == name
        client = await connect_unix(name)
        async with client.stream, await listener.accept() as accepted:
            assert client.remote == name
            await client.stream.send_all(b"abstract")
            assert await accepted.receive_some() == b"abstract"
        with pytest.raises(OSError) as info:
            await open_unix_listener(name)
        assert info.value.errno == errno.EADDRINUSE
    assert not (tmp_path / "abstract").exists()


@linux_only
async def test_abstract_names_take_no_mode(tmp_path: Path) -> None:
    """mode makes no sense without a file: ValueError."""
    with pytest.raises(ValueError, match="abstract"):
        await open_unix_listener("\0" + str(tmp_path), mode=0o600)


async def test_socket_file_replaced_while_probing_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the stale file is swapped for another while we probe it, we remove neither."""
    path = tmp_path / "s"
    _stale_socket_file(path)

    def swap_then_report_stale(name: str) -> None:
        # Another server's file takes the path (both files exist for a moment,
        # so the inodes differ).
        _stale_socket_file(tmp_path / "new")
        os.replace(tmp_path / "new", path)

    monkeypatch.setattr(ws.transports.unix, "_probe", swap_then_report_stale)
    original = os.lstat(path)
    with pytest.raises(OSError) as info:
        await open_unix_listener(path)
    assert info.value.errno == errno.EADDRINUSE
    assert os.lstat(path).st_ino != original.st_ino  # The swapped-in file is still there.


def test_stale_file_gone_before_we_look_is_fine(tmp_path: Path) -> None:
    """If the file that made bind() fail is gone when we look, there is nothing to remove."""
    busy = OSError(errno.EADDRINUSE, "Address already in use")
    path = str(tmp_path / "gone")
    ws.transports.unix._remove_stale_socket_file(path, path, busy)
    assert not os.path.exists(path)
