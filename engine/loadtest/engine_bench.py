"""`make bench`: a whole iteration on real processes, simulated people at a scaled person's pace; JSON figures.

    python -m engine.loadtest.engine_bench --annotators 64 --artists 4 --objects 5000 --factor 20

It starts its own PostgreSQL cluster (or uses --database-url) and Redis, migrates, pretrains a tiny
π_0 and deploys it (so the flow model generates on the `gpu` queue), renders composites with a
hidden truth, and starts gunicorn, a Celery worker per queue (`-Q cpu`, `-Q gpu`) and an RQ
`trainer` worker. Simulated annotators (and artists) then take the objects through Stages 1, 2,
2.5 and 3 over HTTP, each task held for a person's time divided by --factor (80 s per Stage 2 set
and 150 s per Stage 3 alignment, the published figures; --select-seconds for Stage 1); a member with
no task asks again after the annotation page's 30 s, divided by --factor too. When the
objects are through, or at --seconds, one flywheel run (tiny preset) goes on the RQ queue. It prints:
objects per hour per stage, API p50/p99 per endpoint (`api` as the clients timed it, `api_server` as
the server did, from its access log), queue depths over time, candidate-set latency
(selection to the first Stage 2 claim), duplicates and lost submissions, the iteration's wall time by
step, the busiest component (the bottleneck), whether candidate generation kept up (its backlog over
the steady state: people who take Stage 1 images never wait, so their share alone cannot show it),
the share of claim rounds and of the annotators' time that found work waiting (over the whole
annotation, and in its steady state: without the warm-up before the first set is ready and the dry
tail after the last, engine/loadtest/waiting.py), and the
factor at which the engine would saturate, from the engine's measured share of the cores (and,
beside it, from its measured cost per object through Stage 3). On a machine the people share with
the engine, --engine-cpus pins the engine to some CPUs and the people to the rest, so that a factor
sweep finds where the engine saturates on those CPUs without the people taking their CPU.
"""

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from engine.loadtest import services, waiting

STAGE2_SECONDS, STAGE3_SECONDS = 80.0, 150.0  # a person's time per Stage 2 set and per Stage 3 alignment
UI_POLL_SECONDS = 30.0  # an annotation page with no task asks again after this long (annotation_ui common.js)


def parse(argv=None):
    p = argparse.ArgumentParser(prog="engine_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--annotators", type=int, default=int(os.environ.get("BENCH_ANNOTATORS", 64)))
    p.add_argument("--artists", type=int, default=int(os.environ.get("BENCH_ARTISTS", 4)))
    p.add_argument("--objects", type=int, default=int(os.environ.get("BENCH_OBJECTS", 5000)),
                   help="Composites (one object each) to take through the stages.")
    p.add_argument("--factor", type=float, default=float(os.environ.get("BENCH_FACTOR", 20)),
                   help="A person's pace is divided by this (80 s per Stage 2 set becomes 80/factor s).")
    p.add_argument("--select-seconds", type=float, default=30.0, help="A person's time per Stage 1 image.")
    p.add_argument("--artist-seconds", type=float, default=600.0, help="A person's time to model a mesh.")
    p.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 3600)),
                   help="Stop the annotation after this long even if objects remain.")
    p.add_argument("--candidates", type=int, default=4, help="Candidates per object (N).")
    p.add_argument("--server-workers", type=int, default=2)
    p.add_argument("--server-threads", type=int, default=8)
    p.add_argument("--celery-concurrency", type=int, default=1, help="Processes per Celery worker (cpu and gpu).")
    p.add_argument("--cpu-concurrency", type=int, default=None,
                   help="Processes of the Celery `cpu` worker alone (default: --celery-concurrency).")
    p.add_argument("--warmup", type=float, default=None,
                   help="Seconds of the annotation left out of the steady-state share of time with work "
                        "(default: until the first candidate set is ready for Stage 2; engine/loadtest/waiting.py).")
    p.add_argument("--no-flow", action="store_true", help="Skip π_0 and the flow model (no `gpu` jobs, no training).")
    p.add_argument("--train-steps", type=int, default=4, help="SFT and DPO steps of the flywheel run (tiny preset).")
    p.add_argument("--database-url", default="", help="Use this PostgreSQL database instead of a cluster of our own.")
    p.add_argument("--work", default="", help="Folder for media, runs and logs (default: a temporary one).")
    p.add_argument("--out", default="", help="Also write the JSON figures here.")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clients-nice", type=int, default=0, choices=range(0, 20), metavar="0-19",
                   help="Run the simulated people (their threads, and their session's autogroup) at this nice "
                        "value, so that on a machine they share with the engine its processes are served first "
                        "(people's browsers are not on the engine's hosts); run the bench under setsid so that "
                        "the autogroup is its own. Their CPU is still reported apart (cpu_seconds.clients), and "
                        "delivered_factor says what pace they kept.")
    p.add_argument("--engine-cpus", default="", metavar="LIST",
                   help="Pin the engine (PostgreSQL, Redis, the server, the Celery and RQ workers) to these CPUs "
                        "(as 0 or 0,2 or 0-3) and the simulated people to the others, so that neither takes CPU "
                        "from the other: on a small machine, the way to measure where the engine saturates "
                        "(its share of cores is then of these). A database given by --database-url is not pinned.")
    opts = p.parse_args(argv)
    try:
        opts.engine_cpus, opts.people_cpus = split_cpus(opts.engine_cpus)
    except ValueError as exc:
        p.error(f"--engine-cpus {opts.engine_cpus!r}: {exc}")
    if opts.warmup is not None and opts.warmup < 0:
        p.error(f"--warmup is {opts.warmup:g}; give the seconds to leave out, 0 or more.")
    if opts.cpu_concurrency is None:
        opts.cpu_concurrency = opts.celery_concurrency
    return opts


