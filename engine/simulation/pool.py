"""A pool of simulated annotators and artists who work through the HTTP API, as people do.

Each member is a real user with a token and its role, and a member of the auth group
`simulated`, which keeps its work out of the statistics of human quality (annotation_ui/stats.py).
`run_pool` gives each member a thread that claims, works and submits until the pool runs out
of work, reaches its collection target or its deadline. Members know the truth of the
composites (engine/simulation/truth.py) and act on it:

- Stage 1: the true mask and category, then finish the image;
- Stage 2: each pair by the distance of the two meshes to the true shape, with calibrated noise,
  and the survivor rated by its distance (engine/simulation/judging.py);
- Stage 2.5: the artist uploads the true mesh after `artist_delay` seconds;
- Stage 3: the true pose, plus noise.

A task whose image has no truth (a photograph someone else ingested) is skipped, so people get it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connections, transaction
from rest_framework.authtoken.models import Token

from engine.core.roles import ANNOTATOR, ARTIST, grant
from engine.leases.models import Stage
from engine.simulation import judging
from engine.simulation.client import ApiClient
from engine.simulation.truth import TruthBook

log = logging.getLogger("engine.simulation")

SIMULATED_GROUP = "simulated"
ANNOTATOR_STAGES = (Stage.ALIGN.value, Stage.RANK.value, Stage.SELECT.value)  # finish objects before starting new ones
POLL_SECONDS = 0.5  # between claims when no task is free
MAX_ERRORS_IN_A_ROW = 10  # a member that keeps failing stops (the report says why) rather than spin


@dataclass(frozen=True)
class Member:
    """A simulated person: the account it signs in with and what it does."""

    username: str
    password: str
    role: str  # annotator or artist


@dataclass(frozen=True)
class Pool:
    members: tuple[Member, ...]
    seed: int = 0

    def of_role(self, role):
        return [m for m in self.members if m.role == role]


@dataclass(frozen=True)
class Behaviour:
    """How the members work; every field is a parameter of `run_pool`."""

    speed: float = 0.0  # think seconds per action (a claim, a comparison, a submit), ±50 % at random
    noise: float = judging.CALIBRATED_NOISE  # σ of the log-distance noise of Stage 2 (75 % agreement)
    artist_delay: float = 0.0  # seconds an artist takes to model a mesh
    rotation_noise_deg: float = 2.0  # Stage 3: angle of a random rotation applied to the true R
    translation_noise: float = 0.01  # Stage 3: σ of the error in t, as a share of the object's depth
    scale_noise: float = 0.02  # Stage 3: σ of log s


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

    def as_dict(self):
        return {**asdict(self), "seconds": round(self.seconds, 2),
                "stage_seconds": {k: round(v, 2) for k, v in self.stage_seconds.items()}}


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


class Stop(Exception):
    """The pool is stopping: leave the task being worked on."""


class Coordinator:
    """The pool's shared state: counts, who is busy, when work was last done, and the stop rules."""

    def __init__(self, idle_seconds, deadline, target, progress):
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
        """Stop the pool if its deadline passed, or nobody has worked for idle_seconds and nobody is busy."""
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline:
            self.stop("deadline")
        with self.lock:
            idle = self.busy == 0 and now - self.last_work >= self.idle_seconds
        if idle:
            self.stop(f"no work for {self.idle_seconds:g} s")

    def note(self, error):
        with self.lock:
            self.report.errors.append(error)

    def begin(self):
        with self.lock:
            self.busy += 1

    def end(self, stage=None, seconds=0.0, comparisons=0, skipped=False, error=None):
        with self.lock:
            self.busy -= 1
            self.last_work = time.monotonic()
            report = self.report
            report.comparisons += comparisons
            if skipped:
                report.skipped += 1
            if error:
                report.errors.append(error)
            if stage and not skipped and not error:
                report.counts[stage] += 1
                report.stage_seconds[stage] += seconds
            done = self.target is not None and report.counts[Stage.ALIGN.value] >= self.target
            snapshot = report.as_dict()
        if self.progress and stage:
            self.progress(stage, snapshot)
        if done:
            self.stop(f"target of {self.target} samples reached")


