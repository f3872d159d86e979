"""``python -m ws serve --workers N``: N server processes on one port, and their supervisor.

Theory of operation
-------------------

The supervisor is the process the user started. It does not serve: it
holds the port, runs the workers, restarts those that die, and passes
signals on.

* The port. Each worker listens on a socket of its own, bound with
  ``SO_REUSEPORT`` (``serve_websocket(..., reuse_port=True)``), and Linux
  spreads incoming connections over the listening sockets by a hash of the
  connection's addresses and ports. The alternative, one socket that the
  supervisor listens on and the workers inherit, works where
  ``SO_REUSEPORT`` does not, but every worker wakes for every connection
  and the fastest takes most of them; with a socket each, a worker that
  is busy or dead takes no new connections, and a worker needs nothing
  from its parent but a port number. Before starting any worker, the
  supervisor binds the port itself (:func:`~ws.transports.tcp.reserve_tcp_port`:
  ``SO_REUSEPORT`` without ``SO_REUSEADDR``, never listening). A bound
  socket that does not listen receives no connections, yet it holds the
  port while workers come and go, and with ``--port 0`` it is how the
  supervisor picks the port it prints and hands to the workers.
* The workers. Each is ``python -m ws`` run again with the same arguments,
  plus ``--port PORT --supervisor-link FD`` (:mod:`subprocess`, not
  :mod:`multiprocessing`: the worker is the ordinary ``serve`` command, and
  the supervisor controls its process group and its descriptors). ``FD``
  is one end of a socket pair, the link: the worker writes ``ready`` on it
  once it listens, and reads it until end of file, which comes when the
  supervisor dies, even by ``kill -9``; the orphan then stops as if told
  to. Each worker leads its own session (``start_new_session``), so that
  Ctrl-C in a terminal reaches the supervisor only, and the supervisor
  decides what the workers get.
* Restarts. A worker that exits while the supervisor is not stopping is
  started again, after a delay that doubles with each exit in a row
  (:data:`_FIRST_DELAY` up to :data:`_MAX_DELAY`); a worker that ran
  :data:`_STABLE` seconds starts the count again. Each exit is reported on
  standard error.
* Stopping. The first SIGTERM or SIGINT goes on to every worker, which
  closes its connections with 1001 and gives its handlers a grace period
  (``server.aclose()``); a second signal goes on too and stops them at
  once. Workers still running ``kill_after`` seconds after the first
  signal are killed with their process groups. The supervisor exits 0
  once every worker has exited.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Final, cast

import attrs
import trio

from ws.server import Handler
from ws.transports.endpoint import Endpoint
from ws.transports.tcp import reserve_tcp_port

__all__ = ["AppError", "Supervisor", "WorkerLink", "load_app"]

#: Seconds before the first restart of a worker that exited.
_FIRST_DELAY: Final = 0.5
#: The longest delay between restarts of a worker that keeps exiting.
_MAX_DELAY: Final = 30.0
#: Seconds after which a worker counts as healthy: its next exit restarts it after _FIRST_DELAY.
_STABLE: Final = 30.0
_READY: Final = b"ready\n"


class AppError(Exception):
    """``APP`` (``MODULE:ATTRIBUTE``) does not name a handler; the message says why."""


def load_app(spec: str, app_dir: str = ".", *, option: str = "APP") -> Handler:
    """Import the handler that ``spec`` names, as uvicorn finds its application.

    Args:
        spec: ``MODULE:ATTRIBUTE``, e.g. ``"chat:handler"`` or
            ``"app.server:routes.dispatch"`` (a dotted attribute).
        app_dir: A directory put first on ``sys.path`` (the current
            directory by default), so that a module beside the user is found
            whichever way ``ws`` was started.
        option: What the errors call ``spec``: ``"APP"``, or the option
            that gave it (``"--process-request"`` loads a hook the same way).

    Returns:
        The attribute: an async function taking a
        :class:`~ws.WebSocketRequest` (only its being callable is checked).

    Raises:
        AppError: ``spec`` is malformed, its module does not exist, or the
            attribute is missing or not callable. An exception raised by the
            module's own code passes through unchanged.
    """
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise AppError(f"{option} must be MODULE:ATTRIBUTE, e.g. 'chat:handler', not {spec!r}")
    directory = os.path.abspath(app_dir)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name != missing and not module_name.startswith(missing + "."):
            raise  # a module the app imports is missing: the traceback says where
        raise AppError(
            f"cannot import {module_name!r} for {option} {spec!r}: no module named {missing!r}"
            f" in {directory} (--app-dir) or on sys.path"
        ) from None
    found: object = module
    for name in attribute.split("."):
        try:
            found = getattr(found, name)
        except AttributeError:
            raise AppError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if not callable(found):
        wanted = (
            "a handler: an async function taking a ws.WebSocketRequest"
            if option == "APP"
            else "a hook: an async function taking a ws.HTTPRequest"
        )
        raise AppError(f"{spec} is a {type(found).__name__}, not {wanted}")
    return cast(Handler, found)


# -- the worker's end ----------------------------------------------------------------


@attrs.define(eq=False)
class WorkerLink:
    """A worker's end of its link to the supervisor (see the module docstring).

    Args:
        stream: The worker's end of the socket pair.
    """

    _stream: trio.SocketStream

    @classmethod
    def adopt(cls, fd: int) -> WorkerLink:
        """Take over the descriptor the supervisor passed (``--supervisor-link FD``)."""
        sock = socket.socket(fileno=fd)
        sock.set_inheritable(False)  # the handler's own subprocesses must not hold it
        return cls(trio.SocketStream(trio.socket.from_stdlib_socket(sock)))

    async def send_ready(self) -> None:
        """Tell the supervisor that this worker listens."""
        with contextlib.suppress(trio.BrokenResourceError):
            await self._stream.send_all(_READY)

    async def wait_for_stop(self, signals: AsyncIterator[int]) -> None:
        """Return at the first signal, or when the supervisor is gone (end of the link)."""
        async with trio.open_nursery() as nursery:

            async def on_signal() -> None:
                async for _ in signals:
                    break
                nursery.cancel_scope.cancel()

            async def on_orphaned() -> None:
                with contextlib.suppress(trio.BrokenResourceError):
                    while await self._stream.receive_some():
                        pass
                print(
                    f"worker {os.getpid()}: the supervisor is gone: closing connections"
                    " with 1001",
                    file=sys.stderr,
                    flush=True,
                )
                nursery.cancel_scope.cancel()

            nursery.start_soon(on_signal)
            nursery.start_soon(on_orphaned)


# -- the supervisor ------------------------------------------------------------------


@attrs.define(eq=False)
class _Slot:
    index: int
    process: trio.Process | None = None
    ready: bool = False


@attrs.define(eq=False)
class Supervisor:
    """Runs ``workers`` copies of ``command`` on one port (see the module docstring).

    Args:
        command: The worker's command line, without ``--port`` and
            ``--supervisor-link`` (which the supervisor adds).
        host: The interface, as for :func:`~ws.serve_websocket`.
        port: The port; 0 picks one.
        workers: How many worker processes (2 or more).
        is_ssl: Whether the workers serve TLS (for the printed URLs).
        kill_after: Seconds the workers get to stop after the first signal.
    """

    command: tuple[str, ...]
    host: str | None
    port: int
    workers: int
    is_ssl: bool
    kill_after: float
    _slots: list[_Slot] = attrs.field(init=False)
    _all_ready: trio.Event = attrs.field(init=False, factory=trio.Event)
    _stopping: trio.Event = attrs.field(init=False, factory=trio.Event)
    _stop_signal: int = attrs.field(init=False, default=signal.SIGTERM)

    def __attrs_post_init__(self) -> None:
        self._slots = [_Slot(index) for index in range(self.workers)]

    async def run(self) -> int:
        """Serve until SIGTERM or SIGINT; return the exit status (0, or 1: cannot listen)."""
        where = f"{self.host or '*'}:{self.port}"
        try:
            reserved = await reserve_tcp_port(self.port, self.host)
        except OSError as exc:  # ReusePortUnsupported too: its message says what to do
            print(f"error: cannot listen on {where}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        with contextlib.ExitStack() as stack:
            for sock in reserved:
                stack.enter_context(sock)
            self.port = reserved[0].getsockname()[1]
            addresses = [sock.getsockname()[0] for sock in reserved]
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._announce, addresses)
                    nursery.start_soon(self._handle_signals, signals, nursery)
                    async with trio.open_nursery() as workers:
                        for slot in self._slots:
                            workers.start_soon(self._keep_running, slot)
                    nursery.cancel_scope.cancel()  # every worker has exited
        return 0

    async def _announce(self, addresses: Sequence[str]) -> None:
        await self._all_ready.wait()
        for address in addresses:
            url = Endpoint(address, self.port, self.is_ssl).url
            print(f"listening on {url}/ with {self.workers} workers", flush=True)

    async def _handle_signals(self, signals: AsyncIterator[int], nursery: trio.Nursery) -> None:
        async for signum in signals:
            if not self._stopping.is_set():
                print(
                    f"{signal.Signals(signum).name}: stopping {self.workers} workers; they close"
                    " their connections with 1001 (again to stop at once)",
                    file=sys.stderr,
                    flush=True,
                )
                self._stop_signal = signum
                self._stopping.set()
                nursery.start_soon(self._kill_later)
            for slot in self._slots:
                if slot.process is not None:
                    _send(slot.process, signum)

    async def _kill_later(self) -> None:
        await trio.sleep(self.kill_after)
        for slot in self._slots:
            if slot.process is not None and slot.process.returncode is None:
                print(
                    f"worker {slot.index + 1} (pid {slot.process.pid}) still runs after"
                    f" {self.kill_after:g} s: killing it",
                    file=sys.stderr,
                    flush=True,
                )
                _kill_group(slot.process)

    async def _keep_running(self, slot: _Slot) -> None:
        exits = 0
        while not self._stopping.is_set():
            started = trio.current_time()
            process = await self._run_once(slot)
            if self._stopping.is_set():
                return
            exits = 1 if trio.current_time() - started >= _STABLE else exits + 1
            delay = min(_MAX_DELAY, _FIRST_DELAY * 2 ** (exits - 1))
            print(
                f"worker {slot.index + 1} (pid {process.pid}) {_how_it_ended(process)};"
                f" starting it again in {delay:g} s",
                file=sys.stderr,
                flush=True,
            )
            with trio.move_on_after(delay):
                await self._stopping.wait()

    async def _run_once(self, slot: _Slot) -> trio.Process:
        ours, theirs = socket.socketpair()
        options = ("--port", str(self.port), "--supervisor-link", str(theirs.fileno()))
        with ours:
            try:
                process = await trio.lowlevel.open_process(
                    [*self.command, *options],
                    stdin=subprocess.DEVNULL,
                    pass_fds=(theirs.fileno(),),
                    start_new_session=True,
                )
            finally:
                theirs.close()
            slot.process = process
            try:
                if self._stopping.is_set():  # a signal came while it started
                    _send(process, self._stop_signal)
                link = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
                if await _receive_ready(link):
                    slot.ready = True
                    if all(other.ready for other in self._slots):
                        self._all_ready.set()
                await process.wait()
            finally:
                if process.returncode is None:  # cancelled: leave no process behind
                    _kill_group(process)
                    with trio.CancelScope(shield=True):
                        await process.wait()
                slot.process = None
        return process


async def _receive_ready(link: trio.SocketStream) -> bool:
    received = b""
    with contextlib.suppress(trio.BrokenResourceError):
        while not received.endswith(b"\n"):
            chunk = await link.receive_some(len(_READY))
            if not chunk:
                break
            received += chunk
    return received == _READY


def _send(process: trio.Process, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        if process.returncode is None:
            process.send_signal(signum)


def _kill_group(process: trio.Process) -> None:
    # Each worker leads its own session: its group is its pid while it is not reaped.
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _how_it_ended(process: trio.Process) -> str:
    code = process.returncode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with status {code}"
