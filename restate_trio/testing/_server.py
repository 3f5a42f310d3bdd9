"""The server process: :class:`RestateServer` starts a real ``restate-server`` on free localhost
ports, waits until it is healthy, and talks to its ingress, admin API and SQL introspection."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Self, TypeVar, cast
from urllib.parse import unquote, urlsplit

import orjson
import trio

from ._errors import (
    HarnessError,
    HarnessTimeoutError,
    InvocationTimeoutError,
    RegistrationError,
    ServerStartError,
)
from ._http import (
    HttpResponse,
    IngressResponse,
    encode_body,
    request,
    sync_client,
    sync_get,
    sync_query_ok,
)
from ._install import find_restate_server
from ._process import LOCALHOST, free_ports, make_finalizer, terminate

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection, Mapping
    from datetime import timedelta
    from types import TracebackType

    import httpx

    from ._process import Finalizer


# Server configuration, as environment variables (confirmed with
# ``restate-server --dump-config``; ``__`` separates nested config sections).
_ENV_INGRESS_PORT = "RESTATE_INGRESS__BIND_PORT"
_ENV_ADMIN_PORT = "RESTATE_ADMIN__BIND_PORT"
_ENV_NODE_PORT = "RESTATE_BIND_PORT"
_ENV_BIND_IP = "RESTATE_BIND_IP"
_ENV_LISTEN_MODE = "RESTATE_LISTEN_MODE"
_ENV_DISABLE_TELEMETRY = "RESTATE_DISABLE_TELEMETRY"
_ENV_NO_ANSI = "RESTATE_LOG_DISABLE_ANSI_CODES"
_ENV_DISABLE_WEB_UI = "RESTATE_ADMIN__DISABLE_WEB_UI"
_ENV_NUM_PARTITIONS = "RESTATE_DEFAULT_NUM_PARTITIONS"
_ENV_PROTOCOL_V7 = "RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7"
_ENV_SIGNING_KEY_FILE = "RESTATE_WORKER__INVOKER__REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE"
_ENV_INACTIVITY_TIMEOUT = "RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT"
_ENV_ABORT_TIMEOUT = "RESTATE_WORKER__INVOKER__ABORT_TIMEOUT"

_START_ATTEMPTS = 5
_POLL_INTERVAL = 0.05
# Answered once the partition processors run (see _probe): the tables users query first.
_READY_QUERY = "SELECT COUNT(*) FROM state"
_DEFAULT_TIMEOUT = 30.0
_ADDRESS_IN_USE = re.compile(r"address (already )?in use|os error 98|os error 48", re.IGNORECASE)
_T = TypeVar("_T")
_INVOCATION_ID = re.compile(r"^inv_[0-9A-Za-z]+$")
# How long a timed-out ingress call may spend asking the server why.
_DIAGNOSIS_TIMEOUT = 5.0


def generate_signing_key() -> tuple[bytes, str]:
    """Create a fresh Ed25519 request-signing key pair.

    Returns ``(private_key_pem, public_key)``: the PKCS#8 PEM to hand to
    ``RestateServer(signing_key_pem=...)`` and the ``publickeyv1_...`` string
    an endpoint accepts as an identity key.
    """
    from .._protocol import identity

    return identity.generate_signing_key()


def _duration(value: timedelta) -> str:
    # Zero is meaningful: an inactivity timeout of 0 makes every await suspend.
    milliseconds = round(value.total_seconds() * 1000)
    if milliseconds < 0:
        raise ValueError(f"duration must not be negative, got {value!r}")
    return f"{milliseconds}ms"


def _sql_text(value: str) -> str:
    """``value`` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _invocation_condition(path: str) -> str | None:
    """The ``sys_invocation`` condition matching what an ingress path invokes or attaches to."""
    parts = [unquote(part) for part in urlsplit(path).path.strip("/").split("/")]
    if parts and parts[-1] == "send":
        parts.pop()
    if len(parts) == 4 and parts[:2] == ["restate", "invocation"]:
        return f"id = {_sql_text(parts[2])}" if _INVOCATION_ID.match(parts[2]) else None
    if parts[:1] == ["restate"] or len(parts) not in (2, 3):
        return None
    service, handler = parts[0], parts[-1]
    condition = (
        f"target_service_name = {_sql_text(service)} AND target_handler_name = {_sql_text(handler)}"
    )
    if len(parts) == 3:
        condition += f" AND target_service_key = {_sql_text(parts[1])}"
    return condition


