"""The run-wide budget of operations that skip a schedule point (ws.transports.fastio.Budget).

Schedule points are observed with a Trio instrument (:class:`StepRecorder`):
a task "step" is what runs between two of them, so the operations counted
in each step are exactly those completed without a schedule point.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import final

import pytest
import trio
import trio.testing

from ws.transports.fastio import YIELD_EVERY, Budget, SocketIO, run_budget, socket_io

#: Enough sockets that one operation on each spans many budgets.
SOCKETS = 200


@contextmanager
def socket_pairs(count: int) -> Iterator[list[tuple[trio.SocketStream, trio.SocketStream]]]:
    """``count`` connected SocketStream pairs over Unix socketpairs, closed afterwards."""
    pairs: list[tuple[trio.SocketStream, trio.SocketStream]] = []
    try:
        for _ in range(count):
            left, right = trio.socket.socketpair()
            pairs.append((trio.SocketStream(left), trio.SocketStream(right)))
        yield pairs
    finally:
        for a, b in pairs:
            a.socket.close()
            b.socket.close()


def fast(stream: trio.SocketStream) -> SocketIO:
    io = socket_io(stream)
    assert io is not None
    return io


@final
class StepRecorder(trio.abc.Instrument):
    """Counts the operations the current task does in each of its steps.

    Count an operation before awaiting it: the schedule point that ends a
    step comes at the end of the operation, after its I/O.
    """

    def __init__(self) -> None:
        self.task = trio.lowlevel.current_task()
        self.ops = 0
        self.steps: list[int] = []

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task:
            self.steps.append(self.ops)
            self.ops = 0


@contextmanager
def recording() -> Iterator[StepRecorder]:
    """Record the current task's steps inside the block (the unfinished last one is left out)."""
    recorder = StepRecorder()
    trio.lowlevel.add_instrument(recorder)
    try:
        yield recorder
    finally:
        trio.lowlevel.remove_instrument(recorder)


async def fresh_budget() -> Budget:
    """The run's budget, zeroed right after a schedule point (so zero is the truth)."""
    await trio.sleep(0)
    budget = run_budget()
    budget.reset()
    return budget


async def test_run_budget_is_one_per_run_and_socket_ios_share_it() -> None:
    """run_budget() is the same object all run long, and every SocketIO counts into it by default."""
    assert run_budget() is run_budget()
    with socket_pairs(2) as pairs:
        budget = await fresh_budget()
        for a, _b in pairs:
            await fast(a).send_all(b"x")
        assert budget.ops == 2


def test_each_run_has_its_own_budget() -> None:
    """Two Trio runs get two Budgets; outside a run, run_budget() raises RuntimeError."""

    async def budget_of_run() -> Budget:
        return run_budget()

    first, second = trio.run(budget_of_run), trio.run(budget_of_run)
    assert first is not second
    with pytest.raises(RuntimeError):
        run_budget()


async def test_an_explicit_budget_replaces_the_runs() -> None:
    """A SocketIO given its own Budget counts there and leaves run_budget() alone."""
    own = Budget()
    with socket_pairs(1) as [(a, _b)]:
        budget = await fresh_budget()
        io = SocketIO(a, own)
        for _ in range(3):
            await io.send_all(b"x")
        assert (own.ops, budget.ops) == (3, 0)


async def test_spend_yields_every_budget_without_raising_cancelled() -> None:
    """Budget.spend is a schedule point on every YIELD_EVERY-th call only, then ops is 0; it never raises Cancelled."""
    budget = Budget()
    with trio.CancelScope() as scope:
        scope.cancel()
        with recording() as recorder:
            for expected in range(1, 2 * YIELD_EVERY + 2):
                recorder.ops += 1
                await budget.spend()
                assert budget.ops == expected % YIELD_EVERY
    assert recorder.steps == [YIELD_EVERY, YIELD_EVERY]
    assert not scope.cancelled_caught
    budget.reset()
    assert budget.ops == 0


