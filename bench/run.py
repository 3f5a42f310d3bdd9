"""Benchmark restate-trio against the official Python SDK through a real restate-server.

For each SDK an endpoint process (Hypercorn, one worker) and its own fresh
``restate-server`` are started on free 127.0.0.1 ports; the endpoint is
registered, checked with one request per workload, and then every
(workload, concurrency) point is loaded with a closed-loop generator (``wrk``,
or ``bench/loadgen.py`` when wrk is missing): warm-up, then a measured run.
The SDKs are interleaved per point (the order rotates), so slow phases of a
shared machine hit both alike.

Per point: requests/s, p50/p99 latency, errors (non-2xx, socket errors and
timeouts), and CPU seconds (utime+stime from /proc/<pid>/stat) of the
endpoint's process tree and of the server's process tree, per 1,000
invocations. Results: one table per point on stdout, raw numbers in
``bench/results/latest.json``. Then the codec table (``bench/codecs.py``: encode/decode of a
typed ~1 KiB payload, in this process, after the load is over); ``--codecs-only`` runs just
that (numbers in ``bench/results/codecs.json``).

Run from anywhere: ``python bench/run.py`` (see ``--help``), or ``nox -s bench``.
"""

import argparse
import contextlib
import importlib
import importlib.metadata
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
LOCALHOST = "127.0.0.1"
RESTATE_SERVER_VERSION = "1.7.12"
HYPERCORN_CONFIG = BENCH_DIR / "hypercorn.toml"
WRK_SCRIPT = BENCH_DIR / "wrk.lua"
LOADGEN_SCRIPT = BENCH_DIR / "loadgen.py"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STARTUP_TIMEOUT = 60.0
STOP_GRACE = 5.0
WORKLOADS = ("greet", "counter")
BASELINE = "restate-sdk"
CANDIDATE = "restate-trio"


@dataclass(frozen=True)
class SdkSpec:
    name: str
    app: str  # hypercorn application path
    worker_class: str  # hypercorn -k
    describe: str


SDKS: dict[str, SdkSpec] = {
    CANDIDATE: SdkSpec(
        CANDIDATE, "bench.trio_app:app", "trio", "restate-trio on hypercorn -k trio"
    ),
    BASELINE: SdkSpec(
        BASELINE, "bench.official_app:app", "asyncio", "restate-sdk on hypercorn (asyncio)"
    ),
}


class BenchError(Exception):
    """A setup step failed; the message says which and why."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Processes: start, CPU accounting, teardown (by PID only)
# ---------------------------------------------------------------------------


def _read_stat(pid: int) -> tuple[int, int, float] | None:
    """(ppid, start time in ticks, utime+stime in seconds) of ``pid``, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            data = file.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split at the last ')'.
    fields = data[data.rfind(b")") + 2 :].split()
    # fields[0] is field 3 (state): ppid = field 4, utime = 14, stime = 15, starttime = 22.
    ppid, utime, stime, start = int(fields[1]), int(fields[11]), int(fields[12]), int(fields[19])
    return ppid, start, (utime + stime) / CLOCK_TICKS


