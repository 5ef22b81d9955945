"""Throwaway services and processes for `make bench` and the fault drills: PostgreSQL, Redis, engine processes.

The bench and the drills start what they measure or break on free ports and stop it after: never
the PostgreSQL or Redis that other suites share. Every process started here runs in a session of
its own and is ended with its whole process group.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class ServiceError(RuntimeError):
    """A service or process did not start, or did not answer in time."""


def free_port():
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, seconds, what):
    """Call check() until it returns a true value, for at most `seconds`; return the value or raise ServiceError."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise ServiceError(f"{what}: not within {seconds} s")
        time.sleep(0.1)


def pinned_to(cpus):
    """A preexec_fn that keeps a child (and every process it starts) on `cpus`, or None to leave it anywhere."""
    if not cpus:
        return None
    cpus = set(cpus)
    return lambda: os.sched_setaffinity(0, cpus)


def start(argv, env, log=None, cpus=None):
    """Start argv in the repository root, in a session of its own, its output to `log` (a path) or nowhere.

    cpus: the CPUs it (and its children) may run on; default, any.
    """
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (the child keeps it)
    return subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT,
                            preexec_fn=pinned_to(cpus))


def stop(proc, sig=signal.SIGKILL):
    """End a process started here, with every process of its group."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@contextmanager
def redis_server(cpus=None):
    """Run a Redis of our own on a free port (on `cpus`, default any); yield its URL."""
    if not shutil.which("redis-server"):
        raise ServiceError("redis-server is not installed (scripts/system_deps.sh installs it)")
    import redis

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="engine-redis-") as folder:
        proc = start(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                      "--dir", folder], env=dict(os.environ), cpus=cpus)
        url = f"redis://127.0.0.1:{port}/0"

        def up():
            try:
                return redis.Redis.from_url(url).ping()
            except redis.RedisError:
                return False
        try:
            wait_until(up, 20, "Redis to answer")
            yield url
        finally:
            stop(proc)


def redis_pid(url):
    """Return the process id of the redis-server serving `url` on this machine, or None."""
    import psutil

    port = url.rsplit(":", 1)[1].split("/")[0]
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])  # Redis retitles itself "redis-server 127.0.0.1:PORT"
        if (proc.info["name"] or "").startswith("redis-server") and (f":{port}" in cmdline
                                                                     or f"--port {port}" in cmdline):
            return proc.pid
    return None


def pg_bin(name):
    """Return the newest installed PostgreSQL server program `name` (initdb, pg_ctl...)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise ServiceError(f"PostgreSQL's {name} is not installed under /usr/lib/postgresql/*/bin")
    return found[-1]


class Postgres:
    """A PostgreSQL cluster of our own: initdb into a temporary folder, served on a free port.

    PostgreSQL refuses to run as root; as root the cluster runs as the `postgres` user. `cpus`: the
    CPUs its processes may run on (default any).
    """

    def __init__(self, settings=(), cpus=None):
        self.cpus = cpus
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="engine-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.settings = ["listen_addresses=127.0.0.1", f"port={self.port}", f"unix_socket_directories={self.folder}",
                         "max_connections=100", "shared_buffers=64MB", *settings]
        self.prefix = []
        if os.geteuid() == 0:
            self.prefix = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.folder, "postgres")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/engine"

    def _run(self, *argv, check=True):
        done = subprocess.run([*self.prefix, *argv], capture_output=True, text=True, timeout=120,
                              preexec_fn=pinned_to(self.cpus))
        if check and done.returncode:
            raise ServiceError(f"{' '.join(argv[:2])} exited {done.returncode}: {done.stderr[-1500:]}")
        return done

    def init(self):
        """initdb, start, and create the database `engine`; return self."""
        self._run(pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        self.start()
        self._run(pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "engine")
        return self

    def start(self):
        options = " ".join(f"-c {s}" for s in self.settings)
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode="fast"):
        """Stop the cluster; mode "immediate" is a crash: no checkpoint, the WAL replayed at the next start."""
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def pids(self):
        """Return the process ids of the cluster (postmaster and its children)."""
        import psutil

        try:
            head = int((self.data / "postmaster.pid").read_text().split()[0])
            root = psutil.Process(head)
            return [root.pid, *(c.pid for c in root.children(recursive=True))]
        except (OSError, ValueError, psutil.Error):
            return []

    def destroy(self):
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def engine_env(database_url, redis_url="", media_root="", **extra):
    """The environment of an engine process (server, worker): production settings, these services."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "ENGINE_FAILPOINTS")}
    env.update(DJANGO_SETTINGS_MODULE="engine.settings", DATABASE_URL=database_url, PYTHONPATH=str(ROOT),
               ENGINE_WARM_UP_WORKERS="0", ENGINE_FAST_PASSWORD_HASHER="1", ENGINE_LOG_LEVEL="WARNING")
    if redis_url:
        env["REDIS_URL"] = redis_url
    if media_root:
        env["MEDIA_ROOT"] = str(media_root)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def manage(env, *args, timeout=600):
    """Run `manage.py ARGS` with env; return its stdout, or raise ServiceError with its output."""
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode:
        raise ServiceError(f"manage.py {' '.join(args)} exited {done.returncode}: {done.stderr[-3000:]}")
    return done.stdout


# One line per request in the access log: method, path, status, microseconds from the parsed request to the
# response sent (gunicorn's %(D)s: without the wait for a worker thread, and without the client's own time).
ACCESS_LOG_FORMAT = "%(m)s %(U)s %(s)s %(D)s"


@contextmanager
def engine_server(env, log, workers=1, threads=4, access_log=None, cpus=None):
    """Serve the engine with gunicorn (gthread workers) on a free port; yield (base URL, process).

    access_log: a path for one line per request in ACCESS_LOG_FORMAT (the server's own request times).
    cpus: the CPUs the server may run on (default any).
    """
    import requests

    port = free_port()
    access = ["--access-logfile", str(access_log), "--access-logformat", ACCESS_LOG_FORMAT] if access_log else []
    proc = start([sys.executable, "-m", "gunicorn", "engine.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers),
                  "-k", "gthread", "--threads", str(threads), "--graceful-timeout", "2", *access], env=env, log=log, cpus=cpus)
    url = f"http://127.0.0.1:{port}"
    try:
        def up():
            if proc.poll() is not None:
                raise ServiceError(f"the engine server exited: {Path(log).read_text()[-3000:]}")
            try:
                return requests.get(f"{url}/api/me/", timeout=2).status_code in (401, 403)
            except requests.RequestException:
                return False
        wait_until(up, 90, "the engine server to answer")
        yield url, proc
    finally:
        stop(proc, signal.SIGTERM)