def _state_value(value: object) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return orjson.dumps(value)


class RestateServer:
    """A real ``restate-server`` process, for tests.

    Each server gets a fresh temporary base folder and free localhost ports
    picked when it starts (and picked again if another process grabs one
    first). It is single-node, with telemetry and (unless ``web_ui``) the web
    UI disabled, and listens on TCP only.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with RestateServer(enable_protocol_v7=True) as server:
            ...

    Args:
        binary: the server executable; default :func:`find_restate_server`.
        env: extra server configuration as environment variables (for example
            ``{"RESTATE_DEFAULT_RETRY_POLICY__INITIAL_INTERVAL": "100ms"}``).
            ``RESTATE_*`` variables of the calling process are *not*
            inherited, so the server only sees what is configured here.
        enable_protocol_v7: set ``experimental-enable-protocol-v7`` so the
            server negotiates service protocol V7.
        signing_key_pem: an Ed25519 PKCS#8 private key (see
            :func:`generate_signing_key`); the server then signs every request
            it sends to deployments.
        inactivity_timeout: ``worker.invoker.inactivity-timeout``
            (``RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT``): how long the
            server lets an invocation stream sit idle before it closes its side
            to ask the deployment to suspend. Short values make suspension
            tests fast.
        abort_timeout: ``worker.invoker.abort-timeout``
            (``RESTATE_WORKER__INVOKER__ABORT_TIMEOUT``): how long after that
            the server waits before aborting the request if the deployment has
            not suspended or finished.
        num_partitions: partitions provisioned at first start (the server's
            default is 24; a few are plenty for tests and start faster).
        startup_timeout: seconds :meth:`start` waits for the server to become
            healthy, across retries.
        shutdown_grace: seconds between SIGTERM and SIGKILL in :meth:`stop`.
        request_timeout: bound, in seconds, on every async helper call
            (:meth:`register`, :meth:`ingress`, ...); also available as the
            mutable attribute :attr:`request_timeout`. Use
            :func:`trio.fail_after` around a call for a shorter bound.
        node_name: the ``--node-name`` of the server.
        keep_base_dir: leave the base folder (data and log) behind on
            :meth:`stop`, for debugging.
        ingress_port: a fixed ingress port instead of a free one picked at
            start; with any fixed port, a port in use fails :meth:`start`
            (``ServerStartError``) instead of being retried on other ports.
        admin_port: a fixed admin API (and web UI) port.
        node_port: a fixed node-to-node port.
        web_ui: serve the Restate web UI on the admin port (under ``/ui/``).
        base_dir: a persistent base folder (created if missing) instead of a
            temporary one; it is kept on :meth:`stop`, so the server's data
            survives into the next server started on it. Use the same
            ``node_name`` every time.
    """

    def __init__(
        self,
        *,
        binary: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        enable_protocol_v7: bool = False,
        signing_key_pem: bytes | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        num_partitions: int | None = 4,
        startup_timeout: float = _DEFAULT_TIMEOUT,
        shutdown_grace: float = 10.0,
        request_timeout: float = _DEFAULT_TIMEOUT,
        node_name: str = "restate-trio-test",
        keep_base_dir: bool = False,
        ingress_port: int | None = None,
        admin_port: int | None = None,
        node_port: int | None = None,
        web_ui: bool = False,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._binary = Path(binary) if binary is not None else None
        self._config_env: dict[str, str] = {}
        if num_partitions is not None:
            if num_partitions < 1:
                raise ValueError("num_partitions must be at least 1")
            self._config_env[_ENV_NUM_PARTITIONS] = str(num_partitions)
        if enable_protocol_v7:
            self._config_env[_ENV_PROTOCOL_V7] = "true"
        if inactivity_timeout is not None:
            self._config_env[_ENV_INACTIVITY_TIMEOUT] = _duration(inactivity_timeout)
        if abort_timeout is not None:
            self._config_env[_ENV_ABORT_TIMEOUT] = _duration(abort_timeout)
        self._config_env.update(env or {})
        self._signing_key_pem = signing_key_pem
        self._startup_timeout = startup_timeout
        self._shutdown_grace = shutdown_grace
        self.request_timeout = request_timeout
        """Bound, in seconds, on each async helper call."""
        self._node_name = node_name
        self._fixed_ports = (ingress_port, admin_port, node_port)
        self._web_ui = web_ui
        self._persistent_dir = Path(base_dir).expanduser() if base_dir is not None else None
        # A folder the user gave is theirs: never removed.
        self._keep_base_dir = keep_base_dir or base_dir is not None
        self._base_dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._ports: tuple[int, int, int] | None = None
        self._finalizer: Finalizer | None = None
        self._log_offset = 0

    # -- attributes ---------------------------------------------------------

    def _require_started(self) -> tuple[int, int, int]:
        if self._ports is None:
            raise RuntimeError("the restate server has not been started")
        return self._ports

    @property
    def ingress_url(self) -> str:
        """Base URL of the ingress, e.g. ``http://127.0.0.1:43117`` (no slash)."""
        return f"http://{LOCALHOST}:{self._require_started()[0]}"

    @property
    def admin_url(self) -> str:
        """Base URL of the admin API (no trailing slash)."""
        return f"http://{LOCALHOST}:{self._require_started()[1]}"

    @property
    def ui_url(self) -> str:
        """URL of the Restate web UI (served only with ``web_ui=True``)."""
        return f"{self.admin_url}/ui/"

    @property
    def node_port(self) -> int:
        """The node-to-node (message fabric) port."""
        return self._require_started()[2]

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The server process."""
        if self._process is None:
            raise RuntimeError("the restate server has not been started")
        return self._process

    @property
    def base_dir(self) -> Path:
        """The temporary folder holding the server data, log and key file."""
        if self._base_dir is None:
            raise RuntimeError("the restate server has not been started")
        return self._base_dir

    @property
    def log_path(self) -> Path:
        """File receiving the server's stdout and stderr."""
        return self.base_dir / "restate-server.log"

    @property
    def is_running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def read_log(self) -> str:
        """The whole server log so far (empty if there is none)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except (OSError, RuntimeError):
            return ""

    def log_tail(self, lines: int = 100) -> str:
        """The last ``lines`` lines of the server log."""
        try:
            with self.log_path.open("rb") as file:
                size = file.seek(0, os.SEEK_END)
                file.seek(max(0, size - 256 * 1024))
                data = file.read()
        except (OSError, RuntimeError):
            return ""
        text = data.decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def __repr__(self) -> str:
        if self._ports is None:
            return "<RestateServer (not started)>"
        return (
            f"<RestateServer pid={self.process.pid} ingress={self.ingress_url} "
            f"admin={self.admin_url} running={self.is_running}>"
        )

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> Self:
        """Start the server and block until it is healthy.

        Ports are picked at run time; if the server fails to bind one of them
        (another process took it in between), it is restarted on new ports.

        Raises:
            ServerStartError: the server exited or did not become healthy in
                ``startup_timeout`` seconds.
            RestateServerNotFoundError: no binary.
        """
        if self._ports is not None:
            raise RuntimeError("the restate server is already started")
        binary = self._binary if self._binary is not None else find_restate_server()
        if self._persistent_dir is not None:
            self._persistent_dir.mkdir(parents=True, exist_ok=True)
            self._base_dir = self._persistent_dir
        else:
            self._base_dir = Path(tempfile.mkdtemp(prefix="restate-trio-"))
        fixed = any(port is not None for port in self._fixed_ports)
        if self._signing_key_pem is not None:
            key_file = self._base_dir / "request-identity-key.pem"
            key_file.write_bytes(self._signing_key_pem)
            key_file.chmod(0o600)
            self._config_env[_ENV_SIGNING_KEY_FILE] = str(key_file)
        deadline = time.monotonic() + self._startup_timeout
        try:
            for attempt in range(1, _START_ATTEMPTS + 1):
                picked = iter(free_ports(3))
                ingress, admin, node = (
                    port if port is not None else next(picked) for port in self._fixed_ports
                )
                self._ports = (ingress, admin, node)
                self._spawn(binary)
                if self._wait_healthy(deadline):
                    break
                # The process died while binding a port someone else holds.
                terminate(self.process, self._shutdown_grace)
                if fixed:
                    raise ServerStartError(
                        f"restate-server could not bind its ports (ingress {ingress}, admin "
                        f"{admin}, node {node}): one is in use; log tail:\n{self.log_tail()}"
                    )
                if attempt == _START_ATTEMPTS:
                    raise ServerStartError(
                        f"restate-server could not bind free ports after {attempt} attempts; "
                        f"log tail:\n{self.log_tail()}"
                    )
                # Start over with an empty data folder (a fresh, temporary one).
                if self._persistent_dir is None:
                    shutil.rmtree(self._data_dir, ignore_errors=True)
        except BaseException:
            if self._process is not None:
                terminate(self._process, self._shutdown_grace)
            self._ports = None
            if not self._keep_base_dir:
                shutil.rmtree(self._base_dir, ignore_errors=True)
            self._process = None
            raise
        self._arm_finalizer()
        return self

    def _arm_finalizer(self) -> None:
        """Make sure the process is stopped even if :meth:`stop` never is."""
        if self._finalizer is not None:
            self._finalizer.detach()
        self._finalizer = make_finalizer(
            self,
            self.process,
            None if self._keep_base_dir else self.base_dir,
            self._shutdown_grace,
        )

    @property
    def _data_dir(self) -> Path:
        return self.base_dir / "data"

    def _server_env(self) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if not name.startswith("RESTATE_")}
        if self._ports is not None:
            ingress, admin, node = self._ports
            env.update(
                {
                    _ENV_INGRESS_PORT: str(ingress),
                    _ENV_ADMIN_PORT: str(admin),
                    _ENV_NODE_PORT: str(node),
                }
            )
        env.update(
            {
                _ENV_BIND_IP: LOCALHOST,
                _ENV_LISTEN_MODE: "tcp",
                _ENV_DISABLE_TELEMETRY: "true",
                _ENV_NO_ANSI: "true",
                _ENV_DISABLE_WEB_UI: "false" if self._web_ui else "true",
            }
        )
        if self._base_dir is not None:
            # The server makes scratch folders (``invoker-*``) in TMPDIR and leaves them
            # there; inside the base folder they go when it does.
            scratch = self._base_dir / "tmp"
            scratch.mkdir(exist_ok=True)
            env["TMPDIR"] = str(scratch)
        env.update(self._config_env)
        return env

    def dump_config(self) -> str:
        """The effective server configuration (``restate-server --dump-config``)
        for this server's settings, as TOML. Handy to check an ``env`` override.
        """
        binary = self._binary if self._binary is not None else find_restate_server()
        result = subprocess.run(
            [str(binary), "--dump-config"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=self._server_env(),
            timeout=self._startup_timeout,
            check=False,
        )
        if result.returncode != 0:
            raise HarnessError(
                f"restate-server --dump-config failed (exit {result.returncode}): "
                + result.stderr.decode("utf-8", errors="replace")
            )
        return result.stdout.decode("utf-8", errors="replace")

    def _spawn(self, binary: Path) -> None:
        command = [
            str(binary),
            "--base-dir",
            str(self._data_dir),
            "--node-name",
            self._node_name,
            "--no-logo",
        ]
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._server_env(),
                cwd=self.base_dir,
            )

    def _wait_healthy(self, deadline: float) -> bool:
        """Poll until healthy: True; False if it died of a port clash."""
        process = self.process
        ingress_port = self._require_started()[0]
        with sync_client() as client:
            return self._poll_until_healthy(client, process, ingress_port, deadline)

    def _poll_until_healthy(
        self,
        client: httpx.Client,
        process: subprocess.Popen[bytes],
        ingress_port: int,
        deadline: float,
    ) -> bool:
        while True:
            if process.poll() is not None:
                if _ADDRESS_IN_USE.search(self._log_since_spawn()):
                    return False
                raise ServerStartError(
                    f"restate-server exited with code {process.returncode} during startup; "
                    f"log tail:\n{self.log_tail()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServerStartError(
                    f"restate-server did not become healthy within {self._startup_timeout} s; "
                    f"log tail:\n{self.log_tail()}"
                )
            if self._probe(client, ingress_port, min(remaining, 1.0)):
                # A foreign server on our admin port would also answer; check
                # the process is still ours and alive.
                if process.poll() is None:
                    return True
                continue
            time.sleep(min(_POLL_INTERVAL, max(0.0, deadline - time.monotonic())))

    def _log_since_spawn(self) -> str:
        try:
            with self.log_path.open("rb") as file:
                file.seek(self._log_offset)
                return file.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def _probe(self, client: httpx.Client, ingress_port: int, timeout: float) -> bool:
        health = sync_get(client, f"{self.admin_url}/health", timeout)
        if health is None or health.status != 200:
            return False
        version = sync_get(client, f"{self.admin_url}/version", timeout)
        if version is None or version.status != 200:
            return False
        # The admin API reports its ingress address; anything but ours means
        # another server owns this admin port.
        try:
            info = version.json()
            endpoint = (
                cast("dict[str, object]", info).get("ingress_endpoint")
                if isinstance(info, dict)
                else None
            )
            if not isinstance(endpoint, str) or urlsplit(endpoint).port != ingress_port:
                return False
        except ValueError:  # not JSON, or not a port
            return False
        ingress = sync_get(client, f"{self.ingress_url}/restate/health", timeout)
        if ingress is None or ingress.status != 200:
            return False
        # Healthy endpoints come before the partition processors: until they run, SQL over
        # the state and invocation tables fails ("partition 0 doesn't exist on this node").
        return sync_query_ok(client, f"{self.admin_url}/query", _READY_QUERY, timeout)

    def stop(self) -> None:
        """Stop the server (SIGTERM, SIGKILL after the grace period) and
        remove its base folder. Safe to call more than once."""
        self._ports = None
        if self._process is None:
            return
        terminate(self._process, self._shutdown_grace)
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None

    def restart(self, *, kill: bool = False) -> None:
        """Stop the process and start it again on the same ports and data.

        With ``kill=True`` the process gets SIGKILL (a crash) instead of a
        graceful shutdown. Durable state survives either way.
        """
        process = self.process
        binary = self._binary if self._binary is not None else find_restate_server()
        terminate(process, self._shutdown_grace, kill=kill)
        self._spawn(binary)
        try:
            healthy = self._wait_healthy(time.monotonic() + self._startup_timeout)
        except BaseException:
            terminate(self.process, self._shutdown_grace)
            raise
        finally:
            self._arm_finalizer()
        if not healthy:
            raise ServerStartError(
                "restate-server could not bind its ports again on restart; log tail:\n"
                + self.log_tail()
            )

    def __enter__(self) -> Self:
        if self._process is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- async HTTP helpers -------------------------------------------------
    #
    # Each call is bounded by ``self.request_timeout`` seconds; wrap it in
    # ``trio.fail_after`` / ``trio.move_on_after`` for a tighter bound.

    async def register(
        self, uri: str, *, use_http_11: bool = False, force: bool = True
    ) -> Mapping[str, object]:
        """Register the deployment at ``uri`` (``POST /deployments``).

        Returns the decoded response (deployment ``id``, ``services``, ...).

        Raises:
            RegistrationError: a non-2xx answer; the server's message (for
                example a discovery error) is included.
            HarnessTimeoutError: no answer within :attr:`request_timeout`.
        """
        payload = {"uri": uri, "use_http_11": use_http_11, "force": force}
        response = await self.admin_request("POST", "/deployments", payload)
        if not response.ok:
            raise RegistrationError(uri, response.status, response.text)
        try:
            decoded = response.json()
        except orjson.JSONDecodeError:
            decoded = None
        if not isinstance(decoded, dict):
            raise RegistrationError(uri, response.status, f"unexpected answer: {response.text}")
        return cast("dict[str, object]", decoded)

    async def ingress(
        self,
        path: str,
        body: object = b"",
        *,
        headers: Mapping[str, str] | None = None,
        method: str = "POST",
    ) -> IngressResponse:
        """Send a request to the ingress, e.g. ``ingress("/Greeter/greet", "Ada")``.

        ``body`` is sent as is when it is ``bytes`` or ``bytearray`` (the
        default, empty, sends no body); any other value is encoded as JSON
        with ``content-type: application/json`` (so ``None`` sends ``null``).
        Non-2xx answers are returned, not raised.

        Raises:
            HarnessTimeoutError: no answer within :attr:`request_timeout`
                (an :class:`InvocationTimeoutError`, with the invocation's
                status and ``last_failure``, when the server has an unfinished
                invocation for ``path``).
        """
        try:
            response = await self._call(self.ingress_url, method, path, body, headers)
        except HarnessTimeoutError as exc:
            # Say why, if the server knows: the invocation's status and last failure.
            row = await self._stuck_invocation(path)
            if row is None:
                raise
            raise InvocationTimeoutError(str(exc), row) from exc
        return IngressResponse(status=response.status, headers=response.headers, body=response.body)

    async def admin_request(
        self,
        method: str,
        path: str,
        body: object = b"",
        *,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """Call the admin API; ``body`` is handled as in :meth:`ingress`.

        Non-2xx answers are returned, not raised.
        """
        return await self._call(self.admin_url, method, path, body, headers)

    async def admin_get(self, path: str) -> HttpResponse:
        """``GET`` on the admin API, e.g. ``admin_get("/deployments")``."""
        return await self.admin_request("GET", path)

    async def admin_post(self, path: str, body: object = b"") -> HttpResponse:
        """``POST`` on the admin API."""
        return await self.admin_request("POST", path, body)

    async def admin_patch(self, path: str, body: object = b"") -> HttpResponse:
        """``PATCH`` on the admin API, e.g. ``/invocations/{id}/kill`` or
        service settings."""
        return await self.admin_request("PATCH", path, body)

    async def admin_delete(self, path: str) -> HttpResponse:
        """``DELETE`` on the admin API."""
        return await self.admin_request("DELETE", path)

    async def query(self, sql: str) -> list[Mapping[str, object]]:
        """Run an SQL introspection query (``POST /query``) and return its rows.

        Raises:
            HarnessError: the server rejected the query.
        """
        response = await self.admin_request(
            "POST", "/query", {"query": sql}, headers={"accept": "application/json"}
        )
        if not response.ok:
            raise HarnessError(f"query {sql!r} failed with HTTP {response.status}: {response.text}")
        decoded = response.json()
        rows = cast("dict[str, object]", decoded).get("rows") if isinstance(decoded, dict) else None
        if not isinstance(rows, list):
            raise HarnessError(f"unexpected answer to query {sql!r}: {response.text}")
        return [cast("dict[str, object]", row) for row in cast("list[object]", rows)]

    async def invocation_status(self, invocation_id: str) -> Mapping[str, object] | None:
        """The ``sys_invocation`` row of an invocation, or ``None`` if unknown.

        Interesting columns: ``status`` (``pending``, ``scheduled``, ``ready``,
        ``running``, ``backing-off``, ``suspended``, ``paused``,
        ``completed``), ``retry_count``, ``last_failure``,
        ``completion_result``, ``journal_size``.
        """
        if not _INVOCATION_ID.match(invocation_id):
            raise ValueError(f"not an invocation id: {invocation_id!r}")
        rows = await self.query(f"SELECT * FROM sys_invocation WHERE id = '{invocation_id}'")
        return rows[0] if rows else None

    # The deadline is the harness's own (not the caller's cancel scope) so that running
    # out of time can say why: the server's view of the invocation.
    async def wait_for_invocation_status(
        self,
        invocation_id: str,
        status: str | Collection[str],
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        poll_interval: float = 0.05,
    ) -> Mapping[str, object]:
        """Poll until the invocation's ``status`` is one of ``status``.

        Returns the ``sys_invocation`` row.

        Raises:
            InvocationTimeoutError: the status was not reached within
                ``timeout`` seconds (default :attr:`request_timeout`); it says
                the status the invocation was in and its ``last_failure``.
        """
        wanted = {status} if isinstance(status, str) else set(status)
        limit = self.request_timeout if timeout is None else timeout
        last: Mapping[str, object] | None = None
        try:
            with trio.fail_after(limit):
                while True:
                    last = await self.invocation_status(invocation_id)
                    if last is not None and last.get("status") in wanted:
                        return last
                    await trio.sleep(poll_interval)
        except trio.TooSlowError as exc:
            raise InvocationTimeoutError(
                f"invocation {invocation_id} did not reach status {sorted(wanted)} within "
                f"{limit} s",
                last,
            ) from exc

    async def get_state(self, service: str, key: str) -> dict[str, bytes]:
        """The state of the Virtual Object (or workflow) ``service`` / ``key``:
        each entry's raw bytes (JSON, unless the handlers use another codec).

        This is :meth:`restate_trio.client.AdminClient.get_state` (SQL introspection: it
        sees what the server has committed, whether or not an invocation is running),
        bounded by :attr:`request_timeout`.
        """
        from ..client import AdminClient

        async def read() -> dict[str, bytes]:
            async with AdminClient(self.admin_url) as admin:
                return await admin.get_state(service, key)

        return await self._within(f"reading the state of {service}/{key}", read)

    async def set_state(self, service: str, key: str, values: Mapping[str, object]) -> None:
        """Replace the whole state of the Virtual Object ``service`` / ``key``
        with ``values`` (for test setup): ``bytes`` (or ``bytearray``) are stored as they are,
        anything else as JSON. An empty mapping clears the state.

        This is :meth:`restate_trio.client.AdminClient.set_state`, bounded by
        :attr:`request_timeout`, that returns once the new state is readable (with
        :meth:`get_state`), not only once invocations see it.

        Raises:
            restate_trio.client.AdminError: the admin API refused the change (unknown
                service, ...).
        """
        from ..client import AdminClient

        new_state = {name: _state_value(value) for name, value in values.items()}

        async def write() -> None:
            async with AdminClient(self.admin_url) as admin:
                await admin.set_state(service, key, new_state)
                while True:
                    if await admin.get_state(service, key) == new_state:
                        return
                    await trio.sleep(_POLL_INTERVAL)

        await self._within(f"setting the state of {service}/{key}", write)

    async def _within(self, what: str, operation: Callable[[], Awaitable[_T]]) -> _T:
        """``operation()``, bounded by :attr:`request_timeout` as every helper call is."""
        try:
            with trio.fail_after(self.request_timeout):
                return await operation()
        except trio.TooSlowError as exc:
            raise HarnessTimeoutError(
                f"{what} did not complete within {self.request_timeout} s "
                "(see RestateServer.request_timeout)"
            ) from exc

    async def _stuck_invocation(self, path: str) -> Mapping[str, object] | None:
        """The latest unfinished invocation an ingress ``path`` started or waits for, if
        the path names one (``/Svc/handler``, ``/Svc/key/handler``, ``.../send``,
        ``/restate/invocation/ID/attach``); ``None`` if not found or not answering."""
        condition = _invocation_condition(path)
        if condition is None:
            return None
        sql = (
            f"SELECT * FROM sys_invocation WHERE {condition} AND status != 'completed' "
            "ORDER BY created_at DESC LIMIT 1"
        )
        with trio.move_on_after(min(self.request_timeout, _DIAGNOSIS_TIMEOUT)):
            try:
                rows = await self.query(sql)
            except HarnessError:
                return None
            return rows[0] if rows else None
        return None

    async def _call(
        self,
        base_url: str,
        method: str,
        path: str,
        body: object,
        headers: Mapping[str, str] | None,
    ) -> HttpResponse:
        all_headers = dict(headers or {})
        content = encode_body(body, all_headers)
        if not path.startswith("/"):
            path = "/" + path
        return await request(
            method.upper(),
            base_url + path,
            body=content,
            headers=all_headers,
            limit=self.request_timeout,
        )
