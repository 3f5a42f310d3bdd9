"""Benchmark restate-trio against the official SDKs through a real restate-server.

Sides (``--sdks``): restate-trio on ``Endpoint.serve()`` (its builtin server) and as an ASGI
app on ``hypercorn -k trio``, the official Python SDK (``restate-sdk`` on Hypercorn, asyncio: the
baseline of every ratio) and the official TypeScript SDK (``@restatedev/restate-sdk`` on node,
pinned in ``bench/ts/``, installed into a cache folder on first use). Optional "floor" sides
(``floor-*``, ``bench/floor_app.py``) answer every workload with restate-trio's bytes, canned, on
a transport alone: what the transport costs without any SDK work. Each side gets its own
endpoint process and its own fresh ``restate-server`` on free 127.0.0.1 ports; the endpoint is
registered and checked with one request per workload. Then the memory point (N invocations
parked on an awakeable: RSS over idle), and every (workload, concurrency) point loaded with a
closed-loop generator (``wrk``, or ``bench/loadgen.py`` when wrk is missing): warm-up, then a
measured run. The sides are interleaved per point (the order rotates), so slow phases of a
shared machine hit all alike, and ratios are paired within a repetition.

Per point: requests/s, p50/p99 latency, errors (non-2xx, socket errors and timeouts), CPU
(utime+stime from /proc/<pid>/stat) of the endpoint's process tree and of the server's, per
request, and the endpoint tree's RSS at the end of the run. Results: one table on stdout, raw
numbers in ``bench/results/latest.json``. Then the codec table (``bench/codecs.py``:
encode/decode of a typed ~1 KiB payload, in this process, after the load is over);
``--codecs-only`` runs just that (numbers in ``bench/results/codecs.json``).

Run from anywhere: ``python bench/run.py`` (see ``--help``), or ``nox -s bench``.
"""

import argparse
import concurrent.futures
import contextlib
import hashlib
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
TS_DIR = BENCH_DIR / "ts"
BASELINE = "restate-sdk"


@dataclass(frozen=True)
class Workload:
    name: str
    path: str  # ingress path; "{key}" is replaced by key-<n>, n uniform in 1..--keys
    body: str  # JSON request body
    expect: Callable[[object], bool]  # checks the answer of the sanity request
    invocations: int  # invocations per request (CPU columns are per request)
    describe: str


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "greet",
            "/Greeter/greet",
            '"bob"',
            lambda v: v == "Hello bob!",
            1,
            'no-op service handler: returns "Hello bob!"',
        ),
        Workload(
            "counter-keys",
            "/Counter/{key}/add",
            "1",
            lambda v: isinstance(v, int) and v >= 1,
            1,
            "virtual object get + set, key uniform among --keys keys",
        ),
        Workload(
            "counter-hot",
            "/Counter/hot/add",
            "1",
            lambda v: isinstance(v, int) and v >= 1,
            1,
            "the same handler on one key (invocations serialized by the server)",
        ),
        Workload(
            "run1",
            "/Runner/run1",
            '"bob"',
            lambda v: v == "Hello bob!",
            1,
            "one ctx.run (async action returning the greeting)",
        ),
        Workload(
            "proxy",
            "/Proxy/greet",
            '"bob"',
            lambda v: v == "Hello bob!",
            2,
            "a service call to Greeter.greet, awaited (2 invocations per request)",
        ),
        Workload(
            "steps10",
            "/Runner/steps10",
            '"bob"',
            lambda v: v == 10,
            1,
            "ten sequential ctx.run (each returns 1), returns their sum",
        ),
    )
}
# Older name of counter-keys (the harness had two workloads: greet and counter).
WORKLOAD_ALIASES = {"counter": "counter-keys"}


@dataclass(frozen=True)
class SdkSpec:
    name: str
    # "hypercorn", "trio-serve" (bench/trio_serve.py), "floor-serve" (bench/floor_serve.py)
    # or "node" (bench/ts)
    kind: str
    app: str  # module to import in the preflight (Python kinds); hypercorn's app path
    worker_class: str  # hypercorn -k; for "trio-serve", Endpoint.serve's server= ("" default)
    describe: str
    # A floor side (bench/floor_app.py): a canned responder on a transport, no SDK work. It
    # answers greet only: its points of other workloads and the memory point are skipped.
    floor: bool = False


