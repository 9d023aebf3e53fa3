"""A throwaway PostgreSQL server for the tests: initdb in a fresh temporary folder, started on a free port.

``running_postgres()`` yields the SQLAlchemy URL of a database ``greenci_test`` on it and stops the server and
removes its folder on exit. PostgreSQL refuses to run as root, so under root every server command runs as the
``postgres`` user (``runuser -u postgres``) in a folder that user owns. When it cannot be done (no binaries, no
``postgres`` user, initdb or start failing) it raises :class:`PostgresUnavailable` saying why.

Binaries: ``$GREENCI_PG_BINDIR``, else the newest ``/usr/lib/postgresql/*/bin``, else ``initdb`` on ``PATH``.
Run it alone (``python tests/pgserver.py``) to get a server until Ctrl-C.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DATABASE = "greenci_test"
SERVER_USER = "postgres"
START_TIMEOUT_S = 60


class PostgresUnavailable(RuntimeError):
    """A throwaway server cannot be started here; the message says why."""


def find_bindir() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``."""
    candidates: list[str] = []
    if os.environ.get("GREENCI_PG_BINDIR"):
        candidates.append(os.environ["GREENCI_PG_BINDIR"])
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates += sorted(glob.glob("/usr/pgsql-*/bin"), key=_version_key, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for folder in candidates:
        if all((Path(folder) / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    raise PostgresUnavailable("PostgreSQL server binaries not found (initdb, pg_ctl, postgres): install the "
                              "postgresql server package or set GREENCI_PG_BINDIR")


def _version_key(path: str) -> tuple[int, ...]:
    digits = "".join(ch if ch.isdigit() else " " for ch in path).split()
    return tuple(int(d) for d in digits)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Runner:
    """Runs the server's commands as a user PostgreSQL accepts: ourselves, or ``postgres`` when we are root."""

    def __init__(self) -> None:
        self.as_root = os.geteuid() == 0
        self.uid = self.gid = -1
        if self.as_root:
            try:
                pw = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise PostgresUnavailable(f"running as root and there is no {SERVER_USER!r} user to run "
                                          "the server as (PostgreSQL refuses to run as root)") from None
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            self.runuser = shutil.which("runuser")
            if self.runuser is None:
                raise PostgresUnavailable("running as root and runuser is not installed: cannot start the server "
                                          f"as {SERVER_USER!r} (PostgreSQL refuses to run as root)")

    def own(self, path: Path) -> None:
        if self.as_root:
            os.chown(path, self.uid, self.gid)

    def run(self, argv: list[str], *, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
        if self.as_root:
            argv = [str(self.runuser), "-u", SERVER_USER, "--", *argv]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)


def _tail(text: str, n: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def _wait_ready(bindir: Path, runner: _Runner, *, port: int, cwd: Path, deadline: float) -> None:
    """Until the server accepts TCP connections on 127.0.0.1:port (pg_isready when present, else a socket)."""
    isready = bindir / "pg_isready"
    while True:
        if isready.is_file():
            got = runner.run([str(isready), "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"],
                             cwd=cwd, timeout=10)
            if got.returncode == 0:
                return
        else:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                pass
        if time.monotonic() > deadline:
            raise PostgresUnavailable(f"PostgreSQL on 127.0.0.1:{port} did not accept connections "
                                      f"within {START_TIMEOUT_S} s")
        time.sleep(0.1)


def _create_database(url_base: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{url_base}/postgres", autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


@contextmanager
def running_postgres(database: str = DATABASE) -> Iterator[str]:
    """A fresh server with an empty ``database``; yields ``postgresql+psycopg://postgres@127.0.0.1:PORT/database``."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise PostgresUnavailable("psycopg is not installed: pip install 'psycopg[binary]>=3.1' "
                                  "(in greenci[dev] and greenci[postgres])") from None
    bindir = find_bindir()
    runner = _Runner()
    # /tmp rather than $TMPDIR: a TMPDIR under root's home would not be reachable by the postgres user.
    parent = "/tmp" if runner.as_root and os.path.isdir("/tmp") else None
    root = Path(tempfile.mkdtemp(prefix="greenci-pg-", dir=parent))  # mode 0700
    os.chmod(root, 0o700)
    runner.own(root)
    data, sockdir, log = root / "data", root / "sock", root / "server.log"
    sockdir.mkdir(mode=0o700)
    runner.own(sockdir)
    started = False
    try:
        init = runner.run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                           "--locale=C", "--no-sync"], cwd=root, timeout=120)
        if init.returncode != 0:
            raise PostgresUnavailable(f"initdb failed (exit {init.returncode}):\n{_tail(init.stdout + init.stderr)}")
        last = ""
        for _attempt in range(3):  # the free port may be taken between choosing it and binding it
            port = _free_port()
            options = (f"-p {port} -k {sockdir} -c listen_addresses=127.0.0.1 -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            start = runner.run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
                                "-w", "-t", str(START_TIMEOUT_S), "start"], cwd=root, timeout=START_TIMEOUT_S + 30)
            if start.returncode == 0:
                started = True
                break
            server_log = log.read_text(errors="replace") if log.exists() else ""
            last = _tail(start.stdout + start.stderr + "\n" + server_log)
            runner.run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], cwd=root, timeout=60)
        if not started:
            raise PostgresUnavailable(f"pg_ctl start failed:\n{last}")
        _wait_ready(bindir, runner, port=port, cwd=root,
                    deadline=time.monotonic() + START_TIMEOUT_S)
        base = f"postgresql://postgres@127.0.0.1:{port}"
        _create_database(base, database)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"
    finally:
        if started:
            runner.run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], cwd=root, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):  # stop and clean up also when run in the background
        signal.signal(sig, _interrupt)
    t0 = time.monotonic()
    with running_postgres() as url:
        print(f"{url}  (started in {time.monotonic() - t0:.1f} s; Ctrl-C stops it)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
