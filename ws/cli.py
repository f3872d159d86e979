"""The command line: ``python -m ws`` and the ``trio-ws`` script.

Three commands (``docs/cli.md`` is the reference, with examples):

* ``client URL``: an interactive client, in the manner of wscat. Each line
  of standard input is sent as a text message; incoming messages are
  printed as they arrive, after ``< `` (binary ones as hex). Lines that
  start with ``/`` are commands (``/close``, ``/ping``, ``/binary``,
  ``/help``); ``//`` sends a line that starts with ``/``. At the end of the
  input the client closes with 1000, prints what still arrives until the
  closing handshake is over, and exits. In a terminal it shows a ``> ``
  prompt and redraws it under each incoming message; in a pipe it prints
  the messages only.
* ``serve [APP]``: an echo server, or the handler ``APP`` names
  (``MODULE:ATTRIBUTE``), on a host and port or a Unix socket, with TLS if
  given a certificate; Ctrl-C or SIGTERM closes its connections with 1001
  and stops it. ``--workers N`` runs N processes on one port under a
  supervisor (``ws/_workers.py``).
* ``demo``: an echo server and a client against it, in one process.

Exit statuses (:class:`ExitStatus`): 0 done (a normal close: ours, or the
server's with 1000, 1001 or 1005), 1 the connection could not be made (or
the server could not listen), 2 usage, 3 the connection closed abnormally
(the server closed with another code, dropped the connection, or did not
answer our close), 130 interrupted (Ctrl-C in the client).
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import enum
import io
import logging
import os
import platform
import signal
import ssl
import sys
import urllib.parse
from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial
from types import ModuleType
from typing import Final, TextIO, cast

import attrs
import trio

import ws
from ws._workers import AppError, Supervisor, WorkerLink, load_app
from ws.connection._connection import sending_parts
from ws.frames.close import serialize_close
from ws.options import DEFAULT_PING_INTERVAL
from ws.protocol import State
from ws.http import ProcessRequest
from ws.server import Handler

__all__ = ["DEFAULT_PORT", "ExitStatus", "build_parser", "demo", "main"]

#: The port ``serve`` listens on when not told.
DEFAULT_PORT: Final = 8765
_PROMPT: Final = "> "
#: Seconds the client waits for the server to answer its close; then it drops the connection.
_CLOSE_TIMEOUT: Final = 10.0
#: Seconds ``/ping`` waits for the pong.
_PING_WAIT: Final = 10.0
#: Seconds ``serve`` gives its handlers after closing their connections.
_SHUTDOWN_GRACE: Final = 5.0
_NORMAL_CODES: Final = frozenset({1000, 1001, 1005})
_HELP: Final = (
    "commands: /close [CODE [REASON]] closes (default 1000); /ping [TEXT] pings;"
    " /binary HEX sends bytes; //text sends /text; end of input (Ctrl-D) closes"
)


class ExitStatus(enum.IntEnum):
    """The exit statuses of ``python -m ws`` (see the module docstring)."""

    OK = 0
    CONNECT_FAILED = 1
    USAGE = 2
    CLOSED_ABNORMALLY = 3
    INTERRUPTED = 130


# -- the client's terminal ---------------------------------------------------


def _printable(text: str) -> str:
    # A terminal obeys escape sequences: a server's text must not move the
    # cursor or retitle the window, so control characters show escaped.
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() or char in "\n\t" else repr(char)[1:-1] for char in text
    )


@attrs.define(eq=False)
class _Console:
    """Where the client reads lines and writes messages and notes.

    Interactive (standard input and output both terminals): a prompt,
    redrawn under each incoming message with what was typed so far
    (GNU readline, when Python has it, also gives line editing and
    history), notes after ``* `` on standard output, control characters
    escaped. Otherwise: messages on standard output, notes on standard
    error, no prompt and no escape codes.
    """

    interactive: bool
    _readline: ModuleType | None = None
    # Puts the terminal back as it was (readline changes its modes).
    _restore: Callable[[], None] | None = None
    # A prompt is on screen, waiting for a line.
    _reading: bool = False
    _pending: str = ""
    _decoder: codecs.IncrementalDecoder = attrs.field(
        factory=lambda: codecs.getincrementaldecoder("utf-8")("replace")
    )

    @classmethod
    def for_stdio(cls) -> _Console:
        """The console for this process's standard streams."""
        stdin, stdout = sys.stdin, sys.stdout
        if isinstance(stdout, io.TextIOWrapper):  # a message in a script the terminal lacks
            stdout.reconfigure(errors="backslashreplace")
        if stdin is None or stdout is None or not (stdin.isatty() and stdout.isatty()):
            return cls(False)
        try:
            import readline
            import termios
        except ImportError:  # pragma: no cover - Python without readline
            return cls(True)
        fd = sys.stdin.fileno()
        restore = partial(termios.tcsetattr, fd, termios.TCSADRAIN, termios.tcgetattr(fd))
        # Bracketed paste would leave escape codes behind in a terminal
        # when the client exits while readline waits for a line.
        readline.parse_and_bind("set enable-bracketed-paste off")
        console = cls(True, readline, restore)
        readline.set_pre_input_hook(console._prompt_shown)
        return console

    def _prompt_shown(self) -> None:
        # Runs in the reading thread, once readline drew the prompt.
        self._reading = True

    async def read_line(self) -> str | None:
        """The next line typed or piped in, without its newline; ``None`` at the end."""
        if self.interactive and self._readline is None:
            sys.stdout.write(_PROMPT)
            sys.stdout.flush()
            self._reading = True
        # A thread, not trio.lowlevel.FdStream on fd 0: FdStream sets
        # O_NONBLOCK on a file description the shell shares (and leaves it
        # so if we die), and epoll refuses regular files (`< messages.txt`).
        # A thread reads ttys, pipes and files alike, and is abandoned when
        # the connection ends first. It reads with os.read, not sys.stdin:
        # an abandoned thread inside sys.stdin.readline() holds the buffer's
        # lock, and the interpreter aborts when it needs it at exit.
        try:
            line = await trio.to_thread.run_sync(self._read_blocking, abandon_on_cancel=True)
        finally:
            self._reading = False
        if line is None and self.interactive:
            sys.stdout.write("\r\x1b[K")  # Ctrl-D left the cursor after the prompt
        return line

    def _read_blocking(self) -> str | None:
        if self._readline is not None:
            try:
                return input(_PROMPT)
            except EOFError:
                return None
        while "\n" not in self._pending:
            try:
                data = os.read(0, 65536)
            except OSError:  # no standard input at all (closed): as if empty
                data = b""
            self._pending += self._decoder.decode(data, final=not data)
            if not data:
                if not self._pending:
                    return None
                line, self._pending = self._pending, ""
                return line
        line, _, self._pending = self._pending.partition("\n")
        return line.removesuffix("\r")

    def show(self, message: str | bytes) -> None:
        """Print an incoming message after ``< ``."""
        if isinstance(message, str):
            self._line(f"< {_printable(message) if self.interactive else message}")
        else:
            self._line(f"< [binary, {len(message)} bytes] {message.hex(' ')}")

    def note(self, text: str) -> None:
        """Tell the user something that is not a message (in a pipe, on standard error)."""
        if self.interactive:
            self._line(f"* {text}")
        else:
            print(text, file=sys.stderr, flush=True)

    def status(self, text: str) -> None:
        """Say how the connection stands, in a terminal only (a pipe gets messages only)."""
        if self.interactive:
            self._line(f"* {text}")

    def error(self, text: str) -> None:
        """Print a one-line error on standard error."""
        if self.interactive:  # a prompt may be on screen, whatever _reading says
            sys.stdout.write("\r\x1b[K")
            sys.stdout.flush()
            self._reading = False
        print(f"error: {text}", file=sys.stderr, flush=True)

    def finish(self) -> None:
        """Take the prompt off the screen."""
        if self.interactive and self._reading:
            sys.stdout.write("\r\x1b[K")
            sys.stdout.flush()
            self._reading = False

    def restore(self) -> None:
        """Put the terminal back in the modes it had."""
        if self._restore is not None:
            with contextlib.suppress(OSError):
                self._restore()

    def _line(self, line: str) -> None:
        out = sys.stdout
        if self._reading:
            typed = self._readline.get_line_buffer() if self._readline is not None else ""
            out.write(f"\r\x1b[K{line}\n{_PROMPT}{typed}")
        else:
            out.write(f"{line}\n")
        out.flush()


