"""Worker processes on one port: ``python -m bench.workers`` (or ``python bench/workers.py``).

Two measurements of ``python -m ws serve --workers N`` serving
:func:`bench._workers_app.echo` on 127.0.0.1 (see bench/README.md)::

    python -m bench.workers                      # both, N = 1 and 2: about 3 minutes
    python -m bench.workers --only throughput --runs 5
    python -m bench.workers --quick              # smoke test: tiny counts, seconds

* **throughput**: messages per second through N workers. Load clients
  (:mod:`bench._workers_clients` ``load``, several processes) hold many
  connections each and echo 64-byte text messages through them,
  ``--window`` messages in flight per connection. Each run is timed after a
  warm-up; the table shows the median over the runs, the median of the
  per-run ratio to 1 worker, and the CPU that the workers and the clients
  used (in cores).
* **memory**: idle connections held per worker. Idle clients (``idle`` in
  :mod:`bench._workers_clients`, one source address each: 127.0.0.2, 127.0.0.3, ...)
  open ``--idle`` connections per worker, after a warm-up batch, and keep
  them open, answering the server's keepalive pings. Each worker reports its
  connection count, open descriptors and resident memory (``/stats``, see
  :mod:`bench._workers_app`) before and after; at the end, every connection
  sends one message and must get its echo.

No client uses a WebSocket library: they speak the few frames they need
by hand (the opening handshake, masked 64-byte text frames, pongs). The
load clients go further: one thread polling plain sockets with epoll, not
Trio, and a short sleep between polls so that each wake-up reads many
echoes. On a small machine the clients share the CPUs with the workers,
and every cycle a client saves is left to the workers. The idle clients
run on Trio, one task per connection.

The orchestrating process talks to its children in lines, as
:mod:`bench.run` does: a child prints ``READY``, ``MARK <json>``,
``OPENED <json>`` or ``CHECKED <json>`` and takes commands on its stdin;
it exits when its stdin ends.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import attrs
import trio

ROOT: Final = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make "bench" importable
    sys.path.insert(0, str(ROOT))

import ws  # noqa: E402
from bench._workers_clients import CHECK_TIMEOUT, HOST, Answer  # noqa: E402
from bench.run import Child, ChildFailed  # noqa: E402
from ws.frames import mask  # noqa: E402

#: The handler every worker serves.
APP: Final = "bench._workers_app:echo"
#: Cores of other processes' CPU during a timed run above which the report warns.
BUSY_MACHINE: Final = 0.1
#: Descriptors a process keeps for itself besides its connections.
SPARE_FDS: Final = 64


# ----------------------------------------------------------------------------- the machine


def raise_file_limit() -> tuple[int, int, int]:
    """Raise RLIMIT_NOFILE's soft limit to the hard one; return (old soft, soft, hard).

    Children inherit it: the server, its workers and the clients.
    """
    old, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        try:
            target = int(Path("/proc/sys/fs/nr_open").read_text())
        except (OSError, ValueError):
            target = 1 << 20
    if target > old:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError):
            target = old
    soft = max(old, target) if old != resource.RLIM_INFINITY else old
    return old, soft, hard


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpus() -> list[int]:
    """The CPUs this process may run on (what ``nproc`` counts)."""
    return sorted(os.sched_getaffinity(0))


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy so far (``/proc/stat``: all but idle, iowait).

    Interrupts included: without ``CONFIG_IRQ_TIME_ACCOUNTING`` the kernel
    also charges the softirq work of loopback TCP to the process it
    interrupted, so leaving them out would count that work twice; with it,
    our own network work shows as other processes' (a little: see README).
    """
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_rss_kib(pid: int) -> int:
    """VmRSS of a process, KiB (-1 if unknown)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return -1


def kernel_slab_kib() -> int:
    """The kernel's slab memory, machine-wide (``Slab`` in ``/proc/meminfo``), KiB, or -1.

    Sockets, their inodes and epoll entries live there: its growth while
    connections open is their kernel cost at both ends, plus whatever else
    the machine did meanwhile.
    """
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("Slab:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return -1


# ----------------------------------------------------------------------------- the server


WorkerStats = dict[str, int]


async def _ask_stats(port: int, workers: int, attempts: int) -> dict[int, WorkerStats]:
    found: dict[int, WorkerStats] = {}
    for _ in range(attempts):
        async with ws.open_websocket(
            HOST, port, "/stats", use_ssl=False, compression=None, ping_interval=None, proxy=None
        ) as connection:
            answer: WorkerStats = json.loads(await connection.get_message())
        found.setdefault(answer["pid"], answer)
        if len(found) == workers:
            break
    return found


@attrs.define(eq=False)
class Server:
    """``python -m ws serve --workers N --port 0 bench._workers_app:echo`` and its workers."""

    workers: int
    child: Child
    port: int
    pids: tuple[int, ...] = ()

    @classmethod
    def start(cls, workers: int) -> Server:
        """Start it and wait until every worker listens (it prints the port then)."""
        arguments = ["serve", "--workers", str(workers), "--port", "0", APP]
        child = Child.start(f"server with {plural(workers, 'worker')}", arguments, module="ws")
        try:
            line = child.expect("listening", 60)
            found = re.search(r"://[^/]*:(\d+)/", line)
            if found is None:
                raise ChildFailed(f"cannot find the port in {line!r}")
            server = cls(workers, child, int(found.group(1)))
            server.pids = tuple(server.stats())
        except BaseException:
            child.stop(2.0)
            raise
        return server

    def stats(self) -> dict[int, WorkerStats]:
        """Every worker's ``/stats``, by pid (new connections until each worker answered).

        Raises:
            ChildFailed: Some worker never answered.
        """
        try:
            found = trio.run(_ask_stats, self.port, self.workers, 40 * self.workers)
        except (OSError, ws.HandshakeError, ws.ConnectionClosed) as exc:
            raise ChildFailed(f"/stats failed: {exc}{self.child.error_tail()}") from exc
        if len(found) != self.workers:
            raise ChildFailed(
                f"only {len(found)} of {self.workers} workers answered /stats"
                f" (pids {sorted(found)}){self.child.error_tail()}"
            )
        return dict(sorted(found.items()))

    def cpu(self) -> float:
        """CPU seconds used so far by the workers and the supervisor."""
        pids = {self.child.process.pid, *self.pids}
        return sum(process_cpu(pid) for pid in pids)

    def stop(self) -> None:
        """SIGTERM (the workers close with 1001), then kill whatever is left after 15 s."""
        if self.child.process.poll() is None:
            self.child.process.send_signal(signal.SIGTERM)
            try:
                self.child.process.wait(15)
            except subprocess.TimeoutExpired:
                pass
        self.child.stop(2.0)


def start_clients(role: str, arguments: Sequence[Sequence[str]], limit: float) -> list[Child]:
    """Start one ``python -m bench.workers ROLE`` process per argument list."""
    clients: list[Child] = []
    try:
        for index, extra in enumerate(arguments):
            clients.append(
                Child.start(
                    f"{role} client {index + 1}",
                    [role, *extra, "--limit", str(int(limit))],
                    module="bench._workers_clients",
                )
            )
    except BaseException:
        stop_all(clients)
        raise
    return clients


def stop_all(clients: Sequence[Child]) -> None:
    """Close every client's stdin at once, then wait for each (killing laggards)."""
    for client in clients:
        if client.process.stdin is not None and not client.process.stdin.closed:
            try:
                client.process.stdin.close()
            except BrokenPipeError:
                pass
    for client in clients:
        client.stop(10.0)


