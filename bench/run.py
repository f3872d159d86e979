"""Side-by-side benchmark: ws, trio-websocket, websockets.trio and raw Trio streams.

Run it from the project root (see bench/README.md)::

    python bench/run.py                  # every scenario, 3 runs (a few minutes)
    python bench/run.py --same-core      # server and client pinned to one CPU
    python bench/run.py --quick          # smoke test: tiny counts, seconds
    python bench/run.py --only roundtrip,pipelined --libs ws,raw --runs 5

For every scenario, run and library, an echo server and a client run in two
separate processes over 127.0.0.1. The table shows, per library, the median
over the runs and, in parentheses, the median of its ratio to raw Trio
measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Final

import attrs

ROOT: Final = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make "bench" importable
    sys.path.insert(0, str(ROOT))

from bench.peers import LIBRARIES, load  # noqa: E402
from bench.scenarios import SCENARIOS, Kind, Scenario  # noqa: E402

FLOOR: Final = "raw"

INSTALL_HINT: Final = {
    "trio-websocket": "pip install trio-websocket==0.12.2 (or scripts/install-peers)",
    "websockets": "pip install 'websockets>=16' (or scripts/install-peers)",
}


class ChildFailed(Exception):
    """A worker process failed, timed out or said something unexpected."""


@attrs.define(eq=False)
class Child:
    """A worker process that bench.run talks to in lines."""

    name: str
    process: subprocess.Popen[bytes]
    stderr: IO[bytes]
    _pending: bytes = b""

    @classmethod
    def start(
        cls,
        name: str,
        arguments: list[str],
        env: dict[str, str] | None = None,
        *,
        module: str = "bench.worker",
    ) -> Child:
        """Start ``python -m <module> <arguments>`` in the project root, with ``env`` added."""
        stderr = tempfile.TemporaryFile()
        process = subprocess.Popen(
            [sys.executable, "-m", module, *arguments],
            cwd=ROOT,
            env={**os.environ, **env} if env else None,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        return cls(name, process, stderr)

    def send_line(self, line: str) -> None:
        """Write one line to the child's stdin."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(line.encode() + b"\n")
            self.process.stdin.flush()
        except BrokenPipeError as exc:
            raise ChildFailed(f"{self.name} exited early{self.error_tail()}") from exc

    def expect(self, prefix: str, timeout: float) -> str:
        """Read lines until one starts with ``prefix``; return the rest of it."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._pending:
                line, _, self._pending = self._pending.partition(b"\n")
                text = line.decode(errors="replace")
                if text.startswith(prefix + " ") or text == prefix:
                    return text[len(prefix) :].strip()
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChildFailed(f"{self.name}: no {prefix} within {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise ChildFailed(f"{self.name} exited before {prefix}{self.error_tail()}")
                self._pending += chunk

    def error_tail(self) -> str:
        """The last lines the child wrote to stderr, for error messages."""
        self.stderr.seek(0)
        lines = self.stderr.read().decode(errors="replace").strip().splitlines()
        return (":\n    " + "\n    ".join(lines[-6:])) if lines else ""

    def stop(self, grace: float) -> None:
        """Close its stdin (it then exits), and kill it if it has not after ``grace`` s."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.stderr.close()


@attrs.frozen
class Settings:
    """What the command line asked for."""

    scenarios: tuple[Scenario, ...]
    libraries: tuple[str, ...]
    runs: int
    duration: float
    quick: bool
    cpu: int | None
    memory_method: str
    profile_dir: Path | None
    idle_settle: float = 0.0
    malloc: str = "fixed"
    #: Connection counts of the broadcast table; empty: no broadcast table.
    broadcast_sizes: tuple[int, ...] = ()
    broadcast_repetitions: int = 20


#: ``--malloc fixed``: glibc's thresholds, fixed for every worker. By default
#: glibc adapts its mmap threshold to the largest block freed and hands the
#: top of the heap back to the OS once more than twice that is free. With
#: 1 MiB messages a few more or fewer buffers alive at a message's peak flip
#: a process between keeping its heap and faulting 1 MiB back in per message:
#: the same code ran at 300 or 900 MB/s from one run to the next, for every
#: library, raw Trio included. Fixed thresholds (all blocks under 8 MiB from
#: the heap, trimmed only beyond 128 MiB free) measure the libraries' code
#: rather than that coin toss; a server that moves large messages may well
#: set the same. ``--malloc system`` keeps glibc's defaults.
FIXED_MALLOC: Final = {"MALLOC_MMAP_THRESHOLD_": "8388608", "MALLOC_TRIM_THRESHOLD_": "134217728"}


