"""A minimal kustomize: renders ops/k8s overlays without kubectl or the kustomize binary.

    python ops/k8s/render.py ops/k8s/overlays/prod > prod.yaml

Why: the tests validate every rendered resource offline, and neither kubectl nor kustomize is
installed where they run. Only the features the shipstream manifests use are implemented, and
anything else in a kustomization.yaml is refused rather than ignored:

- ``resources``: files (multi-document YAML) and directories holding a kustomization.yaml;
- ``patches``: strategic-merge patches from ``path``, matched by kind and name, or applied to
  every resource of a ``target`` kind; ``$patch: delete`` removes a resource;
- ``namespace``, ``labels`` (``pairs``, ``includeSelectors: false`` only) and ``images``
  (``name``, ``newName``, ``newTag``).

Strategic merge follows Kubernetes' patch strategy for the lists used here: containers, env,
volumes (by ``name``), volumeMounts (by ``mountPath``) and ports (by ``containerPort`` or
``port``) merge item by item in built-in kinds; every other list, and every list in a custom
resource, is replaced, as kustomize does without the resource's schema.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

SUPPORTED = {"apiVersion", "kind", "resources", "patches", "namespace", "labels", "images"}
MERGE_KEYS = {
    "containers": ("name",),
    "initContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "ports": ("containerPort", "port"),
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class KustomizeError(ValueError):
    """A kustomization uses something this renderer does not implement, or is inconsistent."""


def build(directory: Path) -> list[Resource]:
    """Render the kustomization in ``directory``, like ``kustomize build``."""
    kfile = directory / "kustomization.yaml"
    spec = yaml.safe_load(kfile.read_text()) or {}
    unknown = set(spec) - SUPPORTED
    if unknown:
        msg = f"{kfile}: render.py does not implement {sorted(unknown)}"
        raise KustomizeError(msg)
    resources: list[Resource] = []
    for entry in spec.get("resources", []):
        path = (directory / entry).resolve()
        resources.extend(build(path) if path.is_dir() else load_documents(path))
    for patch in spec.get("patches", []):
        resources = apply_patch_entry(resources, directory, patch)
    if "namespace" in spec:
        for r in resources:
            if r["kind"] not in CLUSTER_SCOPED:
                r["metadata"]["namespace"] = spec["namespace"]
    for label in spec.get("labels", []):
        if label.get("includeSelectors") or label.get("includeTemplates"):
            msg = f"{kfile}: only labels with includeSelectors: false are implemented"
            raise KustomizeError(msg)
        for r in resources:
            r["metadata"].setdefault("labels", {}).update(label["pairs"])
    for image in spec.get("images", []):
        for r in resources:
            set_image(r, image)
    check_unique(resources, kfile)
    return resources


def load_documents(path: Path) -> list[Resource]:
    """The non-empty YAML documents of a file."""
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def apply_patch_entry(
    resources: list[Resource], directory: Path, entry: dict[str, Any]
) -> list[Resource]:
    """Apply one ``patches`` item (a file of strategic-merge patches, optional target)."""
    if set(entry) - {"path", "target"} or set(entry.get("target", {})) - {"kind", "name"}:
        msg = f"patch {entry}: only path and a target of kind/name are implemented"
        raise KustomizeError(msg)
    target = entry.get("target")
    for patch in load_documents(directory / entry["path"]):
        if target:
            matched = [
                r
                for r in resources
                if r["kind"] == target["kind"]
                and target.get("name", r["metadata"]["name"]) == r["metadata"]["name"]
            ]
        else:
            matched = [r for r in resources if same_object(r, patch)]
        if not matched:
            what = f"{patch['kind']} {patch['metadata']['name']}"
            msg = f"patch {entry['path']} ({what}) matches nothing"
            raise KustomizeError(msg)
        if patch.get("$patch") == "delete":
            resources = [r for r in resources if not any(r is m for m in matched)]
            continue
        for r in matched:
            body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind", "metadata")}
            meta = {k: v for k, v in patch.get("metadata", {}).items() if k != "name"}
            r["metadata"] = merge(r["metadata"], meta, builtin(r))
            r.update(merge({k: r.get(k) for k in body}, body, builtin(r)))
    return resources


def same_object(resource: Resource, patch: Resource) -> bool:
    """Whether a patch names this resource (group, kind and name; version may differ)."""
    group = resource["apiVersion"].rpartition("/")[0]
    return (
        group == patch["apiVersion"].rpartition("/")[0]
        and resource["kind"] == patch["kind"]
        and resource["metadata"]["name"] == patch["metadata"]["name"]
    )


def builtin(resource: Resource) -> bool:
    """Kinds whose schema kustomize knows (core, apps, policy, autoscaling …)."""
    group = resource["apiVersion"].rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def merge(base: Any, patch: Any, schema_known: bool, field: str = "") -> Any:
    """Strategic merge of ``patch`` into ``base`` (neither is modified)."""
    if isinstance(patch, dict) and isinstance(base, dict):
        if patch.get("$patch") == "replace":
            return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
        out = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = merge(base.get(key), value, schema_known, key)
        return out
    if (
        isinstance(patch, list)
        and isinstance(base, list)
        and schema_known
        and field in MERGE_KEYS
        and all(isinstance(i, dict) for i in base + patch)
    ):
        return merge_list(base, patch, MERGE_KEYS[field], schema_known)
    return copy.deepcopy(patch)


def merge_list(
    base: list[Any], patch: list[Any], keys: tuple[str, ...], schema_known: bool
) -> list[Any]:
    """Merge lists of maps item by item on their merge key; new items are appended."""

    def key_of(item: dict[str, Any]) -> Any:
        return next((item[k] for k in keys if k in item), None)

    out = copy.deepcopy(base)
    for item in patch:
        index = next((i for i, b in enumerate(out) if key_of(b) == key_of(item)), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del out[index]
        elif index is None:
            out.append(copy.deepcopy(item))
        else:
            out[index] = merge(out[index], item, schema_known)
    return out


def set_image(resource: Resource, image: dict[str, str]) -> None:
    """kustomize's ``images``: rename and retag matching container images."""
    if resource["kind"] not in POD_TEMPLATE_KINDS:
        return
    pod = resource["spec"]["template"]["spec"]
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        name, _, tag = container["image"].partition(":")
        if name != image["name"]:
            continue
        container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"


def check_unique(resources: list[Resource], kfile: Path) -> None:
    """Two resources with one identity would be applied over each other: refuse."""
    seen = set()
    for r in resources:
        ident = (r["apiVersion"], r["kind"], r["metadata"].get("namespace"), r["metadata"]["name"])
        if ident in seen:
            msg = f"{kfile}: {ident} is declared twice"
            raise KustomizeError(msg)
        seen.add(ident)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python ops/k8s/render.py DIRECTORY_WITH_KUSTOMIZATION", file=sys.stderr)
        return 2
    yaml.safe_dump_all(build(Path(args[0])), sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