def _process_table() -> dict[int, tuple[int, int, float]]:
    table: dict[int, tuple[int, int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _read_stat(int(entry))
            if stat is not None:
                table[int(entry)] = stat
    return table


def process_tree(root: int) -> dict[int, int]:
    """``{pid: start time}`` of ``root`` and all its descendants."""
    table = _process_table()
    if root not in table:
        return {}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    tree: dict[int, int] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        tree[pid] = table[pid][1]
        todo.extend(children.get(pid, []))
    return tree


def tree_cpu_seconds(root: int) -> float:
    """utime+stime (s) summed over ``root`` and its live descendants."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total = 0.0
    todo = [root] if root in table else []
    while todo:
        pid = todo.pop()
        total += table[pid][2]
        todo.extend(children.get(pid, []))
    return total


def machine_ticks() -> tuple[int, int, int]:
    """(busy, steal, total) jiffies of the whole machine from /proc/stat."""
    with open("/proc/stat") as file:
        values = [int(v) for v in file.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq
    return busy, steal, busy + idle + iowait + steal


class ProcessRegistry:
    """Every process this script started, stopped by PID on teardown."""

    def __init__(self) -> None:
        self._processes: list[subprocess.Popen[bytes]] = []

    def popen(self, command: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(list(command), **kwargs)
        self._processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], grace: float = STOP_GRACE) -> None:
        """SIGTERM, SIGKILL after ``grace`` s; then leftover descendants, by PID."""
        if process in self._processes:
            self._processes.remove(process)
        descendants = process_tree(process.pid)
        descendants.pop(process.pid, None)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(grace)
        # Children that outlived their parent (e.g. a Hypercorn worker):
        # only kill a PID if it is still the same process (same start time).
        deadline = time.monotonic() + grace
        for sig in (signal.SIGTERM, signal.SIGKILL):
            alive = {pid: start for pid, start in descendants.items() if _same(pid, start)}
            for pid in alive:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            while alive and time.monotonic() < deadline:
                time.sleep(0.05)
                alive = {pid: start for pid, start in alive.items() if _same(pid, start)}
            if not alive:
                break
            deadline = time.monotonic() + grace

    def stop_all(self) -> None:
        for process in reversed(list(self._processes)):
            try:
                self.stop(process)
            except Exception as exc:  # keep tearing down the others
                log(f"could not stop pid {process.pid}: {exc!r}")


def _same(pid: int, start: int) -> bool:
    stat = _read_stat(pid)
    return stat is not None and stat[1] == start


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path | None, lines: int = 40) -> str:
    if path is None:
        return ""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------------------
# Tiny HTTP client (stdlib; loopback only)
# ---------------------------------------------------------------------------


def http(method: str, url: str, body: object = None, timeout: float = 30.0) -> tuple[int, bytes]:
    """Send one request; (status, body). Raises OSError when unreachable."""
    if not url.startswith(f"http://{LOCALHOST}:"):
        raise ValueError(f"refusing non-loopback URL {url}")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# ---------------------------------------------------------------------------
# restate-server
# ---------------------------------------------------------------------------


class Server:
    """One fresh restate-server: ``restate_trio.testing.RestateServer`` when
    it is importable, else a process started here with the same settings."""

    def __init__(
        self, registry: ProcessRegistry, partitions: int | None, use_harness: bool
    ) -> None:
        self._registry = registry
        self._partitions = partitions
        self._use_harness = use_harness
        self._harness: Any = None
        self._process: subprocess.Popen[bytes] | None = None
        self._base_dir: Path | None = None
        self.ingress_url = ""
        self.admin_url = ""
        self.log_path: Path | None = None
        self.via = ""

    @property
    def pid(self) -> int:
        if self._harness is not None:
            return int(self._harness.process.pid)
        assert self._process is not None
        return self._process.pid

    def start(self) -> None:
        testing: Any = None
        if self._use_harness:
            try:
                testing = importlib.import_module("restate_trio.testing")
            except Exception:  # not written yet, or broken: start it ourselves
                testing = None
        if testing is not None and hasattr(testing, "RestateServer"):
            _ensure_server_binary_via_harness()
            self._harness = testing.RestateServer(
                num_partitions=self._partitions, shutdown_grace=STOP_GRACE
            )
            self._harness.start()
            self.ingress_url = self._harness.ingress_url
            self.admin_url = self._harness.admin_url
            self.log_path = Path(self._harness.log_path)
            self.via = "restate_trio.testing.RestateServer"
        else:
            self._start_own()
            self.via = "bench/run.py"

    def _start_own(self) -> None:
        binary = find_server_binary()
        self._base_dir = Path(tempfile.mkdtemp(prefix="restate-bench-"))
        self.log_path = self._base_dir / "restate-server.log"
        ingress, admin, node = free_port(), free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTATE_")}
        env.update(
            RESTATE_INGRESS__BIND_PORT=str(ingress),
            RESTATE_ADMIN__BIND_PORT=str(admin),
            RESTATE_BIND_PORT=str(node),
            RESTATE_BIND_IP=LOCALHOST,
            RESTATE_LISTEN_MODE="tcp",
            RESTATE_DISABLE_TELEMETRY="true",
            RESTATE_LOG_DISABLE_ANSI_CODES="true",
        )
        if self._partitions is not None:
            env["RESTATE_DEFAULT_NUM_PARTITIONS"] = str(self._partitions)
        with self.log_path.open("ab") as out:
            self._process = self._registry.popen(
                [str(binary), "--base-dir", str(self._base_dir / "data"), "--no-logo"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self._base_dir,
                start_new_session=True,
            )
        self.ingress_url = f"http://{LOCALHOST}:{ingress}"
        self.admin_url = f"http://{LOCALHOST}:{admin}"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BenchError(
                    f"restate-server exited with {self._process.returncode}:\n"
                    + log_tail(self.log_path)
                )
            with contextlib.suppress(OSError):
                if (
                    http("GET", f"{self.admin_url}/health", timeout=1)[0] == 200
                    and http("GET", f"{self.ingress_url}/restate/health", timeout=1)[0] == 200
                ):
                    return
            time.sleep(0.1)
        raise BenchError("restate-server did not become healthy:\n" + log_tail(self.log_path))

    def version(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            status, body = http("GET", f"{self.admin_url}/version", timeout=5)
            if status == 200:
                return str(json.loads(body).get("version", "?"))
        return "?"

    def register(self, uri: str) -> None:
        if self._harness is not None:
            import trio

            try:
                trio.run(self._harness.register, uri)
                return
            except Exception as exc:
                raise BenchError(f"registering {uri} failed: {exc}") from exc
        status, body = http("POST", f"{self.admin_url}/deployments", {"uri": uri, "force": True})
        if not 200 <= status < 300:
            raise BenchError(
                f"registering {uri} failed: HTTP {status}: {body.decode(errors='replace')}"
            )

    def stop(self, keep_log: Path | None) -> None:
        if keep_log is not None and self.log_path is not None:
            with contextlib.suppress(OSError):
                shutil.copyfile(self.log_path, keep_log)
        if self._harness is not None:
            self._harness.stop()
        elif self._process is not None:
            self._registry.stop(self._process)
            if self._base_dir is not None:
                shutil.rmtree(self._base_dir, ignore_errors=True)


def _ensure_server_binary_via_harness() -> None:
    from restate_trio import testing

    try:
        testing.find_restate_server()
    except testing.RestateServerNotFoundError:
        if os.environ.get("RESTATE_SERVER_BIN"):
            raise
        log(f"installing restate-server {RESTATE_SERVER_VERSION} from npm (once)...")
        testing.install_restate_server()


def find_server_binary() -> Path:
    explicit = os.environ.get("RESTATE_SERVER_BIN")
    if explicit:
        return Path(explicit)
    prefix = Path.home() / ".cache" / "restate-trio" / f"restate-server-{RESTATE_SERVER_VERSION}"
    binary = prefix / "node_modules" / ".bin" / "restate-server"  # a node wrapper
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise BenchError("restate-server not found: set RESTATE_SERVER_BIN or install npm")
        log(f"installing restate-server {RESTATE_SERVER_VERSION} from npm (once)...")
        subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(prefix),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                f"@restatedev/restate-server@{RESTATE_SERVER_VERSION}",
            ],
            check=True,
            timeout=600,
        )
    # Prefer the native binary the wrapper would start (no node process in between).
    native = sorted(prefix.glob("node_modules/@restatedev/restate-server-*/bin/restate-server"))
    return native[0] if native else binary


# ---------------------------------------------------------------------------
# SDK endpoint (hypercorn)
# ---------------------------------------------------------------------------


class Endpoint:
    def __init__(self, spec: SdkSpec, registry: ProcessRegistry, log_path: Path) -> None:
        self.spec = spec
        self._registry = registry
        self.log_path = log_path
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def command(self, port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "hypercorn",
            "-k",
            self.spec.worker_class,
            self.spec.app,
            "--bind",
            f"{LOCALHOST}:{port}",
            "--config",
            str(HYPERCORN_CONFIG),
        ]

    def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_DIR), env.get("PYTHONPATH", "")) if p
        )
        env.setdefault("PYTHONUNBUFFERED", "1")
        for _attempt in range(3):
            self.port = free_port()
            with self.log_path.open("ab") as out:
                self.process = self._registry.popen(
                    self.command(self.port),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=REPO_DIR,
                    start_new_session=True,
                )
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while time.monotonic() < deadline and self.process.poll() is None:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection((LOCALHOST, self.port), timeout=1),
                ):
                    return
                time.sleep(0.1)
            tail = log_tail(self.log_path)
            self._registry.stop(self.process)
            if "address already in use" not in tail.lower():
                raise BenchError(f"{self.spec.name} endpoint did not start:\n{tail}")
        raise BenchError(f"{self.spec.name} endpoint: no free port after 3 attempts")

    def stop(self) -> None:
        if self.process is not None:
            self._registry.stop(self.process)


def preflight(spec: SdkSpec) -> str | None:
    """Import the app in a child process; the error text, or None if it loads."""
    module = spec.app.split(":")[0]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_DIR), env.get("PYTHONPATH", "")) if p)
    try:
        result = subprocess.run(
            [sys.executable, "-c", f"import {module}"],
            cwd=REPO_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return f"importing {module} took more than 60 s"
    if result.returncode != 0:
        return result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "import failed"
    return None


# ---------------------------------------------------------------------------
# Load generation
# ---------------------------------------------------------------------------


def ensure_wrk(allow_install: bool) -> str | None:
    found = shutil.which("wrk")
    if found or not allow_install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return found
    log("wrk not found; trying `apt-get install -y wrk` (once)...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for step in (None, ["apt-get", "update", "-qq"]):
        if step is not None:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                subprocess.run(step, env=env, capture_output=True, timeout=300, check=False)
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "wrk"],
                env=env,
                capture_output=True,
                timeout=300,
                check=False,
            )
        found = shutil.which("wrk")
        if found:
            return found
    log("could not install wrk; using the Python load generator")
    return None


_BENCH_JSON = re.compile(r"^BENCH_JSON (\{.*\})\s*$", re.MULTILINE)


def run_load(
    loadgen: str,
    url: str,
    workload: str,
    concurrency: int,
    duration: float,
    keys: int,
) -> dict[str, Any]:
    """One closed-loop run; the BENCH_JSON numbers plus wrk's/loadgen's CPU."""
    if loadgen == "python":
        command = [
            sys.executable,
            str(LOADGEN_SCRIPT),
            "--url",
            url,
            "--workload",
            workload,
            "--keys",
            str(keys),
            "--concurrency",
            str(concurrency),
            "--duration",
            str(duration),
        ]
    else:
        command = [
            loadgen,
            "-t1",
            f"-c{concurrency}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "10s",
            "-s",
            str(WRK_SCRIPT),
            url,
            "--",
            workload,
            str(keys),
        ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    match = _BENCH_JSON.search(result.stdout)
    if result.returncode != 0 or match is None:
        raise BenchError(
            f"load generator failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    numbers: dict[str, Any] = json.loads(match.group(1))
    numbers["loadgen_cpu_s"] = (after.ru_utime + after.ru_stime) - (
        before.ru_utime + before.ru_stime
    )
    return numbers


# ---------------------------------------------------------------------------
# One SDK under test: its server, its endpoint
# ---------------------------------------------------------------------------


@dataclass
class Target:
    spec: SdkSpec
    server: Server
    endpoint: Endpoint
    server_log_offset: int = 0
    endpoint_log_offset: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    def new_log_lines(self) -> tuple[int, int]:
        """(server WARN/ERROR lines, endpoint error lines) since the last call."""
        server_lines, self.server_log_offset = _read_from(
            self.server.log_path, self.server_log_offset
        )
        endpoint_lines, self.endpoint_log_offset = _read_from(
            self.endpoint.log_path, self.endpoint_log_offset
        )
        server_bad = sum(1 for line in server_lines if re.search(r"\b(WARN|ERROR)\b", line))
        endpoint_bad = sum(
            1 for line in endpoint_lines if re.search(r"Traceback|\bERROR\b|\[ERROR\]", line)
        )
        return server_bad, endpoint_bad


def _read_from(path: Path | None, offset: int) -> tuple[list[str], int]:
    if path is None:
        return [], offset
    try:
        with path.open("rb") as file:
            file.seek(offset)
            data = file.read()
    except OSError:
        return [], offset
    return data.decode("utf-8", errors="replace").splitlines(), offset + len(data)


def sanity_check(target: Target, workloads: Sequence[str]) -> None:
    """One request per workload, checking the answer, before any load."""
    checks: dict[str, tuple[str, object, Callable[[object], bool]]] = {
        "greet": ("/Greeter/greet", "bob", lambda v: v == "Hello bob!"),
        "counter": ("/Counter/sanity-check/add", 1, lambda v: isinstance(v, int) and v >= 1),
    }
    for workload in workloads:
        path, body, ok = checks[workload]
        try:
            status, raw = http("POST", target.server.ingress_url + path, body, timeout=30)
        except OSError as exc:
            status, raw = 0, repr(exc).encode()
        try:
            value: object = json.loads(raw)
        except ValueError:
            value = raw.decode(errors="replace")
        if status != 200 or not ok(value):
            raise BenchError(
                f"{target.spec.name}: POST {path} -> HTTP {status} {value!r}\n"
                f"--- server log (tail) ---\n{log_tail(target.server.log_path)}\n"
                f"--- endpoint log (tail) ---\n{log_tail(target.endpoint.log_path)}"
            )


def new_target(
    spec: SdkSpec, registry: ProcessRegistry, logs_dir: Path, args: argparse.Namespace
) -> Target:
    server = Server(registry, args.partitions, use_harness=not args.own_server)
    endpoint = Endpoint(spec, registry, logs_dir / f"{spec.name}-endpoint.log")
    return Target(spec, server, endpoint)


def start_target(target: Target) -> None:
    """Start the target's server and endpoint and register the endpoint.

    The caller stops both (``stop_target``) whatever happens here."""
    spec, server, endpoint = target.spec, target.server, target.endpoint
    endpoint.log_path.write_bytes(b"")
    log(f"{spec.name}: starting restate-server")
    server.start()
    log(f"{spec.name}: server pid {server.pid} ingress {server.ingress_url} (via {server.via})")
    endpoint.start()
    assert endpoint.process is not None
    log(f"{spec.name}: endpoint pid {endpoint.process.pid} at {endpoint.uri}; registering")
    deadline = time.monotonic() + 30
    while True:
        try:
            server.register(endpoint.uri)
            break
        except BenchError:
            if time.monotonic() > deadline or endpoint.process.poll() is not None:
                raise
            time.sleep(0.5)
    target.info = {
        "server_version": server.version(),
        "server_started_via": server.via,
        "endpoint_command": " ".join(endpoint.command(endpoint.port)),
    }


def stop_target(target: Target, logs_dir: Path) -> None:
    try:
        target.server.stop(keep_log=logs_dir / f"{target.spec.name}-server.log")
    finally:
        target.endpoint.stop()


# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------


def measure_point(
    target: Target, workload: str, concurrency: int, rep: int, args: argparse.Namespace
) -> dict[str, Any]:
    url = target.server.ingress_url
    assert target.endpoint.process is not None
    endpoint_pid, server_pid = target.endpoint.process.pid, target.server.pid
    if args.warmup > 0:
        run_load(args.loadgen, url, workload, concurrency, args.warmup, args.keys)
    target.new_log_lines()  # forget what the warm-up logged
    sdk0, srv0 = tree_cpu_seconds(endpoint_pid), tree_cpu_seconds(server_pid)
    busy0, steal0, total0 = machine_ticks()
    load = run_load(args.loadgen, url, workload, concurrency, args.duration, args.keys)
    sdk1, srv1 = tree_cpu_seconds(endpoint_pid), tree_cpu_seconds(server_pid)
    busy1, steal1, total1 = machine_ticks()
    server_warnings, endpoint_errors = target.new_log_lines()
    requests = int(load["requests"])
    seconds = load["duration_us"] / 1e6
    per_1k = 1000 / requests if requests else float("nan")
    socket_errors = sum(
        int(load[k]) for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    wall = (total1 - total0) / CLOCK_TICKS / (os.cpu_count() or 1)  # ~ elapsed seconds
    return {
        "sdk": target.spec.name,
        "workload": workload,
        "concurrency": concurrency,
        "rep": rep,
        "requests": requests,
        "seconds": seconds,
        "rps": requests / seconds if seconds else 0.0,
        "p50_ms": load["p50_us"] / 1000,
        "p90_ms": load["p90_us"] / 1000,
        "p99_ms": load["p99_us"] / 1000,
        "max_ms": load["max_us"] / 1000,
        "mean_ms": load["mean_us"] / 1000,
        "non_2xx": int(load["status_errors"]),
        "socket_errors": socket_errors,
        "errors": int(load["status_errors"]) + socket_errors,
        "sdk_cpu_s": sdk1 - sdk0,
        "server_cpu_s": srv1 - srv0,
        "loadgen_cpu_s": load["loadgen_cpu_s"],
        "sdk_cpu_s_per_1k": (sdk1 - sdk0) * per_1k,
        "server_cpu_s_per_1k": (srv1 - srv0) * per_1k,
        "loadgen_cpu_s_per_1k": load["loadgen_cpu_s"] * per_1k,
        "machine_busy_cores": (busy1 - busy0) / CLOCK_TICKS / wall if wall > 0 else None,
        "machine_steal_cores": (steal1 - steal0) / CLOCK_TICKS / wall if wall > 0 else None,
        # Busy cores not explained by SDK + server + load generator: other tenants.
        "other_cores": (
            ((busy1 - busy0) / CLOCK_TICKS - (sdk1 - sdk0) - (srv1 - srv0) - load["loadgen_cpu_s"])
            / wall
            if wall > 0
            else None
        ),
        "server_log_warnings": server_warnings,
        "endpoint_log_errors": endpoint_errors,
        "wrk_raw": load,
    }


def plan(args: argparse.Namespace, sdks: Sequence[str]) -> Iterator[tuple[int, str, int, str]]:
    """(rep, workload, concurrency, sdk), SDK order rotating per point."""
    index = 0
    for rep in range(args.reps):
        for workload in args.workloads:
            for concurrency in args.concurrency:
                shift = index % len(sdks)
                for sdk in list(sdks[shift:]) + list(sdks[:shift]):
                    yield rep, workload, concurrency, sdk
                index += 1


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(points: Sequence[dict[str, Any]], sdks: Sequence[str]) -> list[dict[str, Any]]:
    keys = sorted(
        {(p["workload"], p["concurrency"]) for p in points},
        key=lambda k: (WORKLOADS.index(k[0]), k[1]),
    )
    summary: list[dict[str, Any]] = []
    for workload, concurrency in keys:
        rows: dict[str, dict[str, Any]] = {}
        for sdk in sdks:
            mine = [
                p
                for p in points
                if (p["workload"], p["concurrency"], p["sdk"]) == (workload, concurrency, sdk)
            ]
            if not mine:
                continue
            rows[sdk] = {
                "reps": len(mine),
                **{
                    metric: _median([p[metric] for p in mine])
                    for metric in (
                        "rps",
                        "p50_ms",
                        "p99_ms",
                        "sdk_cpu_s_per_1k",
                        "server_cpu_s_per_1k",
                        "loadgen_cpu_s_per_1k",
                    )
                },
                "errors": sum(p["errors"] for p in mine),
                "server_log_warnings": sum(p["server_log_warnings"] for p in mine),
                "endpoint_log_errors": sum(p["endpoint_log_errors"] for p in mine),
            }
        ratios: dict[str, Any] = {}
        if CANDIDATE in rows and BASELINE in rows:
            for metric in ("rps", "sdk_cpu_s_per_1k", "server_cpu_s_per_1k", "p50_ms"):
                paired = []
                for rep in {p["rep"] for p in points}:
                    pair = {
                        p["sdk"]: p[metric]
                        for p in points
                        if (p["workload"], p["concurrency"], p["rep"])
                        == (workload, concurrency, rep)
                    }
                    if CANDIDATE in pair and BASELINE in pair and pair[BASELINE]:
                        paired.append(pair[CANDIDATE] / pair[BASELINE])
                if paired:
                    ratios[metric] = {
                        "median": _median(paired),
                        "min": min(paired),
                        "max": max(paired),
                    }
        others = [
            p["other_cores"]
            for p in points
            if (p["workload"], p["concurrency"]) == (workload, concurrency)
            and p["other_cores"] is not None
        ]
        summary.append(
            {
                "workload": workload,
                "concurrency": concurrency,
                "sdks": rows,
                "ratio_candidate_over_baseline": ratios,
                "other_cores_median": _median(others),
            }
        )
    return summary


def _fmt(value: float, digits: int) -> str:
    return "-" if value != value else f"{value:.{digits}f}"  # NaN -> "-"


def _fmt_ratio(ratio: dict[str, float] | None, reps: int) -> str:
    if not ratio:
        return "-"
    text = f"{ratio['median']:.2f}x"
    if reps > 1:
        text += f" [{ratio['min']:.2f}..{ratio['max']:.2f}]"
    return text


def render(summary: Sequence[dict[str, Any]], args: argparse.Namespace) -> str:
    headers = ["SDK", "req/s", "p50 ms", "p99 ms", "errors", "SDK CPU s/1k", "server CPU s/1k"]
    out: list[str] = []
    for block in summary:
        reps = max((row["reps"] for row in block["sdks"].values()), default=0)
        title = (
            f"workload {block['workload']}, concurrency {block['concurrency']}, "
            f"{args.duration:g} s measured after {args.warmup:g} s warm-up, "
            f"{reps} rep{'s' if reps != 1 else ''}{' (medians)' if reps > 1 else ''}"
        )
        table = [headers]
        for sdk, row in block["sdks"].items():
            table.append(
                [
                    sdk,
                    _fmt(row["rps"], 0),
                    _fmt(row["p50_ms"], 1),
                    _fmt(row["p99_ms"], 1),
                    str(row["errors"]),
                    _fmt(row["sdk_cpu_s_per_1k"], 3),
                    _fmt(row["server_cpu_s_per_1k"], 3),
                ]
            )
        ratios = block["ratio_candidate_over_baseline"]
        if ratios:
            table.append(
                [
                    f"{CANDIDATE} / {BASELINE}",
                    _fmt_ratio(ratios.get("rps"), reps),
                    "",
                    "",
                    "",
                    _fmt_ratio(ratios.get("sdk_cpu_s_per_1k"), reps),
                    _fmt_ratio(ratios.get("server_cpu_s_per_1k"), reps),
                ]
            )
        widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
        out.append(title)
        for i, row in enumerate(table):
            cells = [row[0].ljust(widths[0])] + [
                c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
            ]
            out.append("  ".join(cells).rstrip())
            if i == 0 or (ratios and i == len(table) - 2):
                out.append("  ".join("-" * w for w in widths))
        notes = [
            f"{sdk}: {row['server_log_warnings']} server WARN/ERROR log lines, "
            f"{row['endpoint_log_errors']} endpoint error lines"
            for sdk, row in block["sdks"].items()
            if row["server_log_warnings"] or row["endpoint_log_errors"]
        ]
        other = block["other_cores_median"]
        if other == other and other > 0.3:  # not NaN, and noticeable
            notes.append(
                f"other processes used {other:.1f} of the {os.cpu_count()} cores during these "
                "runs: absolute numbers are depressed and noisy, trust the ratios more"
            )
        out.extend(f"  note: {n}" for n in notes)
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def _csv(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    def parse(text: str) -> list[Any]:
        return [kind(item.strip()) for item in text.split(",") if item.strip()]

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/run.py",
        description="Throughput, latency and CPU per invocation of restate-trio vs the official "
        "Python SDK (restate-sdk), each behind its own local restate-server.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--workloads",
        type=_csv(str),
        default=",".join(WORKLOADS),
        help=f"comma-separated, from: {', '.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--sdks",
        type=_csv(str),
        default=f"{CANDIDATE},{BASELINE}",
        help=f"comma-separated, from: {', '.join(SDKS)}",
    )
    parser.add_argument(
        "--concurrency",
        type=_csv(int),
        default="16",
        help="closed-loop connections; comma-separated list for several points",
    )
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per point")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per point")
    parser.add_argument(
        "--reps", type=int, default=1, help="repetitions (SDKs interleaved per point)"
    )
    parser.add_argument("--keys", type=int, default=1000, help="Counter key pool size")
    parser.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="server partitions (None: the server's own default, 24)",
    )
    parser.add_argument(
        "--loadgen",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="auto = wrk if available (installed with apt-get when root), else python",
    )
    parser.add_argument(
        "--own-server",
        action="store_true",
        help="start restate-server directly instead of via restate_trio.testing.RestateServer",
    )
    parser.add_argument(
        "--no-install", action="store_true", help="never run apt-get to install wrk"
    )
    parser.add_argument(
        "--codecs-only",
        action="store_true",
        help="only the codec micro-benchmark (bench/codecs.py), no servers and no load",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="raw results (JSON); default bench/results/latest.json "
        "(bench/results/codecs.json with --codecs-only)",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = BENCH_DIR / "results" / ("codecs.json" if args.codecs_only else "latest.json")
    for name in args.workloads:
        if name not in WORKLOADS:
            parser.error(f"unknown workload {name!r}")
    for name in args.sdks:
        if name not in SDKS:
            parser.error(f"unknown SDK {name!r}")
    if not args.sdks or not args.workloads or not args.concurrency:
        parser.error("need at least one SDK, workload and concurrency")
    if any(c < 1 or c > 1024 for c in args.concurrency):
        parser.error("concurrency must be within 1..1024")
    if not (1 <= args.duration <= 600 and 0 <= args.warmup <= 600 and 1 <= args.reps <= 50):
        parser.error("duration must be 1..600 s, warmup 0..600 s, reps 1..50")
    if not 1 <= args.keys <= 10_000_000:
        parser.error("keys must be within 1..10,000,000")
    return args


def _versions() -> dict[str, str]:
    versions: dict[str, str] = {"python": platform.python_version()}
    for dist in ("restate-sdk", "hypercorn", "trio", "h2", "httpx"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    with contextlib.suppress(Exception):
        sys.path.insert(0, str(REPO_DIR))
        from restate_trio import __version__

        versions["restate-trio"] = str(__version__)
    return versions


def run_codec_bench() -> tuple[dict[str, Any], str]:
    """bench/codecs.py in this process: (numbers for the JSON, the table)."""
    from bench import codecs as codec_bench

    log("codecs: encode/decode of a typed ~1 KiB payload (bench/codecs.py)")
    report = codec_bench.run(log=log)
    return report.to_json(), codec_bench.render(report)


def codecs_only(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    started = time.time()
    try:
        numbers, table = run_codec_bench()
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    result = {
        "meta": {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "elapsed_s": round(time.time() - started, 1),
            "argv": sys.argv[1:] if argv is None else list(argv),
            "versions": _versions(),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        },
        "codecs": numbers,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table)
    print(f"raw results: {args.out}")
    return 0


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if str(REPO_DIR) not in sys.path:
        sys.path.insert(0, str(REPO_DIR))
    # Ctrl-C, SIGTERM and SIGHUP all end the run through the teardown below
    # (SIGINT is set explicitly: a shell may start background jobs ignoring it).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGHUP, _raise_keyboard_interrupt)
    if args.codecs_only:
        return codecs_only(args, argv)

    if args.loadgen in ("auto", "wrk"):
        wrk = ensure_wrk(allow_install=not args.no_install)
        if wrk is None and args.loadgen == "wrk":
            raise SystemExit("wrk not found (and could not be installed)")
        args.loadgen = wrk or "python"
    loadgen_name = "python (bench/loadgen.py)" if args.loadgen == "python" else "wrk"
    if args.loadgen != "python":
        with contextlib.suppress(Exception):
            loadgen_name = subprocess.run(
                [args.loadgen, "--version"], capture_output=True, text=True, timeout=10
            ).stdout.splitlines()[0]

    failures: dict[str, str] = {}
    sdks: list[str] = []
    for name in args.sdks:
        error = preflight(SDKS[name])
        if error is None:
            sdks.append(name)
        else:
            failures[name] = f"cannot import {SDKS[name].app}: {error}"
            log(f"skipping {name}: {failures[name]}")

    n_points = args.reps * len(args.workloads) * len(args.concurrency) * len(sdks)
    log(
        f"load generator: {loadgen_name}; {n_points} points x "
        f"({args.warmup:g} s warm-up + {args.duration:g} s) "
        f"~ {n_points * (args.warmup + args.duration):.0f} s of load"
    )

    logs_dir = BENCH_DIR / "results" / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    registry = ProcessRegistry()
    targets: dict[str, Target] = {}
    points: list[dict[str, Any]] = []
    started = time.time()
    interrupted = False
    try:
        for name in sdks:
            target = targets[name] = new_target(SDKS[name], registry, logs_dir, args)
            try:
                start_target(target)
                sanity_check(target, args.workloads)
            except BenchError as exc:
                failures[name] = str(exc)
                log(f"{name} failed to start:\n{exc}")
        active = [name for name in sdks if name in targets and name not in failures]
        for rep, workload, concurrency, sdk in plan(args, active):
            if sdk in failures:
                continue
            try:
                point = measure_point(targets[sdk], workload, concurrency, rep, args)
            except BenchError as exc:
                failures[sdk] = str(exc)
                log(f"{sdk} {workload} c={concurrency} failed:\n{exc}")
                continue
            points.append(point)
            log(
                f"rep {rep} {workload:8s} c={concurrency:<3d} {sdk:13s} "
                f"{point['rps']:7.0f} req/s  p50 {point['p50_ms']:6.1f} ms  "
                f"p99 {point['p99_ms']:6.1f} ms  err {point['errors']}  "
                f"SDK {point['sdk_cpu_s_per_1k']:.3f} s/1k  "
                f"server {point['server_cpu_s_per_1k']:.3f} s/1k"
            )
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted; stopping everything")
    finally:
        for name, target in targets.items():
            try:
                stop_target(target, logs_dir)
            except Exception as exc:
                log(f"{name}: teardown error {exc!r}")
        registry.stop_all()

    codec_numbers: dict[str, Any] | None = None
    codec_table = ""
    if not interrupted:
        try:
            codec_numbers, codec_table = run_codec_bench()
        except KeyboardInterrupt:
            interrupted = True
            log("interrupted during the codec benchmark")
        except Exception as exc:
            failures["codecs"] = f"codec benchmark failed: {exc!r}"
            log(failures["codecs"])

    summary = summarize(points, [s for s in SDKS if s in args.sdks])
    result = {
        "meta": {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "elapsed_s": round(time.time() - started, 1),
            "argv": sys.argv[1:] if argv is None else list(argv),
            "settings": {
                "workloads": args.workloads,
                "sdks": args.sdks,
                "concurrency": args.concurrency,
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "reps": args.reps,
                "keys": args.keys,
                "partitions": args.partitions,
            },
            "loadgen": loadgen_name,
            "versions": _versions(),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            "targets": {name: t.info for name, t in targets.items()},
            "failures": failures,
            "interrupted": interrupted,
        },
        "summary": summary,
        "points": points,
    }
    if codec_numbers is not None:
        result["codecs"] = codec_numbers
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(render(summary, args))
    if codec_table:
        print(codec_table)
    for name, message in failures.items():
        print(f"FAILED {name}: {message}\n")
    print(f"raw results: {args.out}   logs: {logs_dir}")
    if interrupted:
        return 130
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