@attrs.define
class Measurement:
    """One library in one scenario in one run."""

    figure: float | None = None
    ratio: float | None = None  # figure / raw's figure in the same run
    compression: float | None = None  # deflate: payload bytes / wire bytes
    error: str | None = None


def worker_arguments(settings: Settings, scenario: Scenario, library: str, role: str, run: int) -> list[str]:
    """The command line of one worker."""
    count = scenario.quick_count if settings.quick else scenario.count
    connections = scenario.quick_connections if settings.quick else scenario.connections
    arguments = [
        role,
        "--lib",
        library,
        "--scenario",
        scenario.name,
        "--count",
        str(count),
        "--connections",
        str(connections),
        "--duration",
        str(settings.duration),
        "--warm-up",
        str(5 if settings.quick else 50),
        "--limit",
        str(int(time_limit(settings) + 30)),
    ]
    if settings.cpu is not None:
        arguments += ["--cpu", str(settings.cpu)]
    if role == "server" and scenario.kind is Kind.MEMORY and settings.memory_method == "tracemalloc":
        arguments.append("--tracemalloc")
    if settings.profile_dir is not None:
        path = settings.profile_dir / f"{library}-{scenario.name}-{role}-{run}.prof"
        arguments += ["--profile", str(path)]
    return arguments


def time_limit(settings: Settings) -> float:
    """Seconds one measurement may take before it counts as failed."""
    return 60 + 10 * settings.duration


def measure_once(settings: Settings, scenario: Scenario, library: str, run: int) -> Measurement:
    """Start a server and a client, run the scenario, stop both; never raises ChildFailed."""
    limit = time_limit(settings)
    grace = 10.0 if settings.profile_dir is not None else 2.0
    # Idle memory is measured as users see it, with the system's malloc.
    fixed = settings.malloc == "fixed" and scenario.kind is not Kind.MEMORY
    env = FIXED_MALLOC if fixed else None
    server = Child.start(
        f"{library} server", worker_arguments(settings, scenario, library, "server", run), env
    )
    client: Child | None = None
    try:
        client = Child.start(
            f"{library} client", worker_arguments(settings, scenario, library, "client", run), env
        )
        port = server.expect("PORT", 60)
        client.send_line(f"PORT {port}")
        memory_delta = 0
        if scenario.kind is Kind.MEMORY:
            index = 0 if settings.memory_method == "tracemalloc" else 1
            client.expect("READY", limit)
            time.sleep(settings.idle_settle)  # let the connections be idle a while
            server.send_line("measure")
            before = int(server.expect("MEMORY", 60).split()[index])
            client.send_line("go")
            client.expect("READY", limit)
            time.sleep(settings.idle_settle)  # let the connections be idle a while
            server.send_line("measure")
            after = int(server.expect("MEMORY", 60).split()[index])
            client.send_line("go")
            memory_delta = after - before
        result: dict[str, float | str] = json.loads(client.expect("RESULT", limit))
        counts = {k: float(v) for k, v in result.items() if not isinstance(v, str)}
        counts["memory_delta"] = float(memory_delta)
        VERSIONS[library] = str(result.get("version", "?"))
        measurement = Measurement(figure=scenario.figure(counts))
        if scenario.kind is Kind.DEFLATE and counts.get("wire"):
            measurement.compression = counts["bytes"] / counts["wire"]
        return measurement
    except (ChildFailed, ValueError, KeyError, ZeroDivisionError) as exc:
        return Measurement(error=str(exc))
    finally:
        if client is not None:
            client.stop(grace)
        server.stop(grace)


#: Library -> the version its client reported (ws adds its masking code).
VERSIONS: dict[str, str] = {}


def applicable(scenario: Scenario, library: str) -> bool:
    """Whether a library takes part in a scenario (deflate needs compression)."""
    if scenario.compression:
        return bool(load(library).compression)
    return True


