"""Benchmark claim + submit cycles over HTTP against a real WSGI server; print the figures as JSON."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connection

from engine.loadtest import bench


def worker_connections(clients, workers, threads):
    """gunicorn's --worker-connections for `clients` keep-alive clients: each worker's share, and room to turn over.

    A gthread worker stops accepting at this many connections and closes a kept-alive one after
    its answer beyond this many less its threads, so no worker keeps more than its share.
    """
    return -(-clients // workers) + threads


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Command(BaseCommand):
    help = ("Drive claim+submit cycles of many clients against a real WSGI server (gunicorn) and print JSON. "
            "It creates a project of --tasks tasks and --clients users in the database it runs on, vacuums the "
            "tables the cycles write, and deletes the project afterwards (unless --keep): point DATABASE_URL at a "
            "bench database, not a production one.")

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=64, help="Concurrent clients (each its own annotator).")
        parser.add_argument("--tasks", type=int, default=5000, help="Tasks the timed cycles take.")
        parser.add_argument("--warmup", type=int, default=5,
                            help="Untimed cycles each client runs first, on tasks of their own (default 5): they open "
                                 "the connections and get the server's statements prepared; the clock starts once "
                                 "every client is warm. 0: time from the first request.")
        # gunicorn workers x threads on the 2-core machine, closed loop, quiet machine, cycles/s, once each
        # worker keeps to its share of the connections: 3 x 2: 456; 4 x 1: 452; 2 x 2: 446; 2 x 4: 431; 2 x 8: 431.
        # (Before, 2 x 4 ran at 189-206: one worker had taken most connections.)
        parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes.")
        parser.add_argument("--threads", type=int, default=2, help="Threads per gunicorn worker (gthread).")
        parser.add_argument("--worker-class", default="gthread", choices=["gthread", "sync"],
                            help="gunicorn worker class.")
        parser.add_argument("--client-processes", type=int, default=2, help="Processes the clients run in.")
        parser.add_argument("--seconds", type=float, default=300, help="Stop the clients after this long.")
        parser.add_argument("--url", help="Use a server already running at this URL instead of starting gunicorn.")
        # The goal (300 cycles/s at p99 <= 100 ms) is a latency at a load: paced, the run shows both
        # whether the server keeps up (cycles/s) and what its answers take (p99) while it does. A closed loop
        # of 64 clients measures the top speed, and its latency is that of a saturated server by design:
        # 64 clients in flight at N cycles/s wait 64/N s per cycle on average (Little's law).
        parser.add_argument("--rate", type=float, default=300.0,
                            help="Pace the clients to this many cycles per second in all (default 300), latency "
                                 "counted from each cycle's scheduled start; 0: a closed loop, each client going as "
                                 "fast as the server answers (the top speed).")
        parser.add_argument("--curriculum", action="store_true",
                            help="Objects of several categories, their tasks ordered by the curriculum's priorities "
                                 "(default: every object a box, every priority 0).")
        parser.add_argument("--keep", action="store_true",
                            help="Keep the bench project, its users and files (default: delete them after the run).")

    def handle(self, *args, clients, tasks, warmup, workers, threads, worker_class, client_processes, seconds,
               url=None, rate=300.0, keep=False, curriculum=False, **options):
        if min(clients, tasks, workers, threads) < 1:
            raise CommandError("--clients, --tasks, --workers and --threads must be at least 1.")
        if warmup < 0:
            raise CommandError("--warmup must be 0 or more cycles per client.")
        if not rate >= 0:  # NaN included
            raise CommandError("--rate must be 0 (a closed loop) or a positive number of cycles per second.")
        rate = rate or None
        from django.db.migrations.executor import MigrationExecutor

        try:
            executor = MigrationExecutor(connection)
        except OperationalError as exc:
            raise CommandError(f"Cannot reach the database ({exc}); check DATABASE_URL.") from exc
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError("The database has unapplied migrations; run `python manage.py migrate` first.")
        vendor = connection.vendor
        if vendor != "postgresql":
            self.stderr.write(f"Note: the database is {vendor}; the published goal is for PostgreSQL (set DATABASE_URL).")
        pool = tasks + clients * warmup
        self.stderr.write(f"Creating {pool} tasks ({clients} x {warmup} for the warm-up) and {clients} annotators...")
        project, tokens = bench.make_pool(pool, clients, curriculum=curriculum)
        try:
            figures = self._run(project, tokens, vendor, clients, warmup, workers, threads, worker_class,
                                client_processes, seconds, url, rate)
            figures["priorities"] = "curriculum (several categories)" if curriculum else "all 0 (every object a box)"
        finally:
            if not keep:
                self.stderr.write(f"Deleting the bench project {project.name} (--keep keeps it)...")
                bench.remove_pool(project)
        self.stdout.write(json.dumps(figures, indent=2))

    def _run(self, project, tokens, vendor, clients, warmup, workers, threads, worker_class, client_processes, seconds,
             url, rate):
        vacuumed = bench.vacuum()
        if bench.autovacuum() == "off":
            self.stderr.write("Note: autovacuum is off on this database: dead rows pile up during the run (production "
                              "servers keep it on). The bench vacuumed the tables it writes before starting.")
        speed_before = bench.reference_loop_ms()
        server = None
        if not url:
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            env = {**os.environ, "DEBUG": "0", "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-" + os.urandom(16).hex()),
                   "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "engine.settings"),
                   "ENGINE_LOG_LEVEL": "WARNING"}
            # --preload: the workers fork from a loaded application, so every one accepts connections at
            # once (loading takes about 2 s; a worker still loading left the first one every connection).
            # --worker-connections: a client keeps its connection, and so its worker, for the whole run, and
            # gthread workers accept whatever comes while they can: one of two workers took 54 of the 64
            # connections, and served them on one core. A worker that holds its share takes no more.
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "engine.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers),
                 "-k", worker_class, "--threads", str(threads), "--preload", "--log-level", "warning",
                 "--worker-connections", str(worker_connections(clients, workers, threads))],
                cwd=settings.BASE_DIR, env=env,
            )
            self._wait(url, server)
        try:
            self.stderr.write(f"Driving {clients} clients against {url} ...")
            cpu_before, spread = {}, {}

            def on_start():
                cpu_before.update(bench.cpu_seconds(server))
                if server:
                    spread["connections"] = bench.connections_per_worker(server, urlsplit(url).port)

            rows, elapsed, clients_cpu = bench.drive(url, project.pk, tokens, max(1, client_processes), seconds, rate,
                                                     warmup, on_start=on_start)
            cpu = {k: v - cpu_before[k] for k, v in bench.cpu_seconds(server).items()}
            cpu["clients"] = clients_cpu
        finally:
            if server:
                server.terminate()
                server.wait(timeout=30)
        figures = bench.summarize(rows, elapsed, project, vendor)
        # CPU per cycle depends less than cycles/s on what else the machine runs (the reference loop below
        # tells whether the cores themselves ran slower).
        cycles = max(1, figures["cycles"])
        figures["cpu_ms_per_cycle"] = {k: round(1000 * v / cycles, 2) for k, v in cpu.items()}
        figures["load_average"] = [round(x, 2) for x in os.getloadavg()]
        figures["load"] = f"paced at {rate:g} cycles/s" if rate else "closed loop"
        figures.update(clients=clients, server="gunicorn" if server else url, server_workers=workers,
                       server_class=worker_class, server_threads=threads, cores=os.cpu_count(),
                       server_worker_connections=worker_connections(clients, workers, threads) if server else None,
                       # The clients' connections held by each worker when the clock started.
                       connections_per_worker=spread.get("connections"))
        # Compare runs whose reference loop took about as long: the machine ran at the same speed.
        figures["reference_loop_ms"] = {"before": speed_before, "after": bench.reference_loop_ms()}
        figures["database_maintenance"] = {"vacuumed": vacuumed, "autovacuum": bench.autovacuum()}
        return figures

    def _wait(self, url, server):
        for _ in range(100):
            if server.poll() is not None:
                raise CommandError("The server exited at start; run it by hand to see why.")
            try:
                urllib.request.urlopen(url + "/api/me/", timeout=2)
                return
            except urllib.error.HTTPError:
                return  # it answers (401/403 is fine: the server is up)
            except OSError:
                time.sleep(0.2)
        raise CommandError(f"The server did not answer at {url} within 20 s.")