def ask_all(clients: Sequence[Child], command: str, answer: str, timeout: float) -> list[Answer]:
    """Send ``command`` to every client, then read each one's ``answer`` line (JSON)."""
    for client in clients:
        client.send_line(command)
    return [json.loads(client.expect(answer, timeout)) for client in clients]


def rate_of(key: str, first: Sequence[Answer], second: Sequence[Answer]) -> float:
    """The sum over the clients of how fast ``key`` grew between two ``MARK`` answers."""
    return sum(
        (float(b[key]) - float(a[key])) / (float(b["wall"]) - float(a["wall"]))
        for a, b in zip(first, second, strict=True)
    )


# ----------------------------------------------------------------------------- throughput


@attrs.frozen
class Settings:
    """What the command line asked for."""

    workers: tuple[int, ...]
    throughput: bool
    memory: bool
    runs: int
    duration: float
    warm_up: float
    clients: int
    connections: int
    window: int
    pause: float
    layouts: tuple[str, ...]
    idle: int
    idle_warm_up: int
    idle_settle: float
    idle_per_client: int
    quick: bool
    limit: float


LAYOUTS: Final = {
    "shared": "clients and workers free to use every CPU",
    "client-pinned": "clients pinned to the last CPU, workers free",
}


@attrs.define
class ThroughputRun:
    """One timed run of one layout and worker count."""

    layout: str
    workers: int
    run: int
    rate: float | None = None  # echoes per second, all clients together
    server_cores: float | None = None  # CPU seconds of the workers per second
    client_cores: float | None = None
    other_cores: float | None = None  # the rest of the machine: other processes
    per_worker: list[int] = attrs.Factory(list)  # load connections each worker held
    ratio: float | None = None  # rate / the 1-worker rate of the same layout and run
    error: str | None = None