SDKS: dict[str, SdkSpec] = {
    spec.name: spec
    for spec in (
        SdkSpec(
            "restate-trio",
            "trio-serve",
            "bench.trio_app:endpoint",
            "",
            "restate-trio, Endpoint.serve(): its builtin server (h2c + HTTP/1.1), the default",
        ),
        SdkSpec(
            "restate-trio-hypercorn",
            "hypercorn",
            "bench.trio_app:app",
            "trio",
            "restate-trio, ASGI app on hypercorn -k trio",
        ),
        SdkSpec(
            BASELINE,
            "hypercorn",
            "bench.official_app:app",
            "asyncio",
            "restate-sdk (official Python SDK) on hypercorn, asyncio worker",
        ),
        SdkSpec(
            "ts-sdk",
            "node",
            "",
            "",
            "@restatedev/restate-sdk (official TypeScript SDK) on node, its HTTP/2 endpoint",
        ),
        SdkSpec(
            "floor-builtin",
            "floor-serve",
            "bench.floor_app:router",
            "",
            "floor: canned answers on restate-trio's builtin server (no SDK work)",
            floor=True,
        ),
        SdkSpec(
            "floor-hypercorn-trio",
            "hypercorn",
            "bench.floor_app:app",
            "trio",
            "floor: canned answers, ASGI on hypercorn -k trio (no SDK work)",
            floor=True,
        ),
        SdkSpec(
            "floor-hypercorn-asyncio",
            "hypercorn",
            "bench.floor_app:app",
            "asyncio",
            "floor: canned answers, ASGI on hypercorn's asyncio worker (no SDK work)",
            floor=True,
        ),
    )
}


DEFAULT_SDKS = ("restate-trio", "restate-trio-hypercorn", BASELINE, "ts-sdk")


def runs(spec: SdkSpec, workload: str) -> bool:
    """Does ``spec`` take part in ``workload``? (Every side answers every workload: the floor
    sides replay scripts recorded per handler, bench/floor_app.py.)"""
    return workload in WORKLOADS


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


def _vm_rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as file:
            for line in file:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])  # "VmRSS:   12345 kB"
    except (OSError, ValueError, IndexError):
        return None
    return 0  # a zombie has no VmRSS line


def tree_rss_mib(root: int) -> float:
    """VmRSS summed over ``root`` and its live descendants, in MiB.

    Pages shared between the processes of a tree (a Hypercorn supervisor and its worker) count
    once per process: the figure is what ``ps`` would add up, an upper bound of the tree's
    footprint, and the same rule for every side."""
    total = 0
    for pid in process_tree(root):
        total += _vm_rss_kib(pid) or 0
    return total / 1024


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
# The TypeScript SDK: installed from npm into a cache folder, once
# ---------------------------------------------------------------------------


def _cache_dir() -> Path:
    with contextlib.suppress(Exception):
        from restate_trio.testing import default_cache_dir

        return Path(default_cache_dir())
    return Path.home() / ".cache" / "restate-trio"


