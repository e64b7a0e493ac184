"""The NetworkPolicies of ops/k8s/base: one per role, and each lets in and out only what the
role needs (issue 12). Schema validity is checked with every other resource in test_ops_k8s.
"""

from __future__ import annotations

from typing import Any

import pytest

from streams.settings import ROLES, from_env
from tests.unit.test_ops_k8s import OVERLAYS, config_of, of_kind, rendered, role_of, selects

Resource = dict[str, Any]
PROMETHEUS = {"kubernetes.io/metadata.name": "monitoring"}
INGRESS_CONTROLLER = {"kubernetes.io/metadata.name": "ingress-nginx"}


def policy_of(resources: list[Resource], sts: Resource) -> Resource:
    labels = sts["spec"]["template"]["metadata"]["labels"]
    policies = [
        p
        for p in of_kind(resources, "NetworkPolicy")
        if selects(p["spec"]["podSelector"]["matchLabels"], labels)
    ]
    assert len(policies) == 1, f"{sts['metadata']['name']}: {len(policies)} policies select it"
    return policies[0]


def sources(policy: Resource) -> list[dict[str, Any]]:
    return [peer for rule in policy["spec"].get("ingress", []) for peer in rule.get("from", [])]


def egress_ports(policy: Resource) -> set[int | str]:
    return {
        port["port"] for rule in policy["spec"].get("egress", []) for port in rule.get("ports", [])
    }


def ns(peer: dict[str, Any]) -> dict[str, str]:
    return dict(peer.get("namespaceSelector", {}).get("matchLabels", {}))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_role_is_isolated_by_its_own_policy(overlay: str) -> None:
    resources = rendered(overlay)
    seen = set()
    for sts in of_kind(resources, "StatefulSet"):
        policy = policy_of(resources, sts)
        role = role_of(sts)
        seen.add(role)
        assert policy["metadata"]["name"] == f"shipstream-{role}"
        assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
        peers = sources(policy)
        assert all(peer for peer in peers), "an empty `from` peer would admit everyone"
        # Prometheus scrapes every role.
        assert any(ns(p) == PROMETHEUS for p in peers), role
        # Only ingestion takes traffic from the ingress controller.
        assert any(ns(p) == INGRESS_CONTROLLER for p in peers) == (role == "ingestion"), role
        # Worker to worker only where /shipments/{id} is routed: between processing pods.
        same_app = [p for p in peers if "podSelector" in p and "namespaceSelector" not in p]
        if role == "processing":
            (peer,) = same_app
            assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == role
        else:
            assert same_app == [], role
        ports = egress_ports(policy)
        assert 53 in ports, f"{role}: no DNS"
        broker_ports = {
            int(b.rsplit(":", 1)[1]) for b in from_env(config_of(resources)).broker.split(",")
        }
        assert broker_ports <= ports, f"{role}: Kafka unreachable"
        assert (443 in ports) == (role == "communication"), f"{role}: delivery endpoints"
    assert seen == set(ROLES)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_signatures_are_required_and_keys_mounted_where_used(overlay: str) -> None:
    resources = rendered(overlay)
    settings = from_env(config_of(resources))
    assert settings.webhooks.ingest_auth == "hmac"
    for sts in of_kind(resources, "StatefulSet"):
        spec = sts["spec"]["template"]["spec"]
        mounts = {m["mountPath"]: m for m in spec["containers"][0].get("volumeMounts", [])}
        volumes = {v["name"]: v for v in spec["volumes"]}
        needs = {
            "ingestion": settings.webhooks.ingest_keys_file,
            "communication": settings.webhooks.delivery_keys_file,
        }.get(role_of(sts))
        key_volumes = [v for v in volumes.values() if "secret" in v]
        if needs is None:
            assert key_volumes == [], "only the roles that use keys get them"
            continue
        mount = mounts[str(needs.parent)]
        assert mount["readOnly"] is True
        secret = volumes[mount["name"]]["secret"]
        assert secret.get("optional") is not True, "a missing key Secret must stop the pod"
        assert [i["path"] for i in secret["items"]] == [needs.name]
