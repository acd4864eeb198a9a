"""A real PostgreSQL server for the test suite, started by the suite itself.

``start_postgres(base_dir)`` returns a running server, chosen in this order:

1. ``REPORTBOT_TEST_POSTGRES_URL`` (``postgresql://`` or ``postgresql+asyncpg://``): an
   existing server. It is used as is and never stopped.
2. The system's PostgreSQL binaries: ``initdb``/``postgres`` on ``PATH``, else the highest
   version under ``/usr/lib/postgresql/*/bin``.
3. The binaries bundled in the ``pgserver`` wheel (PostgreSQL 16, a dev dependency), so a
   machine with only Python and uv still gets a real server.

If step 2 fails, the reason is written to stderr as one line and also kept in
``PostgresServer.fallback_reason``. If no server can be started, ``RuntimeError`` is raised:
PostgreSQL tests fail and are never skipped. ``REPORTBOT_TEST_POSTGRES=auto|system|pgserver``
(default ``auto``) forces one of steps 2 and 3, with no fallback.

Steps 2 and 3 run a throw-away cluster: ``initdb`` with trust auth, listening only on
127.0.0.1 on a free port (no unix socket), with ``fsync``, ``full_page_writes`` and
``synchronous_commit`` off. PostgreSQL refuses to run as root, so as root the cluster runs
as an unprivileged account (the existing ``postgres`` user, else ``reportbot-pg`` created
with ``useradd --system``, else ``nobody``), in a directory that account owns. ``stop()``
does what ``pg_ctl stop -m immediate`` does (SIGQUIT to the postmaster, then wait) and
deletes the cluster; it is idempotent and also registered with ``atexit``. On Linux the
postmaster also gets SIGQUIT if the test process dies without running ``atexit``
(``PR_SET_PDEATHSIG``), so a killed run leaves no server behind.

Fixture pattern for ``tests/conftest.py`` (session scope; ``postgres_server_fixture`` stops
the server at the end and, given ``config``, prints which server is used)::

    import pytest

    from tests.postgres import PostgresServer, postgres_server_fixture

    @pytest.fixture(scope="session")
    def postgres_server(request, tmp_path_factory) -> Iterator[PostgresServer]:
        yield from postgres_server_fixture(tmp_path_factory, request.config)

    @pytest.fixture(scope="module")
    def pg_url(postgres_server, request) -> str:
        # one fresh, empty database per test module (or per xdist worker)
        return postgres_server.create_database(f"t_{request.module.__name__.rsplit('.', 1)[-1]}")

which is the same as::

    @pytest.fixture(scope="session")
    def postgres_server(tmp_path_factory):
        server = start_postgres(tmp_path_factory.mktemp("pg"))
        try:
            yield server
        finally:
            server.stop()

``create_database`` is synchronous (it runs its own event loop in a helper thread), so it can
be called from sync and async fixtures alike.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    import pytest

ENV_URL = "REPORTBOT_TEST_POSTGRES_URL"
ENV_MODE = "REPORTBOT_TEST_POSTGRES"
MODES = ("auto", "system", "pgserver")

SUPERUSER = "postgres"
SERVICE_USER = "reportbot-pg"
_RUN_DIR_PREFIX = "reportbot-pg-"
_DB_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_START_TIMEOUT_S = 60.0
_SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "max_connections": "100",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "timezone": "'UTC'",
}

T = TypeVar("T")


@dataclass
class PostgresServer:
    """A running PostgreSQL server; ``url``/``dsn`` point at its ``postgres`` database."""

    url: str  # SQLAlchemy async URL: postgresql+asyncpg://...
    dsn: str  # plain postgresql://... for asyncpg.connect() and psql
    source: str  # "env", "system 15.x" or "pgserver 16.x"
    fallback_reason: str | None = None  # why the system binaries were not used, if they weren't
    startup_seconds: float = 0.0
    _stopper: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    _pauser: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    _resumer: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def interrupt(self) -> None:
        """Shut the server down (fast: sessions are ended), keeping its data for `resume()`.

        For outage tests; only a cluster this suite started can be interrupted.
        """
        if self._pauser is None:
            raise RuntimeError("this server was not started by the suite; it cannot be stopped")
        self._pauser()

    def resume(self) -> None:
        """Start an interrupted server again on the same port and wait until it is ready."""
        if self._resumer is None:
            raise RuntimeError("this server was not started by the suite; it cannot be resumed")
        self._resumer()

    def stop(self) -> None:
        """Stop the server (if this suite started it). Safe to call more than once."""
        stopper, self._stopper = self._stopper, None
        if stopper is not None:
            atexit.unregister(stopper)
            stopper()

    def url_for(self, database: str) -> str:
        return _with_database(self.url, database)

    def dsn_for(self, database: str) -> str:
        return _with_database(self.dsn, database)

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """(Re)create database ``name`` and return its async SQLAlchemy URL.

        Empty by default; given ``template`` (a database of this server nobody is connected
        to), a copy of it: PostgreSQL copies the files, far faster than replaying migrations
        (postgresql.org/docs/current/manage-ag-templatedbs.html).
        """
        for database in (name, template or "template0"):
            if not _DB_NAME.fullmatch(database):
                raise ValueError(f"database name must match {_DB_NAME.pattern}: {database!r}")
        create = (
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
            "LC_COLLATE 'C' LC_CTYPE 'C'"
            if template is None
            else f'CREATE DATABASE "{name}" TEMPLATE "{template}"'
        )
        run_async(
            lambda: _execute(self.dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', create)
        )
        return self.url_for(name)


def postgres_server_fixture(
    tmp_path_factory: pytest.TempPathFactory, config: pytest.Config | None = None
) -> Iterator[PostgresServer]:
    """Body of a session-scoped fixture: ``yield from postgres_server_fixture(...)``."""
    server = start_postgres(tmp_path_factory.mktemp("pg"))
    try:
        if config is not None:
            _report(config, describe(server))
        yield server
    finally:
        server.stop()


def _report(config: pytest.Config, line: str) -> None:
    """Show ``line`` in pytest's output even while output is being captured."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    capman = config.pluginmanager.get_plugin("capturemanager")
    uncaptured = getattr(capman, "global_and_fixture_disabled", contextlib.nullcontext)
    with uncaptured():
        reporter.ensure_newline()
        reporter.write_line(line)


