"""The background Trio thread of ws.sync (ws/sync/_runtime.py), without WebSocket."""

from __future__ import annotations

import contextlib
import contextvars
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import trio

from ws.sync._runtime import Runtime, RuntimeStopped, runtime

ROOT = Path(__file__).resolve().parents[2]
#: Seconds any wait in these tests may take at most.
LIMIT = 10.0
REQUEST = contextvars.ContextVar[str]("REQUEST")


@pytest.fixture
def running() -> Iterator[Runtime]:
    """The process's runtime, acquired for the test and released after it."""
    runtime.acquire()
    try:
        yield runtime
    finally:
        runtime.release()


async def add(a: int, b: int) -> int:
    await trio.lowlevel.checkpoint()
    return a + b


def current_thread_of_runtime() -> threading.Thread | None:
    """``runtime.thread``, read through a call (so that mypy does not narrow it)."""
    return runtime.thread


def test_our_threads_block_the_asynchronous_signals(running: Runtime) -> None:
    async def mask() -> set[int]:
        await trio.lowlevel.checkpoint()
        return set(signal.pthread_sigmask(signal.SIG_BLOCK, []))

    def handler_mask() -> set[int]:
        return set(signal.pthread_sigmask(signal.SIG_BLOCK, []))

    async def in_a_handler_thread() -> set[int]:
        return await running.run_in_thread(handler_mask, name="test handler")

    assert {signal.SIGINT, signal.SIGTERM} <= running.call(mask)
    assert {signal.SIGINT, signal.SIGTERM} <= running.call(in_a_handler_thread)
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # ours only


def test_the_thread_lives_exactly_as_long_as_its_users() -> None:
    assert not runtime.running
    runtime.acquire()
    first = current_thread_of_runtime()
    assert first is not None and first.is_alive() and first.daemon
    runtime.acquire()
    assert current_thread_of_runtime() is first  # one thread, shared
    runtime.release()
    assert current_thread_of_runtime() is first and first.is_alive()
    runtime.release()
    assert current_thread_of_runtime() is None
    assert not first.is_alive()  # joined before release() returned
    runtime.acquire()
    try:
        second = current_thread_of_runtime()
        assert second is not None and second is not first
        assert runtime.call(add, 2, 3) == 5
    finally:
        runtime.release()


def test_release_without_acquire_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="released more often than acquired"):
        runtime.release()


def test_a_call_without_users_says_the_thread_is_not_running() -> None:
    with pytest.raises(RuntimeStopped, match="not running"):
        runtime.call(add, 1, 2)


def test_calls_run_in_the_trio_thread_and_return_values(running: Runtime) -> None:
    async def where() -> str:
        await trio.lowlevel.checkpoint()
        return threading.current_thread().name

    assert running.call(where) == "ws.sync"
    assert running.call(add, 40, 2) == 42


def test_exceptions_are_raised_in_the_caller_and_the_loop_survives(running: Runtime) -> None:
    async def fail() -> None:
        await trio.lowlevel.checkpoint()
        raise KeyError("missing")

    thread = running.thread
    with pytest.raises(KeyError, match="missing") as caught:
        running.call(fail)
    assert caught.traceback[-1].name == "fail"
    assert running.thread is thread and running.call(add, 1, 1) == 2


def test_the_callers_context_goes_with_the_call(running: Runtime) -> None:
    async def read() -> str:
        await trio.lowlevel.checkpoint()
        return REQUEST.get("unset")

    token = REQUEST.set("request-7")
    try:
        assert running.call(read) == "request-7"
    finally:
        REQUEST.reset(token)
    assert running.call(read) == "unset"


def test_calls_from_many_threads_run_concurrently(running: Runtime) -> None:
    # Eight calls that each wait for all eight to have started: they only
    # finish if the loop runs them at the same time.
    count = 8
    arrived: list[int] = []
    everyone = threading.Barrier(count + 1)
    results: list[int] = []

    async def meet(i: int) -> int:
        arrived.append(i)
        with trio.fail_after(LIMIT):
            while len(arrived) < count:
                await trio.sleep(0.001)
        return i * 10

    def worker(i: int) -> None:
        everyone.wait(LIMIT)
        results.append(running.call(meet, i))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    everyone.wait(LIMIT)
    for thread in threads:
        thread.join(LIMIT)
    assert sorted(results) == [i * 10 for i in range(count)]


