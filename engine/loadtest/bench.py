"""Claim + submit cycles over HTTP against a real WSGI server, for `manage.py bench_claims`."""

import json
import multiprocessing
import socket
import threading
import time
from functools import partial
from urllib.parse import urlsplit

import numpy as np


# The categories of a --curriculum pool: each group of the shipped curriculum, and the long tail.
CURRICULUM_MIX = ("box", "mug", "bottle", "chair", "table", "car", "dog", "person", "other")


def make_pool(tasks, clients, curriculum=False):
    """Create a bench project with `tasks` Stage 3 tasks and `clients` annotators; return (project, tokens).

    With `curriculum` the objects cycle through CURRICULUM_MIX and the tasks get the curriculum's
    priorities (engine.intake.priorities), so the claims order them as a project's queue is ordered;
    without it every object is a box and every priority 0.
    """
    from django.contrib.auth.models import User
    from django.core.files.base import ContentFile
    from rest_framework.authtoken.models import Token

    from engine.alignment.models import Alignment
    from engine.candidates.models import Candidate, CandidateSet, SetStatus
    from engine.core import transactions
    from engine.core.models import Project
    from engine.core.roles import ANNOTATOR, grant
    from engine.intake.models import Image, ObjectInstance, ObjectStatus
    from engine.leases.models import Stage, Task

    stamp = time.strftime("%Y%m%d-%H%M%S")
    # One transaction, as the engine's other writers (engine.core.transactions): a pool that fails
    # half-made (a user name taken, the database full) leaves no project behind, nor its image and mesh.
    with transactions.atomic():
        project = Project.objects.create(name=f"bench-{stamp}")
        iteration = project.current_iteration()
        image = Image(project=project, width=64, height=64, sha256=stamp, source_dataset="bench")
        image.file.save(f"bench-{stamp}.png", ContentFile(_png()), save=False)
        transactions.on_rollback(partial(image.file.storage.delete, image.file.name))
        image.save()
        rle = {"size": [64, 64], "counts": [0, 4096]}
        mix = CURRICULUM_MIX if curriculum else ("box",)
        objects = ObjectInstance.objects.bulk_create([
            ObjectInstance(image=image, mask_rle=rle, area=4096, bbox=[0, 0, 64, 64], category=mix[i % len(mix)],
                           status=ObjectStatus.ALIGNING) for i in range(tasks)
        ])
        sets = CandidateSet.objects.bulk_create([
            CandidateSet(object=o, iteration=iteration, status=SetStatus.ACCEPTED) for o in objects
        ])
        mesh_name = Candidate.mesh.field.storage.save(f"bench/{stamp}.glb", ContentFile(_glb()))
        transactions.on_rollback(partial(Candidate.mesh.field.storage.delete, mesh_name))
        candidates = Candidate.objects.bulk_create([
            Candidate(candidate_set=s, generator="bench", generator_version="1", kind="retrieval", seed=0,
                      mesh=mesh_name)
            for s in sets
        ])
        pool = Task.objects.bulk_create([
            Task(project=project, stage=Stage.ALIGN, image=image, object=o, candidate_set=s)
            for o, s in zip(objects, sets)
        ])
        Alignment.objects.bulk_create([Alignment(task=t, candidate=c, rating=0.9)
                                       for t, c in zip(pool, candidates, strict=True)])
        tokens = []
        for i in range(clients):
            user = User.objects.create_user(f"bench-{stamp}-{i}")
            grant(user, ANNOTATOR)
            tokens.append(Token.objects.create(user=user).key)
    if curriculum:
        from engine.intake.priorities import refresh

        refresh(project.pk, force=True)
    return project, tokens


# The tables a claim + submit cycle writes.
WRITTEN = ("leases.Task", "intake.ObjectInstance", "alignment.Alignment", "records.TrainingSample")


def vacuum(using="default"):
    """VACUUM (ANALYZE) the tables a cycle writes (PostgreSQL); return their names, or [] elsewhere.

    Every cycle leaves dead row versions behind. A server with autovacuum (PostgreSQL's default)
    clears them as it goes; on one without it (this project's CI machine turns it off) they pile
    up from run to run (300,000 in the task table after a morning of runs), and each claim reads
    through more of them. Vacuuming first measures every run from the same state.
    """
    from django.apps import apps
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    tables = [apps.get_model(label)._meta.db_table for label in WRITTEN]
    with connection.cursor() as cursor:  # VACUUM cannot run in a transaction: Django's cursor autocommits here
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")
    return tables