def measure_throughput(server: Server, settings: Settings, layout: str, run: int) -> ThroughputRun:
    """Start the load clients, time the echoes after a warm-up, stop the clients."""
    result = ThroughputRun(layout, server.workers, run)
    pinned = ["--cpu", str(usable_cpus()[-1])] if layout == "client-pinned" else []
    arguments = [
        ["--port", str(server.port), "--connections", str(settings.connections),
         "--window", str(settings.window), "--pause", str(settings.pause), *pinned]
        for _ in range(settings.clients)
    ]
    clients: list[Child] = []
    try:
        clients = start_clients("load", arguments, settings.limit)
        for client in clients:
            client.expect("READY", 120)
        for client in clients:
            client.send_line("go")
        time.sleep(settings.warm_up)
        busy_before, server_before, wall_before = machine_busy(), server.cpu(), time.perf_counter()
        first = ask_all(clients, "mark", "MARK", 60)
        time.sleep(settings.duration)
        second = ask_all(clients, "mark", "MARK", 60)
        busy_after, server_after, wall_after = machine_busy(), server.cpu(), time.perf_counter()
        result.per_worker = [stats["connections"] for stats in server.stats().values()]
        wall = wall_after - wall_before
        result.rate = rate_of("echoes", first, second)
        result.server_cores = (server_after - server_before) / wall
        result.client_cores = rate_of("cpu", first, second)
        busy = (busy_after - busy_before) / wall
        result.other_cores = max(0.0, busy - result.server_cores - result.client_cores)
    except (ChildFailed, ValueError, KeyError, OSError) as exc:
        result.error = str(exc)
    finally:
        stop_all(clients)
    return result


def run_throughput(settings: Settings) -> list[ThroughputRun]:
    """Every run of every layout and worker count; servers started once per worker count."""
    servers: dict[int, Server] = {}
    results: list[ThroughputRun] = []
    try:
        for workers in settings.workers:
            servers[workers] = Server.start(workers)
        for run in range(settings.runs):
            for layout in settings.layouts:
                # Rotate the order, so that no worker count always goes first.
                shift = run % len(settings.workers)
                order = settings.workers[shift:] + settings.workers[:shift]
                by_workers: dict[int, ThroughputRun] = {}
                for workers in order:
                    started = time.monotonic()
                    measured = measure_throughput(servers[workers], settings, layout, run)
                    by_workers[workers] = measured
                    results.append(measured)
                    shown = "failed" if measured.rate is None else f"{measured.rate:,.0f} msg/s"
                    progress(
                        f"throughput {layout:<13} {plural(workers, 'worker')}"
                        f" run {run + 1}/{settings.runs}:"
                        f" {shown} ({time.monotonic() - started:.1f} s)"
                    )
                    if measured.error:
                        progress(f"  {measured.error}")
                base = by_workers.get(1)
                for measured in by_workers.values():
                    if base is not None and base.rate and measured.rate is not None:
                        measured.ratio = measured.rate / base.rate
    finally:
        for server in servers.values():
            server.stop()
    return results