def split_cpus(text, available=None):
    """Return (engine CPUs, people's CPUs) for --engine-cpus `text` ("0", "0,2", "0-3"), or ([], []) for "".

    Raises ValueError when the list is malformed, names a CPU this process may not use, or leaves none
    for the people.
    """
    if not text.strip():
        return [], []
    available = set(os.sched_getaffinity(0) if available is None else available)
    cpus = set()
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        if not first.isdigit() or (dash and not last.isdigit()) or (dash and int(last) < int(first)):
            raise ValueError(f"{part.strip()!r} is not a CPU number or a range such as 0-3")
        cpus.update(range(int(first), int(last or first) + 1))
    if not cpus <= available:
        raise ValueError(f"CPU {sorted(cpus - available)[0]} is not one this process may run on "
                         f"({', '.join(map(str, sorted(available)))})")
    if not available - cpus:
        raise ValueError("it leaves no CPU for the simulated people; name fewer")
    return sorted(cpus), sorted(available - cpus)


class Timed:
    """Every API request of the simulated clients: (endpoint with ids as {id}, seconds, status, path)."""

    rows = []
    lock = threading.Lock()

    @classmethod
    def client_class(cls):
        from engine.simulation.client import ApiClient

        class TimedClient(ApiClient):
            def call(self, method, path, **kwargs):
                started = time.perf_counter()
                status = 0
                try:
                    result = super().call(method, path, **kwargs)
                    status = 204 if result is None else 200
                    return result
                except Exception as exc:
                    status = getattr(exc, "status", -1)
                    raise
                finally:
                    with cls.lock:
                        cls.rows.append((endpoint_of(method, path), time.perf_counter() - started, status, path))
        return TimedClient


def endpoint_of(method, path):
    """'POST /api/tasks/{id}/submit/' for 'POST', '/api/tasks/17/submit/?x=1'; every media file is one endpoint."""
    import re

    endpoint = f"{method} /" + re.sub(r"/\d+", "/{id}", path.split("?")[0].lstrip("/"))
    return f"{method} /media/…" if "/media/" in endpoint else endpoint