class Worker:
    """One simulated person at work: a thread with its own client, random stream and think time."""

    def __init__(self, member, index, client_factory, project, book, behaviour, coordinator, seed):
        self.member = member
        self.client_factory = client_factory
        self.project = project
        self.book = book
        self.behaviour = behaviour
        self.judge = judging.Judge(noise=behaviour.noise)
        self.coordinator = coordinator
        self.rng = np.random.default_rng([seed, index])
        self.stages = ANNOTATOR_STAGES if member.role == ANNOTATOR else (Stage.ARTIST.value,)

    def think(self, scale=1.0):
        """Wait the member's think time (interrupted by a stop)."""
        seconds = self.behaviour.speed * scale * self.rng.uniform(0.5, 1.5)
        if seconds > 0 and self.coordinator.stopping.wait(seconds):
            raise Stop

    def run(self):
        errors_in_a_row = 0
        try:
            self.client = self.client_factory(self.member)
            while not self.coordinator.stopping.is_set():
                try:
                    worked = self.work_once()
                    errors_in_a_row = 0
                except Stop:
                    break
                except Exception as exc:  # one failed task must not end the member's day; the report keeps it
                    errors_in_a_row += 1
                    log.warning("%s: %s", self.member.username, exc)
                    if not getattr(exc, "recorded", False):
                        self.coordinator.note(f"{self.member.username}: {exc}")
                    if errors_in_a_row >= MAX_ERRORS_IN_A_ROW:
                        self.coordinator.note(f"{self.member.username} stopped after {errors_in_a_row} errors in a row")
                        break
                    worked = True
                if not worked:
                    self.coordinator.check()
                    self.coordinator.stopping.wait(POLL_SECONDS)
        finally:
            connections.close_all()  # this thread's connections (the truth book reads the database)

    def work_once(self):
        """Claim and do one task of the member's stages; return False when none was free."""
        for stage in self.stages:
            task = self.client.claim(self.project, stage)
            if task is None:
                continue
            self.coordinator.begin()
            started = time.monotonic()
            outcome = {}
            try:
                outcome = getattr(self, f"do_{stage}")(task) or {}
            except Stop:
                self.client.release(task["id"])
                outcome = {"skipped": True}
                raise
            except Exception as exc:
                self._give_back(task)
                outcome = {"error": f"{self.member.username} on {stage} task {task['id']}: {exc}"}
                exc.recorded = True
                raise
            finally:
                seconds = time.monotonic() - started
                self.coordinator.end(stage, seconds, outcome.get("comparisons", 0), outcome.get("skipped", False),
                                     outcome.get("error"))
            return True
        return False

    def _give_back(self, task):
        try:
            self.client.release(task["id"], skip=True)
        except Exception:  # the lease expires on its own
            pass

    def skip(self, task):
        self.client.release(task["id"], skip=True)
        return {"skipped": True}

    def truth_of(self, task):
        """Return the truth of the task's object (None if its image or object is not a composite's)."""
        payload = task["payload"]
        truth = self.book.get(payload["image"]["id"])
        if truth is None or "object" not in payload:
            return truth
        return truth if truth.matches(payload["object"]["mask"]) else None

    def do_select(self, task):
        truth = self.truth_of(task)
        if truth is None:
            return self.skip(task)
        started = time.monotonic()
        if not any(truth.matches(o["mask"]) for o in task["payload"]["objects"]):
            self.think()
            self.client.add_object(task["id"], {
                "mask": truth.mask_rle, "category": truth.category, "description": truth.caption,
                "confirm_multi_region": truth.multi_region, "seconds": time.monotonic() - started,
            })
        self.think()
        self.client.submit(task["id"], {"seconds": time.monotonic() - started})
        return {}

    def do_rank(self, task):
        payload = task["payload"]
        truth = self.truth_of(task) if "refused" not in payload else None
        if truth is None:
            return self.skip(task)
        started = time.monotonic()
        distance = {c["id"]: self.book.distance(truth, c["id"], lambda url=c["mesh_url"]: self.client.download(url))
                    for c in payload["candidates"]}
        state, comparisons = payload["state"], 0
        while not state["done"]:
            look = time.monotonic()
            answer = self.judge.answer(distance[state["left"]], distance[state["right"]], self.rng)
            self.think()
            state = self.client.compare(task["id"], state["position"], answer, time.monotonic() - look)["state"]
            comparisons += 1
        rating = self.judge.rating(distance[state["winner"]], self.rng)
        body = {"rating": rating, "seconds": 0.0}
        if rating < payload["alpha"]:
            body["failure_category"] = "small_object" if truth.area_fraction < 0.02 else "complex_geometry"
        self.think()
        self.client.submit(task["id"], body)
        return {"comparisons": comparisons}

    def do_artist(self, task):
        truth = self.truth_of(task)
        if truth is None:
            return self.skip(task)
        started = time.monotonic()
        waited, extend_every = 0.0, 60.0
        while waited < self.behaviour.artist_delay:  # modelling; the lease is renewed as a person's page does
            step = min(extend_every, self.behaviour.artist_delay - waited)
            if self.coordinator.stopping.wait(step):
                raise Stop
            waited += step
            if waited < self.behaviour.artist_delay:
                self.client.call("POST", f"api/tasks/{task['id']}/extend/")
        upload = self.client.upload(task["id"], f"object-{task['payload']['object']['id']}.ply", truth.mesh_bytes())
        self.think()
        self.client.submit(task["id"], {"mesh": upload["id"], "seconds": time.monotonic() - started})
        return {}

    def do_align(self, task):
        truth = self.truth_of(task)
        if truth is None:
            return self.skip(task)
        started = time.monotonic()
        R, t, s = noisy_pose(truth, self.behaviour, self.rng)
        self.think(2.0)  # placing takes longer than a click
        self.client.submit(task["id"], {"rotation": {"matrix": R.tolist()}, "translation": t.tolist(), "scale": s,
                                        "seconds": time.monotonic() - started})
        return {}


