"""compose.yaml: valid Compose, pinned images, and workers configured the way settings reads.

Checked offline here: against the Compose Specification JSON schema vendored in
ops/compose/compose-spec.json (see ops/compose/README.md), and by building each role's Settings
from its environment with streams.settings.from_env. `make compose-test` (tests/compose) runs it.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from streams import settings as settings_module
from streams.settings import ROLES, from_env

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
SCHEMA = ROOT / "ops" / "compose" / "compose-spec.json"
DOCKERFILE = ROOT / "ops" / "compose" / "worker.Dockerfile"
WORKER_COMMAND = ["faust", "-A", "streams.app", "worker", "-l", "info"]
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}: Compose's interpolation
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?]([^}]*))?\}")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def interpolate(value: str) -> str:
    """What Compose makes of a value with every variable unset (the defaults)."""
    return INTERPOLATION.sub(lambda m: m.group(2) or "", value).replace("$$", "$")


def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    # The file names draft 2019-09 as "http://json-schema.org/draft/2019-09/schema#", a spelling
    # jsonschema does not look up: name the draft explicitly.
    assert "2019-09" in schema["$schema"]
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


def test_compose_file_matches_the_compose_specification() -> None:
    errors = sorted(validator().iter_errors(compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


@pytest.mark.parametrize(
    "break_it",
    [
        lambda c: c["services"]["processing"]["deploy"].update(replicas="two"),
        lambda c: c["services"]["kafka"].update(imagee="typo"),
        lambda c: c["services"]["decision"].update(depends_on={"kafka": {"condition": "maybe"}}),
    ],
    ids=["replicas-not-int", "unknown-key", "bad-condition"],
)
def test_schema_rejects_broken_files(break_it: Any) -> None:
    """The vendored schema is strict enough to catch mistakes (not an accept-all stub)."""
    broken = copy.deepcopy(compose())
    break_it(broken)
    assert list(validator().iter_errors(broken))


def test_images_are_pinned() -> None:
    for name, svc in compose()["services"].items():
        image = svc["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image else ""
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: pin {image} to a version"
    images = {name: svc["image"].split(":")[0] for name, svc in compose()["services"].items()}
    assert images["kafka"] == "apache/kafka"
    assert images["registry"] == "apicurio/apicurio-registry"
    assert compose()["services"]["registry"]["image"].split(":")[1].startswith("3.")
    assert images["prometheus"] == "prom/prometheus"


def test_kafka_runs_kraft_without_zookeeper() -> None:
    svc = compose()["services"]
    env = svc["kafka"]["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "zookeeper" not in json.dumps(svc).lower()
    registry = svc["registry"]["environment"]
    assert registry["APICURIO_STORAGE_KIND"] == "kafkasql"
    assert (
        registry["APICURIO_KAFKASQL_BOOTSTRAP_SERVERS"]
        == svc["ingestion"]["environment"]["SHIPSTREAM_BROKER"]
    )


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_a_scaled_faust_worker(role: str) -> None:
    svc = compose()["services"][role]
    assert svc["deploy"]["replicas"] >= 1
    assert svc["command"] == WORKER_COMMAND
    # the entrypoint only sets the web host and execs the command
    assert svc["entrypoint"][:2] == ["sh", "-c"] and 'exec "$$@"' in svc["entrypoint"][2]
    assert svc["environment"]["SHIPSTREAM_ROLE"] == role
    assert svc["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"
    assert "/healthz" in " ".join(svc["healthcheck"]["test"])


@pytest.mark.parametrize("role", ROLES)
def test_worker_environment_is_what_settings_reads(role: str) -> None:
    env = {k: interpolate(str(v)) for k, v in compose()["services"][role]["environment"].items()}
    read = set(settings_module.variables())
    assert set(env) - read == set(), "variables streams.settings never reads"
    s = from_env(env)  # raises SettingsError on a value it cannot use
    assert s.role == role
    assert s.group_id == f"shipstream-{role}"
    assert s.broker == "kafka:9092"
    assert s.partitions == 12


def test_bind_mounts_exist_and_prometheus_loads_our_rules() -> None:
    services = compose()["services"]
    for name, svc in services.items():
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
    prom = services["prometheus"]["volumes"]
    assert "./ops/prometheus/rules:/etc/prometheus/rules:ro" in prom
    config = yaml.safe_load((ROOT / "ops/compose/prometheus.yml").read_text())
    assert "/etc/prometheus/rules/*.yml" in config["rule_files"]
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "shipstream")
    assert set(job["dns_sd_configs"][0]["names"]) == set(ROLES)
    assert job["dns_sd_configs"][0]["port"] == int(
        services["ingestion"]["environment"]["SHIPSTREAM_WEB_PORT"]
    )


def test_compose_prometheus_config_is_valid() -> None:
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(promtool).exists():
        pytest.fail("promtool not found: run ops/setup.sh (make test does) to install prometheus")
    # --syntax-only: the rule_files pattern points inside the container
    out = subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(ROOT / "ops/compose/prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_worker_image_builds_from_files_that_exist() -> None:
    build = compose()["x-worker"]["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    text = DOCKERFILE.read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    cmd = re.search(r"^CMD (.+)$", text, re.M)
    assert cmd and json.loads(cmd.group(1)) == WORKER_COMMAND
    ignore = Path(str(DOCKERFILE) + ".dockerignore").read_text().split()
    assert "*" in ignore and "!streams/" in ignore


def test_local_variant_overrides_only_images_and_builds() -> None:
    """compose.local.yaml keeps services, ports, environment, volumes and healthchecks."""
    local: dict[str, Any] = yaml.safe_load((ROOT / "compose.local.yaml").read_text())
    services = compose()["services"]
    assert set(local) == {"services"}
    assert set(local["services"]) == set(services) - {"grafana"}
    for name, svc in local["services"].items():
        assert set(svc) <= {"image", "build"}, f"{name} overrides more than image and build"
        assert svc["image"].startswith("localhost/"), name
        build = svc.get("build")
        if build:
            dockerfile = (ROOT / build["context"] / build["dockerfile"]).resolve()
            assert dockerfile.is_relative_to(ROOT / "ops"), dockerfile
            assert dockerfile.exists(), dockerfile
