"""One simulated person at work: claim a task of its stages, do it from the truth, submit, repeat."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from django.db import connections

from engine.core.roles import ANNOTATOR
from engine.leases.models import Stage
from engine.simulation import judging

log = logging.getLogger("engine.simulation")

ANNOTATOR_STAGES = (Stage.ALIGN.value, Stage.RANK.value, Stage.SELECT.value)  # finish objects before starting new ones
POLL_SECONDS = 0.5  # between claims when no task is free
MAX_ERRORS_IN_A_ROW = 10  # a member that keeps failing stops (the report says why) rather than spin


@dataclass(frozen=True)
class Behaviour:
    """How the members work; every field is a parameter of `run_pool`."""

    speed: float = 0.0  # think seconds per action (a claim, a comparison, a submit), ±50 % at random
    noise: float = judging.CALIBRATED_NOISE  # σ of the log-distance noise of Stage 2 (75 % agreement)
    artist_delay: float = 0.0  # seconds an artist takes to model a mesh
    rotation_noise_deg: float = 2.0  # Stage 3: angle of a random rotation applied to the true R
    translation_noise: float = 0.01  # Stage 3: σ of the error in t, as a share of the object's depth
    scale_noise: float = 0.02  # Stage 3: σ of log s
    # A person's pace: ((stage, seconds), ...) from claim to submit; a faster member waits out the rest
    # (the bench's published 80 s per Stage 2 set and 150 s per Stage 3 alignment, divided by its factor).
    pace: tuple = ()
    # Seconds between claims while no task is free. The annotation pages ask again every 30 s
    # (annotation_ui common.js); the bench scales that by its factor. At 0.5 s, 64 idle members made
    # 290 claims a second and the server's polls took 70 % of the machine's CPU from generation.
    poll_seconds: float = POLL_SECONDS


class Stop(Exception):
    """The pool is stopping: leave the task being worked on."""


class Worker:
    """One simulated person at work: a thread with its own client, random stream and think time."""

    def __init__(self, member, index, client_factory, project, book, behaviour, coordinator, seed):
        self.claimed_at = time.monotonic()
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
            try:
                self.client = self.client_factory(self.member)
            except Exception as exc:  # the server is not there, or the account cannot sign in
                self.coordinator.note(f"{self.member.username} could not sign in: {exc}")
                return
            while not self.coordinator.stopping.is_set():
                try:
                    worked = self.work_once()
                    errors_in_a_row = 0
                    self.coordinator.round(self.member.role, worked)
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
                    waited = time.monotonic()
                    self.coordinator.stopping.wait(self.behaviour.poll_seconds)
                    self.coordinator.idle(self.member.role, waited, time.monotonic() - waited)
        finally:
            connections.close_all()  # this thread's connections (the truth book reads the database)

    def work_once(self):
        """Claim and do one task of the member's stages; return False when none was free."""
        for stage in self.stages:
            task = self.client.claim(self.project, stage)
            if task is None:
                continue
            self.coordinator.begin()
            started = self.claimed_at = time.monotonic()
            outcome = {}
            try:
                outcome = getattr(self, f"do_{stage}")(task) or {}
            except Stop:
                self._give_back(task, skip=False)
                outcome = {"interrupted": True}
                raise
            except Exception as exc:
                self._give_back(task, skip=True)
                outcome = {"error": f"{self.member.username} on {stage} task {task['id']}: {exc}"}
                exc.recorded = True
                raise
            finally:
                seconds = time.monotonic() - started
                self.coordinator.end(stage, seconds, **outcome)
            return True
        return False

    def keep_pace(self, stage):
        """Wait until the member has spent a person's time (Behaviour.pace) on the task claimed last."""
        seconds = dict(self.behaviour.pace).get(stage, 0.0) - (time.monotonic() - self.claimed_at)
        if seconds > 0 and self.coordinator.stopping.wait(seconds):
            raise Stop

    def _give_back(self, task, skip):
        try:
            self.client.release(task["id"], skip=skip)
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
        self.keep_pace(Stage.SELECT.value)
        self.client.submit(task["id"], {"seconds": time.monotonic() - started})
        return {}

    def do_rank(self, task):
        payload = task["payload"]
        truth = self.truth_of(task) if "refused" not in payload else None
        if truth is None:
            return self.skip(task)
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
        self.keep_pace(Stage.RANK.value)
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

    def turn_onto(self, truth, mesh_url):
        """Return the turn about the up axis that lays the mesh to align onto the true shape, as a person would.

        Stage 3 places the mesh the annotator is shown, which need not face the way the true shape
        does (a generator's canonical frame, a lifted mesh facing the camera): the true pose of the
        true shape, applied to that mesh unturned, would place it wrongly.
        """
        from model_suite.meshio import load_mesh

        vertices, faces = load_mesh(self.client.download(mesh_url))
        _, theta = judging.best_yaw(judging.surface_points(vertices, faces), truth.points())
        return judging.yaw_matrix(theta)

    def do_align(self, task):
        truth = self.truth_of(task)
        if truth is None:
            return self.skip(task)
        started = time.monotonic()
        R, t, s = noisy_pose(truth, self.behaviour, self.rng, turn=self.turn_onto(truth, task["payload"]["mesh_url"]))
        self.think(2.0)  # placing takes longer than a click
        self.keep_pace(Stage.ALIGN.value)
        self.client.submit(task["id"], {"rotation": {"matrix": R.tolist()}, "translation": t.tolist(), "scale": s,
                                        "seconds": time.monotonic() - started})
        return {}


def noisy_pose(truth, behaviour, rng, turn=None):
    """Return the true (R, t, s) with a random rotation of N(0, σ°) about a random axis, and noise on t and s.

    `turn` (3, 3) is the rotation that brings the mesh being placed onto the true shape in the object
    frame (a mesh from another generator may face another way): the pose placed is R_true · turn.
    """
    from scipy.spatial.transform import Rotation

    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = np.radians(behaviour.rotation_noise_deg) * rng.standard_normal()
    R = Rotation.from_rotvec(axis * angle).as_matrix() @ np.asarray(truth.rotation)
    if turn is not None:
        R = R @ np.asarray(turn)
    t = np.asarray(truth.translation, float)
    t = t + rng.normal(0, behaviour.translation_noise * abs(t[2]), size=3)
    s = float(truth.scale * np.exp(rng.normal(0, behaviour.scale_noise)))
    return R, t, s
