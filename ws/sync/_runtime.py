"""The one background Trio thread that every blocking connection and server shares.

Theory of operation
-------------------

The blocking API (:mod:`ws.sync`) does no I/O of its own: each blocking
call hands an async function to a Trio event loop that runs ``trio.run`` in
a background thread, and waits for its outcome. There is at most one such
thread per process, the *runtime*, shared by every sync connection and
server, and it exists only while one of them does:

* :meth:`Runtime.acquire` counts a user (a connection or a server) in and
  starts the thread when it is the first; :meth:`Runtime.release` counts it
  out and, for the last one, stops the loop and joins the thread before it
  returns. So when the last connection is closed no thread or socket of
  ours is left, and a script that opens one connection after another starts
  a loop for each (about a millisecond).
* Why a plain thread running :func:`trio.run` and not
  :func:`trio.lowlevel.start_guest_run`: guest mode lends Trio the loop of
  a host (asyncio, Qt) that the blocking caller does not have; without one
  we would have to write a host loop in a thread, and Trio would still
  wait for I/O in a thread of its own and hand each wake-up to the host.
  Measured with callgrind (instructions per call, CPython 3.11, trio
  0.35), a blocking call from another thread costs 187,000 instructions
  into a thread running ``trio.run`` and 229,000 into a guest run on a
  host thread (a bare ``run_sync_soon`` wake-up: 86,000 and 107,000): the
  plain thread is simpler and about a fifth cheaper. The calling thread
  never runs the loop itself, so a handler thread of the sync server and
  the main thread of a script go through the same door.
* :meth:`Runtime.call` submits ``fn(*args)`` with
  :meth:`trio.lowlevel.TrioToken.run_sync_soon` and runs it as a system
  task in the caller's :mod:`contextvars` context, then blocks the caller on
  a lock the task releases when it ends. The task's return value or
  exception is handed back and raised in the calling thread; an exception
  never reaches the loop, so one connection's failure cannot stop another's.
* Ctrl-C. ``trio.run`` in a thread that is not the main thread installs no
  signal handler, so SIGINT raises :exc:`KeyboardInterrupt` in the main
  thread, in the lock wait of whatever call blocks there. Two things make
  sure it does: every thread of ours blocks the asynchronous signals
  (:func:`block_signals`), so the kernel never hands a process-directed
  SIGINT to a thread that would only set Python's flag and go on; and a
  wait in the main thread (:func:`wait_lock`, :func:`wait_condition`)
  wakes every :data:`SIGNAL_POLL` seconds, when Python runs the handler of
  a signal that another thread received (a user's own thread, say). :meth:`Runtime.call` then cancels the task it
  was waiting for, waits until the task has unwound (so the connection is
  in a known state and can be closed), and lets the interrupt propagate.
* Resources that outlive one call (a connection, a server) are held open by
  a task that entered their async context manager: :meth:`Runtime.hold`
  returns the value and a :class:`Held` handle whose :meth:`Held.leave`
  makes the task exit the context manager, and waits for it.
* User code that the Trio thread calls (a sync server's handlers and
  hooks) runs in threads of its own, started by :meth:`Runtime.run_in_thread`
  for each call, not in Trio's thread cache, whose idle workers would
  outlive the last connection by seconds. The last :meth:`Runtime.release`
  joins those that have finished; one still running (a handler that
  ignores the shutdown) is left behind, as a blocked thread cannot be
  interrupted. Host names are resolved the same way: the loop installs a
  hostname resolver (:func:`trio.socket.set_custom_hostname_resolver`)
  that runs :func:`socket.getaddrinfo` in such a thread.
* Interpreter exit. The thread is a daemon, so a forgotten connection does
  not keep the interpreter alive, and an :mod:`atexit` hook leaves every
  held resource (a connection sends its close frame) within
  :data:`EXIT_GRACE` seconds before stopping the loop. After
  :func:`os.fork` the child forgets the parent's runtime: its thread does
  not exist there.
"""

from __future__ import annotations