@pytest.mark.parametrize("op", ["send", "receive"])
async def test_a_task_looping_over_many_sockets_yields_every_budget(op: str) -> None:
    """One operation on each of 200 sockets in turn: a schedule point every YIELD_EVERY operations, and a competing task runs in every round."""
    rounds = 3
    turns = 0

    async def compete() -> None:
        nonlocal turns
        while True:
            turns += 1
            await trio.sleep(0)

    with socket_pairs(SOCKETS) as pairs:
        ios = [fast(a) for a, _b in pairs]
        if op == "receive":
            for _a, b in pairs:
                await b.send_all(b"x" * rounds)  # data ready: the receives never wait
        turns_per_round = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(compete)
            await fresh_budget()
            with recording() as recorder:
                for _ in range(rounds):
                    before = turns
                    for io in ios:
                        recorder.ops += 1
                        if op == "send":
                            await io.send_all(b"x")  # room in the buffer: never waits
                        else:
                            assert await io.receive_some(1) == b"x"
                    turns_per_round.append(turns - before)
            nursery.cancel_scope.cancel()
    assert recorder.steps == [YIELD_EVERY] * (rounds * SOCKETS // YIELD_EVERY)
    # The competitor runs once per schedule point of the looping task (at
    # least 12 per round), but Trio may run it after the looping task in
    # the same batch, so the round's last turn may count in the next round.
    assert min(turns_per_round) >= SOCKETS // YIELD_EVERY - 1


async def test_a_deadline_is_noticed_within_the_budget_across_sockets(
    mock_clock: trio.testing.MockClock,
) -> None:
    """Sends over 200 sockets, one each, with time passing: at most YIELD_EVERY complete after the deadline, then Cancelled."""
    with socket_pairs(SOCKETS) as pairs:
        ios = [fast(a) for a, _b in pairs]
        completed = late = 0
        await fresh_budget()
        with trio.move_on_after(0.002) as scope:
            for io in ios:
                mock_clock.jump(0.0001)
                await io.send_all(b"x")
                completed += 1
                if trio.current_time() >= scope.deadline:
                    late += 1
    assert scope.cancelled_caught
    assert 0 < late <= YIELD_EVERY
    # Cancelled at the first cancel point after the first budget yield past the deadline.
    first_late = completed - late + 1
    assert completed == -(-first_late // YIELD_EVERY) * YIELD_EVERY


async def test_spend_and_socket_operations_share_one_budget() -> None:
    """Budget.spend (a queue pop), sends and receives on two sockets all count toward the same YIELD_EVERY."""
    with socket_pairs(2) as [(a, _b), (c, d)]:
        sender, receiver = fast(a), fast(c)
        await d.send_all(b"x" * 100)
        budget = await fresh_budget()
        with recording() as recorder:
            for i in range(3 * YIELD_EVERY + 5):
                recorder.ops += 1
                if i % 3 == 0:
                    await run_budget().spend()
                elif i % 3 == 1:
                    await sender.send_all(b"x")
                else:
                    await receiver.receive_some(1)
        assert recorder.steps == [YIELD_EVERY] * 3
        assert budget.ops == 5


async def test_calls_that_waited_or_failed_reset_the_budget() -> None:
    """A wait resets the budget (a receive that waited then counts as one op); a send that waited, wait_send_all_might_not_block and a failed call leave 0."""
    with socket_pairs(1) as [(a, b)]:
        io = fast(a)
        budget = await fresh_budget()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(io.receive_some, 10)
            await trio.testing.wait_all_tasks_blocked()
            budget.ops = 10
            await b.send_all(b"x")
        assert budget.ops == 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(io.send_all, b"x" * (8 << 20))
            await trio.testing.wait_all_tasks_blocked()
            budget.ops = 10
            received = 0
            while received < 8 << 20:
                received += len(await b.receive_some(1 << 20))
        assert io.congested
        assert budget.ops == 0

        budget.ops = 10
        await io.wait_send_all_might_not_block()
        assert budget.ops == 0

        await io.send_all(b"x")  # did not wait: counted
        assert budget.ops == 1

        budget.ops = 10
        await b.aclose()
        with pytest.raises(trio.BrokenResourceError):
            await io.send_all(b"x")
        assert budget.ops == 0