def noisy_pose(truth, behaviour, rng):
    """Return the true (R, t, s) with a random rotation of N(0, σ°) about a random axis, and noise on t and s."""
    from scipy.spatial.transform import Rotation

    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = np.radians(behaviour.rotation_noise_deg) * rng.standard_normal()
    R = Rotation.from_rotvec(axis * angle).as_matrix() @ np.asarray(truth.rotation)
    t = np.asarray(truth.translation, float)
    t = t + rng.normal(0, behaviour.translation_noise * abs(t[2]), size=3)
    s = float(truth.scale * np.exp(rng.normal(0, behaviour.scale_noise)))
    return R, t, s


def run_pool(pool, base_url, project, *, speed=0.0, noise=judging.CALIBRATED_NOISE, artist_delay=0.0,
             idle_seconds=10.0, deadline=None, target=None, seed=None, progress=None, behaviour=None):
    """Run every member of `pool` on `project` (an id or a Project) against the API at `base_url`; return a PoolReport.

    Stops when nobody has found work for `idle_seconds` with nobody mid-task, when `target` Stage 3
    submits (training samples) are made, or `deadline` seconds after the start, whichever comes first.
    `progress(stage, report_dict)` is called after every task.
    """
    project_id = getattr(project, "pk", project)
    behaviour = behaviour or Behaviour(speed=speed, noise=noise, artist_delay=artist_delay)
    coordinator = Coordinator(idle_seconds, deadline, target, progress)
    book = TruthBook()

    def client_for(member):
        return ApiClient.login(base_url, member.username, member.password)

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
    return report
