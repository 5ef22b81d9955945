"""The deployment files: the Procfile that `honcho start` runs, and the docker compose file, which is
validated against the Compose Specification's JSON schema but never run (no Docker engine here).

compose_spec.json beside this module is the Compose Specification's schema (schema/compose-spec.json
of the compose-spec project; Apache-2.0, Copyright 2020 The Compose Specification Authors), copied
byte for byte from the npm package dclint 3.1.0 (MIT), file schemas/compose.schema.json; sha256
46b7d35f19dd93a05f8fea530291bf84d881c1791ec167ecf0e6fb94e639d496. It is draft-07 and newer than the
copy in PyPI's docker-compose 1.29.2, which lacks `develop`, `include`, `start_interval` and
`depends_on.required`. To update it, replace the file with a newer copy and rerun these tests.
"""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_SCHEMA = Path(__file__).with_name("compose_spec.json")


def compose_schema_errors(text):
    """The Compose Specification's objections to a compose file's YAML, as (path, message) pairs."""
    validator = jsonschema.Draft7Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    return [(list(error.absolute_path), error.message) for error in validator.iter_errors(yaml.safe_load(text))]


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


def test_the_compose_file_is_valid_against_the_compose_specification():
    """Every key, service name and value shape of docker-compose.yml is one the Compose Specification's
    schema allows, after YAML merges (`<<: *engine`). That this check can fail is shown below: broken
    copies of the file (a misspelled depends_on condition, an unknown service key, ...) are rejected.
    The schema does not see what only an engine would: that a depends_on or volume names one defined,
    that images exist, that the build works."""
    assert compose_schema_errors((ROOT / "docker-compose.yml").read_text()) == []


BROKEN_COMPOSE = {  # (text of docker-compose.yml, its replacement, a path the schema then objects at)
    "depends_on condition misspelled in the shared anchor": (
        "postgres: {condition: service_healthy}", "postgres: {condition: service_healty}",
        ["services", "web", "depends_on"]),
    "depends_on entry without its condition": (
        "minio: {condition: service_started}", "minio: {}", ["services", "trainer", "depends_on"]),
    "unknown key under a service": (
        "    image: nginx:1.27\n", "    image: nginx:1.27\n    restart_policy: always\n", ["services", "nginx"]),
    "healthcheck key misspelled": (
        "      start_period: 60s\n", "      start_periode: 60s\n", ["services", "web", "healthcheck"]),
    "GPU reservation key misspelled": (
        "count: all, capabilities", "count: all, capabilites",
        ["services", "trainer", "deploy", "resources", "reservations", "devices", 0]),
    "top-level key misspelled": ("\nvolumes: {pgdata", "\nvolume: {pgdata", []),
    "command neither a list nor a string": ('command: ["server", "/data"]', "command: {server: /data}",
                                            ["services", "minio", "command"]),
}


@pytest.mark.parametrize("broken", BROKEN_COMPOSE, ids=list(BROKEN_COMPOSE))
def test_the_compose_schema_check_rejects_a_broken_compose_file(broken):
    """The validation above proves something: each of these one-line breaks of a copy of the real
    docker-compose.yml (never the file itself) makes the schema object at the broken place."""
    old, new, where = BROKEN_COMPOSE[broken]
    text = (ROOT / "docker-compose.yml").read_text()
    assert text.count(old) == 1, f"docker-compose.yml changed: update this case ({old!r})"
    errors = compose_schema_errors(text.replace(old, new))
    assert where in [path for path, _ in errors], errors
