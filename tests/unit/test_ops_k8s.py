"""Kubernetes manifests: rendered offline, validated against the API schemas, and held to the
invariants that matter for a Kafka consumer fleet (autoscaling bounds, state volume, probes).

No kubectl here: ops/k8s/render.py renders the overlays (the kustomize subset they use), the
`kubernetes-validate` package checks built-in kinds against the Kubernetes OpenAPI schemas,
and the custom resources (KEDA, Prometheus Operator) are checked against minimal schemas of
the fields their controllers require.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from streams import settings as settings_module
from streams import topics as catalogue
from streams.settings import ROLES, from_env

# `ops` is not an installed package and the committed pytest config does not put the repo root
# on sys.path (same as tests/unit/test_endpoint_server.py).
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ops.k8s import render  # noqa: E402

K8S = ROOT / "ops" / "k8s"
OVERLAYS = {"dev": "shipstream-dev", "prod": "shipstream"}
K8S_VERSIONS = ("1.29.0", "1.37.0")  # oldest cluster we target (KEDA 2.14+), newest schemas
WORKER_COMMAND = ["faust", "-A", "streams.app", "worker", "-l", "info"]
# What each lag-scaled role consumes (the KEDA trigger must name the same topic).
CONSUMES = {"processing": catalogue.EVENTS.name, "decision": catalogue.UPDATES.name}

Resource = dict[str, Any]

_DNS_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": _DNS_NAME, "namespace": _DNS_NAME, "labels": {"type": "object"}},
}
_TARGET_REF = {
    "type": "object",
    "required": ["name"],
    "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "name": _DNS_NAME},
}
CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers"],
                "properties": {
                    "scaleTargetRef": _TARGET_REF,
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "pollingInterval": {"type": "integer"},
                    "cooldownPeriod": {"type": "integer"},
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "metadata"],
                            "properties": {
                                "type": {"type": "string"},
                                "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                                # KEDA reads every trigger setting as a string
                                "metadata": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    ("keda.sh/v1alpha1", "TriggerAuthentication"): {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["secretTargetRef"],
                "additionalProperties": False,
                "properties": {
                    "secretTargetRef": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["parameter", "name", "key"],
                            "additionalProperties": False,
                            "properties": {
                                "parameter": {"type": "string"},
                                "name": _DNS_NAME,
                                "key": {"type": "string"},
                            },
                        },
                    }
                },
            },
        },
    },
    ("monitoring.coreos.com/v1", "PrometheusRule"): {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["groups"],
                "properties": {
                    "groups": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "rules"],
                            "properties": {
                                "rules": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["expr"],
                                        "oneOf": [
                                            {"required": ["alert"]},
                                            {"required": ["record"]},
                                        ],
                                        "properties": {
                                            "expr": {"type": "string"},
                                            "for": {"type": "string"},
                                            "labels": {
                                                "type": "object",
                                                "additionalProperties": {"type": "string"},
                                            },
                                            "annotations": {
                                                "type": "object",
                                                "additionalProperties": {"type": "string"},
                                            },
                                        },
                                    },
                                }
                            },
                        },
                    }
                },
            },
        },
    },
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "properties": {
                    "jobLabel": {"type": "string"},
                    "selector": {"type": "object"},
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "anyOf": [{"required": ["port"]}, {"required": ["targetPort"]}],
                        },
                    },
                },
            },
        },
    },
}


def rendered(overlay: str) -> list[Resource]:
    return render.build(K8S / "overlays" / overlay)


def of_kind(resources: list[Resource], kind: str) -> list[Resource]:
    return [r for r in resources if r["kind"] == kind]


def config_of(resources: list[Resource]) -> dict[str, str]:
    (cm,) = [
        r for r in of_kind(resources, "ConfigMap") if r["metadata"]["name"] == "shipstream-config"
    ]
    data: dict[str, str] = cm["data"]
    return data


def worker(sts: Resource) -> dict[str, Any]:
    (container,) = [
        c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "worker"
    ]
    return container


def env_of(sts: Resource) -> dict[str, Any]:
    return {e["name"]: e for e in worker(sts)["env"]}


def role_of(sts: Resource) -> str:
    role: str = env_of(sts)["SHIPSTREAM_ROLE"]["value"]
    return role


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def all_rendered() -> list[tuple[str, Resource]]:
    return [(o, r) for o in OVERLAYS for r in rendered(o)]


# ------------------------------------------------------------------ rendering and schemas


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_every_role(overlay: str) -> None:
    resources = rendered(overlay)
    names = {r["metadata"]["name"] for r in of_kind(resources, "StatefulSet")}
    assert names == {f"shipstream-{role}" for role in ROLES}
    assert {r["metadata"]["namespace"] for r in resources} == {OVERLAYS[overlay]}


@pytest.mark.parametrize(
    ("overlay", "resource"),
    all_rendered(),
    ids=[f"{o}-{r['kind']}-{r['metadata']['name']}" for o, r in all_rendered()],
)
def test_resource_is_valid(overlay: str, resource: Resource) -> None:
    key = (resource["apiVersion"], resource["kind"])
    if key in CRD_SCHEMAS:
        jsonschema.Draft202012Validator(CRD_SCHEMAS[key]).validate(resource)
        return
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{overlay} {key} {resource['metadata']['name']} on {version}: {exc}")


def test_validation_catches_mistakes() -> None:
    """The schemas used above are not accept-all: a misspelt field fails."""
    sts = of_kind(rendered("prod"), "StatefulSet")[0]
    sts["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(sts, K8S_VERSIONS[0], strict=True)
    scaled = of_kind(rendered("prod"), "ScaledObject")[0]
    scaled["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 1000
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, CRD_SCHEMAS[("keda.sh/v1alpha1", "ScaledObject")])


# ------------------------------------------------------------------ workers


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_statefulsets_run_faust_workers_with_state_and_probes(overlay: str) -> None:
    resources = rendered(overlay)
    services = of_kind(resources, "Service")
    for sts in of_kind(resources, "StatefulSet"):
        name, role = sts["metadata"]["name"], role_of(sts)
        assert name == f"shipstream-{role}"
        c, env = worker(sts), env_of(sts)
        assert c["command"] == WORKER_COMMAND
        assert (
            env["SHIPSTREAM_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        )
        # RocksDB on a per-pod volume at the data dir
        (claim,) = sts["spec"]["volumeClaimTemplates"]
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        assert mounts[claim["metadata"]["name"]] == env["SHIPSTREAM_DATA_DIR"]["value"]
        # ready only once tables are recovered; liveness must not use /healthz (503 while
        # recovering would restart a worker in the middle of its recovery)
        assert c["readinessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["readinessProbe"]["httpGet"]["port"] == "http"
        assert c["livenessProbe"].get("httpGet", {}).get("path") != "/healthz"
        assert "startupProbe" in c
        assert {p["name"]: p["containerPort"] for p in c["ports"]}["http"] == int(
            config_of(resources)["SHIPSTREAM_WEB_PORT"]
        )
        assert c["resources"]["requests"]["cpu"], "CPU autoscaling needs a CPU request"
        assert re.fullmatch(r".+:\d+\.\d+\.\d+", c["image"]), "pin the image tag"
        # the governing headless Service exists and selects these pods
        (svc,) = [s for s in services if s["metadata"]["name"] == sts["spec"]["serviceName"]]
        assert svc["spec"]["clusterIP"] == "None"
        assert selects(svc["spec"]["selector"], sts["spec"]["template"]["metadata"]["labels"])
        for e in env.values():
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            assert ref is None or ref["optional"] is True, f"{e['name']}: secrets are optional"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_environment_builds_valid_settings(overlay: str) -> None:
    resources = rendered(overlay)
    config = config_of(resources)
    read = set(settings_module.variables())
    for sts in of_kind(resources, "StatefulSet"):
        env = dict(config)
        env.update({k: e["value"] for k, e in env_of(sts).items() if "value" in e})
        env["SHIPSTREAM_INSTANCE_ID"] = f"{sts['metadata']['name']}-0"
        secrets = {k for k, e in env_of(sts).items() if "secretKeyRef" in e.get("valueFrom", {})}
        assert (set(env) | secrets) - read == set(), "variables streams.settings never reads"
        if overlay == "prod":  # with its Secrets created, as the comments in security.yaml say
            env.update({k: f"from-secret-{k.lower()}" for k in secrets})
        settings = from_env(env)  # refuses a half-configured security setup
        assert settings.group_id == f"shipstream-{role_of(sts)}"
        assert settings.partitions == 12
        assert settings.replication == (3 if overlay == "prod" else 1)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_role_has_a_disruption_budget(overlay: str) -> None:
    resources = rendered(overlay)
    pdbs = of_kind(resources, "PodDisruptionBudget")
    for sts in of_kind(resources, "StatefulSet"):
        labels = sts["spec"]["template"]["metadata"]["labels"]
        (pdb,) = [p for p in pdbs if selects(p["spec"]["selector"]["matchLabels"], labels)]
        assert pdb["spec"]["maxUnavailable"] == 1


# ------------------------------------------------------------------ autoscaling


def autoscalers(resources: list[Resource], sts_name: str) -> list[Resource]:
    return [
        r
        for r in resources
        if r["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")
        and r["spec"]["scaleTargetRef"]["name"] == sts_name
        and r["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"
    ]


def bounds_and_cpu(scaler: Resource) -> tuple[int, int, int]:
    spec = scaler["spec"]
    if scaler["kind"] == "HorizontalPodAutoscaler":
        (cpu,) = [m for m in spec["metrics"] if m["resource"]["name"] == "cpu"]
        return (
            spec["minReplicas"],
            spec["maxReplicas"],
            cpu["resource"]["target"]["averageUtilization"],
        )
    (cpu,) = [t for t in spec["triggers"] if t["type"] == "cpu"]
    assert cpu["metricType"] == "Utilization"
    return spec["minReplicaCount"], spec["maxReplicaCount"], int(cpu["metadata"]["value"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_autoscaler_per_role_within_partition_count(overlay: str) -> None:
    resources = rendered(overlay)
    partitions = int(config_of(resources)["SHIPSTREAM_PARTITIONS"])
    for sts in of_kind(resources, "StatefulSet"):
        scalers = autoscalers(resources, sts["metadata"]["name"])
        assert len(scalers) == 1, f"{sts['metadata']['name']}: two autoscalers would fight"
        low, high, cpu = bounds_and_cpu(scalers[0])
        assert low == 2
        assert high <= partitions, "more instances than partitions would sit idle"
        assert cpu == 70


def test_prod_scales_processing_and_decision_on_consumer_lag() -> None:
    resources = rendered("prod")
    config = config_of(resources)
    for sts in of_kind(resources, "StatefulSet"):
        role = role_of(sts)
        (scaler,) = autoscalers(resources, sts["metadata"]["name"])
        if role not in CONSUMES:
            assert scaler["kind"] == "HorizontalPodAutoscaler"
            continue
        assert scaler["kind"] == "ScaledObject"
        (kafka,) = [t for t in scaler["spec"]["triggers"] if t["type"] == "kafka"]
        meta = kafka["metadata"]
        assert meta["consumerGroup"] == f"{config['SHIPSTREAM_APP_ID']}-{role}"
        topic_prefix = config.get("SHIPSTREAM_TOPIC_PREFIX", "")
        assert meta["topic"] == topic_prefix + CONSUMES[role]
        assert meta["bootstrapServersFromEnv"] in config  # KEDA reads the container's env
        assert int(meta["lagThreshold"]) > 0
        assert meta["allowIdleConsumers"] == "false"
        # KEDA reads lag over the same SASL_SSL login as the workers
        assert config["SHIPSTREAM_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert meta["sasl"] == "scram_sha512" and meta["tls"] == "enable"
        assert config["SHIPSTREAM_SASL_MECHANISM"] == "SCRAM-SHA-512"
        (auth,) = [
            a
            for a in of_kind(resources, "TriggerAuthentication")
            if a["metadata"]["name"] == kafka["authenticationRef"]["name"]
        ]
        refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
        worker_env = env_of(sts)
        for param, var in (("username", "SASL_USERNAME"), ("password", "SASL_PASSWORD")):
            ref = worker_env[f"SHIPSTREAM_{var}"]["valueFrom"]["secretKeyRef"]
            assert refs[param] == (ref["name"], ref["key"]), f"KEDA's {param} is not the workers'"
        ca_mount = config["SHIPSTREAM_SSL_CA_FILE"].rsplit("/", 1)
        (volume,) = [
            v
            for v in sts["spec"]["template"]["spec"]["volumes"]
            if any(
                m["name"] == v["name"] and m["mountPath"] == ca_mount[0]
                for m in worker(sts)["volumeMounts"]
            )
        ]
        assert refs["ca"] == (volume["secret"]["secretName"], ca_mount[1])


def test_dev_needs_no_keda() -> None:
    assert of_kind(rendered("dev"), "ScaledObject") == []


# ------------------------------------------------------------------ monitoring


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_monitor_scrapes_every_worker_as_job_shipstream(overlay: str) -> None:
    resources = rendered(overlay)
    (monitor,) = of_kind(resources, "ServiceMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    scraped = [
        s for s in of_kind(resources, "Service") if selects(selector, s["metadata"]["labels"])
    ]
    assert {s["metadata"]["name"] for s in scraped} == {f"shipstream-{r}" for r in ROLES}
    job_label = monitor["spec"]["jobLabel"]
    assert {s["metadata"]["labels"][job_label] for s in scraped} == {"shipstream"}
    (endpoint,) = monitor["spec"]["endpoints"]
    for svc in scraped:
        assert endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]}
    assert "role" in {r["targetLabel"] for r in endpoint["relabelings"]}


def test_prometheus_rule_is_generated_from_the_rules_file() -> None:
    out = subprocess.run(
        [sys.executable, str(K8S / "gen_prometheusrule.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    rules = yaml.safe_load((ROOT / "ops/prometheus/rules/shipstream.yml").read_text())
    for overlay in OVERLAYS:
        (rule,) = of_kind(rendered(overlay), "PrometheusRule")
        assert rule["spec"]["groups"] == rules["groups"]


def test_generator_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    from ops.k8s import gen_prometheusrule as gen

    stale = tmp_path / "rules.yml"
    stale.write_text("groups: []\n")
    assert gen.render(stale) != (K8S / "base" / "prometheusrule.yaml").read_text()


# ------------------------------------------------------------------ the renderer itself


def test_merge_follows_strategic_merge_for_builtin_lists() -> None:
    base = {"containers": [{"name": "w", "env": [{"name": "A", "value": "1"}], "image": "x:1"}]}
    patch = {"containers": [{"name": "w", "env": [{"name": "B", "value": "2"}]}]}
    out = render.merge(base, patch, schema_known=True)
    assert out["containers"][0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert out["containers"][0]["image"] == "x:1"
    # in custom resources lists are replaced, and null deletes a key
    assert render.merge(base, patch, schema_known=False)["containers"] == patch["containers"]
    assert render.merge({"a": 1, "b": 2}, {"a": None}, schema_known=True) == {"b": 2}


def test_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n")
    with pytest.raises(render.KustomizeError, match="namePrefix"):
        render.build(tmp_path)


def test_patch_that_matches_nothing_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (tmp_path / "p.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
    (tmp_path / "kustomization.yaml").write_text(
        "resources: [cm.yaml]\npatches: [{path: p.yaml}]\n"
    )
    with pytest.raises(render.KustomizeError, match="matches nothing"):
        render.build(tmp_path)