import atexit
import contextvars
import functools
import os
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Final, Generic, Literal, TypeAlias, TypeVar, TypeVarTuple, Unpack

import attrs
import trio

__all__ = [
    "EXIT_GRACE",
    "SIGNAL_POLL",
    "Held",
    "Runtime",
    "RuntimeStopped",
    "block_signals",
    "runtime",
    "wait_condition",
    "wait_event",
    "wait_lock",
]

T = TypeVar("T")
_Args = TypeVarTuple("_Args")

#: Seconds the atexit hook gives held resources (connections, servers) to close.
EXIT_GRACE: Final = 2.0
#: Seconds an interrupted call waits for its task to unwind before giving up on it.
_UNWIND_TIMEOUT: Final = 5.0
#: Seconds :meth:`Runtime.release` waits for the thread to end.
_JOIN_TIMEOUT: Final = 10.0


#: Seconds between wake-ups of a blocking wait in the main thread (see the module docstring).
SIGNAL_POLL: Final = 0.1
#: The signals our threads block, so that the kernel delivers them to the
#: main thread (or a thread of the user's), where Python handles them.
_ASYNC_SIGNALS: Final = frozenset(
    getattr(signal, name)
    for name in (
        "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM",
        "SIGCHLD", "SIGWINCH", "SIGPIPE",
    )
    if hasattr(signal, name)
)


def block_signals() -> None:
    """Block the asynchronous signals in the calling thread (a thread of ours, at its start)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, _ASYNC_SIGNALS)


def wait_lock(lock: threading.Lock, timeout: float | None = None) -> bool:
    """``lock.acquire(timeout=...)`` that lets a signal's handler run in the main thread.

    Returns whether the lock was acquired. In the main thread the wait
    wakes every :data:`SIGNAL_POLL` seconds, so that :exc:`KeyboardInterrupt`
    is raised here even when the kernel handed SIGINT to another thread;
    elsewhere it is one plain wait.
    """
    if threading.current_thread() is not threading.main_thread():
        return lock.acquire(True, -1 if timeout is None else timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        wait = SIGNAL_POLL if deadline is None else min(SIGNAL_POLL, deadline - time.monotonic())
        if wait <= 0:
            return lock.acquire(False)
        if lock.acquire(True, wait):
            return True


def wait_condition(
    condition: threading.Condition, ready: Callable[[], bool], timeout: float | None = None
) -> bool:
    """``condition.wait_for(ready, timeout)`` that lets a signal's handler run in the main thread.

    Call it with ``condition`` held. Returns ``ready()``'s last value.
    """
    if threading.current_thread() is not threading.main_thread():
        return condition.wait_for(ready, timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    while not (result := ready()):
        wait = SIGNAL_POLL if deadline is None else min(SIGNAL_POLL, deadline - time.monotonic())
        if wait <= 0:
            return result
        condition.wait(wait)
    return result


def wait_event(event: threading.Event) -> None:
    """``event.wait()`` that lets a signal's handler run in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        event.wait()
        return
    while not event.wait(SIGNAL_POLL):
        pass


class RuntimeStopped(RuntimeError):
    """The background Trio thread stopped while a blocking call was waiting for it.

    It happens when the interpreter exits (or the process forks) during the call.
    """


@attrs.define(eq=False)
class _Job(Generic[T]):
    """One blocking call: the function, and how it ended (set by the Trio thread)."""

    #: The call, bound to its arguments.
    fn: Callable[[], Awaitable[T]]
    #: What the task is named after.
    name: object
    #: Held by the caller from the start; the task releases it when it ends.
    done: threading.Lock = attrs.Factory(threading.Lock)
    scope: trio.CancelScope | None = None
    cancelled: bool = False
    finished: bool = False
    value: T | None = None
    error: BaseException | None = None

    def cancel(self) -> None:
        """Cancel the task (in the Trio thread), or mark it to start cancelled."""
        self.cancelled = True
        if self.scope is not None:
            self.scope.cancel()

    async def run(self) -> None:
        """The system task: run the function, record its outcome, wake the caller."""
        try:
            with trio.CancelScope() as self.scope:
                if self.cancelled:
                    self.scope.cancel()
                self.value = await self.fn()
                self.finished = True
        except trio.Cancelled:
            # Not our scope: the loop is stopping. Trio needs Cancelled back.
            self.error = RuntimeStopped("the ws.sync background thread stopped")
            raise
        except BaseException as exc:  # handed to the calling thread, which raises it
            self.error = exc
        finally:
            self.done.release()