# -- the client ----------------------------------------------------------------


@attrs.define(eq=False)
class _Session:
    """One client connection: lines in, messages out, and how it ended."""

    connection: ws.WebSocketConnection
    console: _Console
    # We sent (or are sending) the close frame: EOF or /close.
    close_started: bool = False

    async def run(self) -> ExitStatus:
        """Send lines and print messages until the connection closes."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._type_lines, nursery)
            closed = await self._print_messages()
            nursery.cancel_scope.cancel()  # the reading thread is abandoned
        return self._outcome(closed)

    async def _print_messages(self) -> ws.ConnectionClosed:
        while True:
            try:
                message = await self.connection.get_message()
            except ws.ConnectionClosed as exc:
                return exc
            self.console.show(message)

    async def _type_lines(self, nursery: trio.Nursery) -> None:
        while True:
            line = await self.console.read_line()
            try:
                if line is None:
                    await self._start_close(ws.CloseCode.NORMAL_CLOSURE, None)
                    return
                if await self._handle(line, nursery):
                    return
            except ws.ConnectionClosed:
                return  # _print_messages reports how it closed

    async def _handle(self, line: str, nursery: trio.Nursery) -> bool:
        """Send a line or run its command; True once the close was sent."""
        if not line.startswith("/") or line.startswith("//"):
            await self.connection.send_message(line[1:] if line.startswith("//") else line)
            return False
        command, _, rest = line[1:].partition(" ")
        rest = rest.strip()
        if command == "close":
            code, _, reason = rest.partition(" ")
            if code and not code.isdigit():
                self.console.note("usage: /close [CODE [REASON]], e.g. /close 4000 done")
                return False
            try:
                await self._start_close(int(code or 1000), reason.strip() or None)
            except ws.LocalProtocolError as exc:
                self.console.note(f"cannot close so: {exc}")
                return False
            return True
        if command == "ping":
            nursery.start_soon(self._ping, rest.encode() if rest else None)
        elif command == "binary":
            try:
                data = bytes.fromhex(rest)
            except ValueError:
                self.console.note("usage: /binary HEX, e.g. /binary 00ff 1a")
            else:
                await self.connection.send_message(data)
        elif command == "help":
            self.console.note(_HELP)
        else:
            self.console.note(f"unknown command /{command}: /help lists them; //text sends /text")
        return False

    async def _ping(self, payload: bytes | None) -> None:
        start = trio.current_time()
        try:
            with trio.move_on_after(_PING_WAIT) as scope:
                await self.connection.ping(payload)
        except ws.ConnectionClosed:
            return
        except (ValueError, ws.LocalProtocolError) as exc:
            self.console.note(f"cannot ping: {exc}")
            return
        if scope.cancelled_caught:
            self.console.note(f"no pong within {_PING_WAIT:g} s")
        else:
            self.console.note(f"pong after {(trio.current_time() - start) * 1000:.1f} ms")

    async def _start_close(self, code: int, reason: str | None) -> None:
        """Send a close frame, and keep the messages that come until the server answers.

        ``aclose()`` discards messages queued or still on the way, but the
        echo of the last line piped in usually arrives after the close went
        out: so the close frame goes out as ``aclose()`` sends it, without
        closing the message queue, and :meth:`_print_messages` reads on
        until the reader ends (the server's close came, or the close
        deadline passed). The context manager's ``aclose()`` then has
        nothing left to do.

        Raises:
            LocalProtocolError: A code or reason that cannot be sent.
        """
        protocol, writer, reader, _ = sending_parts(self.connection)
        serialize_close(code, reason)  # a bad code fails here, before anything changes
        # A ping round trip first. A server may answer a close as soon as it
        # parses it, before its handler answered the messages parsed just
        # before (ws's own server does, when they come in one read); the
        # pong means the server read everything up to the ping, and handed
        # our messages to its handler, which runs before the server can
        # read the close that the pong lets us send.
        with trio.move_on_after(_PING_WAIT), contextlib.suppress(ws.ConnectionClosed):
            await self.connection.ping()
        if reader.done or protocol.state is not State.OPEN:
            return  # the server is closing: _print_messages sees it end
        self.close_started = True
        reader.local_close = ws.CloseReason(code, reason)
        reader.arm_close_timeout()

        def send_close() -> None:
            if protocol.state is State.OPEN:
                protocol.send_close(code, reason)

        with contextlib.suppress(ws.ConnectionClosed):
            await writer.send(send_close)

    def _outcome(self, closed: ws.ConnectionClosed) -> ExitStatus:
        console = self.console
        reason = closed.reason
        said = f"{reason.code} ({reason.name})" + (f" {reason.reason}" if reason.reason else "")
        because = f" ({_describe(closed.__cause__)})" if closed.__cause__ is not None else ""
        if self.close_started and closed.sent is not None and closed.rcvd is not None:
            console.status(f"closed: {said}")
            return ExitStatus.OK
        if closed.rcvd is not None:  # the server closed first
            if reason.code in _NORMAL_CODES:
                console.status(f"the server closed the connection: {said}")
                return ExitStatus.OK
            console.error(f"the server closed the connection: {said}{because}")
        elif self.connection.close_timed_out:
            console.error(f"the server did not answer the close within {_CLOSE_TIMEOUT:g} s")
        elif reason.code == ws.CloseCode.ABNORMAL_CLOSURE:
            console.error(f"the connection dropped without a closing handshake{because}")
        else:  # we failed it: no pong in time, or the server broke the protocol
            console.error(f"the connection failed: {said}{because}")
        return ExitStatus.CLOSED_ABNORMALLY


def _describe(exc: BaseException) -> str:
    # OSError's str() starts with "[Errno 111]"; its strerror says it in words.
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not name or any(char.isspace() for char in name):
        raise argparse.ArgumentTypeError(
            f"a header is NAME:VALUE, e.g. 'Authorization: Bearer x', not {text!r}"
        )
    return name, value.strip()


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds (0 or more), not {text!r}")
    return value


def _ping_interval(seconds: float | None) -> float | None:
    if seconds is None:
        return DEFAULT_PING_INTERVAL
    return seconds or None  # 0: no keepalive


async def _client(args: argparse.Namespace, console: _Console) -> ExitStatus:
    if args.cafile and not args.url.lower().startswith("wss:"):
        console.error("--cafile is for wss:// URLs")
        return ExitStatus.USAGE
    try:
        opening = ws.open_websocket_url(
            args.url,
            ssl.create_default_context(cafile=args.cafile) if args.cafile else None,
            subprotocols=args.subprotocol,
            extra_headers=args.header,
            compression=None if args.no_compression else "deflate",
            disconnect_timeout=_CLOSE_TIMEOUT,
            ping_interval=_ping_interval(args.ping),
        )
    except ValueError as exc:  # not a WebSocket URL
        console.error(str(exc))
        return ExitStatus.USAGE
    except OSError as exc:  # the CA file
        console.error(f"cannot read --cafile {args.cafile!r}: {_describe(exc)}")
        return ExitStatus.USAGE
    session: _Session | None = None
    try:
        async with opening as connection:
            session = _Session(connection, console)
            console.status(_connected(args.url, connection))
            return await session.run()
    except ws.HandshakeError as exc:
        if session is not None:  # the close timed out: the session said so
            return ExitStatus.CLOSED_ABNORMALLY
        console.error(_describe(exc))
        return ExitStatus.CONNECT_FAILED
    finally:
        console.finish()


def _connected(url: str, connection: ws.WebSocketConnection) -> str:
    extensions = ", ".join(extension.name for extension in connection.extensions) or "none"
    subprotocol = connection.subprotocol or "none"
    return (
        f"connected to {url} (subprotocol: {subprotocol}; extensions: {extensions});"
        " /help lists the commands, Ctrl-D closes"
    )


# -- the echo server -------------------------------------------------------------


async def _echo(subprotocols: Sequence[str], request: ws.WebSocketRequest) -> None:
    chosen = next((name for name in request.proposed_subprotocols if name in subprotocols), None)
    try:
        connection = await request.accept(subprotocol=chosen)
        async for message in connection:
            await connection.send_message(message)
    except ws.ConnectionClosed:
        pass  # a close with an error code, or a client that went away


def _where(address: ws.Endpoint | str) -> str:
    if isinstance(address, ws.Endpoint):
        return f"{address.url}/"
    return f"ws+unix://{urllib.parse.quote(address, safe='')}/"


def _server_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The TLS context of ``serve``, or ``None``; prints the error and raises ``OSError``."""
    if not args.certfile:
        return None
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.certfile, args.keyfile)
    except OSError as exc:  # ssl.SSLError too
        print(f"error: cannot load the certificate: {_describe(exc)}", file=sys.stderr)
        raise
    return context