def describe(server: PostgresServer) -> str:
    where = make_url(server.url)
    text = (
        f"PostgreSQL for tests: {server.source} at {where.host}:{where.port} "
        f"(ready in {server.startup_seconds:.1f}s)"
    )
    if server.fallback_reason:
        text += f"; {server.fallback_reason}"
    return text


def start_postgres(base_dir: Path) -> PostgresServer:
    """Start (or attach to) a PostgreSQL server for the tests; see the module docstring."""
    mode = (os.environ.get(ENV_MODE) or "auto").strip().lower()
    if mode not in MODES:
        raise ValueError(f"{ENV_MODE}={mode!r}: expected one of {', '.join(MODES)}")
    began = time.monotonic()

    existing = (os.environ.get(ENV_URL) or "").strip()
    if existing:
        server = _attach(existing)
        server.startup_seconds = time.monotonic() - began
        return server

    fallback_reason = None
    if mode in ("auto", "system"):
        try:
            server = _start_cluster(_system_bin_dir(), base_dir, "system")
        except Exception as exc:
            if mode == "system":
                raise RuntimeError(f"{ENV_MODE}=system but it failed: {exc}") from exc
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            fallback_reason = f"system PostgreSQL not used: {first_line}"
            sys.stderr.write(f"reportbot tests: {fallback_reason}; falling back to pgserver\n")
        else:
            server.startup_seconds = time.monotonic() - began
            return server

    try:
        server = _start_cluster(_pgserver_bin_dir(), base_dir, "pgserver")
    except Exception as exc:
        raise RuntimeError(
            "could not start PostgreSQL for the tests "
            f"({fallback_reason or 'system binaries not tried'}; pgserver: {exc}). "
            f"Install PostgreSQL, run `uv sync` for the pgserver wheel, or set {ENV_URL}."
        ) from exc
    server.fallback_reason = fallback_reason
    server.startup_seconds = time.monotonic() - began
    return server


# --- existing server ---------------------------------------------------------------------


def _attach(raw_url: str) -> PostgresServer:
    url = make_url(raw_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"{ENV_URL} must be a postgresql:// URL, got {url.drivername!r}")
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        run_async(lambda: _fetchval(dsn, "SELECT 1"))
    except Exception as exc:
        raise RuntimeError(f"{ENV_URL} is set but the server is unreachable: {exc}") from exc
    return PostgresServer(
        url=url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False),
        dsn=dsn,
        source="env",
    )


# --- finding binaries --------------------------------------------------------------------


def _has_binaries(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / exe, os.X_OK) for exe in ("initdb", "postgres"))


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def _system_bin_dir() -> Path:
    pgserver_dir = _pgserver_bin_dir(required=False)
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for candidate in candidates:
        if candidate != pgserver_dir and _has_binaries(candidate):
            return candidate
    raise RuntimeError("no initdb/postgres on PATH or under /usr/lib/postgresql/*/bin")


