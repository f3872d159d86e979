"""Unix domain sockets: connect to a socket file, or listen on one.

trio can connect to a Unix socket but has no listener helper, so
:func:`open_unix_listener` is ours. The socket file is the tricky part:

- A server that died without cleaning up leaves its socket file behind,
  and ``bind()`` then fails with ``EADDRINUSE``. We replace such a stale
  file, but only after proving it stale: it must be a socket, and a
  connection attempt must be refused. A file that is not a socket is never
  touched (:class:`FileExistsError`); a socket somebody listens on is never
  touched either (``EADDRINUSE``).
- ``mode`` is applied with ``chmod`` after ``bind()`` and *before*
  ``listen()``: until ``listen()``, connecting is refused whatever the file
  mode says, so there is no window in which the umask's mode lets anyone in.
- On close we remove the socket file only if it is still the one we made
  (same device and inode), so a server that took over the path keeps its
  file. We check before closing our socket: while it is open, the kernel
  cannot reuse its inode for another file.

Linux abstract names (a path starting with ``"\\0"``) are supported: they
have no file, so there is nothing to replace, chmod or remove.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket as _stdlib_socket
import stat
import sys
from typing import TypeAlias, final

import attrs
import trio

from ws.transports.endpoint import Connected

__all__ = ["UnixSocketListener", "connect_unix", "open_unix_listener"]

_AF_UNIX: int | None = getattr(_stdlib_socket, "AF_UNIX", None)
_MAX_BACKLOG = 0xFFFF  # Linux and the BSDs keep the backlog in 16 bits; larger is truncated.

_PathLike: TypeAlias = str | bytes | os.PathLike[str] | os.PathLike[bytes]


async def connect_unix(path: _PathLike) -> Connected:
    """Connect to a Unix socket.

    Args:
        path: The socket file, or a Linux abstract name (``"\\0name"``).

    Returns:
        The :class:`trio.SocketStream`, with ``local`` set to
        :data:`~ws.transports.UNNAMED_UNIX_SOCKET` and ``remote`` to the
        socket path.

    Raises:
        FileNotFoundError: No such socket file.
        ConnectionRefusedError: Nobody listens on it.
        PermissionError: We may not write to the socket file.
        RuntimeError: The platform has no Unix sockets.
    """
    stream = await trio.open_unix_socket(path)
    return Connected.from_stream(stream, is_ssl=False)


@final
@attrs.define(eq=False)
class UnixSocketListener(trio.abc.Listener[trio.SocketStream]):
    """A listener on a Unix socket that cleans up its socket file.

    Made by :func:`open_unix_listener`; closing it closes the socket and
    removes the socket file if it is still ours (see the module docstring).

    Attributes:
        path: The socket path (or abstract name) as given.
    """

    _listener: trio.SocketListener
    path: str
    _fs_path: str | None = None
    _identity: tuple[int, int] | None = None

    @property
    def socket(self) -> trio.socket.SocketType:
        """The listening trio socket."""
        return self._listener.socket

    async def accept(self) -> trio.SocketStream:
        """Accept the next connection.

        Returns:
            The connection's stream.

        Raises:
            trio.ClosedResourceError: The listener is closed.
            OSError: ``accept()`` failed unexpectedly (see
                :meth:`trio.SocketListener.accept`).
        """
        return await self._listener.accept()

    async def aclose(self) -> None:
        """Close the socket and remove its file if it is still ours.

        Removing the file is best effort: if it fails (the directory became
        read-only, say), the file stays behind and the next
        :func:`open_unix_listener` on that path replaces it as stale.
        """
        try:
            self._remove_socket_file()
        finally:
            await self._listener.aclose()

    def _remove_socket_file(self) -> None:
        identity, self._identity = self._identity, None
        if identity is None or self._fs_path is None:
            return
        with contextlib.suppress(OSError):
            st = os.lstat(self._fs_path)
            if stat.S_ISSOCK(st.st_mode) and (st.st_dev, st.st_ino) == identity:
                os.unlink(self._fs_path)


async def open_unix_listener(
    path: _PathLike, *, mode: int | None = None, backlog: int | None = None
) -> UnixSocketListener:
    """Listen on a Unix socket.

    Args:
        path: Where to create the socket file (a stale socket file left by
            a dead server is replaced), or a Linux abstract name
            (``"\\0name"``).
        mode: Permission bits for the socket file (e.g. ``0o660``); clients
            need write permission to connect. ``None`` leaves what the umask
            gives.
        backlog: The listen backlog; ``None`` means the system's maximum.

    Returns:
        The listener. Close it (or use ``async with``) to remove the file.

    Raises:
        FileExistsError: ``path`` exists and is not a socket.
        OSError: ``EADDRINUSE`` if a server is listening on ``path``, or
            any other reason ``bind()`` fails (a missing directory, a path
            longer than the system allows, ...).
        ValueError: An empty path, or ``mode`` with an abstract name, or an
            abstract name on a platform other than Linux.
        RuntimeError: The platform has no Unix sockets.
    """
    if _AF_UNIX is None:  # pragma: no cover - Windows without AF_UNIX
        raise RuntimeError("Unix sockets are not supported on this platform")
    name = os.fsdecode(os.fspath(path))
    if not name:
        raise ValueError("path must not be empty")
    abstract = name.startswith("\0")
    if abstract and not sys.platform.startswith("linux"):  # pragma: no cover
        raise ValueError("abstract socket names are only supported on Linux")
    if abstract and mode is not None:
        raise ValueError("mode does not apply to an abstract socket name")
    if backlog is not None and (not isinstance(backlog, int) or isinstance(backlog, bool)):
        raise TypeError(f"backlog must be an int or None, not {backlog!r}")

    # The path we bind is the one given (relative paths stay short enough
    # for sun_path); later file operations use the absolute path, in case
    # the working directory changes while we listen.
    fs_path = None if abstract else os.path.abspath(name)
    await trio.lowlevel.checkpoint()
    # Bound with the standard socket, in this thread, like the lstat() and
    # chmod() below: a local file system operation. trio's bind() would run
    # it in a worker thread of its cache, which then idles on for seconds,
    # and ws.sync promises no thread outlives its server.
    plain = _stdlib_socket.socket(_AF_UNIX, _stdlib_socket.SOCK_STREAM)
    sock = trio.socket.from_stdlib_socket(plain)
    identity: tuple[int, int] | None = None
    try:
        try:
            plain.bind(name)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or fs_path is None:
                raise
            _remove_stale_socket_file(name, fs_path, exc)
            plain.bind(name)
        if fs_path is not None:
            st = os.lstat(fs_path)
            identity = (st.st_dev, st.st_ino)
            if mode is not None:
                os.chmod(fs_path, mode)
        sock.listen(_MAX_BACKLOG if backlog is None else min(backlog, _MAX_BACKLOG))
        listener = trio.SocketListener(sock)
    except BaseException:
        if identity is not None and fs_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(fs_path)
        sock.close()
        raise
    return UnixSocketListener(listener, name, fs_path, identity)


def _remove_stale_socket_file(name: str, fs_path: str, exc: OSError) -> None:
    """Remove the socket file at *fs_path* if it is stale, else raise (from *exc*)."""
    try:
        before = os.lstat(fs_path)
    except FileNotFoundError:
        return  # Gone since bind() failed: just bind again.
    if not stat.S_ISSOCK(before.st_mode):
        raise FileExistsError(
            errno.EEXIST, "cannot listen: the path exists and is not a socket", fs_path
        ) from exc
    in_use = _probe(name)
    if in_use is not None:
        raise OSError(errno.EADDRINUSE, f"cannot listen: {in_use}", fs_path) from exc
    with contextlib.suppress(FileNotFoundError):
        after = os.lstat(fs_path)
        # Only the file we probed: another server may have replaced it meanwhile.
        if (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino):
            os.unlink(fs_path)


def _probe(name: str) -> str | None:
    """Try to connect without blocking: ``None`` if the socket is stale, else why it is not."""
    assert _AF_UNIX is not None
    with _stdlib_socket.socket(_AF_UNIX, _stdlib_socket.SOCK_STREAM) as probe:
        probe.setblocking(False)
        try:
            probe.connect(name)
        except (ConnectionRefusedError, FileNotFoundError):
            return None
        except BlockingIOError:
            return "a server is listening on this socket (its backlog is full)"
        except OSError as error:
            return f"the socket file exists and cannot be probed ({error.strerror})"
    return "a server is listening on this socket"
