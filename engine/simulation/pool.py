"""A pool of simulated annotators and artists who work through the HTTP API, as people do.

Each member is a real user with a token and its role, and a member of the auth group
`simulated`, which keeps its work out of the statistics of human quality (annotation_ui/stats.py).
`run_pool` gives each member a thread (engine/simulation/worker.py) that claims, works and
submits until the pool runs out of work, reaches its collection target or its deadline.
Members know the truth of the composites (engine/simulation/truth.py) and act on it:

- Stage 1: the true mask and category, then finish the image;
- Stage 2: each pair by the distance of the two meshes to the true shape, with calibrated noise,
  and the survivor rated by its distance (engine/simulation/judging.py);
- Stage 2.5: the artist uploads the true mesh after `artist_delay` seconds;
- Stage 3: the true pose, plus noise.

A task whose image has no truth (a photograph someone else ingested) is skipped, so people get it.
"""

from __future__ import annotations

import secrets
import threading
import time
from copy import deepcopy
from dataclasses import dataclass, field, fields
from functools import partial

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from rest_framework.authtoken.models import Token

from engine.core.roles import ANNOTATOR, ARTIST, SIMULATED_GROUP, grant
from engine.intake.models import ObjectInstance, ObjectStatus
from engine.leases.models import Stage
from engine.simulation import judging
from engine.simulation.client import ApiClient
from engine.simulation.truth import TruthBook
from engine.simulation.worker import Behaviour, Worker

GENERATION_GRACE = 600.0  # seconds objects still generating candidates keep an idle pool waiting


@dataclass(frozen=True)
class Member:
    """A simulated person: the account it signs in with and what it does."""

    username: str
    password: str
    role: str  # annotator or artist


@dataclass(frozen=True)
class Pool:
    """The simulated people of a run, and the seed of their random streams."""

    members: tuple[Member, ...]
    seed: int = 0

    def of_role(self, role):
        return [m for m in self.members if m.role == role]


@dataclass
class PoolReport:
    """What a run did: tasks submitted per stage, comparisons, skips, errors, seconds, and why it stopped."""

    counts: dict = field(default_factory=lambda: {s: 0 for s, _ in Stage.choices})
    comparisons: int = 0
    skipped: int = 0
    errors: list = field(default_factory=list)
    seconds: float = 0.0
    stage_seconds: dict = field(default_factory=lambda: {s: 0.0 for s, _ in Stage.choices})
    stop_reason: str = ""
    # Per role: claim rounds (one claim per stage of the member's, in order, until one gives a task),
    # the rounds that found no task, and the seconds members then waited before trying again.
    rounds: dict = field(default_factory=dict)
    empty_rounds: dict = field(default_factory=dict)
    idle_seconds: dict = field(default_factory=dict)
    # Each of those waits: (role, seconds from the pool's start to the wait's start, seconds waited), so a
    # share of the time can be taken over a part of the run (engine/loadtest/engine_bench.py's steady state).
    idle_spans: list = field(default_factory=list)

    def as_dict(self):
        """Return the report as plain data, less the idle spans (thousands of rows; read them from the field)."""
        plain = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "idle_spans"}
        return {**deepcopy(plain), "seconds": round(self.seconds, 2),
                "stage_seconds": {k: round(v, 2) for k, v in self.stage_seconds.items()},
                "idle_seconds": {k: round(v, 2) for k, v in self.idle_seconds.items()}}


def create_pool(annotators=2, artists=1, *, prefix="sim", seed=0):
    """Create (or reset) the simulated users and return the Pool.

    Users are named `{prefix}-annotator-{i}` and `{prefix}-artist-{i}`, get their role, a token,
    a fresh random password (the pool signs in through POST /api/auth/token/ with it) and a place
    in the group `simulated`, the flag that marks them in the database.
    """
    group, _ = Group.objects.get_or_create(name=SIMULATED_GROUP)
    users = get_user_model().objects
    members = []
    with transaction.atomic():
        for role, count in ((ANNOTATOR, annotators), (ARTIST, artists)):
            for i in range(count):
                password = secrets.token_urlsafe(16)
                user, _ = users.get_or_create(username=f"{prefix}-{role}-{i}")
                user.set_password(password)
                user.is_active = True
                user.save()
                grant(user, role)
                user.groups.add(group)
                Token.objects.get_or_create(user=user)
                members.append(Member(user.get_username(), password, role))
    return Pool(tuple(members), seed)


def is_simulated(user):
    """Return True if the user is a simulated annotator or artist."""
    return user.groups.filter(name=SIMULATED_GROUP).exists()


