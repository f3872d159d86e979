"""Smoke test of the side-by-side benchmark: bench/run.py --quick for ws and raw Trio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def table_rows(output: str) -> dict[str, list[str]]:
    """The markdown table's rows, keyed by library: {library: cells}."""
    rows: dict[str, list[str]] = {}
    for line in output.splitlines():
        if line.startswith("| ") and line.endswith(" |"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_quick_run_prints_a_table_for_ws_and_raw_trio() -> None:
    """A quick run measures every scenario for both libraries and prints the table."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--libs", "raw,ws"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = table_rows(done.stdout)
    assert list(rows) == ["library", "raw trio", "ws"]
    header = rows["library"]
    assert "64 B round trips (rt/s)" in header
    assert "idle memory (KiB/conn)" in header
    assert len(rows["raw trio"]) == len(rows["ws"]) == len(header)
    # Every cell has a figure; only raw Trio's deflate cells are "n/a".
    for library in ("raw trio", "ws"):
        for title, value in zip(header, rows[library], strict=True):
            assert value != "" and "failed" not in value and "*" not in value, (library, title)
            if library == "ws" or "deflate" not in title:
                assert value[0].isdigit(), (library, title, value)
    assert rows["raw trio"][0].endswith("(1.00x)")
    assert "ws: " in done.stdout and ("C speedups" in done.stdout or "pure-Python" in done.stdout)


def test_quick_broadcast_prints_its_own_table() -> None:
    """--only broadcast measures the three broadcast modes and prints their table with the ratio."""
    done = subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--only", "broadcast",
            "--broadcast-connections", "20", "--broadcast-repetitions", "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = table_rows(done.stdout)
    assert rows["broadcast, 64 B text"][0] == "20 conns: ms to all"
    for mode in ("ws.broadcast", "ws: loop of send_message"):
        assert rows[mode][0].replace(".", "").isdigit(), rows[mode]
    if "websockets.trio broadcast" in rows:
        assert rows["ratio ws.broadcast / websockets.trio (speed)"][0].endswith("x")


def test_workers_quick_run_measures_one_worker(tmp_path: Path) -> None:
    """bench/workers.py --quick with 1 worker: a msgs/s row and an idle-connections row."""
    report = tmp_path / "workers.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "bench.workers", "--quick", "--workers", "1",
            "--idle", "50", "--json", str(report),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "nproc " in done.stdout and "open files: soft limit" in done.stdout
    rows = table_rows(done.stdout)
    workers, rate = rows["shared"][:2]  # (clients:) shared | workers | msgs/s | ...
    assert workers == "1" and rate.replace(",", "").isdigit() and rate != "0", rows["shared"]
    held = rows["1"][1]  # workers | worker | idle connections held | ...
    assert held == "55", rows["1"]  # 50 + 5 of warm-up
    measured = json.loads(report.read_text())
    assert measured["machine"]["nproc"] >= 1
    (run,) = measured["throughput"]
    assert run["error"] is None and run["rate"] > 0 and run["per_worker"] == [4]
    (memory,) = measured["memory"]
    assert memory["error"] is None
    assert memory["opened"] == 50 and memory["sent"] == memory["echoed"] == 55
    assert [stats["connections"] for stats in memory["after"]] == [55]


def test_stream_memory_streams_a_message_both_ways_and_reports_the_peak() -> None:
    """bench/stream_memory.py streams one message each way and prints the RSS it took."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.stream_memory", "--size", "8MiB", "--piece", "16KiB"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "streaming 8 MiB in 16 KiB pieces, compression off"
    for line, direction in zip(lines[1:], ("client -> server", "server -> client"), strict=True):
        assert line.startswith(f"{direction}: 8,388,608 bytes in "), line
        assert "MiB before, peak " in line, line


def test_sync_clients_print_a_table_of_both_loops() -> None:
    """bench/sync.py --quick measures ws.sync (and websockets.sync, when installed) on each server."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.sync", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = table_rows(done.stdout)
    assert rows["client"] == [
        "server", "64 B round trips (rt/s), median (best)", "pipelined 64 B (msg/s), median (best)"
    ]
    assert rows["ws.sync"][0] in ("ws", "websockets")
    for line in done.stdout.splitlines():
        if line.startswith(("| ws.sync |", "| websockets.sync |")):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            assert all(cell[0].isdigit() and cell.endswith(")") for cell in cells[2:]), line
        elif line.startswith("| ratio "):
            assert line.rstrip(" |").endswith("x"), line