def run_all(settings: Settings) -> dict[str, dict[str, list[Measurement]]]:
    """Every measurement: results[scenario][library] is one Measurement per run."""
    results: dict[str, dict[str, list[Measurement]]] = {}
    for scenario in settings.scenarios:
        libraries = [lib for lib in settings.libraries if applicable(scenario, lib)]
        per_library: dict[str, list[Measurement]] = {lib: [] for lib in libraries}
        results[scenario.name] = per_library
        for run in range(settings.runs):
            # Rotate the order so that no library always goes first.
            shift = run % len(libraries)
            for library in libraries[shift:] + libraries[:shift]:
                started = time.monotonic()
                measurement = measure_once(settings, scenario, library, run)
                per_library[library].append(measurement)
                shown = "failed" if measurement.figure is None else f"{measurement.figure:,.1f}"
                print(
                    f"  {scenario.name:<12} run {run + 1}/{settings.runs} {library:<15}"
                    f" {shown:>14}  ({time.monotonic() - started:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
                if measurement.error:
                    print(f"    {measurement.error}", file=sys.stderr, flush=True)
            floor = per_library.get(FLOOR)
            floor_figure = floor[run].figure if floor is not None else None
            if floor_figure:
                for measurements in per_library.values():
                    mine = measurements[run].figure
                    if mine is not None:
                        measurements[run].ratio = mine / floor_figure
    return results


def median(values: list[float]) -> float | None:
    """The median, or None for no values."""
    return statistics.median(values) if values else None


def cell(measurements: list[Measurement] | None, scenario: Scenario) -> str:
    """One table cell: median figure (median ratio to raw Trio)."""
    if measurements is None:
        return "n/a"
    figure = median([m.figure for m in measurements if m.figure is not None])
    if figure is None:
        return "failed"
    text = f"{figure:,.1f}" if figure < 100 else f"{figure:,.0f}"
    ratio = median([m.ratio for m in measurements if m.ratio is not None])
    if ratio is not None and not scenario.compression:
        text += f" ({ratio:.2f}x)"
    if len([m for m in measurements if m.figure is not None]) < len(measurements):
        text += " *"
    return text


def table(settings: Settings, results: dict[str, dict[str, list[Measurement]]]) -> str:
    """The markdown table: one row per library, one column per scenario."""
    headers = ["library"]
    for scenario in settings.scenarios:
        headers.append(scenario.title)
        if scenario.compression:
            headers.append("deflate size ratio")
    lines = ["| " + " | ".join(headers) + " |", "|---" + "|---:" * (len(headers) - 1) + "|"]
    for library in settings.libraries:
        row = [load(library).name]
        for scenario in settings.scenarios:
            measurements = results[scenario.name].get(library)
            row.append(cell(measurements, scenario))
            if scenario.compression:
                ratios = [m.compression for m in measurements or [] if m.compression is not None]
                ratio = median(ratios)
                row.append("n/a" if ratio is None else f"{ratio:.1f}x")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def report(settings: Settings, results: dict[str, dict[str, list[Measurement]]], notes: list[str]) -> str:
    """The whole report: settings, versions, the table and notes."""
    pinned = f"server and client pinned to CPU {settings.cpu}" if settings.cpu is not None else "not pinned"
    lines = [
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()},"
        f" {os.cpu_count()} CPUs, {pinned}; {settings.runs} run(s),"
        f" {settings.duration:g} s per measurement{' (quick)' if settings.quick else ''};"
        f" malloc thresholds {settings.malloc} (system for memory).",
        "",
    ]
    for library in settings.libraries:
        lines.append(f"- {load(library).name}: {VERSIONS.get(library, load(library).version)}")
    lines += [
        "",
        table(settings, results),
        "",
        "Medians of the runs; in parentheses the median ratio to raw Trio in the same run"
        " (for memory, lower is better). Idle memory is measured with"
        f" {settings.memory_method} in the server process. * = some runs failed.",
    ]
    lines += notes
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    names = [scenario.name for scenario in SCENARIOS]
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        epilog="Scenarios: " + ", ".join(names) + ". Libraries: " + ", ".join(LIBRARIES) + ".",
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny counts, 1 run")
    parser.add_argument(
        "--same-core", action="store_true", help="pin server and client to the same CPU"
    )
    parser.add_argument("--cpu", type=int, default=None, help="the CPU for --same-core")
    parser.add_argument("--runs", type=int, default=None, help="runs per scenario (default 3)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per measurement")
    parser.add_argument("--only", default=None, help="comma-separated scenarios")
    parser.add_argument(
        "--libs", default=None, help="comma-separated libraries (raw is always included)"
    )
    parser.add_argument(
        "--memory", choices=["rss", "tracemalloc"], default="rss",
        help="how idle memory is measured in the server (default: rss)",
    )
    parser.add_argument(
        "--malloc", choices=["fixed", "system"], default="fixed",
        help="glibc malloc thresholds in the workers: fixed (default, steady figures"
        " for large messages) or the system's adaptive ones",
    )
    parser.add_argument("--profile", default=None, help="write cProfile dumps into this directory")
    parser.add_argument(
        "--idle-settle",
        type=float,
        default=None,
        help="memory: seconds the connections stay idle before each measurement"
        " (default 6, 0 with --quick)",
    )
    parser.add_argument("--json", default=None, help="also write every measurement to this file")
    parser.add_argument(
        "--broadcast", action="store_true",
        help="also measure one message to many connections (a table of its own);"
        " --only broadcast measures just that",
    )
    parser.add_argument(
        "--broadcast-connections", default=None,
        help="comma-separated connection counts for --broadcast (default 1000,10000; 50 with --quick)",
    )
    parser.add_argument(
        "--broadcast-repetitions", type=int, default=None,
        help="timed broadcasts per run and mode (default 20; 3 with --quick)",
    )
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace, notes: list[str]) -> Settings:
    """Check the command line and find which libraries are installed."""
    by_name = {scenario.name: scenario for scenario in SCENARIOS}
    scenarios: tuple[Scenario, ...] = SCENARIOS
    broadcast = args.broadcast
    if args.only:
        wanted = [name.strip() for name in args.only.split(",") if name.strip()]
        if "broadcast" in wanted:
            broadcast = True
            wanted.remove("broadcast")
        unknown = [name for name in wanted if name not in by_name]
        if unknown:
            raise SystemExit(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(by_name)}")
        scenarios = tuple(scenario for scenario in SCENARIOS if scenario.name in wanted)
    broadcast_sizes: tuple[int, ...] = ()
    if broadcast:
        if args.broadcast_connections:
            broadcast_sizes = tuple(int(n) for n in args.broadcast_connections.split(","))
        else:
            broadcast_sizes = (50,) if args.quick else (1000, 10000)
    wanted_libs = list(LIBRARIES) if not args.libs else [n.strip() for n in args.libs.split(",")]
    unknown = [name for name in wanted_libs if name not in LIBRARIES]
    if unknown:
        raise SystemExit(f"unknown library {', '.join(unknown)}; choose from {', '.join(LIBRARIES)}")
    if FLOOR not in wanted_libs:
        wanted_libs.insert(0, FLOOR)
    libraries = []
    for name in LIBRARIES:  # the table's row order
        if name not in wanted_libs:
            continue
        try:
            load(name)
        except ImportError as exc:
            notes.append(f"- {name} skipped: {exc} ({INSTALL_HINT.get(name, 'not installed')}).")
            continue
        libraries.append(name)
    cpu = None
    if args.same_core:
        cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    profile_dir = None
    if args.profile:
        profile_dir = Path(args.profile).resolve()
        profile_dir.mkdir(parents=True, exist_ok=True)
    return Settings(
        scenarios=scenarios,
        libraries=tuple(libraries),
        runs=args.runs if args.runs is not None else (1 if args.quick else 3),
        duration=args.duration if args.duration is not None else (0.2 if args.quick else 2.0),
        quick=args.quick,
        idle_settle=args.idle_settle if args.idle_settle is not None else (0.0 if args.quick else 6.0),
        cpu=cpu,
        memory_method=args.memory,
        profile_dir=profile_dir,
        malloc=args.malloc,
        broadcast_sizes=broadcast_sizes,
        broadcast_repetitions=(
            args.broadcast_repetitions
            if args.broadcast_repetitions is not None
            else (3 if args.quick else 20)
        ),
    )


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the report on stdout (progress goes to stderr)."""
    notes: list[str] = []
    settings = settings_from(parse_args(argv), notes)
    results = run_all(settings)
    if settings.scenarios:
        print(report(settings, results, notes))
    if settings.broadcast_sizes:
        from bench.broadcast import run_table

        print()
        print(
            run_table(
                settings.broadcast_sizes,
                settings.runs,
                settings.broadcast_repetitions,
                time_limit(settings) + 240,
            )
        )
    arguments = parse_args(argv)
    if arguments.json:
        dump = {
            name: {lib: [attrs.asdict(m) for m in runs] for lib, runs in per_library.items()}
            for name, per_library in results.items()
        }
        Path(arguments.json).write_text(json.dumps(dump, indent=2))


if __name__ == "__main__":
    main()
