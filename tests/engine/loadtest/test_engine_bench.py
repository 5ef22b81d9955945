"""`make bench` small: the whole engine on real processes takes two objects through every stage (no timings checked)."""

import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest
from django.db import connection

from engine.loadtest.services import ROOT
from tests.drills.services import suite_database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


def test_the_engine_bench_takes_objects_through_every_stage_on_real_workers(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the bench's processes share the test database, which needs PostgreSQL")
    out = tmp_path / "bench.json"
    available = sorted(os.sched_getaffinity(0))
    # With two CPUs or more, the engine is pinned to the first and the people to the rest (--engine-cpus).
    pinned = available[:1] if len(available) > 1 else []
    done = subprocess.run(
        [sys.executable, "-m", "engine.loadtest.engine_bench", "--database-url", suite_database_url(),
         "--annotators", "2", "--artists", "1", "--objects", "2", "--no-flow", "--factor", "1000", "--seconds", "90",
         "--server-workers", "1", "--server-threads", "4", "--work", str(tmp_path / "work"), "--out", str(out),
         "--engine-cpus", ",".join(map(str, pinned))],
        cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    engine_cpus = pinned or available
    assert figures["cpu_affinity"] == {"server": engine_cpus, "celery_cpu": engine_cpus, "celery_gpu": engine_cpus,
                                       "rq_trainer": engine_cpus, "redis": engine_cpus,
                                       "clients": available[1:] if pinned else available}
    assert {"server", "celery_cpu", "redis", "clients"} <= set(figures["cpu_seconds"])
    busy = figures["cpus_busy_share"]
    assert 0 < busy["all_cpus"] <= 1, busy
    if pinned:
        assert 0 < busy["engine_cpus"] <= 1 and 0 <= busy["people_cpus"] <= 1, busy
    else:  # the engine shares every CPU with the people: no reading of its own
        assert busy["engine_cpus"] is None and busy["people_cpus"] is None, busy
    assert figures["objects_through"] == 2 and {"select", "rank", "align"} <= set(figures["tasks_done"])
    assert figures["duplicates"] == 0 and figures["lost_submissions"] == 0 and figures["http_errors"] == {}
    assert {"POST /api/tasks/claim/", "POST /api/tasks/{id}/submit/"} <= set(figures["api"])
    # The server's own times, from its access log of the annotation: the same endpoints, never slower than
    # the clients found them at the median (each request's server time is part of its client time).
    server, client = figures["api_server"], figures["api"]
    assert {"POST /api/tasks/claim/", "POST /api/tasks/{id}/submit/"} <= set(server), server
    for endpoint in ("POST /api/tasks/claim/", "POST /api/tasks/{id}/submit/"):
        assert 0 < server[endpoint]["n"] <= client[endpoint]["n"] + 1, (server[endpoint], client[endpoint])
        assert server[endpoint]["p50_ms"] <= client[endpoint]["p50_ms"] + 1, (server[endpoint], client[endpoint])
    assert figures["queue_depths"] and figures["candidate_set_latency_s"]["selection_to_first_stage2_claim"]["n"] == 2
    assert figures["bottleneck"]["busiest_component"] in figures["cpu_seconds"]
    # The saturation factor reads the engine's share of the cores (the simulated people left out).
    engine_cpu = sum(v for k, v in figures["cpu_seconds"].items() if k != "clients")
    cores = len(pinned) or os.cpu_count() or 1  # the engine's share is of its own cores when pinned
    share = engine_cpu / (cores * figures["wall_seconds"]["annotation"])
    assert figures["machine_share_of_cores"] == pytest.approx(share, abs=1e-3)
    done, annotation = figures["tasks_done"], figures["wall_seconds"]["annotation"]
    delivered = (done["select"] * 30 + done["rank"] * 80 + done["align"] * 150) / (2 * annotation)
    assert figures["delivered_factor"] == pytest.approx(delivered, abs=0.01)
    # Pinned, the engine's CPUs run nothing else: the factor reads the kernel's count of their busy time.
    filled = figures["cpus_busy_share"]["engine_cpus"] if pinned else share
    assert figures["saturation_factor_estimate"] == pytest.approx(delivered / filled, rel=0.02)
    assert ("kernel" in figures["saturation_rule"]) == bool(pinned)
    assert 0 <= figures["annotators_found_work"]["share_of_claim_rounds"] <= 1
    steady = figures["annotators_found_work"]["steady_state"]
    assert steady["every_object_had_its_set"] is True, steady  # both objects through: the tail is left out
    if steady["window_s"]:  # at factor 1000 the two sets may be ready at once, leaving no steady state
        start, end = steady["window_s"]
        assert 0 <= start < end <= figures["pool"]["seconds"] and 0 <= steady["share_of_time"] <= 1, steady


def test_the_bench_refuses_a_negative_warmup_and_splits_the_cpu_worker_processes(capsys):
    from engine.loadtest.engine_bench import parse

    with pytest.raises(SystemExit):
        parse(["--warmup", "-5"])
    assert "--warmup is -5" in capsys.readouterr().err
    assert parse(["--cpu-concurrency", "2"]).cpu_concurrency == 2 and parse([]).cpu_concurrency == 1


def test_the_bench_names_the_peoples_stage_that_fell_behind_when_the_machine_kept_up():
    from engine.loadtest.engine_bench import human_backlog

    def row(t, **open_tasks):
        return {"t": t, "open_tasks": open_tasks}
    # Artists at 600 s a mesh: Stage 2.5 grows; Stage 1's pool shrinks and is not a backlog; ranking keeps pace.
    samples = [row(0, select=2000), row(100, select=1500, rank=3, artist=20), row(200, select=1000, rank=2, artist=45)]
    assert human_backlog(samples) == {"stage": "Stage 2.5 (artists)", "open_at_half": 20, "open_at_end": 45}
    # Nothing grew over the second half (people caught up): no stage named, the bench names the busiest component.
    assert human_backlog([row(0, rank=5), row(50, rank=9), row(100, rank=4)]) is None
    assert human_backlog([row(0, select=10)]) is None


def test_the_queue_maxima_of_the_annotation_leave_out_the_flywheel_runs_redeploy():
    from engine.loadtest.engine_bench import queue_maxima

    def row(t, cpu, generating):
        return {"t": t, "celery_cpu": cpu, "celery_gpu": 0, "rq_trainer": 0, "generating": generating}
    # The 80-minute run: at most a few jobs waiting while people worked, then the redeploy re-offered 441 objects.
    depth = [row(0.1, 0, 0), row(2000.0, 27, 15), row(4800.0, 0, 0), row(4881.4, 776, 168)]
    maxima = queue_maxima(depth, 4800.5)
    assert maxima["max_queue_depth"] == {"celery_cpu": 27, "celery_gpu": 0, "rq_trainer": 0, "generating": 15}
    assert maxima["max_queue_depth_after_annotation"]["celery_cpu"] == 776
    assert queue_maxima([], 10.0)["max_queue_depth"]["generating"] == 0


def test_the_simulated_people_run_at_their_nice_value_and_the_threads_they_start_inherit_it(capsys):
    """Both halves of --clients-nice: the people's threads' nice value, and their session's autogroup (without
    which, on a kernel scheduling by autogroup, the engine's sessions would still share the CPU evenly with
    them). Run in a session of its own, so that the suite's is never touched."""
    from engine.loadtest.engine_bench import parse

    probe = textwrap.dedent("""
        import json, os, threading
        from engine.loadtest.engine_bench import autogroup_nice, people

        def nice_here():
            return os.getpriority(os.PRIO_PROCESS, 0)  # on Linux, the calling thread's

        def pool():  # as run_pool does: the people are threads the caller starts
            seen = []
            member = threading.Thread(target=lambda: seen.append(nice_here()))
            member.start()
            member.join()
            return [nice_here(), seen[0], autogroup_nice()]

        def broken():
            raise ValueError("a pool that fails")
        out = {"base": [nice_here(), autogroup_nice()], "off": people(0, pool), "on": people(5, pool),
               "after": [nice_here(), autogroup_nice()]}
        try:
            people(5, broken)
        except ValueError as exc:
            out["error"], out["after_error"] = str(exc), autogroup_nice()
        print(json.dumps(out))
    """)
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          start_new_session=True, env={**os.environ, "DJANGO_SETTINGS_MODULE": "engine.settings"})
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    nice, group = out["base"]
    assert out["off"] == [nice, nice, group]
    assert out["on"][:2] == [min(19, nice + 5)] * 2
    # The bench's own thread, and its session, get their values back (lowering a nice value again needs
    # CAP_SYS_NICE: without it the session keeps the people's, and the bench says so).
    restored = group if os.geteuid() == 0 else out["after"][1]
    assert out["after"] == [nice, restored]
    assert out["error"] == "a pool that fails" and out["after_error"] == restored
    if group is not None:  # the kernel schedules by autogroup (Debian's default): the session yields too
        assert out["on"][2] == max(group, 5)
    assert parse(["--clients-nice", "10"]).clients_nice == 10 and parse([]).clients_nice == 0
    with pytest.raises(SystemExit):
        parse(["--clients-nice", "40"])
    assert "--clients-nice" in capsys.readouterr().err


def test_engine_cpus_are_parsed_checked_and_the_rest_go_to_the_people(capsys):
    from engine.loadtest.engine_bench import parse, split_cpus

    assert split_cpus("", {0, 1}) == ([], [])
    assert split_cpus("0", {0, 1}) == ([0], [1])
    assert split_cpus("0-2, 5", range(8)) == ([0, 1, 2, 5], [3, 4, 6, 7])
    for text, reason in (("0,1", "leaves no CPU for the simulated people"), ("7", "CPU 7 is not one"),
                         ("a", "'a' is not a CPU number"), ("1-", "'1-' is not a CPU number"),
                         ("1-0", "'1-0' is not"), ("0,", "'' is not")):
        with pytest.raises(ValueError, match=reason):
            split_cpus(text, {0, 1})
    with pytest.raises(SystemExit):
        parse(["--engine-cpus", "0-99999"])
    assert "--engine-cpus '0-99999': CPU" in capsys.readouterr().err


def test_the_simulated_people_run_on_their_cpus_and_the_threads_they_start_inherit_them():
    from engine.loadtest.engine_bench import people

    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        pytest.skip("pinning the people apart needs two CPUs")

    def pool():  # as run_pool does: the people are threads the caller starts
        seen = []
        member = threading.Thread(target=lambda: seen.append(sorted(os.sched_getaffinity(0))))
        member.start()
        member.join()
        return [sorted(os.sched_getaffinity(0)), seen[0]]
    seen = {}
    assert people(0, pool, cpus=available[1:], seen=seen) == [available[1:]] * 2
    assert seen == {"clients": available[1:]}
    assert sorted(os.sched_getaffinity(0)) == available  # the caller's own thread is left as it was
    assert people(0, pool, seen=seen) == [available] * 2 and seen == {"clients": available}
    with pytest.raises(OSError):  # a CPU that does not exist: the error reaches the caller
        people(0, pool, cpus=[10**5])


def test_the_servers_times_are_read_from_the_annotations_part_of_its_access_log(tmp_path):
    from engine.loadtest.engine_bench import server_times

    log = tmp_path / "access.log"
    before = "GET /api/me/ 403 900\n"  # the start-up probe: before the annotation
    during = ("POST /api/tasks/claim/ 200 12000\nPOST /api/tasks/claim/ 204 4000\n"
              "POST /api/tasks/17/submit/ 200 30000\nGET /media/sets/3/a.glb 200 2500\nnot a request line\n")
    log.write_text(before + during + "POST /api/flywheel/runs/ 201 50000\n")
    times = server_times(log, len(before), len(before) + len(during))
    assert set(times) == {"POST /api/tasks/claim/", "POST /api/tasks/{id}/submit/", "GET /media/…"}
    assert times["POST /api/tasks/claim/"]["n"] == 2 and times["POST /api/tasks/{id}/submit/"]["p50_ms"] == 30.0


def test_generation_fell_behind_when_its_backlog_grew_though_nobody_waited():
    """People who take Stage 1 images while their sets generate never wait: the backlog shows the engine behind."""
    from engine.loadtest.engine_bench import generation_backlog

    def rows(values):
        return [{"t": i * 30.0, "generating": v} for i, v in enumerate(values)]
    steady = {"window_s": [30.0, 300.0], "share_of_time": 1.0}
    behind = generation_backlog(rows([0, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600]), steady, 300.0, 64)
    assert behind["kept_up"] is False and behind["growth_over_second_half"] > 64
    assert behind["waiting"] == {"start": 60, "half": 300, "end": 600}
    level = generation_backlog(rows([0, 40, 30, 45, 35, 40, 30, 45, 35, 40, 38]), steady, 300.0, 64)
    assert level["kept_up"] is True
    idle = generation_backlog(rows([0, 40, 30, 45, 35, 40, 30, 45, 35, 40, 38]), {**steady, "share_of_time": 0.9},
                              300.0, 64)
    assert idle["kept_up"] is False  # people waited: not kept up, whatever the backlog did
    assert generation_backlog([], None, 300.0, 64)["kept_up"] is None


def test_the_kernels_count_of_busy_cpu_time_is_read_per_cpu(tmp_path):
    from engine.loadtest.engine_bench import busy_share, cpu_stat

    def stat(cpu0, cpu1):  # user nice system idle iowait irq softirq steal (guest columns after them)
        path = tmp_path / "stat"
        path.write_text(f"cpu  1 1 1 1 1 1 1 1 0 0\ncpu0 {cpu0} 0 0\ncpu1 {cpu1} 0 0\nintr 5 1 2\n")
        return cpu_stat(path)
    before = stat("100 0 50 800 50 0 0 0", "10 0 0 990 0 0 0 0")
    after = stat("160 0 80 810 50 0 0 0", "20 0 0 1080 0 0 0 0")  # cpu0: 90 of 100 busy; cpu1: 10 of 100
    assert before[0] == (150, 1000)
    assert busy_share(before, after, [0]) == 0.9 and busy_share(before, after, [1]) == 0.1
    assert busy_share(before, after, [0, 1]) == 0.5
    assert busy_share(before, before, [0]) is None and busy_share(before, after, [7]) is None
    assert cpu_stat(tmp_path / "absent") == {}
    assert set(cpu_stat()) >= set(os.sched_getaffinity(0))  # this machine's own counters