async def _serve(
    args: argparse.Namespace, app: Handler | None = None, hook: ProcessRequest | None = None
) -> ExitStatus:
    try:
        context = _server_context(args)
    except OSError:
        return ExitStatus.USAGE
    handler: Handler = partial(_echo, tuple(args.subprotocol)) if app is None else app
    # A worker of `serve --workers N` (ws/_workers.py): it shares the port with
    # the others, reports to the supervisor instead of printing, and stops
    # when the supervisor goes.
    link = WorkerLink.adopt(args.supervisor_link) if args.supervisor_link is not None else None
    # message_queue_size=0: the server parses at most one message ahead of
    # the handler, which leaves a client that closes right after its last
    # message less chance to see the server answer that close (at once, as
    # ws does) before the handler echoed the message. Our client pings first.
    options = ws.ServerOptions(
        message_queue_size=0,
        compression=None if args.no_compression else "deflate",
        ping_interval=_ping_interval(args.ping),
        process_request=hook,
    )
    if args.unix is not None:
        serve = partial(ws.serve_websocket_unix, handler, args.unix, context, options=options)
    else:
        serve = partial(
            ws.serve_websocket, handler, args.host, args.port, context,
            options=options, reuse_port=link is not None,
        )
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            try:
                server: ws.WebSocketServer = await nursery.start(serve)
            except OSError as exc:
                where = args.unix if args.unix is not None else f"{args.host or '*'}:{args.port}"
                print(f"error: cannot listen on {where}: {_describe(exc)}", file=sys.stderr)
                return ExitStatus.CONNECT_FAILED
            if link is not None:
                await link.send_ready()
                await link.wait_for_stop(signals)
            else:
                for address in server.listeners:
                    print(f"listening on {_where(address)}", flush=True)
                async for signum in signals:
                    print(
                        f"{signal.Signals(signum).name}: closing connections with 1001"
                        " (again to stop at once)",
                        file=sys.stderr,
                        flush=True,
                    )
                    break
            nursery.start_soon(_stop_at_next_signal, signals, nursery.cancel_scope)
            await server.aclose(grace=_SHUTDOWN_GRACE)
            nursery.cancel_scope.cancel()
    return ExitStatus.OK