def ensure_ts_sdk() -> Path:
    """The ``node_modules`` folder with bench/ts/package-lock.json installed (``npm ci``).

    The install folder is named after the lock file's hash, so a changed pin gets a fresh
    install; it is built in a temporary folder next to it and renamed into place (a half
    finished install is never used, and two runs at once do not collide)."""
    lock = (TS_DIR / "package-lock.json").read_bytes()
    digest = hashlib.sha256(lock + (TS_DIR / "package.json").read_bytes()).hexdigest()[:12]
    target = _cache_dir() / f"bench-ts-{digest}"
    modules = target / "node_modules"
    if (modules / "@restatedev" / "restate-sdk" / "package.json").is_file():
        return modules
    npm = shutil.which("npm")
    if npm is None:
        raise BenchError("npm not found: it installs the TypeScript SDK (bench/ts)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(TS_DIR / name, staging / name)
        log(f"installing the TypeScript SDK (bench/ts/package-lock.json) into {target} (once)...")
        result = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=staging,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            raise BenchError(
                f"npm ci failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )
        try:
            staging.rename(target)
        except OSError:
            if not modules.is_dir():  # not another run that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return modules


# ---------------------------------------------------------------------------
# SDK endpoint (hypercorn, Endpoint.serve() or node)
# ---------------------------------------------------------------------------


class Endpoint:
    def __init__(self, spec: SdkSpec, registry: ProcessRegistry, log_path: Path) -> None:
        self.spec = spec
        self._registry = registry
        self.log_path = log_path
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.node_modules: Path | None = None

    @property
    def uri(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def command(self, port: int) -> list[str]:
        if self.spec.kind == "node":
            node = shutil.which("node") or "node"
            return [node, str(TS_DIR / "endpoint.cjs"), str(port)]
        if self.spec.kind == "floor-serve":
            return [sys.executable, str(BENCH_DIR / "floor_serve.py"), f"{LOCALHOST}:{port}"]
        if self.spec.kind == "trio-serve":
            server = [self.spec.worker_class] if self.spec.worker_class else []
            return [
                sys.executable,
                str(BENCH_DIR / "trio_serve.py"),
                f"{LOCALHOST}:{port}",
                *server,
            ]
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
        if self.spec.kind == "node":
            if self.node_modules is None:
                self.node_modules = ensure_ts_sdk()
            env["NODE_PATH"] = str(self.node_modules)
            # The SDK logs every invocation at INFO by default: warnings only, as in Python.
            env["RESTATE_LOGGING"] = "WARN"
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
    """Can this side run? The error text, or None.

    Python sides: import the app in a child process. The node side: node is on PATH and the
    pinned SDK is installed (installing it now if needed)."""
    if spec.kind == "node":
        if shutil.which("node") is None:
            return "node not found on PATH"
        try:
            ensure_ts_sdk()
        except (BenchError, OSError, subprocess.SubprocessError) as exc:
            return f"cannot install the TypeScript SDK: {exc}"
        return None
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
        last = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"
        return f"cannot import {spec.app}: {last}"
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
    workload: Workload,
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
            "--path",
            workload.path,
            "--body",
            workload.body,
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
            workload.path,
            workload.body,
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


def _post_json(url: str, body: object, timeout: float = 30.0) -> tuple[int, object]:
    try:
        status, raw = http("POST", url, body, timeout=timeout)
    except OSError as exc:
        return 0, repr(exc)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def sanity_check(target: Target, workloads: Sequence[str]) -> None:
    """One request per workload (and the memory point's counter), checking the answer."""
    checks = [
        (WORKLOADS[name].path.replace("{key}", "sanity-check"), WORKLOADS[name])
        for name in workloads
        if runs(target.spec, name)
    ]
    for path, workload in checks:
        status, value = _post_json(target.server.ingress_url + path, json.loads(workload.body))
        if status != 200 or not workload.expect(value):
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
    spec = WORKLOADS[workload]
    if args.warmup > 0:
        run_load(args.loadgen, url, spec, concurrency, args.warmup, args.keys)
    target.new_log_lines()  # forget what the warm-up logged
    sdk0, srv0 = tree_cpu_seconds(endpoint_pid), tree_cpu_seconds(server_pid)
    busy0, steal0, total0 = machine_ticks()
    load = run_load(args.loadgen, url, spec, concurrency, args.duration, args.keys)
    sdk1, srv1 = tree_cpu_seconds(endpoint_pid), tree_cpu_seconds(server_pid)
    busy1, steal1, total1 = machine_ticks()
    # At the end of the measured run: what the SDK holds at this load (warmed up).
    sdk_rss, server_rss = tree_rss_mib(endpoint_pid), tree_rss_mib(server_pid)
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
        "invocations_per_request": spec.invocations,
        "sdk_rss_mib": sdk_rss,
        "server_rss_mib": server_rss,
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


MEMORY_TIMEOUT = 60.0  # restate-server's inactivity timeout is 60 s: stay below it


def _parallel(function: Callable[[str], Any], items: Sequence[str]) -> list[Any]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(function, items))


def measure_memory(target: Target, count: int) -> dict[str, Any]:
    """RSS of the SDK's process tree with ``count`` invocations parked on an awakeable.

    Idle RSS first (the endpoint has served one request per workload, nothing else: the
    memory point runs before any load, so no high-water mark of a load run hides the cost);
    then ``count`` one-way calls (``POST /Waiter/wait/send``) whose handler creates an
    awakeable, counts itself in and awaits it; once the SDK's own count (``Waiter/waiting``)
    says they are all inside their handlers, RSS again. Then every invocation is cancelled
    through the admin API (``PATCH /invocations/{id}/cancel``: the SDK sees the cancellation,
    the handler's ``finally`` counts it out), and killed (``/kill``) if any is still waiting
    after that; what remains is reported, not waited for."""
    assert target.endpoint.process is not None
    pid, server_pid = target.endpoint.process.pid, target.server.pid
    ingress, admin = target.server.ingress_url, target.server.admin_url

    def waiting() -> int:
        status, value = _post_json(f"{ingress}/Waiter/waiting", None, timeout=10)
        if status != 200 or not isinstance(value, int):
            raise BenchError(f"{target.spec.name}: Waiter/waiting -> HTTP {status} {value!r}")
        return value

    def send(_: str) -> str | None:
        status, value = _post_json(f"{ingress}/Waiter/wait/send", None, timeout=30)
        if status in (200, 202) and isinstance(value, dict):
            return str(value.get("invocationId") or "") or None
        return None

    def admin_patch(action: str) -> Callable[[str], bool]:
        def patch(invocation: str) -> bool:
            with contextlib.suppress(OSError):
                url = f"{admin}/invocations/{invocation}/{action}"
                return 200 <= http("PATCH", url, timeout=30)[0] < 300
            return False

        return patch

    def drain(timeout: float) -> int:
        """Wait until no handler waits, or the count stops falling for 3 s: the count left."""
        left, since, deadline = waiting(), time.monotonic(), time.monotonic() + timeout
        while left > 0 and time.monotonic() < deadline and time.monotonic() - since < 3:
            time.sleep(0.2)
            now = waiting()
            if now < left:
                left, since = now, time.monotonic()
        return left

    if waiting() != 0:
        raise BenchError(f"{target.spec.name}: Waiter invocations in flight before the point")
    idle, server_idle = tree_rss_mib(pid), tree_rss_mib(server_pid)
    started = time.monotonic()
    ids = [i for i in _parallel(send, [""] * count) if i]
    in_flight = waiting()
    while in_flight < len(ids) and time.monotonic() - started < MEMORY_TIMEOUT:
        time.sleep(0.2)
        in_flight = waiting()
    reached = time.monotonic() - started
    loaded, server_loaded = tree_rss_mib(pid), tree_rss_mib(server_pid)
    in_flight_at_sample = in_flight
    cancelled = sum(_parallel(admin_patch("cancel"), ids))
    left = drain(MEMORY_TIMEOUT)
    killed = sum(_parallel(admin_patch("kill"), ids)) if left else 0
    if killed:
        left = drain(MEMORY_TIMEOUT)
    delta = loaded - idle
    return {
        "sdk": target.spec.name,
        "requested": count,
        "accepted": len(ids),
        "in_flight": in_flight_at_sample,
        "seconds_to_in_flight": reached,
        "idle_rss_mib": idle,
        "in_flight_rss_mib": loaded,
        "delta_rss_mib": delta,
        "kib_per_invocation": delta * 1024 / in_flight_at_sample if in_flight_at_sample else None,
        "server_idle_rss_mib": server_idle,
        "server_in_flight_rss_mib": server_loaded,
        "cancelled": cancelled,
        "killed": killed,
        "still_waiting_after_cleanup": left,
        "rss_after_cleanup_mib": tree_rss_mib(pid),
    }


def plan(args: argparse.Namespace, sdks: Sequence[str]) -> Iterator[tuple[int, str, int, str]]:
    """(rep, workload, concurrency, sdk), SDK order rotating per point."""
    index = 0
    for rep in range(args.reps):
        for workload in args.workloads:
            for concurrency in args.concurrency:
                shift = index % len(sdks)
                for sdk in list(sdks[shift:]) + list(sdks[:shift]):
                    if runs(SDKS[sdk], workload):
                        yield rep, workload, concurrency, sdk
                index += 1


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


METRICS = (
    "rps",
    "p50_ms",
    "p99_ms",
    "sdk_cpu_s_per_1k",
    "server_cpu_s_per_1k",
    "loadgen_cpu_s_per_1k",
    "sdk_rss_mib",
)
RATIO_METRICS = (
    "rps",
    "p50_ms",
    "p99_ms",
    "sdk_cpu_s_per_1k",
    "server_cpu_s_per_1k",
    "sdk_rss_mib",
)


def summarize(points: Sequence[dict[str, Any]], sdks: Sequence[str]) -> list[dict[str, Any]]:
    """Per (workload, concurrency): medians per side, and every side's paired ratios.

    A ratio is taken within one repetition (side / restate-sdk, measured minutes apart at
    most) and the median over repetitions is reported with its min and max."""
    order = list(WORKLOADS)
    keys = sorted(
        {(p["workload"], p["concurrency"]) for p in points},
        key=lambda k: (order.index(k[0]), k[1]),
    )
    summary: list[dict[str, Any]] = []
    for workload, concurrency in keys:
        here = [p for p in points if (p["workload"], p["concurrency"]) == (workload, concurrency)]
        rows: dict[str, dict[str, Any]] = {}
        for sdk in sdks:
            mine = [p for p in here if p["sdk"] == sdk]
            if not mine:
                continue
            rows[sdk] = {
                "reps": len(mine),
                **{metric: _median([p[metric] for p in mine]) for metric in METRICS},
                "errors": sum(p["errors"] for p in mine),
                "server_log_warnings": sum(p["server_log_warnings"] for p in mine),
                "endpoint_log_errors": sum(p["endpoint_log_errors"] for p in mine),
            }
        ratios: dict[str, dict[str, Any]] = {}
        if BASELINE in rows:
            for sdk in rows:
                if sdk == BASELINE:
                    continue
                mine: dict[str, Any] = {}
                for metric in RATIO_METRICS:
                    paired = []
                    for rep in sorted({p["rep"] for p in here}):
                        pair = {p["sdk"]: p[metric] for p in here if p["rep"] == rep}
                        if sdk in pair and pair.get(BASELINE):
                            paired.append(pair[sdk] / pair[BASELINE])
                    if paired:
                        mine[metric] = {
                            "median": _median(paired),
                            "min": min(paired),
                            "max": max(paired),
                        }
                ratios[sdk] = mine
        others = [p["other_cores"] for p in here if p["other_cores"] is not None]
        summary.append(
            {
                "workload": workload,
                "concurrency": concurrency,
                "sdks": rows,
                "ratios_over_baseline": ratios,
                "other_cores_median": _median(others),
            }
        )
    return summary


def _fmt(value: float | None, digits: int) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:.{digits}f}"


def _fmt_ratio(ratio: dict[str, float] | None, reps: int) -> str:
    if not ratio:
        return ""
    text = f"{ratio['median']:.2f}x"
    if reps > 1:
        text += f" [{ratio['min']:.2f}..{ratio['max']:.2f}]"
    return text


def _table(
    rows: Sequence[Sequence[str]], text_columns: int, separators: Sequence[int] = ()
) -> list[str]:
    """The first ``text_columns`` left-aligned, the rest right-aligned; a rule after the
    header and before every row index in ``separators``."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out: list[str] = []
    for i, row in enumerate(rows):
        if i in separators:
            out.append("  ".join("-" * w for w in widths))
        cells = [
            cell.ljust(w) if j < text_columns else cell.rjust(w)
            for j, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def render(summary: Sequence[dict[str, Any]], args: argparse.Namespace) -> str:
    reps = max((r["reps"] for b in summary for r in b["sdks"].values()), default=0)
    medians = " (medians; x: median [min..max] of the paired per-rep ratios)" if reps > 1 else ""
    title = (
        f"{args.duration:g} s measured after {args.warmup:g} s warm-up per point, {reps} "
        f"rep{'s' if reps != 1 else ''}{medians}; x = paired ratio over {BASELINE} "
        "(req/s: > 1 is better; latency and CPU: < 1 is better)"
    )
    headers = [
        "workload",
        "c",
        "SDK",
        "req/s",
        "x",
        "p50 ms",
        "x",
        "p99 ms",
        "err",
        "SDK CPU ms/req",
        "x",
        "server CPU ms/req",
        "x",
        "SDK RSS MiB",
    ]
    rows: list[list[str]] = [headers]
    separators: list[int] = []
    notes: list[str] = []
    for block in summary:
        separators.append(len(rows))
        ratios = block["ratios_over_baseline"]
        for sdk, row in block["sdks"].items():
            ratio = ratios.get(sdk, {})
            rows.append(
                [
                    block["workload"],
                    str(block["concurrency"]),
                    sdk,
                    _fmt(row["rps"], 0),
                    _fmt_ratio(ratio.get("rps"), reps),
                    _fmt(row["p50_ms"], 1),
                    _fmt_ratio(ratio.get("p50_ms"), reps),
                    _fmt(row["p99_ms"], 1),
                    str(row["errors"]),
                    _fmt(row["sdk_cpu_s_per_1k"], 2),
                    _fmt_ratio(ratio.get("sdk_cpu_s_per_1k"), reps),
                    _fmt(row["server_cpu_s_per_1k"], 2),
                    _fmt_ratio(ratio.get("server_cpu_s_per_1k"), reps),
                    _fmt(row["sdk_rss_mib"], 1),
                ]
            )
            if row["server_log_warnings"] or row["endpoint_log_errors"]:
                notes.append(
                    f"{block['workload']} c={block['concurrency']} {sdk}: "
                    f"{row['server_log_warnings']} server WARN/ERROR log lines, "
                    f"{row['endpoint_log_errors']} endpoint error lines"
                )
        other = block["other_cores_median"]
        if other == other and other > 0.3:  # not NaN, and noticeable
            notes.append(
                f"{block['workload']} c={block['concurrency']}: other processes used "
                f"{other:.1f} of the {os.cpu_count()} cores: absolute numbers are depressed "
                "and noisy, trust the ratios more"
            )
    out = [title, *_table(rows, 3, separators[1:])]
    out.append(
        "CPU columns are per request (proxy = 2 invocations); SDK CPU and RSS cover the "
        "endpoint's whole process tree; RSS is sampled at the end of the measured run."
    )
    out.extend(f"  note: {n}" for n in notes)
    out.append("")
    return "\n".join(out)


def render_memory(memory: Sequence[dict[str, Any]]) -> str:
    if not memory:
        return ""
    count = max(m["requested"] for m in memory)
    base = next((m for m in memory if m["sdk"] == BASELINE), None)
    rows = [
        [
            "SDK",
            "in flight",
            "idle RSS MiB",
            "in-flight RSS MiB",
            "over idle MiB",
            "KiB / invocation",
            f"x {BASELINE}",
            "after cancel MiB",
        ]
    ]
    for m in memory:
        ratio = ""
        if base is not None and m is not base and base["delta_rss_mib"] > 0:
            ratio = f"{m['delta_rss_mib'] / base['delta_rss_mib']:.2f}x"
        rows.append(
            [
                m["sdk"],
                f"{m['in_flight']}/{m['requested']}",
                _fmt(m["idle_rss_mib"], 1),
                _fmt(m["in_flight_rss_mib"], 1),
                _fmt(m["delta_rss_mib"], 1),
                _fmt(m["kib_per_invocation"], 1),
                ratio,
                _fmt(m["rss_after_cleanup_mib"], 1),
            ]
        )
    out = [
        f"memory: {count} in-flight invocations, each awaiting an awakeable "
        "(POST /Waiter/wait/send), before any load; RSS of the SDK's process tree",
        *_table(rows, 1),
    ]
    for m in memory:
        if m["in_flight"] < m["requested"]:
            out.append(
                f"  note: {m['sdk']}: only {m['in_flight']} of {m['requested']} were inside "
                f"their handler after {m['seconds_to_in_flight']:.0f} s "
                f"({m['accepted']} accepted by the ingress): the per-invocation figure uses "
                "the number in flight"
            )
        if m["still_waiting_after_cleanup"]:
            out.append(
                f"  note: {m['sdk']}: {m['still_waiting_after_cleanup']} handlers never left "
                f"their wait (no finally ran) after {m['cancelled']} cancels and {m['killed']} "
                "kills: the SDK dropped them without resuming them"
            )
    out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def _csv(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    def parse(text: str) -> list[Any]:
        return [kind(item.strip()) for item in text.split(",") if item.strip()]

    return parse


# (concurrency, reps, warm-up s, measured s): the default fits ~15 minutes on 2 cores with
# all four sides; --full is performance.md's method (2 s + 8 s per point, ~40 minutes).
PRESETS: dict[str, tuple[list[int], int, float, float]] = {
    "default": ([1, 16, 64], 3, 1.0, 3.0),
    "quick": ([16], 1, 1.0, 2.0),
    "full": ([1, 16, 64], 3, 2.0, 8.0),
}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except None ones (the help text says what a preset fills in)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/run.py",
        description="Throughput, latency, CPU per invocation and RSS of restate-trio (two "
        "transports), the official Python SDK (restate-sdk, the baseline of every ratio) and the "
        "official TypeScript SDK, each behind its own local restate-server.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--workloads",
        type=_csv(str),
        default=",".join(WORKLOADS),
        help=f"comma-separated, from: {', '.join(WORKLOADS)} "
        f"({', '.join(f'{a} = {b}' for a, b in WORKLOAD_ALIASES.items())})",
    )
    parser.add_argument(
        "--sdks",
        type=_csv(str),
        default=",".join(DEFAULT_SDKS),
        help=f"comma-separated sides, from: {', '.join(SDKS)}. The floor-* sides (not in "
        "the default) answer every workload with restate-trio's bytes, canned, on a transport "
        "alone (builtin server, hypercorn trio, hypercorn asyncio): the transport's own cost, "
        "without SDK work; they have no memory point (a note says so)",
    )
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: c=16, 1 rep, 1 s warm-up + 2 s per point",
    )
    preset.add_argument(
        "--full",
        action="store_true",
        help="performance.md's method: c=1,16,64, 3 reps, 2 s warm-up + 8 s per point",
    )
    parser.add_argument(
        "--concurrency",
        type=_csv(int),
        default=None,
        help="closed-loop connections, comma-separated (default 1,16,64; --quick 16)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="measured seconds per point (default 3; --quick 2, --full 8)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="warm-up seconds per point (default 1; --full 2)",
    )
    parser.add_argument(
        "--reps",
        type=int,
        default=None,
        help="repetitions, sides interleaved per point (default 3; --quick 1)",
    )
    parser.add_argument(
        "--memory",
        type=int,
        default=1000,
        help="in-flight invocations of the memory point (0: skip it)",
    )
    parser.add_argument(
        "--memory-only", action="store_true", help="only the memory point, no load runs"
    )
    parser.add_argument(
        "--keys", type=int, default=100_000, help="key pool of counter-keys (key-1..key-N)"
    )
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
        "--no-codecs", action="store_true", help="skip the codec table after the load runs"
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
    args.preset = "quick" if args.quick else "full" if args.full else "default"
    concurrency, reps, warmup, duration = PRESETS[args.preset]
    args.concurrency = concurrency if args.concurrency is None else args.concurrency
    args.reps = reps if args.reps is None else args.reps
    args.warmup = warmup if args.warmup is None else args.warmup
    args.duration = duration if args.duration is None else args.duration
    if args.out is None:
        args.out = BENCH_DIR / "results" / ("codecs.json" if args.codecs_only else "latest.json")
    args.workloads = [WORKLOAD_ALIASES.get(name, name) for name in args.workloads]
    args.workloads = list(dict.fromkeys(args.workloads))  # drop repeats, keep the order
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
    if not 0 <= args.memory <= 10_000:
        parser.error("memory must be within 0..10,000 invocations")
    if args.memory_only and args.memory == 0:
        parser.error("--memory-only needs --memory > 0")
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
    node = shutil.which("node")
    if node is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            versions["node"] = subprocess.run(
                [node, "--version"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
    with contextlib.suppress(OSError, ValueError, KeyError):
        lock = json.loads((TS_DIR / "package-lock.json").read_text())
        sdk = lock["packages"]["node_modules/@restatedev/restate-sdk"]["version"]
        versions["@restatedev/restate-sdk"] = str(sdk)
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
            failures[name] = error
            log(f"skipping {name}: {failures[name]}")

    floors = [name for name in sdks if SDKS[name].floor]
    if floors and args.memory:
        log(f"note: floor sides ({', '.join(floors)}) have no Waiter: no memory point for them")
    n_points = 0 if args.memory_only else sum(1 for _ in plan(args, sdks))
    log(
        f"load generator: {loadgen_name}; {n_points} points x "
        f"({args.warmup:g} s warm-up + {args.duration:g} s) "
        f"~ {n_points * (args.warmup + args.duration + 0.3) / 60:.1f} min of load"
        + (f", plus the memory point ({args.memory} invocations per side)" if args.memory else "")
    )

    logs_dir = BENCH_DIR / "results" / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    registry = ProcessRegistry()
    targets: dict[str, Target] = {}
    points: list[dict[str, Any]] = []
    memory: list[dict[str, Any]] = []
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
        for name in [n for n in active if not SDKS[n].floor] if args.memory else []:
            try:
                point = measure_memory(targets[name], args.memory)
            except BenchError as exc:
                failures[name] = str(exc)
                log(f"{name} memory point failed:\n{exc}")
                continue
            memory.append(point)
            log(
                f"memory {name:23s} {point['in_flight']}/{point['requested']} in flight: "
                f"{point['idle_rss_mib']:.1f} -> {point['in_flight_rss_mib']:.1f} MiB "
                f"({_fmt(point['kib_per_invocation'], 1)} KiB each)"
            )
        for rep, workload, concurrency, sdk in [] if args.memory_only else plan(args, active):
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
                f"rep {rep} {workload:12s} c={concurrency:<3d} {sdk:23s} "
                f"{point['rps']:7.0f} req/s  p50 {point['p50_ms']:6.1f} ms  "
                f"p99 {point['p99_ms']:6.1f} ms  err {point['errors']}  "
                f"SDK {point['sdk_cpu_s_per_1k']:.2f} ms  "
                f"server {point['server_cpu_s_per_1k']:.2f} ms  "
                f"RSS {point['sdk_rss_mib']:.0f} MiB"
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
    if not interrupted and not args.no_codecs and not args.memory_only:
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
                "preset": args.preset,
                "memory_invocations": args.memory,
                "keys": args.keys,
                "partitions": args.partitions,
            },
            "loadgen": loadgen_name,
            "versions": _versions(),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            "sides": {name: SDKS[name].describe for name in args.sdks},
            "baseline": BASELINE,
            "targets": {name: t.info for name, t in targets.items()},
            "failures": failures,
            "interrupted": interrupted,
        },
        "summary": summary,
        "points": points,
        "memory": memory,
    }
    if codec_numbers is not None:
        result["codecs"] = codec_numbers
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if summary:
        print(render(summary, args))
    if memory:
        print(render_memory(memory))
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