def _pgserver_bin_dir(*, required: bool = True) -> Path | None:
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.submodule_search_locations:
        bin_dir = Path(next(iter(spec.submodule_search_locations)), "pginstall", "bin").resolve()
        if _has_binaries(bin_dir):
            return bin_dir
    if required:
        raise RuntimeError("the pgserver wheel (dev dependency) is not installed")
    return None


def _postgres_version(bin_dir: Path) -> str:
    out = subprocess.run(
        [str(bin_dir / "postgres"), "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    match = re.search(r"\(PostgreSQL\)\s+(\S+)", out)
    return match.group(1) if match else out.strip()


# --- running as an unprivileged account when we are root ---------------------------------


@dataclass(frozen=True)
class _Account:
    name: str
    uid: int
    gid: int

    def subprocess_kwargs(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def _service_account() -> _Account | None:
    """None when we may run PostgreSQL ourselves; else the account to run it as."""
    if os.geteuid() != 0:
        return None
    entry = None
    for name in (SUPERUSER, SERVICE_USER):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            break
    if entry is None:
        useradd = shutil.which("useradd")
        if useradd:
            subprocess.run(
                [
                    useradd,
                    "--system",
                    "--user-group",
                    "--no-create-home",
                    "--home-dir",
                    "/nonexistent",
                    "--shell",
                    "/usr/sbin/nologin",
                    SERVICE_USER,
                ],
                capture_output=True,
                check=False,  # may race with another worker; what counts is the lookup below
                timeout=60,
            )
        for name in (SERVICE_USER, "nobody"):
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam(name)
                break
    if entry is None or entry.pw_uid == 0:
        raise RuntimeError("running as root and no unprivileged account to run PostgreSQL as")
    return _Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _reachable_by(path: Path, account: _Account) -> bool:
    """Whether ``account`` can traverse every directory down to ``path`` (mode bits only)."""
    for part in (path, *path.parents):
        st = part.stat()
        if st.st_uid == account.uid:
            bit = stat.S_IXUSR
        elif st.st_gid == account.gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _sweep_stale_run_dirs(parent: Path) -> None:
    """Remove clusters left in the temp dir by runs that were killed (owner and server dead)."""
    for run_dir in parent.glob(f"{_RUN_DIR_PREFIX}*"):
        pids = [_read_pid(run_dir / "owner.pid"), _read_pid(run_dir / "data" / "postmaster.pid")]
        if pids[0] is not None and not any(pid and _pid_alive(pid) for pid in pids):
            shutil.rmtree(run_dir, ignore_errors=True)


def _make_run_dir(base_dir: Path, account: _Account | None) -> Path:
    base_dir = base_dir.resolve()
    base_dir.mkdir(parents=True, exist_ok=True)
    parent = base_dir
    if account is not None and not _reachable_by(base_dir, account):
        # e.g. pytest's /tmp/pytest-of-root is 0700: use the system temp dir instead
        parent = Path(tempfile.gettempdir()).resolve()
        if not _reachable_by(parent, account):
            raise RuntimeError(f"neither {base_dir} nor {parent} is reachable by {account.name}")
        _sweep_stale_run_dirs(parent)
    run_dir = Path(tempfile.mkdtemp(prefix=_RUN_DIR_PREFIX, dir=parent))
    (run_dir / "owner.pid").write_text(f"{os.getpid()}\n")
    if account is not None:
        os.chown(run_dir, account.uid, account.gid)
    return run_dir


def _usable_bin_dir(bin_dir: Path, run_dir: Path, account: _Account | None) -> Path:
    """The wheel may sit under a 0700 home directory: then run a copy from ``run_dir``.

    The copy keeps the wheel's layout, ``pgserver/pginstall/{bin,lib,share}`` next to
    ``pgserver.libs`` (the binaries find libpq there through an ``$ORIGIN``-relative rpath).
    """
    if account is None or _reachable_by(bin_dir / "postgres", account):
        return bin_dir
    install, package = bin_dir.parent, bin_dir.parent.parent
    copy = run_dir / "wheel"
    for sub in ("bin", "lib", "share"):
        if (install / sub).is_dir():
            shutil.copytree(install / sub, copy / package.name / install.name / sub, symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, copy / libs.name, symlinks=True)
    for root, _dirs, files in os.walk(copy):
        Path(root).chmod(0o755)
        for name in files:
            path = Path(root, name)
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o444)
    return copy / package.name / install.name / bin_dir.name


# --- the throw-away cluster --------------------------------------------------------------


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec hook making the postmaster get SIGQUIT when this process dies (Linux)."""
    if (
        not sys.platform.startswith("linux")
        or threading.current_thread() is not threading.main_thread()
    ):
        return None  # PR_SET_PDEATHSIG fires when the creating *thread* exits
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig, sigquit = 1, int(signal.SIGQUIT)

    def hook() -> None:
        prctl(pr_set_pdeathsig, sigquit)

    return hook


def _start_cluster(bin_dir: Path | None, base_dir: Path, label: str) -> PostgresServer:
    assert bin_dir is not None
    account = _service_account()
    as_user = account.subprocess_kwargs() if account else {}
    env = _server_env()
    run_dir = _make_run_dir(base_dir, account)
    data, log = run_dir / "data", run_dir / "postgres.log"
    procs: list[subprocess.Popen[bytes]] = []
    lock = threading.Lock()

    def stop() -> None:
        with lock:
            while procs:
                proc = procs.pop()
                if proc.poll() is None:
                    proc.send_signal(signal.SIGQUIT)  # = pg_ctl stop -m immediate
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
            with contextlib.suppress(OSError):  # keep the server log next to pytest's files
                shutil.copyfile(log, base_dir / "postgres.log")
            shutil.rmtree(run_dir, ignore_errors=True)

    try:
        bin_dir = _usable_bin_dir(bin_dir, run_dir, account)
        version = _postgres_version(bin_dir)
        with tempfile.TemporaryFile() as out:
            result = subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    SUPERUSER,
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                    "--no-instructions",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=run_dir,
                timeout=120,
                check=False,
                **as_user,
            )
            if result.returncode != 0:
                out.seek(0)
                detail = out.read().decode(errors="replace").strip()
                raise RuntimeError(f"initdb ({version}) failed: {detail.splitlines()[-1:]}")
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\n# reportbot test cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in _SERVER_SETTINGS.items())

        for _attempt in range(3):
            port = _free_port()
            with log.open("ab") as log_file:
                proc = subprocess.Popen(
                    [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port)],
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=run_dir,
                    start_new_session=True,
                    preexec_fn=_parent_death_signal(),  # noqa: PLW1509 - it only calls prctl(2)
                    **as_user,
                )
            procs.append(proc)
            dsn = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
            if _wait_until_ready(proc, dsn):
                break
            proc.wait()
            procs.remove(proc)
            if "could not bind" not in _tail(log, 40):
                raise RuntimeError(
                    f"postgres {version} exited with {proc.returncode}: {_tail(log)}"
                )
        else:
            raise RuntimeError(f"postgres {version} found no free port: {_tail(log)}")
    except BaseException:
        stop()
        raise

    def interrupt() -> None:
        with lock:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)  # = pg_ctl stop -m fast
                    proc.wait(timeout=60)

    def resume() -> None:
        with lock:
            if any(proc.poll() is None for proc in procs):
                return
            procs.clear()
            with log.open("ab") as log_file:
                proc = subprocess.Popen(
                    [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port)],
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=run_dir,
                    start_new_session=True,
                    preexec_fn=_parent_death_signal(),  # noqa: PLW1509 - it only calls prctl(2)
                    **as_user,
                )
            procs.append(proc)
            if not _wait_until_ready(proc, dsn):
                raise RuntimeError(f"postgres did not come back: {_tail(log)}")

    atexit.register(stop)
    return PostgresServer(
        url=f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{port}/postgres",
        dsn=dsn,
        source=f"{label} {version}",
        _stopper=stop,
        _pauser=interrupt,
        _resumer=resume,
    )


def _wait_until_ready(proc: subprocess.Popen[bytes], dsn: str) -> bool:
    """True once the server answers a query; False if it exited first."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while proc.poll() is None:
        try:
            run_async(lambda: _fetchval(dsn, "SELECT 1", connect_timeout=2))
        except (OSError, asyncpg.PostgresError) as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"postgres not ready after {_START_TIMEOUT_S:.0f}s: {exc}"
                ) from exc
            time.sleep(0.05)
        else:
            return True
    return False


# --- small async helpers run from sync code ----------------------------------------------


def run_async(make_coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine in a fresh loop on a helper thread (fine under a running loop)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reportbot-pg") as pool:
        return pool.submit(lambda: asyncio.run(make_coro())).result()


async def _fetchval(dsn: str, query: str, connect_timeout: float = 10) -> Any:
    conn = await asyncpg.connect(dsn, timeout=connect_timeout)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def _execute(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)
