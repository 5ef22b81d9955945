"""The deployment files: the Procfile that `honcho start` runs and the docker compose file (shape only: no Docker here)."""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_the_procfile_names_every_process_of_a_deployment():
    procfile = (ROOT / "Procfile").read_text()
    kinds = dict(line.split(":", 1) for line in procfile.splitlines() if line and not line.startswith("#"))
    assert set(kinds) == {"web", "cpu", "gpu", "beat", "trainer"}
    assert "-Q cpu" in kinds["cpu"] and "-Q gpu" in kinds["gpu"] and "rqworker trainer" in kinds["trainer"]
    check = subprocess.run([sys.executable, "-m", "honcho", "check"], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_the_compose_file_runs_the_same_processes_on_shared_services():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "minio", "web", "nginx", "cpu", "gpu", "beat", "trainer"} <= set(services)
    assert services["cpu"]["command"][4:6] == ["-Q", "cpu"] and services["gpu"]["command"][4:6] == ["-Q", "gpu"]
    env = services["web"]["environment"]
    assert env["MEDIA_STORAGE"] == "s3" and env["REDIS_URL"].startswith("redis://redis")
    assert services["trainer"]["environment"]["DATABASE_URL"] == env["DATABASE_URL"]  # the merge kept the shared env
    assert (ROOT / "deploy" / "Dockerfile").is_file() and (ROOT / "deploy" / "nginx-compose.conf").is_file()


def test_the_compose_file_waits_for_healthy_services_and_probes_readyz():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("web", "cpu", "gpu", "beat", "trainer"):
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}, name
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}, name
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert "ping" in services["redis"]["healthcheck"]["test"]
    probe = " ".join(services["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/readyz" in probe and "-b 0.0.0.0:8000" in " ".join(services["web"]["command"])
