"""Rooms shared by many worker processes, through Redis pub/sub: :func:`open_broadcast`.

Several workers behind a load balancer each hold some of the clients. A
message for a room must reach the room's clients on every worker, so a
worker publishes it to Redis and every worker (subscribed to the same
channels) sends it to the room's connections that it holds, with
:func:`ws.broadcast`. This module needs redis-py, the optional extra
``pip install 'trio-ws[redis]'``; importing it does not, only
:func:`open_broadcast` does.

Theory of operation
-------------------

**Threads, not trio-asyncio.** redis-py has a blocking client and an
asyncio one; Trio can use the first through threads, or the second inside
an asyncio loop run by trio-asyncio. We use threads:

* no dependency beyond redis-py itself, and none on trio-asyncio, a
  bridge that is far less maintained than Trio or redis-py and puts a
  second event loop, with its own cancellation rules, inside every
  worker;
* the cost is bounded and small: one thread per hub for the subscriber,
  plus one per publish in flight, at most :data:`PUBLISH_THREADS` at
  once (Trio reuses idle threads, so a publish costs two thread hand-offs,
  tens of microseconds, next to Redis' own round trip);
* cancellation stays Trio's: the thread that waits for messages waits in
  slices of :data:`POLL_INTERVAL` seconds and checks a stop flag between
  them, and its wait between reconnection attempts wakes up at once when
  the hub closes. Closing the hub therefore takes at most
  :data:`POLL_INTERVAL` seconds, or the rest of a connection attempt
  (bounded by ``redis_timeout``) if one is under way.

**One pattern subscription.** The subscriber thread subscribes to the
pattern ``<channel_prefix>*`` (the prefix escaped), on its own connection,
and hands what arrives to Trio in batches (one
:func:`trio.from_thread.run_sync` per batch of up to :data:`BATCH`
messages). Trio decodes each message, drops those of rooms that have no
connection here, and queues the rest (at most ``queue_size`` messages)
for one delivery task, which calls :func:`ws.broadcast` with the hub's
``timeout`` and ``on_slow``. So every worker receives every room's
messages and keeps those it needs: one subscription, no subscribe
command on the hot path, at the price of traffic that grows with the
number of workers.

**Local delivery is direct; the echo is skipped.** Redis sends a message
back to its publisher's own subscription too. :meth:`RedisBroadcaster.publish`
does not wait for that echo: it sends to the room's local connections
itself, while the message goes to Redis (concurrently), and the
subscriber drops messages that carry its own hub's id. Local clients
thus get the message one hop sooner, and still get it while Redis is
down. The price: two messages published at once on two workers may reach
the clients of different workers in different orders (Redis orders them
one way, and each publisher's own clients see its message first).
Messages published by one task, one after the other, arrive everywhere
in that order.

**The wire format** of a Redis message is one byte for the type (``t``:
text, UTF-8; ``b``: binary), then the publishing hub's 8-byte id, then
the message. Another program may publish to ``<channel_prefix><room>``
in this format with any id. Messages in any other format are dropped
with a warning.

**While Redis is unreachable** the hub keeps serving its own clients:
``publish`` delivers locally, drops the message for Redis and returns
``False``; it never raises for an outage. It logs one WARNING when the
subscriber loses Redis, and at most one WARNING per ``log_interval``
seconds about dropped messages (with their count). While the subscriber
knows Redis to be down, ``publish`` does not even try it, so that no
handler waits on a dead server. The subscriber reconnects with
exponential backoff (``backoff``, a :class:`ws.Backoff`) and logs at INFO
when it is back. Pub/sub keeps no history: messages published while a
worker was cut off never reach that worker's clients.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Final, TypeVarTuple, Unpack, final

import attrs
import trio

from ws._broadcast import SlowPolicy, broadcast
from ws._groups import collapse_exception_groups
from ws._logging import Logger
from ws._reconnect import Backoff
from ws.connection import WebSocketConnection
from ws.errors import MessageTypeError

if TYPE_CHECKING:
    import redis

__all__ = [
    "BATCH",
    "DEFAULT_BACKOFF",
    "POLL_INTERVAL",
    "PUBLISH_THREADS",
    "RedisBroadcaster",
    "open_broadcast",
]

#: Seconds the subscriber thread waits for a message before it checks whether
#: the hub is closing: the longest a close waits for it (when not connecting).
POLL_INTERVAL: Final = 0.1

#: The most messages the subscriber thread hands to Trio in one call.
BATCH: Final = 64

#: The most publishes of one hub that run in threads at once (and so the most
#: connections its publishes hold open to Redis).
PUBLISH_THREADS: Final = 8

#: The default reconnection backoff: under 0.1, 0.2, 0.4, ... then 5 seconds.
DEFAULT_BACKOFF: Final = Backoff(initial=0.1, maximum=5.0)

_TEXT: Final = ord("t")
_BINARY: Final = ord("b")
_ID_SIZE: Final = 8
_HEADER: Final = 1 + _ID_SIZE
_MISSING: Final = "ws.redis needs redis-py: pip install 'trio-ws[redis]'"
_SUBSCRIBER_THREAD: Final = "ws.redis subscriber"
_PUBLISH_THREAD: Final = "ws.redis publish"
_LOGGER: Final = logging.getLogger("ws.redis")

_Targets = Callable[[], Iterable[WebSocketConnection]]
_Ts = TypeVarTuple("_Ts")


@attrs.define(eq=False)
class _Throttle:
    """A warning logged at most once per ``interval`` seconds (Trio's clock), with a count."""

    log: Logger
    interval: float
    _next: float = -math.inf
    _held: int = 0

    def warn(self, message: str, *args: object) -> None:
        now = trio.current_time()
        if now < self._next:
            self._held += 1
            return
        self._next = now + self.interval
        held, self._held = self._held, 0
        if held:
            self.log.warning(message + " (and %d more since the last report)", *args, held)
        else:
            self.log.warning(message, *args)

    def reset(self) -> None:
        """The next warning is logged at once."""
        self._next = -math.inf
        self._held = 0


@attrs.define(eq=False)
class _Room:
    # The room's connections here: those that joined, and the subscribed sources.
    members: set[WebSocketConnection] = attrs.Factory(set)
    sources: list[_Targets] = attrs.Factory(list)


@final
@attrs.define(eq=False)
class RedisBroadcaster:
    """A worker's end of rooms shared through Redis; made by :func:`open_broadcast`.

    A room is a name (``str``). Its members here are the connections that
    :meth:`join` it, plus those that :meth:`subscribe` supplies; every
    worker's hub sends a room's messages to its own members.
    """

    _client: redis.Redis = attrs.field(repr=False)
    _where: str
    _prefix: str
    _timeout: float
    _on_slow: SlowPolicy
    _backoff: Backoff
    _redis_timeout: float
    _log: Logger
    _send: trio.MemorySendChannel[tuple[str, str | bytes]] = attrs.field(repr=False)
    _errors: tuple[type[BaseException], ...] = attrs.field(repr=False)
    _drop_log: _Throttle = attrs.field(repr=False)
    _incoming_log: _Throttle = attrs.field(repr=False)
    _id: bytes = attrs.field(factory=lambda: os.urandom(_ID_SIZE), repr=False)
    _rooms: dict[str, _Room] = attrs.field(factory=dict, repr=False)
    _connected: bool = False
    _closed: bool = False
    _settled: trio.Event = attrs.field(factory=trio.Event, repr=False)
    _changed: trio.Event = attrs.field(factory=trio.Event, repr=False)
    _stop: threading.Event = attrs.field(factory=threading.Event, repr=False)
    _limiter: trio.CapacityLimiter = attrs.field(
        factory=lambda: trio.CapacityLimiter(PUBLISH_THREADS), repr=False
    )

    @property
    def connected(self) -> bool:
        """Whether the subscriber is connected to Redis now (messages flow between workers)."""
        return self._connected

    @property
    def channel_prefix(self) -> str:
        """What the Redis channel of a room starts with (the room's name follows)."""
        return self._prefix

    async def wait_connected(self) -> None:
        """Return once the subscriber is connected to Redis (at once if it is)."""
        while not self._connected:
            await self._changed.wait()

    @asynccontextmanager
    async def join(self, room: str, connection: WebSocketConnection) -> AsyncIterator[None]:
        """Make ``connection`` a member of ``room`` here for the ``async with`` block.

        Joining a room twice is joining it once: the first block to end
        takes the connection out. (An async context manager, so that a
        later version may wait here for Redis to confirm a subscription.)

        Args:
            room: The room's name.
            connection: A connection of this worker.

        Raises:
            TypeError: ``room`` is not a ``str``.
        """
        self._room(room).members.add(connection)
        try:
            await trio.lowlevel.checkpoint()
            yield
        finally:
            self._leave(room, lambda entry: entry.members.discard(connection))

    @asynccontextmanager
    async def subscribe(self, room: str, connections: _Targets) -> AsyncIterator[None]:
        """Deliver ``room``'s messages, for the ``async with`` block, to ``connections()``.

        ``connections`` is called for each message, so it can follow a
        collection that changes: ``hub.subscribe("all", lambda:
        server.connections)`` puts every open connection of a server in
        the room ``"all"``.

        Args:
            room: The room's name.
            connections: Returns the connections (an iterable) when called.

        Raises:
            TypeError: ``room`` is not a ``str``.
        """
        self._room(room).sources.append(connections)
        try:
            await trio.lowlevel.checkpoint()
            yield
        finally:
            self._leave(room, lambda entry: entry.sources.remove(connections))

    async def publish(self, room: str, message: str | bytes | bytearray | memoryview) -> bool:
        """Send a message to ``room``'s members on every worker, this one included.

        ``str`` goes as a text message, bytes-like as binary. This worker's
        members get it directly (with :func:`ws.broadcast`), while it goes to
        Redis for the other workers; it returns when both are done. A Redis
        outage never raises here: the message still reaches this worker's
        members, is dropped for the others (with a rate-limited WARNING) and
        the result is ``False``.

        A cancelled publish returns once Redis has answered (or the
        ``redis_timeout`` of :func:`open_broadcast` ran out): a command
        handed to a thread cannot be taken back halfway. Once the hub has
        closed, it raises ``trio.ClosedResourceError``.

        Args:
            room: The room's name.
            message: The message: ``str`` (text) or bytes-like (binary).

        Returns:
            Whether Redis took the message for the other workers.

        Raises:
            MessageTypeError: ``message`` is neither str nor bytes-like.
            TypeError: ``room`` is not a ``str``.
        """
        if isinstance(message, str):
            payload = b"t" + self._id + message.encode("utf-8")
        elif isinstance(message, (bytes, bytearray, memoryview)):
            message = bytes(message)
            payload = b"b" + self._id + message
        else:
            raise MessageTypeError(f"a message is str or bytes-like, not {type(message).__name__}")
        channel = self._channel(room)
        if self._closed:
            raise trio.ClosedResourceError("the Redis broadcast hub is closed")
        targets = self._targets(room)
        if not targets:
            return await self._publish_remote(channel, payload)
        sent = False

        async def remote() -> None:
            nonlocal sent
            sent = await self._publish_remote(channel, payload)

        with collapse_exception_groups():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(remote)
                await broadcast(targets, message, timeout=self._timeout, on_slow=self._on_slow)
        return sent

    # -- Trio side ------------------------------------------------------------------

    def _channel(self, room: str) -> bytes:
        if not isinstance(room, str):
            raise TypeError(f"a room is a str, not {type(room).__name__}")
        return (self._prefix + room).encode("utf-8")

    def _room(self, room: str) -> _Room:
        self._channel(room)  # checks the type
        entry = self._rooms.get(room)
        if entry is None:
            entry = self._rooms[room] = _Room()
        return entry

    def _leave(self, room: str, remove: Callable[[_Room], object]) -> None:
        entry = self._rooms.get(room)
        if entry is not None:
            remove(entry)
            if not entry.members and not entry.sources:
                del self._rooms[room]

    def _targets(self, room: str) -> list[WebSocketConnection]:
        # A snapshot: joining and leaving during a broadcast change nothing in it.
        entry = self._rooms.get(room)
        if entry is None:
            return []
        targets = list(entry.members)
        for source in entry.sources:
            targets.extend(source())
        return targets

    async def _publish_remote(self, channel: bytes, payload: bytes) -> bool:
        if not self._connected:
            await trio.lowlevel.checkpoint()
            self._drop_log.warn(
                "Redis at %s is unreachable: a message for the other workers was dropped",
                self._where,
            )
            return False
        try:
            await trio.to_thread.run_sync(
                self._publish_blocking, channel, payload,
                thread_name=_PUBLISH_THREAD, limiter=self._limiter,
            )
        except self._errors as exc:
            self._drop_log.warn(
                "publishing to Redis at %s failed (%s): "
                "a message for the other workers was dropped",
                self._where, _describe(exc),
            )
            return False
        return True

    def _on_state(self, connected: bool, error: BaseException | None) -> None:
        # Called in Trio by the subscriber thread, after each (re)connection attempt.
        first = not self._settled.is_set()
        self._settled.set()
        if connected == self._connected and not first:
            if error is not None:
                self._log.debug("Redis at %s still unreachable: %s", self._where, _describe(error))
            return
        self._connected = connected
        self._drop_log.reset()
        self._changed.set()
        self._changed = trio.Event()
        if connected:
            if first:
                self._log.info("subscribed to Redis at %s", self._where)
            else:
                self._log.info(
                    "reconnected to Redis at %s; messages published meanwhile are lost",
                    self._where,
                )
        else:
            self._log.warning(
                "Redis at %s is unreachable (%s): messages between workers are dropped "
                "until it is back; reconnecting",
                self._where, _describe(error) if error is not None else "unknown error",
            )

    def _on_messages(self, batch: list[tuple[bytes, bytes]]) -> None:
        # Called in Trio by the subscriber thread with what Redis delivered.
        skip = len(self._prefix.encode("utf-8"))
        for channel, data in batch:
            kind = data[0] if data else -1
            if len(data) < _HEADER or (kind != _TEXT and kind != _BINARY):
                self._incoming_log.warn(
                    "dropped a message of unknown format on Redis channel %r", channel
                )
                continue
            if data[1:_HEADER] == self._id:
                continue  # our own publish: delivered locally already
            try:
                room = channel[skip:].decode("utf-8")
                body = data[_HEADER:]
                message: str | bytes = body.decode("utf-8") if kind == _TEXT else body
            except UnicodeDecodeError:
                self._incoming_log.warn("dropped a message with invalid UTF-8 on %r", channel)
                continue
            if room not in self._rooms:
                continue
            try:
                self._send.send_nowait((room, message))
            except trio.WouldBlock:
                self._incoming_log.warn(
                    "the delivery queue is full: dropped a message from Redis for room %r", room
                )

    async def _deliver(self, receive: trio.MemoryReceiveChannel[tuple[str, str | bytes]]) -> None:
        async for room, message in receive:
            targets = self._targets(room)
            if not targets:
                continue
            try:
                await broadcast(targets, message, timeout=self._timeout, on_slow=self._on_slow)
            except Exception:  # pragma: no cover - a bug in ws: log it, keep delivering
                self._log.exception("delivering a message of room %r failed", room)

    async def _subscribe(self) -> None:
        await trio.to_thread.run_sync(
            self._subscribe_blocking,
            thread_name=_SUBSCRIBER_THREAD,
            limiter=trio.CapacityLimiter(1),
        )

    # -- the threads -------------------------------------------------------------------

    def _publish_blocking(self, channel: bytes, payload: bytes) -> None:
        self._client.publish(channel, payload)

    def _subscribe_blocking(self) -> None:
        # The subscriber thread: connect, subscribe, hand messages over; on an
        # error report it, wait (backoff) and start again, until the stop flag.
        pattern = _escape(self._prefix).encode("utf-8") + b"*"
        failures = 0
        while not self._stop.is_set():
            pubsub: redis.client.PubSub = self._client.pubsub()  # type: ignore[no-untyped-call]
            try:
                pubsub.psubscribe(pattern)
                self._listen(pubsub)
                return
            except self._errors as exc:
                error: BaseException = exc
            except Exception as exc:  # a bug, in ws or redis-py: retry, but say so
                self._log.error("the Redis subscriber failed", exc_info=True)
                error = exc
            finally:
                try:
                    pubsub.close()
                except Exception:  # noqa: S110 - closing a broken connection
                    pass
            if not self._to_trio(self._on_state, False, error):
                return
            failures += 1
            self._stop.wait(self._backoff.delay(failures))

    def _listen(self, pubsub: redis.client.PubSub) -> None:
        # Until the stop flag or the end of the Trio run; errors propagate.
        deadline = time.monotonic() + self._redis_timeout
        while True:
            if self._stop.is_set():
                return
            reply = pubsub.get_message(timeout=POLL_INTERVAL)
            if reply is not None and reply["type"] == "psubscribe":
                break
            if time.monotonic() > deadline:
                raise TimeoutError("Redis did not confirm the subscription")
        if not self._to_trio(self._on_state, True, None):
            return
        while not self._stop.is_set():
            reply = pubsub.get_message(timeout=POLL_INTERVAL)
            batch: list[tuple[bytes, bytes]] = []
            while reply is not None:
                if reply["type"] == "pmessage":
                    batch.append((reply["channel"], reply["data"]))
                    if len(batch) >= BATCH:
                        break
                reply = pubsub.get_message(timeout=0)
            if batch and not self._to_trio(self._on_messages, batch):
                return

    def _to_trio(self, function: Callable[[Unpack[_Ts]], None], *args: Unpack[_Ts]) -> bool:
        # False once Trio is gone (the run ended): the thread must stop.
        try:
            trio.from_thread.run_sync(function, *args)
        except trio.RunFinishedError:
            return False
        return True


def _escape(prefix: str) -> str:
    # A glob-style pattern matching exactly what starts with ``prefix``.
    return "".join("\\" + char if char in "*?[]\\" else char for char in prefix)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _where(url: str) -> str:
    # The URL for the logs, without a password.
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@asynccontextmanager
async def open_broadcast(
    url: str = "redis://127.0.0.1:6379/0",
    *,
    channel_prefix: str = "ws:",
    timeout: float = 5.0,
    on_slow: SlowPolicy = "close",
    queue_size: int = 1024,
    redis_timeout: float = 5.0,
    backoff: Backoff = DEFAULT_BACKOFF,
    log_interval: float = 60.0,
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
) -> AsyncIterator[RedisBroadcaster]:
    """Share rooms with the other workers through Redis, for the ``async with`` block.

    ::

        async with ws.redis.open_broadcast("redis://redis.internal:6379/0") as hub:
            ...  # async with hub.join(room, connection): await hub.publish(room, message)

    On entry it connects to Redis and subscribes, so that what is published
    after the block has started reaches this worker's members. If Redis is
    unreachable it does not fail: the block starts, messages between
    workers are dropped, and the hub keeps trying to connect in the
    background (see :attr:`RedisBroadcaster.connected`). On exit it stops
    its thread and closes its connections to Redis.

    Args:
        url: The Redis server: ``redis://[[user]:password@]host[:port][/db]``,
            ``rediss://`` for TLS, or ``unix://path``, as redis-py reads it
            (query parameters included).
        channel_prefix: The Redis channel of a room is this prefix and the
            room's name. Workers that share rooms use the same prefix;
            different prefixes keep applications on one Redis apart.
        timeout: Of each :func:`ws.broadcast` to this worker's members.
        on_slow: Of each :func:`ws.broadcast` to this worker's members.
        queue_size: The most messages from Redis waiting for delivery
            here; more are dropped, with a warning.
        redis_timeout: Seconds for connecting to Redis and for a command.
        backoff: The waits between reconnection attempts.
        log_interval: The least seconds between two warnings about dropped
            messages.
        logger: Where the hub logs (default: the ``ws.redis`` logger).

    Yields:
        The hub.

    Raises:
        ImportError: redis-py is not installed.
        ValueError: ``url`` is not a Redis URL, or a number is out of range.
        TypeError: ``channel_prefix`` is not a ``str``.
    """
    if not isinstance(channel_prefix, str):
        raise TypeError(f"channel_prefix must be a str, not {type(channel_prefix).__name__}")
    if not timeout >= 0:
        raise ValueError(f"timeout must be >= 0, not {timeout!r}")
    if on_slow != "close" and on_slow != "skip":
        raise ValueError(f"on_slow must be 'close' or 'skip', not {on_slow!r}")
    if queue_size < 1:
        raise ValueError(f"queue_size must be >= 1, not {queue_size!r}")
    if not redis_timeout > 0:
        raise ValueError(f"redis_timeout must be > 0, not {redis_timeout!r}")
    if not log_interval >= 0:
        raise ValueError(f"log_interval must be >= 0, not {log_interval!r}")
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError as exc:
        raise ImportError(_MISSING, name="redis") from exc
    log = _LOGGER if logger is None else logger
    client = redis.Redis.from_url(
        url,
        socket_connect_timeout=redis_timeout,
        socket_timeout=redis_timeout,
        socket_keepalive=True,
        health_check_interval=30,
        # One immediate retry replaces a pooled connection that Redis closed;
        # longer waits are the hub's backoff, which notices a close.
        retry=Retry(NoBackoff(), 1),
    )
    send, receive = trio.open_memory_channel[tuple[str, str | bytes]](queue_size)
    hub = RedisBroadcaster(
        client=client,
        where=_where(url),
        prefix=channel_prefix,
        timeout=timeout,
        on_slow=on_slow,
        backoff=backoff,
        redis_timeout=redis_timeout,
        log=log,
        send=send,
        errors=(redis.RedisError, OSError),
        drop_log=_Throttle(log, log_interval),
        incoming_log=_Throttle(log, log_interval),
    )
    try:
        with collapse_exception_groups():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(hub._deliver, receive)
                nursery.start_soon(hub._subscribe)
                try:
                    await hub._settled.wait()
                    yield hub
                finally:
                    hub._closed = True
                    hub._stop.set()
                    nursery.cancel_scope.cancel()
    finally:
        client.close()