def median_of(values: Sequence[float | None]) -> float | None:
    """The median of the known values, or None."""
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def throughput_table(settings: Settings, results: Sequence[ThroughputRun]) -> list[str]:
    """The markdown table: one row per layout and worker count."""
    lines = [
        "| clients | workers | msgs/s | vs 1 worker | workers' CPU | workers' µs/msg"
        " | clients' CPU | other processes' CPU | load connections per worker |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for layout in settings.layouts:
        for workers in settings.workers:
            runs = [r for r in results if r.layout == layout and r.workers == workers]
            rate = median_of([r.rate for r in runs])
            if rate is None:
                lines.append(f"| {layout} | {workers} | failed | | | | | | |")
                continue
            ratio = median_of([r.ratio for r in runs])
            server = median_of([r.server_cores for r in runs])
            client = median_of([r.client_cores for r in runs])
            other = median_of([r.other_cores for r in runs])
            cost = median_of([r.server_cores / r.rate * 1e6 for r in runs if r.rate and r.server_cores])
            spread = next((r.per_worker for r in runs if r.per_worker), [])
            failed = " *" if any(r.rate is None for r in runs) else ""
            lines.append(
                f"| {layout} | {workers} | {rate:,.0f}{failed}"
                f" | {'-' if ratio is None else f'{ratio:.2f}x'}"
                f" | {server or 0:.2f} | {cost or 0:.1f} | {client or 0:.2f} | {other or 0:.2f}"
                f" | {' / '.join(map(str, spread))} |"
            )
    return lines


# ----------------------------------------------------------------------------- memory


@attrs.define
class MemoryResult:
    """The idle-connection measurement of one worker count."""

    workers: int
    target: int  # connections per worker asked for
    before: dict[int, WorkerStats] = attrs.Factory(dict)
    after: dict[int, WorkerStats] = attrs.Factory(dict)
    opened: int = 0
    open_seconds: float = 0.0
    failed: int = 0
    echoed: int = 0
    sent: int = 0
    lost: int = 0
    supervisor_rss_kib: int | None = None
    kernel_slab_kib: tuple[int, int] = (-1, -1)
    notes: list[str] = attrs.Factory(list)
    error: str | None = None


def split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` near-equal counts."""
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def open_idle(clients: Sequence[Child], total: int, limit: float) -> tuple[int, int, float, str]:
    """Have the clients open ``total`` more connections; return (opened, failed, seconds, error)."""
    started = time.perf_counter()
    for client, count in zip(clients, split(total, len(clients))):
        client.send_line(f"open {count}")
    answers = [json.loads(client.expect("OPENED", limit)) for client in clients]
    seconds = time.perf_counter() - started
    errors = [str(answer["error"]) for answer in answers if answer["error"]]
    return (
        sum(int(answer["opened"]) for answer in answers),
        sum(int(answer["failed"]) for answer in answers),
        seconds,
        errors[0] if errors else "",
    )


def measure_memory(settings: Settings, workers: int, target: int, per_client: int) -> MemoryResult:
    """Open ``target`` idle connections per worker after a warm-up batch; compare /stats."""
    result = MemoryResult(workers, target)
    total = target * workers
    warm = settings.idle_warm_up * workers
    processes = max(1, math.ceil((total + warm) / per_client))
    server: Server | None = None
    clients: list[Child] = []
    try:
        server = Server.start(workers)
        # One source address per client process: each has its own ephemeral ports.
        sources = [
            ["--port", str(server.port), "--source", f"127.0.0.{2 + index}"]
            for index in range(processes)
        ]
        clients = start_clients("idle", sources, settings.limit)
        if warm:
            _, failed, _, error = open_idle(clients, warm, settings.limit)
            if failed:
                raise ChildFailed(f"{failed} warm-up connections failed: {error}")
        time.sleep(settings.idle_settle)
        result.before = server.stats()
        slab_before = kernel_slab_kib()
        progress(f"memory {plural(workers, 'worker')}: opening {total:,} idle connections")
        result.opened, result.failed, result.open_seconds, error = open_idle(
            clients, total, settings.limit
        )
        if result.failed:
            result.notes.append(f"{result.failed:,} connections failed to open: {error}")
        time.sleep(settings.idle_settle)
        result.after = server.stats()
        result.kernel_slab_kib = (slab_before, kernel_slab_kib())
        if workers > 1:
            result.supervisor_rss_kib = process_rss_kib(server.child.process.pid)
        checks = ask_all(clients, "check", "CHECKED", CHECK_TIMEOUT + 60)
        result.sent = sum(int(check["sent"]) for check in checks)
        result.echoed = sum(int(check["echoed"]) for check in checks)
        result.lost = sum(int(check["lost"]) for check in checks)
        reasons = [str(check["reason"]) for check in checks if check["reason"]]
        if result.lost:
            reason = reasons[0] if reasons else "?"
            result.notes.append(f"{result.lost:,} connections were lost: {reason}")
    except (ChildFailed, ValueError, KeyError, OSError) as exc:
        result.error = str(exc)
    finally:
        stop_all(clients)
        if server is not None:
            server.stop()
    return result


def memory_table(results: Sequence[MemoryResult]) -> list[str]:
    """The markdown table: one row per worker, and a total per worker count."""
    lines = [
        "| workers | worker | idle connections held | open fds | RSS before (MiB) | RSS after (MiB)"
        " | KiB per connection |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        if result.error is not None or not result.after:
            lines.append(f"| {result.workers} | failed | | | | | |")
            continue
        added_total = 0
        grown_total = 0
        for index, (pid, after) in enumerate(result.after.items()):
            before = result.before.get(pid)
            if before is None:
                lines.append(f"| {result.workers} | {index + 1} (pid {pid}) | restarted? | | | | |")
                continue
            added = after["connections"] - before["connections"]
            grown = after["rss_kib"] - before["rss_kib"]
            added_total += added
            grown_total += grown
            per = f"{grown / added:.1f}" if added > 0 else "-"
            lines.append(
                f"| {result.workers} | {index + 1} (pid {pid}) | {after['connections']:,}"
                f" | {after['fds']:,} | {before['rss_kib'] / 1024:.1f} | {after['rss_kib'] / 1024:.1f}"
                f" | {per} |"
            )
        if result.workers > 1:
            held = sum(after["connections"] for after in result.after.values())
            rss_before = sum(before["rss_kib"] for before in result.before.values())
            rss_after = sum(after["rss_kib"] for after in result.after.values())
            per = f"{grown_total / added_total:.1f}" if added_total > 0 else "-"
            lines.append(
                f"| {result.workers} | all | {held:,} | | {rss_before / 1024:.1f}"
                f" | {rss_after / 1024:.1f} | {per} |"
            )
    return lines


def memory_notes(results: Sequence[MemoryResult]) -> list[str]:
    """What the table does not show: opening time, the final check, kernel memory, errors."""
    notes = []
    for result in results:
        head = f"- {plural(result.workers, 'worker')}:"
        if result.error is not None:
            notes.append(f"{head} failed: {result.error}")
            continue
        rate = result.opened / result.open_seconds if result.open_seconds else 0.0
        checked = (
            f"all {result.echoed:,} echoed a message at the end"
            if result.echoed == result.sent == result.opened + sum(
                before["connections"] for before in result.before.values()
            )
            else f"{result.echoed:,} of {result.sent:,} open connections echoed a message at the end"
        )
        text = (
            f"{head} opened {result.opened:,} connections in {result.open_seconds:.1f} s"
            f" ({rate:,.0f}/s); {checked}"
        )
        if result.supervisor_rss_kib is not None:
            text += f"; supervisor RSS {result.supervisor_rss_kib / 1024:.1f} MiB"
        slab_before, slab_after = result.kernel_slab_kib
        if slab_before >= 0 and slab_after >= 0 and result.opened:
            grown = slab_after - slab_before
            text += (
                f"; kernel slab {grown / 1024:+,.1f} MiB machine-wide, both ends"
                f" ({grown / result.opened:,.1f} KiB per connection, roughly)"
            )
        notes.append(text + ".")
        notes += [f"  {note}" for note in result.notes]
    return notes


def run_memory(settings: Settings, soft_limit: int) -> tuple[list[MemoryResult], list[str]]:
    """The memory measurement of each worker count, within the open-files limit."""
    notes: list[str] = []
    results: list[MemoryResult] = []
    # A worker holds its connections, its warm-up share and a few descriptors of its own;
    # the hash that spreads connections over workers is not exact: keep 5% spare.
    fits = int((soft_limit - SPARE_FDS) / 1.05) - settings.idle_warm_up
    target = settings.idle
    if fits < target:
        target = max(1, fits)
        notes.append(
            f"- The open-files limit is {soft_limit:,} (hard limit), too low for"
            f" {settings.idle:,} connections per worker: measured {target:,} per worker instead."
            " Raise the hard limit (`ulimit -Hn` as root, `LimitNOFILE=` in systemd,"
            " limits.conf) to measure more."
        )
    per_client = max(1, min(settings.idle_per_client, soft_limit - SPARE_FDS))
    for workers in settings.workers:
        started = time.monotonic()
        result = measure_memory(settings, workers, target, per_client)
        results.append(result)
        shown = "failed" if result.error else f"{result.opened:,} connections"
        progress(f"memory {plural(workers, 'worker')}: {shown} ({time.monotonic() - started:.1f} s)")
        if result.error:
            progress(f"  {result.error}")
    return results, notes


# ----------------------------------------------------------------------------- report


def plural(count: int, noun: str) -> str:
    """``1 worker``, ``2 workers``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def progress(text: str) -> None:
    """A progress line on stderr."""
    print(f"  {text}", file=sys.stderr, flush=True)


def header(settings: Settings, limits: tuple[int, int, int], load: tuple[float, ...]) -> list[str]:
    """Where and what ran."""
    old, soft, hard = limits
    cpus = usable_cpus()
    masking = "C speedups" if mask.SPEEDUPS else "pure-Python masking"
    raised = f" (raised from {old:,})" if soft != old else ""
    return [
        f"# ws workers benchmark: `python -m ws serve --workers N {APP}` on {HOST}",
        "",
        f"- CPU: {cpu_model()}; nproc {len(cpus)} (CPUs {','.join(map(str, cpus))})"
        f" of {os.cpu_count()} online",
        f"- {platform.system()} {platform.release()}; Python {platform.python_version()},"
        f" trio {trio.__version__}, ws {ws.__version__} ({masking})",
        f"- open files: soft limit {soft:,}{raised}, hard limit {hard:,} (inherited by every"
        " process started here)",
        f"- load average before the first measurement: {load[0]:.2f} (1 minute; other"
        " processes' share of each timed run is in the throughput table)",
    ]


def throughput_section(settings: Settings, results: Sequence[ThroughputRun]) -> list[str]:
    """The throughput table and what it means."""
    cpus = len(usable_cpus())
    in_flight = settings.clients * settings.connections * settings.window
    quick = " (quick: the figures mean nothing)" if settings.quick else ""
    lines = [
        "",
        f"## Messages per second (64 B text echoed; {plural(settings.clients, 'load client')}"
        f" x {settings.connections} connections x {settings.window} in flight = {in_flight:,})",
        "",
        f"{plural(settings.runs, 'run')} of {settings.duration:g} s per row, each after"
        f" {settings.warm_up:g} s of warm-up{quick}.",
        "",
        *throughput_table(settings, results),
        "",
        "Medians of the runs; 'vs 1 worker' is the median of the per-run ratios. CPU is in"
        " cores (CPU seconds per second) while timed: the workers and supervisor, all load"
        " clients, and every other process (the machine's busy time in /proc/stat minus"
        " ours); µs/msg is the workers' CPU per message echoed, in microseconds.",
        f"- The load clients run on the same {plural(cpus, 'CPU')} as the workers, and what"
        " they use (kept small: hand-made frames, epoll, one write per window) is taken from"
        " the workers.",
    ]
    most = max(settings.workers)
    if most >= cpus:
        lines.append(
            f"- {plural(most, 'worker')} and the clients share {plural(cpus, 'core')}:"
            f" {most} workers cannot reach {most} times the rate of one here."
        )
    for layout in settings.layouts:
        lines.append(f"- {layout}: {LAYOUTS[layout]}.")
    busiest = max((r.other_cores or 0.0 for r in results), default=0.0)
    if busiest > BUSY_MACHINE:
        lines.append(
            f"- WARNING: other processes took up to {busiest:.2f} cores during a timed run:"
            " these figures are disturbed; measure again on a quiet machine."
        )
    failures = [r for r in results if r.error]
    for failure in failures:
        lines.append(
            f"- failed: {failure.layout}, {plural(failure.workers, 'worker')},"
            f" run {failure.run + 1}: {failure.error}"
        )
    return lines


def memory_section(settings: Settings, results: Sequence[MemoryResult], notes: list[str]) -> list[str]:
    """The memory table and its notes."""
    target = results[0].target if results else settings.idle
    return [
        "",
        f"## Idle connections ({target:,} per worker, after {settings.idle_warm_up:,} per worker"
        f" of warm-up; {settings.idle_settle:g} s idle before each measurement)",
        "",
        *memory_table(results),
        "",
        "Per worker, from its `/stats` (after a garbage collection): echo connections held, open"
        " descriptors, resident memory (VmRSS). KiB per connection = RSS growth / connections"
        " added. Socket buffers are the kernel's, not in RSS.",
        *notes,
        *memory_notes(results),
    ]


def as_json(
    settings: Settings,
    limits: tuple[int, int, int],
    throughput: Sequence[ThroughputRun],
    memory: Sequence[MemoryResult],
    seconds: float,
) -> str:
    """Every measurement, for ``--json``."""
    return json.dumps(
        {
            "machine": {
                "cpu": cpu_model(),
                "nproc": len(usable_cpus()),
                "system": f"{platform.system()} {platform.release()}",
                "python": platform.python_version(),
                "trio": trio.__version__,
                "ws": ws.__version__,
                "speedups": mask.SPEEDUPS,
                "nofile": {"old_soft": limits[0], "soft": limits[1], "hard": limits[2]},
            },
            "settings": attrs.asdict(settings),
            "throughput": [attrs.asdict(r) for r in throughput],
            "memory": [
                {
                    **attrs.asdict(r, filter=lambda a, _: a.name not in ("before", "after")),
                    "before": list(r.before.values()),
                    "after": list(r.after.values()),
                }
                for r in memory
            ],
            "seconds": seconds,
        },
        indent=2,
    )


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The orchestrator's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.workers",
        description="Messages per second through 1 and 2 `python -m ws serve --workers N`"
        " workers, and their memory with many idle connections (see bench/README.md).",
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny counts, 1 run, seconds")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (default 1,2)")
    parser.add_argument("--only", choices=["throughput", "memory"], help="one measurement only")
    parser.add_argument("--runs", type=int, help="throughput: runs per row (default 3)")
    parser.add_argument("--duration", type=float, help="throughput: seconds per run (default 4)")
    parser.add_argument("--warm-up", type=float, help="throughput: seconds of load before timing (default 1)")
    parser.add_argument("--clients", type=int, help="throughput: load client processes (default 2)")
    parser.add_argument(
        "--connections", type=int, help="throughput: connections per load client (default 50)"
    )
    parser.add_argument(
        "--window", type=int, help="throughput: messages in flight per connection (default 8)"
    )
    parser.add_argument(
        "--pause", type=float, default=0.0005,
        help="throughput: seconds a load client sleeps between polls (default 0.0005; 0: none)",
    )
    parser.add_argument(
        "--layouts", default=None,
        help=f"throughput: comma-separated, of {', '.join(LAYOUTS)} (default both; shared with --quick)",
    )
    parser.add_argument("--idle", type=int, help="memory: idle connections per worker (default 10000)")
    parser.add_argument(
        "--idle-warm-up", type=int, help="memory: connections per worker before the baseline (default 100)"
    )
    parser.add_argument(
        "--idle-settle", type=float, help="memory: seconds idle before each measurement (default 5)"
    )
    parser.add_argument(
        "--idle-per-client", type=int, default=5000,
        help="memory: most connections per idle client process (default 5000)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write every measurement to FILE")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings, with --quick's defaults where nothing was given."""
    quick = bool(args.quick)

    def pick(value: float | None, normal: float, small: float) -> float:
        return value if value is not None else (small if quick else normal)

    workers = tuple(int(n) for n in str(args.workers).split(",") if n.strip())
    if not workers or min(workers) < 1:
        raise SystemExit("--workers: comma-separated worker counts, each 1 or more")
    layouts = tuple(
        name.strip() for name in (args.layouts or ("shared" if quick else ",".join(LAYOUTS))).split(",")
    )
    unknown = [name for name in layouts if name not in LAYOUTS]
    if unknown:
        raise SystemExit(f"unknown layout(s) {', '.join(unknown)}; choose from {', '.join(LAYOUTS)}")
    if "client-pinned" in layouts and len(usable_cpus()) < 2:
        raise SystemExit("--layouts client-pinned needs 2 CPUs or more")
    duration = pick(args.duration, 4.0, 0.5)
    return Settings(
        workers=workers,
        throughput=args.only in (None, "throughput"),
        memory=args.only in (None, "memory"),
        runs=int(pick(args.runs, 3, 1)),
        duration=duration,
        warm_up=pick(args.warm_up, 1.0, 0.2),
        clients=int(pick(args.clients, 2, 1)),
        connections=int(pick(args.connections, 50, 4)),
        window=int(pick(args.window, 8, 4)),
        pause=args.pause,
        layouts=layouts,
        idle=int(pick(args.idle, 10_000, 50)),
        idle_warm_up=int(pick(args.idle_warm_up, 100, 5)),
        idle_settle=pick(args.idle_settle, 5.0, 0.0),
        idle_per_client=args.idle_per_client,
        quick=quick,
        limit=600.0,
    )


def orchestrate(argv: Sequence[str]) -> None:
    """Run the measurements and print the report."""
    args = parse_args(argv)
    settings = settings_from(args)
    json_file: str | None = args.json
    if not sys.platform.startswith("linux"):
        raise SystemExit("bench/workers.py reads /proc and binds 127.0.0.2...: it runs on Linux")
    started = time.monotonic()
    load = os.getloadavg()
    limits = raise_file_limit()
    throughput: list[ThroughputRun] = []
    memory: list[MemoryResult] = []
    memory_notes_: list[str] = []
    try:
        if settings.throughput:
            throughput = run_throughput(settings)
        if settings.memory:
            memory, memory_notes_ = run_memory(settings, limits[1])
    except ChildFailed as exc:
        raise SystemExit(f"error: {exc}") from None
    seconds = time.monotonic() - started
    lines = header(settings, limits, load)
    if settings.throughput:
        lines += throughput_section(settings, throughput)
    if settings.memory:
        lines += memory_section(settings, memory, memory_notes_)
    lines += ["", f"Took {seconds:.0f} s."]
    print("\n".join(lines), flush=True)
    if json_file is not None:
        Path(json_file).write_text(as_json(settings, limits, throughput, memory, seconds) + "\n")
    failed = any(r.error for r in throughput) or any(r.error for r in memory)
    if failed:
        sys.exit(1)


def main(argv: Sequence[str] | None = None) -> None:
    """The orchestrator (its client processes are :mod:`bench._workers_clients`)."""
    orchestrate(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