@attrs.define(eq=False)
class Held(Generic[T]):
    """A resource that a task in the Trio thread holds open: see :meth:`Runtime.hold`."""

    _runtime: Runtime
    _leave: trio.Event
    _gone: trio.Event
    _scope: trio.CancelScope
    #: What exiting the context manager raised, once it has been exited.
    _error: BaseException | None = None

    @property
    def gone(self) -> bool:
        """Whether the context manager has been exited (by :meth:`leave` or otherwise)."""
        return self._gone.is_set()

    def leave(self) -> None:
        """Exit the context manager and wait until that is done; raise what it raised.

        Safe to call more than once and from any thread but the Trio thread;
        a call after the first returns at once (without raising again).
        """
        self._runtime.call(self._leave_async)

    async def _leave_async(self) -> None:
        self._leave.set()
        await self._gone.wait()
        error, self._error = self._error, None
        if error is not None:
            raise error

    def cancel(self) -> None:
        """Cancel the holding task from the Trio thread (the context manager exits at once)."""
        self._scope.cancel()


class Runtime:
    """The process's background Trio thread, started and stopped by use count.

    Module-level :data:`runtime` is the one instance; every blocking
    connection and server uses it. All methods are thread-safe, and none
    may be called from the Trio thread itself (that would wait for itself):
    they raise :exc:`RuntimeError` there.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._nursery: trio.Nursery | None = None
        self._held: set[Held[object]] = set()
        #: Threads started by run_in_thread() that have not ended.
        self._workers: set[threading.Thread] = set()

    # -- lifetime ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the background thread runs now."""
        return self._thread is not None

    @property
    def thread(self) -> threading.Thread | None:
        """The background thread, while it runs (for tests and diagnostics)."""
        return self._thread

    def acquire(self) -> None:
        """Count a user in; start the thread if it does not run."""
        self._check_thread()
        with self._lock:
            if self._thread is None:
                self._start()
            self._users += 1

    def release(self) -> None:
        """Count a user out; after the last one, stop the loop and join the thread."""
        with self._lock:
            if self._users <= 0:
                raise RuntimeError("ws.sync runtime released more often than acquired")
            self._users -= 1
            if self._users:
                return
            thread = self._stop_locked()
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT)
        self._join_finished_workers()

    def _join_finished_workers(self) -> None:
        """Join the run_in_thread() threads whose function returned (they are ending)."""
        me = threading.current_thread()
        for worker in list(self._workers):
            if worker is not me and getattr(worker, "ws_returned", False):
                worker.join(_JOIN_TIMEOUT)

    def _start(self) -> None:
        started = threading.Event()

        async def main() -> None:
            trio.socket.set_custom_hostname_resolver(_Resolver(self))
            self._token = trio.lowlevel.current_trio_token()
            self._stop = trio.Event()
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                started.set()
                await self._stop.wait()
                nursery.cancel_scope.cancel()
            self._nursery = None

        def run() -> None:
            block_signals()
            trio.run(main)

        thread = threading.Thread(target=run, name="ws.sync", daemon=True)
        thread.start()
        started.wait()
        self._thread = thread

    def _stop_locked(self) -> threading.Thread | None:
        thread, token, stop = self._thread, self._token, self._stop
        self._thread = self._token = self._stop = None
        if token is not None and stop is not None:
            try:
                token.run_sync_soon(stop.set)
            except trio.RunFinishedError:
                pass
        return thread

    def _at_exit(self) -> None:
        """Leave every held resource (bounded by :data:`EXIT_GRACE`), then stop."""
        token = self._token
        if token is None or threading.current_thread() is self._thread:
            return
        try:
            self.call(self._leave_all)
        except BaseException:  # noqa: BLE001 -- exiting anyway; nothing to report to
            pass
        with self._lock:
            self._users = 0
            thread = self._stop_locked()
        if thread is not None:
            thread.join(EXIT_GRACE)

    async def _leave_all(self) -> None:
        with trio.move_on_after(EXIT_GRACE):
            async with trio.open_nursery() as nursery:
                for one in list(self._held):
                    nursery.start_soon(_leave_quietly, one)

    def _after_fork(self) -> None:
        """In a forked child: the parent's thread is not here; start afresh."""
        self._lock = threading.Lock()
        self._users = 0
        self._thread = self._token = self._stop = self._nursery = None
        self._held = set()
        self._workers = set()

    # -- calls ---------------------------------------------------------------------

    def _check_thread(self) -> None:
        thread = self._thread
        if thread is not None and thread is threading.current_thread():
            raise RuntimeError(
                "a blocking ws.sync call was made from the ws.sync background thread, where it"
                " would wait for itself; use the async API there"
            )

    def call(self, fn: Callable[[Unpack[_Args]], Awaitable[T]], *args: Unpack[_Args]) -> T:
        """Run ``await fn(*args)`` in the Trio thread; block until it ends and return its value.

        Its exception is raised here. :exc:`KeyboardInterrupt` (or any
        exception raised asynchronously in this thread) while waiting
        cancels the task, waits for it to unwind, and propagates.

        Raises:
            RuntimeStopped: The background thread is not running (no user
                acquired it) or stopped during the call.
            RuntimeError: Called from the Trio thread.
        """
        self._check_thread()
        token = self._token
        if token is None:
            raise RuntimeStopped("the ws.sync background thread is not running")
        job: _Job[T] = _Job(functools.partial(fn, *args), fn)
        job.done.acquire()
        context = contextvars.copy_context()
        submitted = False
        try:
            token.run_sync_soon(self._spawn, job, context)
            submitted = True
            wait_lock(job.done)
        except trio.RunFinishedError:
            raise RuntimeStopped("the ws.sync background thread stopped") from None
        except BaseException:
            if submitted:
                self._interrupt(job, token)
            raise
        if job.finished:
            return job.value  # type: ignore[return-value]  # T itself may be None
        error, job.error = job.error, None
        if error is None:  # cancelled by us: only after an interrupt, which raised above
            raise RuntimeStopped("the ws.sync call was cancelled")
        try:
            raise error
        finally:
            del error

    @staticmethod
    def _spawn(job: _Job[T], context: contextvars.Context) -> None:
        trio.lowlevel.spawn_system_task(job.run, name=job.name, context=context)

    @staticmethod
    def _interrupt(job: _Job[T], token: trio.lowlevel.TrioToken) -> None:
        """Cancel an interrupted call's task and wait (bounded) until it ended."""
        try:
            token.run_sync_soon(job.cancel)
        except trio.RunFinishedError:
            return
        job.done.acquire(timeout=_UNWIND_TIMEOUT)

    async def run_in_thread(
        self, fn: Callable[[Unpack[_Args]], T], *args: Unpack[_Args], name: str
    ) -> T:
        """From the Trio thread: run ``fn(*args)`` in a new thread and wait for its result.

        The thread runs in a copy of the caller's :mod:`contextvars`
        context, is named ``name``, and ends when ``fn`` returns. Cancelling
        the wait abandons the thread (it cannot be interrupted), which then
        ends on its own whenever ``fn`` returns.
        """
        token = trio.lowlevel.current_trio_token()
        context = contextvars.copy_context()
        done = trio.Event()
        outcome: list[tuple[bool, object]] = []
        workers = self._workers

        def finish(result: tuple[bool, object]) -> None:
            outcome.append(result)
            done.set()

        def target() -> None:
            block_signals()
            result: tuple[bool, object]
            try:
                result = (True, context.run(fn, *args))
            except BaseException as exc:  # handed to the waiting task
                result = (False, exc)
            thread.ws_returned = True  # type: ignore[attr-defined]  # see _join_finished_workers
            try:
                token.run_sync_soon(finish, result)
            except trio.RunFinishedError:
                pass  # the loop is gone: nobody waits any more
            finally:
                workers.discard(thread)
                del result

        thread = threading.Thread(target=target, name=name, daemon=True)
        workers.add(thread)
        thread.start()
        await done.wait()
        ok, value = outcome[0]
        if not ok:
            assert isinstance(value, BaseException)
            try:
                raise value
            finally:
                del value
        return value  # type: ignore[return-value]  # T, from fn

    def hold(self, make: Callable[[], AbstractAsyncContextManager[T]]) -> tuple[T, Held[T]]:
        """Enter ``make()`` in a task of the Trio thread and keep it entered.

        Returns the value the context manager gives, and the :class:`Held`
        handle that exits it. While held, the resource counts for the
        atexit hook, which leaves it before the loop stops.
        """
        return self.call(self._hold, make)

    async def _hold(self, make: Callable[[], AbstractAsyncContextManager[T]]) -> tuple[T, Held[T]]:
        nursery = self._nursery
        if nursery is None:
            raise RuntimeStopped("the ws.sync background thread is stopping")
        started: tuple[T, Held[T]] = await nursery.start(self._holder, make)
        return started

    async def _holder(
        self,
        make: Callable[[], AbstractAsyncContextManager[T]],
        task_status: trio.TaskStatus[tuple[T, Held[T]]],
    ) -> None:
        gone = trio.Event()
        with trio.CancelScope() as scope:
            held: Held[T] | None = None
            try:
                async with make() as value:
                    held = Held(self, trio.Event(), gone, scope)
                    self._held.add(held)  # type: ignore[arg-type]  # variance of the set
                    task_status.started((value, held))
                    await held._leave.wait()
            except BaseException as exc:
                if held is None:
                    raise  # entering failed: nursery.start raises it in the caller
                if not isinstance(exc, trio.Cancelled):
                    held._error = exc
                    return
                raise
            finally:
                if held is not None:
                    self._held.discard(held)
                gone.set()