def server_times(access_log, start, end):
    """{endpoint: {n, p50_ms, p99_ms}} of the requests the server logged between byte offsets start and end of
    its access log (services.ACCESS_LOG_FORMAT): its own time per request, whatever the clients waited."""
    by_endpoint = defaultdict(list)
    with open(access_log, "rb") as f:
        f.seek(start)
        for line in f.read(max(0, end - start)).decode(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[3].isdigit():
                by_endpoint[endpoint_of(parts[0], parts[1])].append(int(parts[3]) / 1e6)
    return {e: {"n": len(v), "p50_ms": pct(v, 50), "p99_ms": pct(v, 99)}
            for e, v in sorted(by_endpoint.items(), key=lambda kv: -len(kv[1]))}


def sample_queues(redis_url, project_id, stop, every=2.0):
    """Sample Celery, RQ and per-stage task queue depths every `every` seconds until `stop` is set."""
    import redis
    from django.db import connection

    from engine.intake.models import ObjectInstance, ObjectStatus
    from engine.leases.models import Task, TaskStatus

    r = redis.Redis.from_url(redis_url)

    def celery_depth(queue):  # kombu keeps a queue's priorities 3, 6 and 9 in lists of their own
        return sum(r.llen(key) for key in (queue, *(f"{queue}\x06\x16{p}" for p in (3, 6, 9))))
    rows, started = [], time.monotonic()
    while True:  # a first row at once, then one every `every` seconds and a last one at the stop
        tasks = Counter(Task.objects.filter(project_id=project_id, status__in=(TaskStatus.OPEN, TaskStatus.LEASED))
                        .values_list("stage", flat=True))
        rows.append({"t": round(time.monotonic() - started, 1), "celery_cpu": celery_depth("cpu"),
                     "celery_gpu": celery_depth("gpu"),
                     "celery_unacked": r.hlen("unacked"), "rq_trainer": r.llen("rq:queue:trainer"),
                     "generating": ObjectInstance.objects.filter(image__project_id=project_id,
                                                                  status=ObjectStatus.GENERATING).count(),
                     "open_tasks": dict(tasks)})
        if stop.is_set() or stop.wait(every):
            break
    connection.close()
    return rows


class CpuMeter:
    """CPU seconds per component: server, Celery cpu, Celery gpu, RQ, Redis, PostgreSQL, the bench (clients) itself.

    procs: {name: Popen}; pids: {name: a process id} of components started elsewhere (Redis).
    """

    def __init__(self, procs, pg, pids=None):
        import psutil

        self.psutil, self.procs, self.pg, self.pids = psutil, procs, pg, dict(pids or {})
        self.start, self.start_stat = self.read(), cpu_stat()

    def _tree(self, pid):
        try:
            root = self.psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except self.psutil.Error:
            return []

    def _engine(self):
        """{component: its processes now}: the started ones, those started elsewhere, PostgreSQL."""
        groups = {name: self._tree(p.pid) for name, p in self.procs.items()}
        groups.update({name: self._tree(pid) for name, pid in self.pids.items()})
        groups["postgresql"] = [self.psutil.Process(pid) for pid in (self.pg.pids() if self.pg else [])
                                if self.psutil.pid_exists(pid)]
        return groups

    def read(self):
        out = {}
        groups = {**self._engine(), "clients": [self.psutil.Process(os.getpid())]}
        for name, procs in groups.items():
            total = 0.0
            for p in procs:
                try:
                    t = p.cpu_times()
                    total += t.user + t.system + (getattr(t, "children_user", 0) + getattr(t, "children_system", 0)
                                                  if name == "clients" else 0)
                except self.psutil.Error:
                    pass
            out[name] = total
        return out

    def affinity(self):
        """{component: the CPUs its processes may run on (their union)}: where the engine ran."""
        out = {}
        for name, procs in self._engine().items():
            cpus = set()
            for p in procs:
                try:
                    cpus.update(p.cpu_affinity())
                except self.psutil.Error:
                    pass
            if cpus:
                out[name] = sorted(cpus)
        return out

    def used(self):
        now = self.read()
        return {k: round(now[k] - self.start.get(k, 0.0), 1) for k in now}

    def busy(self, cpus):
        """Return the share of the time `cpus` were busy since the meter started, by the kernel's count."""
        return busy_share(self.start_stat, cpu_stat(), cpus)


def cpu_stat(path="/proc/stat"):
    """{cpu number: (busy, total) clock ticks} from the kernel's per-CPU counters; {} where there are none."""
    out = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        name, *ticks = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            ticks = [int(t) for t in ticks[:8]]  # user nice system idle iowait irq softirq steal
            out[int(name[3:])] = (sum(ticks) - ticks[3] - ticks[4], sum(ticks))
    return out


def busy_share(before, after, cpus):
    """Return the busy share of `cpus` between two cpu_stat readings, or None when they say nothing."""
    busy = sum(after[c][0] - before[c][0] for c in cpus if c in before and c in after)
    total = sum(after[c][1] - before[c][1] for c in cpus if c in before and c in after)
    return round(busy / total, 3) if total > 0 else None


def pct(values, q):
    return round(float(np.percentile(values, q)) * 1000, 1) if values else None


def pretrain(work):
    """π_0: the tiny flow model pretrained for a few steps (seconds), to deploy as the flow generator."""
    from trainer import sft
    from trainer.config import DataConfig, TrainConfig
    from trainer.data.cache import prepare

    prepare(DataConfig(out=str(work / "render"), kind="render", n=16, primitives=4, grid=16, render_size=64,
                       image_size=32, shard_size=16), progress=False)
    sft.train(TrainConfig(config="tiny", out=str(work / "pretrain"), data=[str(work / "render")], steps=2,
                          vae_steps=2, batch_size=8, lr=1e-3, warmup=1, log_every=1, ckpt_every=2, progress=False))
    return work / "pretrain"


def run(opts):
    timings, figures = {}, {"config": {k: v for k, v in vars(opts).items() if k not in ("out",)}}
    work = Path(opts.work or tempfile.mkdtemp(prefix="engine-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        t0 = time.monotonic()
        pg = None
        if opts.database_url:
            database_url = opts.database_url
        else:
            pg = services.Postgres(["synchronous_commit=on"], cpus=opts.engine_cpus).init()
            stack.callback(pg.destroy)
            database_url = pg.url
        redis_url = stack.enter_context(services.redis_server(cpus=opts.engine_cpus))
        env = services.engine_env(database_url, redis_url, media_root=work / "media", RUNS_ROOT=work / "runs",
                                  SHAPE_LIBRARY_DIR=work / "library", DEBUG=0, SECRET_KEY=os.urandom(16).hex(),
                                  ENGINE_LOG_LEVEL="WARNING")
        services.manage(env, "migrate", "--noinput")
        os.environ.update(env)
        import django

        django.setup()

        from engine.core.models import Project
        from engine.flywheel import iteration
        from engine.simulation.composites import seed_composites
        from engine.simulation.pool import create_pool, run_pool
        from engine.simulation.worker import Behaviour
        from model_suite.procedural import CATEGORIES

        t = time.monotonic()
        generators = ["geometric_lifting", "silhouette_retrieval"]
        project = Project.objects.create(name="bench", alpha=0.3, n_candidates=opts.candidates,
                                         taxonomy=list(CATEGORIES), collection_target=opts.objects,
                                         alpha_schedule=[0.3, 0.4], generators=generators)
        if not opts.no_flow:
            base = pretrain(work / "pi0")
            iteration.create_run(project, preset="tiny", base=str(base)).delete()  # deploys π_0 as the base
            project.generators = [*generators, "flow_model"]
            project.save(update_fields=["generators"])
        timings["pretrain"] = round(time.monotonic() - t, 1)
        t = time.monotonic()
        seed_composites(project, opts.objects, seed=opts.seed)
        timings["render_composites"] = round(time.monotonic() - t, 1)

        logs = work / "logs"
        logs.mkdir(exist_ok=True)
        access = logs / "access.log"
        url, server = stack.enter_context(services.engine_server(env, logs / "server.log", opts.server_workers,
                                                                 opts.server_threads, access_log=access,
                                                                 cpus=opts.engine_cpus))
        procs = {"server": server}
        ready = {}
        for queue, concurrency in (("cpu", opts.cpu_concurrency), ("gpu", opts.celery_concurrency)):
            procs[f"celery_{queue}"] = services.start(
                [sys.executable, "-m", "celery", "-A", "engine", "worker", "-Q", queue, "-c",
                 str(concurrency), "-n", f"{queue}@%h", "--without-gossip", "--without-mingle",
                 "-l", "INFO"], env, logs / f"celery-{queue}.log", cpus=opts.engine_cpus)
            ready[logs / f"celery-{queue}.log"] = " ready."
        procs["rq_trainer"] = services.start([sys.executable, "manage.py", "rqworker", "trainer"], env,
                                             logs / "rqworker.log", cpus=opts.engine_cpus)
        ready[logs / "rqworker.log"] = "Listening on"
        for proc in procs.values():
            stack.callback(services.stop, proc)
        # The workers' start (imports, the model suite) is not the load: the CPU meter starts once they listen.
        services.wait_until(lambda: all(log.exists() and text in log.read_text(errors="replace")
                                        for log, text in ready.items()), 300, "the workers to listen")
        timings["setup_until_workers_listen"] = round(time.monotonic() - t0, 1)
        redis_pid = services.redis_pid(redis_url)
        meter = CpuMeter(procs, pg, {"redis": redis_pid} if redis_pid else {})
        figures["cpu_affinity"] = meter.affinity()

        pool = create_pool(opts.annotators, opts.artists, prefix="bench", seed=opts.seed)
        f = opts.factor
        behaviour = Behaviour(pace=(("select", opts.select_seconds / f), ("rank", STAGE2_SECONDS / f),
                                    ("align", STAGE3_SECONDS / f)), artist_delay=opts.artist_seconds / f,
                          poll_seconds=UI_POLL_SECONDS / f)
        stop = threading.Event()
        depth = {}
        sampler = threading.Thread(target=lambda: depth.setdefault("rows", sample_queues(redis_url, project.pk, stop)))
        sampler.start()
        t, started_at = time.monotonic(), time.time()  # started_at: the sets' ready_at in seconds of the annotation
        logged = [access.stat().st_size]  # the access log's part written during the annotation
        report = people(opts.clients_nice, run_pool, pool, url, project, behaviour=behaviour, deadline=opts.seconds,
                        idle_seconds=20.0, target=opts.objects, seed=opts.seed, client_class=Timed.client_class(),
                        cpus=opts.people_cpus, seen=figures["cpu_affinity"])
        timings["annotation"] = round(time.monotonic() - t, 1)
        logged.append(access.stat().st_size)
        # Before the flywheel run: its redeploy re-offers failed objects, which generate again.
        steady = _steady_state(project, report, opts, started_at)
        annotation_cpu = meter.used()
        # The kernel's count of the engine's CPUs' busy time: it also sees what the meter cannot (processes
        # that ended during the annotation, such as PostgreSQL backends of closed connections; the kernel).
        # Unpinned, the engine shares every CPU with the people, and only the whole machine's share is read.
        figures["cpus_busy_share"] = {
            "engine_cpus": meter.busy(opts.engine_cpus) if opts.engine_cpus else None,
            "people_cpus": meter.busy(opts.people_cpus) if opts.people_cpus else None,
            "all_cpus": meter.busy(sorted(os.sched_getaffinity(0)))}

        run_seconds = None
        if not opts.no_flow:
            t = time.monotonic()
            flywheel = iteration.create_run(project, preset="tiny", sft_steps=opts.train_steps,
                                            dpo_steps=opts.train_steps, seeds=(0,), heldout_share=0.2)
            iteration.enqueue(flywheel)
            flywheel = services.wait_until(lambda: _finished(flywheel.pk), 1800, "the flywheel run on RQ")
            timings["flywheel_run"] = round(time.monotonic() - t, 1)
            run_seconds = {"status": flywheel.status, "error": flywheel.error[-500:], **flywheel.step_seconds}
        stop.set()
        sampler.join()
        figures.update(summarize(project, report, depth.get("rows", []), opts, timings, annotation_cpu, run_seconds,
                                 steady, figures["cpus_busy_share"]["engine_cpus"]))
        figures["api_server"] = server_times(access, *logged)
    return figures


def people(nice, run, *args, cpus=None, seen=None, **kwargs):
    """run(*args, **kwargs) at `nice` and on `cpus` (the simulated people's threads inherit both), or as it is.

    `seen`, a dict, gets the CPUs the people ran on under "clients".

    Two settings, because one is not enough on Linux: a nice value belongs to a thread (the threads it
    starts inherit it), and with autogroup scheduling (`/proc/sys/kernel/sched_autogroup_enabled`) it
    only ranks threads within their session; between sessions the scheduler shares the CPU evenly. The
    engine's processes each run in a session of their own (services.start), so the people's session
    gets the nice value too (`/proc/self/autogroup`), and its old one back at the end.
    """
    if not nice and not cpus:
        if seen is not None:
            seen["clients"] = sorted(os.sched_getaffinity(0))
        return run(*args, **kwargs)
    out, group = {}, Path("/proc/self/autogroup")
    before = autogroup_nice(group) if nice else None

    def body():
        try:
            if cpus:  # pid 0: on Linux, this thread alone; the threads it starts inherit the mask
                os.sched_setaffinity(0, cpus)
            if seen is not None:
                seen["clients"] = sorted(os.sched_getaffinity(0))
            if nice:
                os.nice(nice)
            out["report"] = run(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            out["error"] = e
    if before is not None:
        group.write_text(str(max(before, nice)))
    try:
        thread = threading.Thread(target=body, name="simulated-people")
        thread.start()
        thread.join()
    finally:
        if before is not None:
            try:
                group.write_text(str(before))
            except OSError as exc:  # lowering a nice value needs CAP_SYS_NICE
                print(f"could not restore this session's autogroup nice value {before}: {exc}", file=sys.stderr)
    if "error" in out:
        raise out["error"]
    return out["report"]


def autogroup_nice(group=Path("/proc/self/autogroup")):
    """This session's autogroup nice value, or None where the kernel schedules without autogroups."""
    try:
        enabled = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
        return int(group.read_text().split("nice")[1]) if enabled else None
    except (OSError, IndexError, ValueError):
        return None


def _finished(run_id):
    from engine.flywheel.models import FlywheelRun, RunStatus

    run = FlywheelRun.objects.get(pk=run_id)
    return run if run.status in (RunStatus.DONE, RunStatus.FAILED) else None


def summarize(project, report, depth, opts, timings, cpu, run_seconds, steady=None, engine_cpus_busy=None):
    """Return the JSON figures of a bench run from the database, the clients' log and the samples.

    engine_cpus_busy: the kernel's busy share of the engine's CPUs over the annotation; pinned
    (--engine-cpus), the saturation factor reads it rather than the metered processes' share.
    """
    from django.db.models import Min

    from engine.candidates.models import CandidateSet
    from engine.intake.models import ObjectInstance
    from engine.leases.models import Task, TaskStatus

    hours = timings["annotation"] / 3600
    done = Counter(Task.objects.filter(project=project, status=TaskStatus.DONE).values_list("stage", flat=True))
    per_stage = {stage: round(n / hours, 1) for stage, n in done.items()} if hours else {}
    by_endpoint = defaultdict(list)
    for endpoint, seconds, status, _ in Timed.rows:
        by_endpoint[endpoint].append(seconds)
    api = {e: {"n": len(v), "p50_ms": pct(v, 50), "p99_ms": pct(v, 99)}
           for e, v in sorted(by_endpoint.items(), key=lambda kv: -len(kv[1]))}
    errors = Counter(f"{e} {s}" for e, _, s, _ in Timed.rows if s not in (200, 204))

    # Selection (the object's row) to the first Stage 2 claim of its set, and to its set being ready.
    first_claim = dict(Task.objects.filter(project=project, stage="rank", claimed_at__isnull=False)
                       .values_list("object_id").annotate(t=Min("claimed_at")))
    selected = dict(ObjectInstance.objects.filter(image__project=project).values_list("id", "selected_at"))
    latency = [(first_claim[o] - selected[o]).total_seconds() for o in first_claim if o in selected]
    ready = [(c.ready_at - c.created_at).total_seconds() for c in CandidateSet.objects.filter(
        object__image__project=project, ready_at__isnull=False)]

    # Duplicates: two training samples of one object; lost: a submit answered 200 whose task is not done.
    from engine.records.models import TrainingSample

    samples = Counter(TrainingSample.objects.filter(iteration__project=project).values_list("object_id", flat=True))
    done_ids = set(Task.objects.filter(project=project, status=TaskStatus.DONE).values_list("id", flat=True))
    ann = "annotator"
    rounds, empty = report.rounds.get(ann, 0), report.empty_rounds.get(ann, 0)
    idle = report.idle_seconds.get(ann, 0.0)
    found_share = round(1 - empty / rounds, 4) if rounds else None
    idle_share = round(idle / (opts.annotators * timings["annotation"]), 4) if timings["annotation"] else None
    machine = {k: v for k, v in cpu.items() if k != "clients"}
    busiest = max(machine, key=machine.get) if machine else None
    # People waiting on the machine: samples of the annotation where objects were generating and no
    # Stage 1-3 task was open.
    human = ("select", "rank", "align")
    during = [r for r in depth if r["t"] <= timings["annotation"]]
    starved = [r for r in during if r["generating"] and not any(r["open_tasks"].get(s) for s in human)]
    starved_share = round(len(starved) / len(during), 3) if during else None
    # People waiting while objects wait for candidates: generation is what they wait on. (A sample seldom
    # finds no task open at all: a set's tasks are claimed within a poll, so the idle share is the test.)
    behind = None
    backlog = generation_backlog(during, steady, timings["annotation"], opts.annotators)
    if idle_share and idle_share > 0.01 and any(r["generating"] for r in during):
        bottleneck = (f"candidate generation: annotators were idle {idle_share:.0%} of the time while up to "
                      f"{max(r['generating'] for r in during)} objects waited for candidates (Celery cpu queue up "
                      f"to {max(r['celery_cpu'] for r in during)} jobs; no Stage 1-3 task open in "
                      f"{starved_share:.0%} of the samples)")
    elif backlog["kept_up"] is False:  # nobody waited (Stage 1 images kept them busy) but generation fell behind
        bottleneck = (f"candidate generation: the objects waiting for candidates grew by "
                      f"{backlog['growth_over_second_half']:g} over the steady state's second half, to "
                      f"{backlog['waiting']['end']} (Celery cpu queue up to "
                      f"{max(r['celery_cpu'] for r in during)} jobs); the annotators kept busy with Stage 1 images")
    else:  # the machine kept up: name the people's stage that fell behind, if one did
        behind = human_backlog(during)
        bottleneck = (f"{behind['stage']} (people, not the machine): {behind['open_at_end']} tasks open at the end "
                      f"of the annotation, up from {behind['open_at_half']} at its half; the most machine CPU: "
                      f"{busiest}" if behind else f"{busiest}: the most machine CPU" if busiest else None)
    through = done.get("align", 0)  # objects through Stage 3: training samples
    machine_cpu_per_object = round(sum(machine.values()) / through, 2) if through else None
    # Demand at factor f: each annotator finishes one object per (80 + 150 + select) / f seconds of work.
    person_seconds = STAGE2_SECONDS + STAGE3_SECONDS + opts.select_seconds
    cores = len(opts.engine_cpus) or os.cpu_count() or 1  # pinned (--engine-cpus): the engine's own
    # Two readings of the factor that would fill the machine. By use: the engine's share of the cores
    # over the annotation, scaled linearly (it took 0.43 of them at factor 3, so it fills them near 7).
    # Per object: the demand of one object per person_seconds/factor at the CPU cost per object
    # through Stage 3; objects still in flight (selected and generated, not yet aligned) add to the
    # cost and not to the count, so in a run that does not drain this reads low (3.4 against 7).
    used = sum(machine.values()) / (cores * timings["annotation"]) if timings["annotation"] else 0.0
    # The factor the people delivered: their tasks done, at a person's time each, per annotator-second. It is
    # the nominal factor when they keep pace; below it when they idle or are slowed (at --clients-nice their
    # own threads wait for the CPU).
    done_at_pace = (done.get("select", 0) * opts.select_seconds + done.get("rank", 0) * STAGE2_SECONDS
                    + done.get("align", 0) * STAGE3_SECONDS)
    delivered = done_at_pace / (opts.annotators * timings["annotation"]) if timings["annotation"] else 0.0
    # Pinned, the engine's CPUs run nothing else, and the kernel's count sees what the meter misses.
    by_kernel = bool(opts.engine_cpus and engine_cpus_busy)
    filled = engine_cpus_busy if by_kernel else used
    saturation = round(delivered / filled, 1) if filled and delivered else None
    per_object = (round(cores * person_seconds / (opts.annotators * machine_cpu_per_object), 1)
                  if machine_cpu_per_object else None)
    return {
        "objects_through": through, "tasks_done": dict(done), "objects_per_hour": per_stage,
        "api": api, "http_errors": dict(errors),
        "queue_depths": depth,
        **queue_maxima(depth, timings["annotation"]),
        "generation_backlog": backlog,
        "candidate_set_latency_s": {"selection_to_first_stage2_claim": _spread(latency),
                                    "set_generation": _spread(ready)},
        "duplicates": sum(1 for n in samples.values() if n > 1),
        "lost_submissions": _lost(Timed.rows, done_ids),
        # The goal (99 %) is of time: claim rounds count the polls of waiting members too. share_of_time is
        # of the whole annotation, warm-up and dry tail included; steady_state leaves both out.
        "annotators_found_work": {"share_of_time": round(1 - idle_share, 4) if idle_share is not None else None,
                                  "idle_share_of_time": idle_share, "share_of_claim_rounds": found_share,
                                  "steady_state": steady, "factor": opts.factor, "goal": 0.99},
        "cpu_seconds": cpu, "machine_cpu_seconds_per_object": machine_cpu_per_object,
        "bottleneck": {"found": bottleneck, "people_waiting_on_generation_share": starved_share,
                       "busiest_component": busiest, "people_stage_behind": behind,
                       "share_of_machine_cpu": round(machine[busiest] / sum(machine.values()), 3)
                       if busiest and sum(machine.values()) else None},
        "machine_share_of_cores": round(used, 3),
        "delivered_factor": round(delivered, 2),
        "saturation_factor_estimate": saturation,
        "saturation_rule": f"the delivered factor (Stage 1-3 tasks done at {opts.select_seconds:g}, "
                           f"{STAGE2_SECONDS:g} and {STAGE3_SECONDS:g} s each, per annotator-second; nominal "
                           f"{opts.factor:g}) divided by the engine's share of the {cores} cores over the annotation "
                           + ("(the kernel's busy time of the CPUs it is pinned to)" if by_kernel else
                              "(its metered processes)") + ": the factor at which the same mix of work fills them",
        "saturation_factor_per_object": per_object,
        "saturation_per_object_rule": f"factor at which {opts.annotators} annotators' demand, one object per "
                                      f"{person_seconds:g}/factor s each, uses all {cores} cores at the machine CPU "
                                      "seconds per object through Stage 3 (low while objects are in flight)",
        "wall_seconds": timings, "iteration_step_seconds": run_seconds,
        "pool": {k: v for k, v in report.as_dict().items() if k != "errors"}, "pool_errors": report.errors[:20],
    }


QUEUES = ("celery_cpu", "celery_gpu", "rq_trainer", "generating")


def queue_maxima(depth, annotation_seconds):
    """Return the most jobs or objects waiting per queue during the annotation, and after it (the flywheel run).

    Kept apart: the flywheel's redeploy re-offers every object waiting for an artist to the new
    generator, so the samples after the annotation hold a burst of generation no annotator met.
    """
    def most(rows):
        return {k: max((r[k] for r in rows), default=0) for k in QUEUES}
    return {"max_queue_depth": most([r for r in depth if r["t"] <= annotation_seconds]),
            "max_queue_depth_after_annotation": most([r for r in depth if r["t"] > annotation_seconds])}


STAGE_NAMES = {"rank": "Stage 2 (ranking)", "artist": "Stage 2.5 (artists)", "align": "Stage 3 (alignment)"}


def generation_backlog(samples, steady, annotation_seconds, annotators):
    """Return whether candidate generation kept up with the people over the steady state (waiting.BACKLOG_RULE).

    `samples` are the queue-depth rows of the annotation; `steady` the steady-state figures (its window
    and share of time with work; the whole annotation when it has no window).
    """
    start, end = (steady or {}).get("window_s") or (0.0, annotation_seconds)
    growth = waiting.backlog_growth(samples, start, end)
    share = (steady or {}).get("share_of_time")

    def at(t):
        return min(samples, key=lambda r: abs(r["t"] - t))["generating"] if samples else None
    kept_up = None if growth is None or share is None else bool(growth < annotators and share >= 0.99)
    return {"waiting": {"start": at(start), "half": at((start + end) / 2), "end": at(end)},
            "growth_over_second_half": growth, "kept_up": kept_up, "rule": waiting.BACKLOG_RULE}


def human_backlog(samples, stages=tuple(STAGE_NAMES)):
    """Return the people's stage whose open tasks grew most over the annotation's second half, or None.

    `samples` are the queue-depth rows of the annotation (t, open_tasks by stage). Stage 1 is left out:
    its pool only shrinks. A stage whose backlog grows while the machine keeps up is the one that
    falls behind (at a person's pace, the artists: 600 s a mesh).
    """
    if len(samples) < 2:
        return None
    last = samples[-1]
    half = min(samples, key=lambda r: abs(r["t"] - last["t"] / 2))
    growth = {s: last["open_tasks"].get(s, 0) - half["open_tasks"].get(s, 0) for s in stages}
    stage = max(growth, key=growth.get)
    if growth[stage] <= 0:
        return None
    return {"stage": STAGE_NAMES.get(stage, stage), "open_at_half": half["open_tasks"].get(stage, 0),
            "open_at_end": last["open_tasks"].get(stage, 0)}


def _steady_state(project, report, opts, started_at):
    """Return the share of the annotators' time with work in the steady state, and its window (waiting.py)."""
    from engine.candidates.models import CandidateSet
    from engine.intake.models import ObjectInstance, ObjectStatus
    from engine.leases.models import Task, TaskStatus

    ready = [c.timestamp() - started_at for c in CandidateSet.objects.filter(
        object__image__project=project, ready_at__isnull=False).values_list("ready_at", flat=True)]
    all_ready = not (ObjectInstance.objects.filter(image__project=project, status=ObjectStatus.GENERATING).exists()
                     or Task.objects.filter(project=project, stage="select",
                                            status__in=(TaskStatus.OPEN, TaskStatus.LEASED)).exists())
    window = waiting.steady_window(report.seconds, ready, all_ready, opts.warmup)
    spans = [(start, seconds) for role, start, seconds in report.idle_spans if role == "annotator"]
    share = waiting.share_with_work(spans, opts.annotators, *window) if window else None
    start, end = window or (report.seconds, report.seconds)
    # Where the waiting fell, in annotator-seconds: before, inside and after the window.
    idle = {"warmup": waiting.idle_within(spans, 0.0, start), "steady_state": waiting.idle_within(spans, start, end),
            "tail": waiting.idle_within(spans, end, report.seconds + 3600)}
    return {"share_of_time": share, "goal_met": None if share is None else share >= 0.99,
            "window_s": [round(start, 1), round(end, 1)] if window else None,
            "warmup_s": round(start, 1), "tail_s": round(report.seconds - end, 1),
            "idle_annotator_seconds": {k: round(v, 1) for k, v in idle.items()},
            "every_object_had_its_set": all_ready, "rule": waiting.WINDOW_RULE}


def _lost(rows, done_ids):
    """Count submits answered 200 whose task is not done."""
    import re

    acknowledged = {int(re.search(r"tasks/(\d+)/submit", path).group(1)) for e, _, s, path in rows
                    if e.endswith("/submit/") and s == 200}
    return len(acknowledged - done_ids)


def _spread(values):
    if not values:
        return None
    return {"n": len(values), "p50": round(float(np.percentile(values, 50)), 2),
            "p90": round(float(np.percentile(values, 90)), 2), "max": round(float(max(values)), 2)}


def main(argv=None):
    # SIGTERM (a timeout, Ctrl+C's cousin) ends the bench through its ExitStack: its PostgreSQL cluster,
    # Redis and workers are stopped, not left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    opts = parse(argv)
    figures = run(opts)
    text = json.dumps(figures, indent=2, default=str)
    if opts.out:
        Path(opts.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