def test_a_blocking_call_from_the_trio_thread_is_refused(running: Runtime) -> None:
    async def nested() -> str:
        await trio.lowlevel.checkpoint()
        try:
            running.call(add, 1, 2)
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    assert "would wait for itself" in running.call(nested)


def to_main_thread() -> None:
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)


def to_process() -> None:
    # Delivered to any thread that does not block it: the main thread, or
    # this timer's own, from which Python still raises in the main thread.
    os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("send", [to_main_thread, to_process], ids=["thread", "process"])
def test_an_interrupt_cancels_the_call_and_waits_for_it_to_unwind(
    running: Runtime, send: Callable[[], None]
) -> None:
    # SIGINT while the main thread waits for a call that would never end:
    # KeyboardInterrupt comes out, and by then the call's task has been
    # cancelled and has run its cleanup.
    assert threading.current_thread() is threading.main_thread()
    cleaned = threading.Event()

    async def forever() -> None:
        try:
            await trio.sleep(LIMIT)  # "forever": bounded, so that a lost signal fails, not hangs
        finally:
            cleaned.set()

    # Python's own SIGINT handler, whatever an earlier test (or trio.run in
    # this thread) left installed.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.2, send)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            running.call(forever)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert cleaned.is_set()
    assert running.call(add, 2, 2) == 4  # the loop is fine


@contextlib.asynccontextmanager
async def resource(log: list[str], fail_on_exit: bool = False) -> AsyncIterator[str]:
    log.append("enter")
    try:
        yield "the resource"
    finally:
        log.append("exit")
        await trio.lowlevel.checkpoint()  # a cancelled exit stops here
        if fail_on_exit:
            raise OSError("exit failed")


def test_hold_keeps_a_context_manager_entered_until_leave(running: Runtime) -> None:
    log: list[str] = []
    value, held = running.hold(lambda: resource(log))
    assert (value, log, held.gone) == ("the resource", ["enter"], False)
    held.leave()
    assert (log, held.gone) == (["enter", "exit"], True)
    held.leave()  # again: nothing more happens
    assert log == ["enter", "exit"]


def test_hold_reports_errors_of_entering_and_of_leaving(running: Runtime) -> None:
    async def connect() -> str:
        await trio.lowlevel.checkpoint()
        raise ConnectionRefusedError("no")

    @contextlib.asynccontextmanager
    async def refuses() -> AsyncIterator[str]:
        yield await connect()

    with pytest.raises(ConnectionRefusedError):
        running.hold(refuses)
    log: list[str] = []
    _, held = running.hold(lambda: resource(log, fail_on_exit=True))
    with pytest.raises(OSError, match="exit failed"):
        held.leave()
    assert held.gone
    held.leave()  # the error is reported once
    assert running.call(add, 3, 3) == 6


def test_stopping_the_loop_leaves_nothing_waiting() -> None:
    # A held resource is cancelled with the loop when the last user goes
    # (its owner forgot to leave it): its cleanup runs.
    log: list[str] = []
    runtime.acquire()
    _, held = runtime.hold(lambda: resource(log))
    runtime.release()
    assert log == ["enter", "exit"]
    assert held.gone


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=LIMIT * 3, env=env,
    )


def test_interpreter_exit_leaves_held_resources_and_does_not_hang() -> None:
    # A user that never released: the atexit hook leaves the resource
    # (its exit code runs in the Trio thread) and stops the loop.
    done = run_python("""
        import contextlib, trio
        from ws.sync._runtime import runtime

        @contextlib.asynccontextmanager
        async def resource():
            try:
                yield None
            finally:
                await trio.sleep(0.01)
                print("left", flush=True)

        runtime.acquire()
        runtime.hold(resource)
        print("exiting", flush=True)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["exiting", "left"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_its_own_thread(running: Runtime) -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover -- the child
        code = 1
        try:
            os.close(read)
            runtime.acquire()
            code = 0 if runtime.call(add, 20, 1) == 21 else 2
            runtime.release()
            os.write(write, b"ok")
        finally:
            os._exit(code)
    os.close(write)
    deadline = time.monotonic() + LIMIT
    while True:
        waited, status = os.waitpid(pid, os.WNOHANG)
        if waited:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child did not finish")
        time.sleep(0.01)
    with os.fdopen(read, "rb") as pipe:
        assert pipe.read() == b"ok"
    assert os.waitstatus_to_exitcode(status) == 0
    assert running.call(add, 1, 2) == 3  # the parent's thread is untouched