async def _stop_at_next_signal(signals: AsyncIterator[int], scope: trio.CancelScope) -> None:
    async for _ in signals:
        scope.cancel()
        return


# -- the demo ----------------------------------------------------------------------


async def _demo_echo(request: ws.WebSocketRequest) -> None:
    connection = await request.accept()
    async for message in connection:
        await connection.send_message(message)


async def demo() -> None:
    """Run an echo server and a client against it, printing what happens."""
    async with trio.open_nursery() as nursery:
        server = await nursery.start(ws.serve_websocket, _demo_echo, "127.0.0.1", 0, None)
        url = f"ws://127.0.0.1:{server.port}/demo"
        print(f"server: listening on {server.listeners[0]}")
        async with ws.open_websocket_url(url) as connection:
            names = ", ".join(e.name for e in connection.extensions) or "none"
            print(f"client: connected to {url} (extensions: {names})")
            for message in ("hello", "ws on Trio", b"\x00\x01binary\xff", "x" * 100_000):
                await connection.send_message(message)
                echo = await connection.get_message()
                shown = repr(message) if len(message) < 40 else f"<{len(message)} chars>"
                print(f"client: sent {shown}, echo {'matches' if echo == message else 'DIFFERS'}")
            with trio.fail_after(5):
                await connection.ping()
            print("client: ping answered by pong")
        print(f"client: closed with {connection.closed}")
        nursery.cancel_scope.cancel()
    print("demo: done")