class Coordinator:
    """The pool's shared state: counts, who is busy, when work was last done, and the stop rules."""

    def __init__(self, idle_seconds, deadline, target, progress, generating=lambda: False):
        self.generating = generating
        self.lock = threading.Lock()
        self.report = PoolReport()
        self.started = time.monotonic()
        self.last_work = self.started
        self.busy = 0
        self.idle_seconds = idle_seconds
        self.deadline = None if deadline is None else self.started + deadline
        self.target = target
        self.progress = progress
        self.stopping = threading.Event()

    def stop(self, reason):
        with self.lock:
            if not self.stopping.is_set():
                self.report.stop_reason = reason
                self.stopping.set()

    def check(self):
        """Stop the pool if nobody has worked for idle_seconds, nobody is busy and no candidates are on their way.

        Candidates generated by Celery workers take a while to appear as Stage 2 tasks: objects still
        generating hold the stop off, for up to GENERATION_GRACE seconds (a lost worker must not hang the pool).
        """
        now = time.monotonic()
        with self.lock:
            quiet = now - self.last_work if self.busy == 0 else 0.0
        if quiet >= self.idle_seconds and (quiet >= self.idle_seconds + GENERATION_GRACE or not self.generating()):
            self.stop(f"no work for {self.idle_seconds:g} s")

    def note(self, error):
        with self.lock:
            self.report.errors.append(error)

    def round(self, role, worked):
        """Record one claim round of a member of `role`: it found a task (worked) or none."""
        with self.lock:
            report = self.report
            report.rounds[role] = report.rounds.get(role, 0) + 1
            if not worked:
                report.empty_rounds[role] = report.empty_rounds.get(role, 0) + 1

    def idle(self, role, started, seconds):
        """Record a wait of `seconds` from `started` (time.monotonic) of a member of `role`: no task was free."""
        with self.lock:
            self.report.idle_seconds[role] = self.report.idle_seconds.get(role, 0.0) + seconds
            self.report.idle_spans.append((role, started - self.started, seconds))

    def begin(self):
        with self.lock:
            self.busy += 1

    def end(self, stage, seconds, comparisons=0, skipped=False, error=None, interrupted=False):
        """Record the end of a task: done (counted), skipped, failed, or interrupted by the stop."""
        with self.lock:
            self.busy -= 1
            self.last_work = time.monotonic()
            report = self.report
            report.comparisons += comparisons
            if skipped:
                report.skipped += 1
            if error:
                report.errors.append(error)
            if not (skipped or error or interrupted):
                report.counts[stage] += 1
                report.stage_seconds[stage] += seconds
            done = self.target is not None and report.counts[Stage.ALIGN.value] >= self.target
            snapshot = report.as_dict()
        if self.progress:
            self.progress(stage, snapshot)
        if done:
            self.stop(f"target of {self.target} samples reached")


def generating(project_id):
    """Return True if an object of a composite of the project is waiting for its candidates."""
    return ObjectInstance.objects.filter(image__project_id=project_id, status=ObjectStatus.GENERATING,
                                         image__simulated_truth__isnull=False).exists()


def run_pool(pool, base_url, project, *, speed=0.0, noise=judging.CALIBRATED_NOISE, artist_delay=0.0,
             idle_seconds=10.0, deadline=None, target=None, seed=None, progress=None, behaviour=None,
             client_class=ApiClient):
    """Run every member of `pool` on `project` (an id or a Project) against the API at `base_url`; return a PoolReport.

    Stops when nobody has found work for `idle_seconds` with nobody mid-task and no composite's object
    waiting for candidates, when `target` Stage 3 submits (training samples) are made, or `deadline`
    seconds after the start, whichever comes first.
    `progress(stage, report_dict)` is called after every task. `client_class` (an ApiClient) makes
    each member's client: the bench's times every request.
    """
    project_id = getattr(project, "pk", project)
    behaviour = behaviour or Behaviour(speed=speed, noise=noise, artist_delay=artist_delay)
    coordinator = Coordinator(idle_seconds, deadline, target, progress, partial(generating, project_id))
    book = TruthBook()

    def client_for(member):
        return client_class.login(base_url, member.username, member.password)

    seed = pool.seed if seed is None else seed
    workers = [Worker(m, i, client_for, project_id, book, behaviour, coordinator, seed)
               for i, m in enumerate(pool.members)]
    threads = [threading.Thread(target=w.run, name=f"sim-{w.member.username}", daemon=True) for w in workers]
    # The deadline cuts work short: a member waiting out its think time stops and gives its task back.
    timer = threading.Timer(deadline, coordinator.stop, args=("deadline",)) if deadline is not None else None
    if timer:
        timer.daemon = True
        timer.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if timer:
        timer.cancel()
    report = coordinator.report
    report.seconds = time.monotonic() - coordinator.started
    report.stop_reason = report.stop_reason or "every member stopped (see errors)"
    return report