#: What :func:`socket.getaddrinfo` returns, as typeshed (and trio's ABC) spell it.
_AddressInfo: TypeAlias = list[
    tuple[Literal[socket.AddressFamily.AF_INET], socket.SocketKind, int, str, tuple[str, int]]
    | tuple[
        Literal[socket.AddressFamily.AF_INET6],
        socket.SocketKind,
        int,
        str,
        tuple[str, int, int, int] | tuple[int, bytes],
    ]
]


class _Resolver(trio.abc.HostnameResolver):
    """Name lookups in threads of :meth:`Runtime.run_in_thread`, not Trio's thread cache."""

    def __init__(self, runtime_: Runtime) -> None:
        self._runtime = runtime_

    async def getaddrinfo(
        self,
        host: bytes | None,
        port: bytes | str | int | None,
        family: int = 0,
        type: int = 0,  # noqa: A002 -- the ABC's name
        proto: int = 0,
        flags: int = 0,
    ) -> _AddressInfo:
        return await self._runtime.run_in_thread(
            socket.getaddrinfo, host, port, family, type, proto, flags, name="ws.sync getaddrinfo"
        )

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int
    ) -> tuple[str, str]:
        return await self._runtime.run_in_thread(
            socket.getnameinfo, sockaddr, flags, name="ws.sync getnameinfo"
        )


async def _leave_quietly(held: Held[object]) -> None:
    held._leave.set()
    await held._gone.wait()


#: The process's runtime.
runtime: Final = Runtime()
atexit.register(runtime._at_exit)
os.register_at_fork(after_in_child=runtime._after_fork)
