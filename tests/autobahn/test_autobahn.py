"""The Autobahn TestSuite against ws, as a server and as a client.

kosoku runs the suite's own case files. In ``fuzzingclient`` mode it drives
``examples/autobahn/server.py``; in ``fuzzingserver`` mode it is the server
that ``examples/autobahn/client.py`` drives. Both write ``index.json``:

    {agent: {case_id: {"behavior": ..., "behaviorClose": ..., "remoteCloseCode": ...,
                       "duration": ms, "reportfile": ...}}}

``behavior`` grades the messages exchanged (OK, NON-STRICT, FAILED,
UNIMPLEMENTED, INFORMATIONAL), ``behaviorClose`` the closing handshake (OK,
INFORMATIONAL, FAILED, FAILED BY CLIENT, UNCLEAN, WRONG CODE). A case
passes here only when both are OK or INFORMATIONAL: NON-STRICT (a SHOULD
not followed) and UNIMPLEMENTED (e.g. compression not negotiated) fail.

The tests start subprocesses on 127.0.0.1 with free ports and bound every
wait with a timeout; they skip when kosoku is not installed.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "autobahn"

#: Every case of the suite runs, 1.1.1 to 13.7.18.
CASE_COUNT = 517
#: Verdicts that pass, for both ``behavior`` and ``behaviorClose``.
PASSING = frozenset({"OK", "INFORMATIONAL"})
#: Cases run at once. The whole suite takes a few minutes on two cores,
#: nearly all of it in the 12.x and 13.x compression cases.
PARALLELISM = 4
#: Upper bounds on the waits; a run normally takes a fraction of this.
STARTUP_TIMEOUT = 30.0
RUN_TIMEOUT = 1200.0
REPORT_TIMEOUT = 120.0
STOP_TIMEOUT = 10.0


def find_kosoku() -> str:
    """The kosoku executable, next to this Python or on PATH; skips the test without it."""
    beside = Path(sys.executable).with_name("kosoku")
    if beside.exists():
        return str(beside)
    found = shutil.which("kosoku")
    if found is None:
        pytest.skip("kosoku is not installed: run scripts/install-peers (pip install kosoku)")
    return found


@contextmanager
def running(args: list[str], *, cwd: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """Start a subprocess with its output in ``cwd/name.out``; stop it (and reap it) on the way out."""
    with open(cwd / f"{name}.out", "wb") as output:
        process = subprocess.Popen(
            args,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)


def output_of(cwd: Path, name: str) -> str:
    """What a process started by :func:`running` printed."""
    return (cwd / f"{name}.out").read_text(errors="replace")


def wait_for_output(process: subprocess.Popen[bytes], cwd: Path, name: str, pattern: str) -> re.Match[str]:
    """Wait (at most STARTUP_TIMEOUT) until the process printed a line matching ``pattern``."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if match := re.search(pattern, output_of(cwd, name)):
            return match
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(
        f"{process.args!r} did not print {pattern!r} within {STARTUP_TIMEOUT}s "
        f"(exit code {process.poll()}); it printed: {output_of(cwd, name)!r}"
    )


def check_report(outdir: Path, seconds: float) -> None:
    """Fail unless index.json holds every case, each OK or INFORMATIONAL in both verdicts."""
    index = json.loads((outdir / "index.json").read_text())
    cases = {case: result for agent in index.values() for case, result in agent.items()}
    behavior = collections.Counter(result["behavior"] for result in cases.values())
    closing = collections.Counter(result["behaviorClose"] for result in cases.values())
    short = sorted(
        (
            (case, result["behavior"], result["behaviorClose"], result["remoteCloseCode"])
            for case, result in cases.items()
            if result["behavior"] not in PASSING or result["behaviorClose"] not in PASSING
        ),
        key=lambda item: tuple(int(part) for part in item[0].split(".")),
    )
    summary = (
        f"{len(cases)} cases in {seconds:.0f}s; behavior {dict(behavior)}; "
        f"behaviorClose {dict(closing)}"
    )
    print(summary)
    details = "\n".join(
        f"  {case}: behavior {verdict}, behaviorClose {close}, close code {code}"
        for case, verdict, close, code in short
    )
    assert not short, f"{summary}\n{len(short)} cases fell short (reports in {outdir}):\n{details}"
    assert len(cases) == CASE_COUNT, summary


def test_server_against_fuzzing_client(tmp_path: Path) -> None:
    """ws's echo server passes every Autobahn case driven by kosoku's fuzzing client."""
    kosoku = find_kosoku()
    outdir = tmp_path / "reports"
    server_args = [sys.executable, str(EXAMPLES / "server.py"), "127.0.0.1", "0"]
    with running(server_args, cwd=tmp_path, name="server") as server:
        port = int(wait_for_output(server, tmp_path, "server", r"listening on (\d+)")[1])
        started = time.monotonic()
        run = subprocess.run(
            [kosoku, "-m", "fuzzingclient", "-p", str(PARALLELISM), "-o", str(outdir),
             f"127.0.0.1:{port}"],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        seconds = time.monotonic() - started
        assert server.poll() is None, f"the echo server died: {output_of(tmp_path, 'server')}"
    # kosoku exits with 1 when a case failed by its own (laxer) standard; the report decides.
    assert (outdir / "index.json").exists(), f"no report; kosoku said:\n{run.stdout}\n{run.stderr}"
    check_report(outdir, seconds)


def test_client_against_fuzzing_server(tmp_path: Path) -> None:
    """ws's echo client passes every Autobahn case served by kosoku's fuzzing server."""
    kosoku = find_kosoku()
    outdir = tmp_path / "reports"
    fuzzer_args = [kosoku, "-m", "fuzzingserver", "-o", str(outdir), "127.0.0.1:0"]
    with running(fuzzer_args, cwd=tmp_path, name="kosoku") as fuzzer:
        url = wait_for_output(fuzzer, tmp_path, "kosoku", r"listening on (ws://\S+)")[1]
        started = time.monotonic()
        client = subprocess.run(
            [sys.executable, str(EXAMPLES / "client.py"), url, "ws",
             "--concurrency", str(PARALLELISM)],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        seconds = time.monotonic() - started
        assert client.returncode == 0, f"the client failed:\n{client.stdout}\n{client.stderr}"
        # The fuzzing server writes the reports and exits after /updateReports.
        fuzzer.wait(REPORT_TIMEOUT)
    assert (outdir / "index.json").exists(), "kosoku wrote no report"
    check_report(outdir, seconds)