# -- the parser ----------------------------------------------------------------------


def _program_name() -> str:
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "python -m ws" if script in ("", "__main__.py", "-m", "-c") else script


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``python -m ws`` (for the docs and the tests).

    Args:
        prog: The program name in messages; by default ``python -m ws``, or
            the name of the script that runs it (``trio-ws``).
    """
    parser = argparse.ArgumentParser(
        prog=prog or _program_name(),
        description="ws: WebSocket for Trio. A client, an echo server and a demo.",
        epilog="Exit statuses: 0 done, 1 could not connect (or listen), 2 usage, "
        "3 closed abnormally, 130 interrupted. See docs/cli.md.",
    )
    versions = f"Trio {trio.__version__}, Python {platform.python_version()}"
    parser.add_argument(
        "--version", action="version", version=f"trio-ws {ws.__version__} ({versions})"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    client = commands.add_parser(
        "client",
        help="connect, send each line of input, print each message received",
        description="Connect to URL; send each line of standard input as a text message and "
        "print each message received after '< ' (binary ones as hex). " + _HELP + ".",
    )
    client.add_argument("url", metavar="URL", help="ws://, wss:// or ws+unix:// URL")
    client.add_argument(
        "--header", action="append", type=_header, default=[], metavar="NAME:VALUE",
        help="send this request header (repeatable)",
    )
    client.add_argument(
        "--subprotocol", action="append", default=[], metavar="NAME",
        help="offer this subprotocol (repeatable, in order of preference)",
    )
    client.add_argument(
        "--cafile", metavar="PATH", help="trust the CA certificates in PATH (PEM) for wss://"
    )
    _add_connection_options(client, compression="do not offer permessage-deflate")

    serve = commands.add_parser(
        "serve",
        help="run a server: APP, or an echo server",
        description="Serve APP, or echo every message back. Ctrl-C or SIGTERM closes the "
        "connections with 1001 and stops; a second one stops at once.",
    )
    serve.add_argument(
        "app", nargs="?", metavar="APP",
        help="the handler to serve, as MODULE:ATTRIBUTE (an async function taking a "
        "ws.WebSocketRequest, e.g. chat:handler); default: echo every message",
    )
    serve.add_argument(
        "--process-request", metavar="HOOK",
        help="answer plain HTTP requests (health checks) with this process_request hook, as "
        "MODULE:ATTRIBUTE (an async function taking a ws.HTTPRequest and returning a "
        "ws.HTTPResponse, or None to go on with the handshake)",
    )
    serve.add_argument(
        "--app-dir", default=".", metavar="DIR",
        help="import APP's module from DIR first (default: the current directory)",
    )
    serve.add_argument(
        "--workers", type=_process_count, default=1, metavar="N",
        help="run N processes on the port, restarted if they die (default 1: this process)",
    )
    serve.add_argument("--supervisor-link", type=int, help=argparse.SUPPRESS)  # see ws/_workers.py
    serve.add_argument(
        "--host", help='interface to bind (default 127.0.0.1; "" binds every interface)'
    )
    serve.add_argument(
        "--port", type=int, help=f"port to bind (default {DEFAULT_PORT}; 0 picks a free one)"
    )
    serve.add_argument("--unix", metavar="PATH", help="listen on this Unix socket instead")
    serve.add_argument("--certfile", metavar="PATH", help="serve wss://: certificate chain (PEM)")
    serve.add_argument("--keyfile", metavar="PATH", help="its private key (default: in --certfile)")
    serve.add_argument(
        "--subprotocol", action="append", default=[], metavar="NAME",
        help="accept this subprotocol when a client offers it (repeatable)",
    )
    _add_connection_options(serve, compression="refuse permessage-deflate")
    serve.add_argument(
        "-v", "--verbose", action="store_true", help="log connections on standard error"
    )

    commands.add_parser(
        "demo",
        help="run an echo server and a client against it",
        description="Run an echo server and a client against it on 127.0.0.1, printing "
        "what happens.",
    )
    return parser


def _process_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a number of processes (1 or more), not {text!r}"
        )
    return value


def _add_connection_options(parser: argparse.ArgumentParser, *, compression: str) -> None:
    parser.add_argument("--no-compression", action="store_true", help=compression)
    parser.add_argument(
        "--ping", type=_seconds, metavar="SECONDS",
        help=f"keepalive ping interval (default {DEFAULT_PING_INTERVAL:g}; 0: no keepalive)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m ws`` with ``argv`` (default: ``sys.argv[1:]``).

    Args:
        argv: The arguments after the program name.

    Returns:
        The exit status (:class:`ExitStatus`).
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if args.command == "demo":
        trio.run(demo)
        return ExitStatus.OK
    if args.command == "serve":
        if args.unix is not None and (args.host is not None or args.port is not None):
            parser.error("--unix listens on a socket file: give it without --host and --port")
        if args.keyfile and not args.certfile:
            parser.error("--keyfile needs --certfile")
        if args.unix is not None and args.workers > 1:
            parser.error("--workers shares a TCP port between processes: not with --unix")
        if args.app is not None and args.subprotocol:
            parser.error("--subprotocol is for the echo server; APP accepts its own")
        args.host = "127.0.0.1" if args.host is None else args.host or None  # "": every interface
        args.port = DEFAULT_PORT if args.port is None else args.port
        if args.verbose:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        try:
            # The supervisor imports APP too: a bad one fails here, once.
            app = load_app(args.app, args.app_dir) if args.app is not None else None
            hook = (
                cast(
                    ProcessRequest,
                    load_app(args.process_request, args.app_dir, option="--process-request"),
                )
                if args.process_request is not None
                else None
            )
        except AppError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return ExitStatus.USAGE
        try:
            if args.workers > 1 and args.supervisor_link is None:
                try:
                    _server_context(args)  # each worker loads it: fail once, here
                except OSError:
                    return ExitStatus.USAGE
                supervisor = Supervisor(
                    (sys.executable, "-m", "ws", *argv), args.host, args.port, args.workers,
                    is_ssl=bool(args.certfile), kill_after=2 * _SHUTDOWN_GRACE,
                )
                return trio.run(supervisor.run)
            return trio.run(_serve, args, app, hook)
        except KeyboardInterrupt:  # before the signal handlers were in place
            return ExitStatus.INTERRUPTED
    console = _Console.for_stdio()
    try:
        return trio.run(_client, args, console)
    except KeyboardInterrupt:
        console.error("interrupted")
        return ExitStatus.INTERRUPTED
    finally:
        console.restore()