def autovacuum(using="default"):
    """Return PostgreSQL's autovacuum setting ("on"/"off"), or None on another database."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        return cursor.fetchone()[0]


def remove_pool(project):
    """Delete a bench project with everything make_pool created for it: rows, users and files."""
    from django.contrib.auth.models import User
    from django.db import transaction

    from engine.candidates.models import Candidate
    from engine.intake.models import Image

    files = [(Image.file.field.storage, name) for name in Image.objects.filter(project=project)
             .values_list("file", flat=True)]
    files += [(Candidate.mesh.field.storage, name) for name in Candidate.objects
              .filter(candidate_set__object__image__project=project).values_list("mesh", flat=True).distinct()]
    with transaction.atomic():
        project.delete()
        User.objects.filter(username__startswith=f"{project.name}-").delete()
    for storage, name in files:  # after the commit: had it rolled back, every row would still have its file
        storage.delete(name)


def reference_loop_ms(repeats=5):
    """CPU milliseconds of a fixed pure-Python loop (the median of `repeats`): how fast the cores run now.

    A virtual machine's cores can run at half speed from one minute to the next (a neighbour's
    load on the host: 32 ms and then 60 ms for this loop on the 2-core CI machine), which moves
    cycles/s more than most changes to the code. Printed before and after a run, it tells which
    runs can be compared. Two untimed rounds go first: on an idle core the first two took twice
    as long as the rest.
    """
    def once():
        started = time.process_time()
        total = 0
        for i in range(1_000_000):
            total += i * i
        return time.process_time() - started

    once(), once()
    return round(1000 * float(np.median([once() for _ in range(repeats)])), 1)


def _png():
    import io

    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _glb():
    import trimesh

    from model_suite.meshio import to_glb

    box = trimesh.creation.box()
    return to_glb(np.asarray(box.vertices), np.asarray(box.faces))


POSE = json.dumps({"rotation": {"quaternion": [1, 0, 0, 0]}, "translation": [0, 0, 2], "scale": 1.0, "seconds": 1})


class _Connection:
    """A minimal HTTP/1.1 keep-alive client for the bench's clients.

    They share the machine's cores with the server they measure, so they must cost little:
    http.client parses every response's headers through the email package, which cost about
    a tenth of a cycle's CPU. This speaks only what the bench needs: POST with a body, answers
    framed by Content-Length, and a reconnect when the server has closed an idle connection.
    """

    def __init__(self, host, port, timeout):
        self.address, self.timeout = (host, port), timeout
        self.host = f"{host}:{port}".encode()
        self.sock, self.buffer = None, b""

    def post(self, path, body, headers):
        """Send a POST; return (status, body). `headers` are ready-made lines ("Name: value\r\n")."""
        request = (b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n%s\r\n%s"
                   % (path.encode(), self.host, len(body), headers, body))
        fresh = self.sock is None
        if fresh:
            self._connect()
        try:
            self.sock.sendall(request)
            return self._answer()
        except ConnectionError:
            if fresh:
                raise
            # The server closed the idle connection before reading the request: send it again.
            # Safe here: a repeated claim returns the task already held, a repeated submit its first answer.
            self._connect()
            self.sock.sendall(request)
            return self._answer()

    def _connect(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = socket.create_connection(self.address, timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def _read(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        self.buffer += chunk

    def _answer(self):
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status, length, close = int(lines[0].split(b" ", 2)[1]), 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                raise ValueError("the bench's client reads only answers framed by Content-Length")
            elif name == b"connection":
                close = value.strip().lower() == b"close"
        while len(self.buffer) < length:
            self._read()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        if close:
            self.sock.close()
            self.sock = None
        return status, body


def _client(url, project_id, token, warmup, ready, go, deadline, out, interval=None):
    """Run `warmup` cycles, then from the common start claim and submit until the queue is empty or the deadline.

    Appends (task_id, claim_s, submit_s, status, end, warm) rows, `end` on time.monotonic and
    `warm` true for a warm-up cycle. After its warm-up the client calls `ready()` and waits for
    `go()` to give the common start (time.monotonic) and its own offset from it.
    `interval` paces the client: its cycles start at `start`, `start + interval`, ..., and
    their latency counts from that time, so a server that falls behind shows as the wait it
    causes, not as fewer requests sent (the "coordinated omission" of closed loops).
    """
    parts = urlsplit(url)
    conn = _Connection(parts.hostname, parts.port, timeout=60)
    headers = f"Authorization: Token {token}\r\nContent-Type: application/json\r\n".encode()
    claim_body = json.dumps({"project": project_id, "stage": "align"}).encode()
    pose = POSE.encode()

    def cycle(t0, warm):
        """One claim + submit from t0 (perf_counter); return False when the client should stop."""
        status, body = conn.post("/api/tasks/claim/", claim_body, headers)
        t1 = time.perf_counter()
        if status == 204:
            return False
        if status != 200:
            out.append((None, t1 - t0, 0.0, status, time.monotonic(), warm))
            return status < 500  # a broken server: stop and report it rather than hammer it for the whole run
        task_id = json.loads(body)["id"]
        status, _ = conn.post(f"/api/tasks/{task_id}/submit/", pose, headers + b"Idempotency-Key: b%d\r\n" % task_id)
        out.append((task_id, t1 - t0, time.perf_counter() - t1, status, time.monotonic(), warm))
        return True

    try:
        for _ in range(warmup):
            if not cycle(time.perf_counter(), True):
                break
    finally:
        ready()  # even after an error: the others must not wait for this client for ever
    planned = go()
    time.sleep(max(0.0, planned - time.monotonic()))
    while time.monotonic() < deadline():
        if interval:
            time.sleep(max(0.0, planned - time.monotonic()))
            t0 = planned - time.monotonic() + time.perf_counter()
            planned += interval
        else:
            t0 = time.perf_counter()
        if not cycle(t0, False):
            return


def _process(url, project_id, tokens, offsets, warmup, seconds, interval, warm_queue, start_at, go, queue):
    """The clients of one process: threads that warm up, report ready, and start together."""
    rows, lock, warm = [], threading.Lock(), [0]

    def ready():
        with lock:
            warm[0] += 1
            if warm[0] == len(tokens):
                warm_queue.put(len(tokens))  # every client of this process is warm

    def start_of(offset):
        def wait():
            go.wait()
            return start_at.value + offset
        return wait

    def deadline():
        return start_at.value + seconds

    threads = [threading.Thread(target=_client, args=(url, project_id, t, warmup, ready, start_of(offset), deadline,
                                                      rows, interval))
               for t, offset in zip(tokens, offsets, strict=True)]
    for t in threads:
        t.start()
    go.wait()
    cpu = time.process_time()  # the timed part's CPU, every thread of this process
    for t in threads:
        t.join()
    queue.put((rows, time.process_time() - cpu))


def drive(url, project_id, tokens, processes, seconds, rate=None, warmup=0, on_start=None):
    """Run the clients in `processes` processes; return (rows, seconds, client CPU seconds).

    The rows are every cycle's; the seconds run from the common start to the last timed
    answer, and the clients' CPU seconds are those they spent in that time. `on_start` is
    called just before the clock starts (to read CPU counters, say).

    Each client first runs `warmup` cycles as fast as the server answers: they open its
    connection and the server's database connections, and get the hot statements prepared
    (after DATABASE_PREPARE_THRESHOLD runs on each connection). Their rows are marked warm
    and not timed. The clock starts once every client is warm.
    Without `rate` each client then starts its next cycle as soon as the last one ends (a
    closed loop: the server's top speed). With `rate` (cycles per second, all clients
    together) each client starts one every len(tokens) / rate seconds, the clients evenly out
    of phase: the latency of a server under that load.
    """
    context = multiprocessing.get_context("fork")
    queue, warm_queue, go = context.Queue(), context.Queue(), context.Event()
    start_at = context.Value("d", 0.0)
    interval = len(tokens) / rate if rate else None
    offsets = [i * interval / len(tokens) if rate else 0.0 for i in range(len(tokens))]
    procs = [context.Process(target=_process, args=(url, project_id, tokens[i::processes], offsets[i::processes],
                                                    warmup, seconds, interval, warm_queue, start_at, go, queue))
             for i in range(processes) if tokens[i::processes]]
    for p in procs:
        p.daemon = True  # none outlives a failed run
        p.start()
    try:
        for _ in procs:
            warm_queue.get(timeout=600)
        if on_start is not None:
            on_start()
    except BaseException:
        start_at.value = time.monotonic() - seconds - 1.0  # their deadline has passed: the clients stop at once
        go.set()
        raise
    start_at.value = start = time.monotonic() + 0.2
    go.set()
    rows, cpu = [], 0.0
    for _ in procs:
        more, seconds_used = queue.get()
        rows.extend(more)
        cpu += seconds_used
    for p in procs:
        p.join()
    timed = [r[4] for r in rows if not r[5]]
    return rows, max(timed, default=start) - start, cpu


def summarize(rows, wall, project, vendor):
    """Return the figures of a run: throughput, latency percentiles, duplicates, losses."""
    from collections import Counter

    from engine.leases.models import Task, TaskStatus

    timed = [r for r in rows if not r[5]]
    ok = [r for r in timed if r[0] is not None and r[3] == 200]
    cycle_ms = np.array([(r[1] + r[2]) * 1000 for r in ok]) if ok else np.zeros(1)
    claim_ms = np.array([r[1] * 1000 for r in timed]) if timed else np.zeros(1)
    submit_ms = np.array([r[2] * 1000 for r in ok]) if ok else np.zeros(1)
    warm = [r for r in rows if r[5] and r[0] is not None and r[3] == 200]
    warm_ms = np.array([(r[1] + r[2]) * 1000 for r in warm]) if warm else np.zeros(1)
    # Duplicates and losses count every cycle, warm-up included.
    counts = Counter(r[0] for r in rows if r[0] is not None)
    done = set(Task.objects.filter(project=project, status=TaskStatus.DONE).values_list("id", flat=True))
    total = Task.objects.filter(project=project).count()
    submitted = [r for r in rows if r[0] is not None and r[3] == 200]
    return {
        "database": vendor,
        "tasks": total,
        "cycles": len(ok),
        "seconds": round(wall, 2),
        "cycles_per_s": round(len(ok) / wall, 1) if wall else None,
        "cycle_ms": {"p50": round(float(np.percentile(cycle_ms, 50)), 1),
                     "p95": round(float(np.percentile(cycle_ms, 95)), 1),
                     "p99": round(float(np.percentile(cycle_ms, 99)), 1)},
        # Each request alone (a paced claim counts from its cycle's scheduled start, like the cycle).
        "claim_ms": {"p50": round(float(np.percentile(claim_ms, 50)), 1),
                     "p99": round(float(np.percentile(claim_ms, 99)), 1)},
        "submit_ms": {"p50": round(float(np.percentile(submit_ms, 50)), 1),
                      "p99": round(float(np.percentile(submit_ms, 99)), 1)},
        # Not timed: each client's first cycles, on a server that has just started.
        "warmup": {"cycles": len(warm), "cycle_ms": {"p50": round(float(np.percentile(warm_ms, 50)), 1),
                                                     "p99": round(float(np.percentile(warm_ms, 99)), 1)}},
        "duplicates": sum(1 for n in counts.values() if n > 1),
        "lost": sum(1 for r in submitted if r[0] not in done),
        "unfinished": total - len(done),
        "http_errors": dict(Counter(r[3] for r in rows if r[3] != 200)),
    }


def connections_per_worker(server, port):
    """Return how many client connections each server worker process holds on `port`, most first.

    Clients keep their connection, and so their worker, for the whole run: a lopsided split
    leaves one worker (one core, under Python's lock) serving most of the load.
    """
    import psutil

    counts = []
    for worker in psutil.Process(server.pid).children(recursive=True):
        try:
            held = worker.net_connections(kind="tcp")
        except psutil.Error:
            continue
        counts.append(sum(1 for c in held if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port))
    return sorted(counts, reverse=True)


def cpu_seconds(server):
    """Return CPU seconds used so far by the server, PostgreSQL, and the whole machine."""
    import psutil

    def total(procs):
        seconds = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                seconds += t.user + t.system
            except psutil.Error:
                pass
        return seconds

    server_procs = []
    if server is not None:
        root = psutil.Process(server.pid)
        server_procs = [root, *root.children(recursive=True)]
    database = [p for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith(("postgres", "postmaster"))]
    machine = psutil.cpu_times()
    # The whole machine: server, clients, PostgreSQL, and whatever else runs now.
    busy = machine.user + machine.nice + machine.system + getattr(machine, "irq", 0) + getattr(machine, "softirq", 0)
    return {"server": total(server_procs), "database": total(database), "machine": busy}
