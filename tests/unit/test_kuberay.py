"""clusters/kuberay/*.yaml validate against the KubeRay CRDs vendored in clusters/kuberay/crds/.
Those are the real ``ray.io_rayjobs.yaml`` / ``ray.io_rayservices.yaml`` of ray-project/kuberay, trimmed
(see that folder's README): the core Kubernetes types they inline are ``$ref``s into the strict
Kubernetes v1.34 JSON schema of ``kubernetes-validate``. Besides the CRD schema, what the API server
checks on its own is checked too: apiVersion/kind name the CRD's group, version and kind, and
``metadata`` is an ObjectMeta.
The manifests also have to run this project: the RayJob entrypoint and the Serve import path exist,
their config loads, the cluster they ask for fits the planned actors, and the Serve deployment
options agree with ServeConfig. The Scaling-up guide's KubeRay commands name existing files.

Not checked here: ``kubectl apply`` against a real cluster with the KubeRay operator.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import re
import shlex
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from m1.config import M1Config, load_config

ROOT = Path(__file__).resolve().parents[2]
KUBERAY = ROOT / "clusters" / "kuberay"
MANIFESTS = {"RayJob": KUBERAY / "rayjob-marl.yaml", "RayService": KUBERAY / "rayservice-serve.yaml"}
CRDS = {"RayJob": KUBERAY / "crds" / "ray.io_rayjobs.trimmed.yaml",
        "RayService": KUBERAY / "crds" / "ray.io_rayservices.trimmed.yaml"}
CRD_VERSION = "v1"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
K8S_VERSION = "v1.34.0-local-strict"
INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
# openAPIV3Schema keys that are not JSON Schema validation keywords (handled or irrelevant here)
_DROPPED = {"nullable", "format", "default", "description", "example", "externalDocs"}


def crd_to_jsonschema(node: Any, k8s_id: str) -> Any:
    """A CRD ``openAPIV3Schema`` (structural, Kubernetes dialect) as a JSON Schema with the same meaning.

    ``x-kubernetes-int-or-string`` without a type accepts integers and strings, ``format: int32/int64``
    bounds integers, ``nullable`` admits null, and an object that lists ``properties`` rejects other
    fields unless it has ``additionalProperties`` or ``x-kubernetes-preserve-unknown-fields`` (what
    ``kubectl apply --validate=strict`` does; a non-strict API server would prune them silently).
    ``x-kubernetes-embedded-resource`` objects also take ``apiVersion``, ``kind`` and ``metadata``.
    ``$ref: k8s#/...`` points into the Kubernetes definitions whose ``$id`` is ``k8s_id``.
    Ignored: ``x-kubernetes-list-type``/``-list-map-keys``/``-map-type`` (merge strategy, no validation
    effect here) and ``x-kubernetes-validations``: CEL rules cannot be evaluated here, so they are NOT checked.
    """
    if isinstance(node, list):
        return [crd_to_jsonschema(x, k8s_id) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "$defs", "patternProperties"):
            out[key] = {name: crd_to_jsonschema(s, k8s_id) for name, s in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = crd_to_jsonschema(value, k8s_id)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [crd_to_jsonschema(s, k8s_id) for s in value]
        elif key == "$ref":
            out[key] = k8s_id + value[len("k8s"):] if value.startswith("k8s#") else value
        elif key.startswith("x-kubernetes-") or key in _DROPPED:
            continue
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string") and "type" not in node and "anyOf" not in node:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("format") in INT_RANGES and node.get("type") == "integer":
        lo, hi = INT_RANGES[node["format"]]
        out["minimum"] = max(lo, node.get("minimum", lo))
        out["maximum"] = min(hi, node.get("maximum", hi))
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if node.get("x-kubernetes-embedded-resource") and "properties" in out:
        out["properties"] = {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                             "metadata": {"type": "object"}} | out["properties"]
    if ("properties" in node and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


@cache
def _k8s_definitions() -> dict:
    path = resources.files("kubernetes_validate") / "kubernetes-json-schema" / K8S_VERSION / "_definitions.json"
    return json.loads(path.read_text())


@cache
def _crd(kind: str) -> dict:
    return yaml.safe_load(CRDS[kind].read_text())


def _crd_version(kind: str) -> dict:
    (version,) = [v for v in _crd(kind)["spec"]["versions"] if v["name"] == CRD_VERSION]
    return version


@cache
def _crd_schema(kind: str) -> dict:
    """The CRD's v1 ``openAPIV3Schema`` as JSON Schema, with what the API server checks besides it:
    apiVersion and kind are the CRD's group/version and kind, and ``metadata`` is an ObjectMeta
    (the CRD itself only says ``metadata: {type: object}``)."""
    crd, k8s_id = _crd(kind), _k8s_definitions()["$id"]
    schema = crd_to_jsonschema(_crd_version(kind)["schema"]["openAPIV3Schema"], k8s_id)
    served_as = {"type": "object", "required": ["apiVersion", "kind", "metadata"], "properties": {
        "apiVersion": {"const": f"{crd['spec']['group']}/{CRD_VERSION}"},
        "kind": {"const": crd["spec"]["names"]["kind"]},
        "metadata": {"$ref": f"{k8s_id}#/$defs/{OBJECT_META}"}}}
    return {"$id": f"urn:videochat-m1:kuberay:{kind}", "allOf": [schema, served_as]}


def _registry(*roots: dict) -> Registry:
    defs = _k8s_definitions()
    return Registry().with_resources([(defs["$id"], Resource.from_contents(defs))]
                                     + [(r["$id"], DRAFT202012.create_resource(r)) for r in roots])


def validator_for(kind: str) -> jsonschema.Draft202012Validator:
    root = _crd_schema(kind)
    return jsonschema.Draft202012Validator(root, registry=_registry(root))


def errors(kind: str, manifest: dict) -> list[jsonschema.ValidationError]:
    return sorted(validator_for(kind).iter_errors(manifest), key=lambda e: list(e.path))


@cache
def _manifest_text(kind: str) -> str:
    return MANIFESTS[kind].read_text()


def manifest(kind: str) -> dict:
    return yaml.safe_load(_manifest_text(kind))


def cluster_spec(doc: dict) -> dict:
    return doc["spec"]["rayClusterSpec" if doc["kind"] == "RayJob" else "rayClusterConfig"]


def containers(doc: dict) -> list[dict]:
    spec = cluster_spec(doc)
    pods = [spec["headGroupSpec"]["template"]] + [w["template"] for w in spec["workerGroupSpecs"]]
    if "submitterPodTemplate" in doc["spec"]:
        pods.append(doc["spec"]["submitterPodTemplate"])
    return [c for p in pods for c in p["spec"]["containers"]]


def worker_totals(doc: dict) -> tuple[float, float]:
    """(CPUs, GPUs) that the worker groups give Ray: the container limits times the replicas."""
    cpus = gpus = 0.0
    for w in cluster_spec(doc)["workerGroupSpecs"]:
        (c,) = w["template"]["spec"]["containers"]
        cpus += float(c["resources"]["limits"]["cpu"]) * w["replicas"]
        gpus += float(c["resources"]["limits"]["nvidia.com/gpu"]) * w["replicas"]
    return cpus, gpus


def serve_config() -> dict:
    return yaml.safe_load(manifest("RayService")["spec"]["serveConfigV2"])


def serve_app_config() -> tuple[dict, M1Config]:
    (app,) = serve_config()["applications"]
    return app, load_config(ROOT / app["args"]["config"], app["args"]["overrides"].split())


# --- schema validation ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(MANIFESTS))
def test_manifest_validates_against_the_kuberay_crd(kind):
    doc = manifest(kind)
    assert (doc["apiVersion"], doc["kind"]) == ("ray.io/v1", kind)
    assert [f"{list(e.path)}: {e.message}" for e in errors(kind, doc)] == []


def _set(doc: dict, path: list, value: Any) -> dict:
    doc = copy.deepcopy(doc)
    *head, last = path
    node = doc
    for key in head:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


_DELETE = object()
_WORKER = ["spec", "rayClusterSpec", "workerGroupSpecs", 0]
_HEAD_POD = ["spec", "rayClusterSpec", "headGroupSpec", "template", "spec"]


@pytest.mark.parametrize("kind, path, value, keyword", [
    ("RayJob", [*_WORKER, "replicas"], "one", "type"),                            # wrong type
    ("RayJob", [*_WORKER, "replicas"], 2**31, "maximum"),                         # int32 overflow
    ("RayJob", [*_WORKER, "rayStartParams"], {"num-gpus": 8}, "type"),            # map[string]string
    ("RayJob", ["spec", "rayClusterSpec", "headGroupSpec", "template"], _DELETE, "required"),
    ("RayJob", [*_WORKER, "groupName"], _DELETE, "required"),
    ("RayJob", ["spec", "entrypont"], "python jobs/marl.py", "additionalProperties"),   # misspelt field
    ("RayJob", ["spec", "shutdownAfterJobFinishes"], "yes", "type"),
    ("RayJob", [*_HEAD_POD, "containers", 0, "name"], _DELETE, "required"),         # core PodSpec
    ("RayJob", [*_HEAD_POD, "containers", 0, "imagePullPolcy"], "Always", "additionalProperties"),
    ("RayJob", ["apiVersion"], "ray.io/v1alpha1", "const"),                       # only v1 is vendored
    ("RayJob", ["kind"], "RayService", "const"),
    ("RayJob", ["spec", "entrypoint"], _DELETE, "required"),
    ("RayJob", ["spec", "submissionMode"], 1, "type"),
    ("RayJob", ["spec", "backoffLimit"], 0, "additionalProperties"),             # newer than the vendored CRD
    ("RayJob", ["spec", "runtimeEnv"], "e30=", "additionalProperties"),          # gone: runtimeEnvYAML only
    ("RayJob", ["spec", "rayClusterSpec", "headGroupSpec", "replicas"], 1, "additionalProperties"),  # gone
    ("RayJob", ["spec", "rayClusterSpec", "autoscalerOptions"], {"upscalingMode": "Fast"}, "enum"),
    ("RayJob", ["spec", "activeDeadlineSeconds"], 2**31, "maximum"),
    ("RayJob", [*_WORKER, "scaleStrategy"], {"workersToDelete": "pod-a"}, "type"),
    ("RayJob", [*_WORKER, "template", "metadata"], {"generateName": "w-"}, "additionalProperties"),  # narrowed
    ("RayJob", ["metadata", "nmae"], "x", "additionalProperties"),                # ObjectMeta
    ("RayJob", ["status"], {"jobStatus": "RUNNING"}, "additionalProperties"),     # status is not vendored
    ("RayService", ["spec", "serveConfigV2"], {"applications": []}, "type"),      # must be a YAML string
    ("RayService", ["spec", "rayClusterConfig", "headGroupSpec", "rayStartParams"], _DELETE, "required"),
    ("RayService", ["spec", "serviceUnhealthySecondThreshold"], -(2**31) - 1, "minimum"),
    ("RayService", ["spec", "serveService"], {"spec": {"ports": [{"port": "http"}]}}, "type"),  # core ServiceSpec
    ("RayService", ["spec", "serveConfig"], {"importPath": "jobs.serve:app_builder"}, "additionalProperties"),
])
def test_schema_rejects_a_broken_manifest(kind, path, value, keyword):
    broken = _set(manifest(kind), path, value)
    found = errors(kind, broken)
    assert found, f"{path} = {value!r} was accepted"
    assert keyword in {e.validator for e in found} | {c.validator for e in found for c in e.context}


def test_crd_dialect_conversion_handles_kubernetes_extensions():
    """Fragments in the style of controller-gen's CRDs (quantities, ports, preserved maps, int32)."""
    fragment = {"type": "object", "required": ["n"], "properties": {
        "port": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True},
        "bare": {"x-kubernetes-int-or-string": True},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                 "properties": {"a": {"type": "string"}}},
        "n": {"type": "integer", "format": "int32", "minimum": 0},
        "s": {"type": "string", "nullable": True},
        "quantity": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True,
                     "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE])?$"},
        "pod": {"type": "object", "x-kubernetes-embedded-resource": True, "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"spec": {"type": "object"}}}}}
    v = jsonschema.Draft202012Validator(crd_to_jsonschema(fragment, "unused"))
    assert v.is_valid({"n": 1, "port": "http", "bare": 8080, "free": {"a": "x", "other": 1}, "s": None,
                       "quantity": "500m", "pod": {"apiVersion": "v1", "kind": "Pod", "spec": {}, "x": 1}})
    assert v.is_valid({"n": 2**31 - 1, "quantity": 8})
    bad = [{}, {"n": -1}, {"n": 2**31}, {"n": 1, "bare": 1.5}, {"n": 1, "extra": 1}, {"n": 1, "free": {"a": 3}},
           {"n": 1, "quantity": "eight"}, {"n": 1, "s": 3}, {"n": "1"}]
    assert [v.is_valid(b) for b in bad] == [False] * len(bad)


def test_crd_dialect_conversion_ignores_list_markers_and_cel_but_keeps_enums():
    """Newer controller-gen output: list/map markers carry no validation here and CEL rules
    (``x-kubernetes-validations``) are dropped unevaluated; ``enum`` still restricts values."""
    fragment = {"type": "object", "x-kubernetes-validations": [{"rule": "self.a != 'b'", "message": "never b"}],
                "x-kubernetes-map-type": "atomic", "properties": {
                    "a": {"type": "string"},
                    "mode": {"type": "string", "enum": ["Default", "Aggressive", "Conservative"]},
                    "ports": {"type": "array", "x-kubernetes-list-type": "map",
                              "x-kubernetes-list-map-keys": ["port"],
                              "items": {"type": "object", "required": ["port"],
                                        "properties": {"port": {"type": "integer", "format": "int32"}}}}}}
    out = crd_to_jsonschema(fragment, "unused")
    assert not [k for k in json.dumps(out).split('"') if k.startswith("x-kubernetes-")]
    v = jsonschema.Draft202012Validator(out)
    # not checked: the CEL rule and the list-map key uniqueness, both broken here, yet the document is valid
    assert v.is_valid({"a": "b", "mode": "Aggressive", "ports": [{"port": 80}, {"port": 80}]})
    assert [v.is_valid(b) for b in ({"mode": "Fast"}, {"ports": [{}]}, {"ports": [{"port": 2**31}]})] == [False] * 3


_SCHEMA_KEYS = {"properties", "items", "additionalProperties", "required", "type", "format", "default", "enum", "$ref"}


def _walk(node: Any, path: tuple = ()):
    """(dotted path, schema node) for every schema node of an openAPIV3Schema: ``properties`` names
    and ``items``/``additionalProperties`` steps make the path."""
    yield ".".join(path), node
    for name, sub in node.get("properties", {}).items():
        yield from _walk(sub, (*path, name))
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from _walk(node[key], (*path, key))


def _header_refs(kind: str) -> dict[str, str]:
    """The ``path -> type`` list of replaced subtrees in the vendored file's header comment."""
    found = re.findall(r"^#\s+(\S+)\s+->\s+(\S+)$", CRDS[kind].read_text(), re.M)
    return {path: "k8s#/$defs/" + name for path, name in found}


@pytest.mark.parametrize("kind", list(CRDS))
def test_vendored_crd_is_the_kuberay_v1_crd_with_resolvable_refs(kind):
    crd = _crd(kind)
    plural = kind.lower() + "s"
    assert (crd["apiVersion"], crd["kind"]) == ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    assert crd["metadata"]["name"] == f"{plural}.ray.io"
    spec = crd["spec"]
    assert (spec["group"], spec["scope"]) == ("ray.io", "Namespaced")
    assert spec["names"] == {"categories": ["all"], "kind": kind, "listKind": f"{kind}List", "plural": plural,
                             "singular": kind.lower()}
    assert [(v["name"], v["served"], v["storage"], v["subresources"]) for v in spec["versions"]] == [
        ("v1", True, True, {"status": {}})]
    schema = _crd_version(kind)["schema"]["openAPIV3Schema"]
    assert sorted(schema["properties"]) == ["apiVersion", "kind", "metadata", "spec"]     # status trimmed
    nodes = list(_walk(schema))
    # only plain structural keywords: no descriptions, no CEL rules (x-kubernetes-validations) and no other
    # x-kubernetes-* markers. The sources have such markers only inside the replaced core types and the dropped
    # status, and no CEL rule anywhere in the parts kept, so nothing kept goes unchecked.
    assert set().union(*(n.keys() for _, n in nodes)) <= _SCHEMA_KEYS
    refs = {path: n["$ref"] for path, n in nodes if "$ref" in n}
    assert all(n.keys() == {"$ref"} for _, n in nodes if "$ref" in n)
    assert refs == _header_refs(kind)              # the header lists every replaced subtree, and only those
    k8s_id = _k8s_definitions()["$id"]
    resolver = _registry().resolver()
    for ref in refs.values():
        assert ref.startswith("k8s#/$defs/io.k8s.api.core.v1.")
        assert "properties" in resolver.lookup(k8s_id + ref[len("k8s"):]).contents
    # every pod template of the CRD is a $ref to PodSpec, with the CRD's narrowed metadata kept
    templates = [p for p, _ in nodes if p.endswith(("template", "submitterPodTemplate"))]
    assert len(templates) == (3 if kind == "RayJob" else 2)
    for path in templates:
        assert refs[path + ".spec"] == "k8s#/$defs/io.k8s.api.core.v1.PodSpec"
        assert sorted(dict(nodes)[path + ".metadata"]["properties"]) == [
            "annotations", "finalizers", "labels", "name", "namespace"]


def test_crd_dialect_conversion_keeps_refs_inside_items():
    """The array-of-ref form of the trimmed CRDs (``items: {$ref: k8s#...}``) points into the k8s schema."""
    node = {"type": "object", "properties": {"env": {"type": "array", "items": {"$ref": "k8s#/$defs/X"}}}}
    assert crd_to_jsonschema(node, "https://k8s/defs.json") == {"type": "object", "additionalProperties": False,
                                                                "properties": {"env": {"type": "array", "items": {
                                                                    "$ref": "https://k8s/defs.json#/$defs/X"}}}}


# --- the manifests run this project -----------------------------------------------------------

def test_rayjob_entrypoint_is_the_marl_job_with_a_loadable_config():
    spec = manifest("RayJob")["spec"]
    argv = shlex.split(spec["entrypoint"])
    assert argv[:4] == ["python", "jobs/marl.py", "--config", "configs/real_team.yaml"]
    assert (ROOT / argv[1]).is_file()
    marl = importlib.import_module("jobs.marl")
    assert callable(marl.cli) and callable(marl.main)
    cfg = load_config(ROOT / argv[3], argv[4:])
    assert cfg.ray.address == "auto"                  # joins the RayJob's cluster, starts no local Ray
    assert cfg.output_dir == "/runs/real_team"        # the m1-runs volume, shared by every pod
    assert (spec["shutdownAfterJobFinishes"], spec["ttlSecondsAfterFinished"] > 0) == (True, True)
    assert spec["submissionMode"] == "K8sJobMode"     # the CRD has no enum for it: check the value here


@pytest.mark.parametrize("kind", list(MANIFESTS))
def test_worker_group_is_the_planned_node_and_fits_the_actors(kind):
    from actors.rollout import actor_requests
    from m1.resources import plan_resources

    if kind == "RayJob":
        argv = shlex.split(manifest(kind)["spec"]["entrypoint"])
        cfg = load_config(ROOT / argv[3], argv[4:])
        need = actor_requests(cfg, learner=True)
        replicas, extra_cpus = 1, 0.0
    else:
        _, cfg = serve_app_config()
        need = actor_requests(cfg)
        replicas, extra_cpus = cfg.serve.replicas, cfg.serve.replica_cpus * cfg.serve.replicas
    (group,) = cluster_spec(manifest(kind))["workerGroupSpecs"]
    assert group["replicas"] == group["minReplicas"] == group["maxReplicas"] == cfg.cluster.nodes == 1
    assert group["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 8
    assert cfg.cluster.gpus_per_node == 8
    plan_resources(cfg, root=ROOT)                    # the planner fits the team on this node shape
    cpus, gpus = worker_totals(manifest(kind))
    need_cpus = sum(c for c, _ in need.values()) * replicas + extra_cpus
    need_gpus = sum(g for _, g in need.values()) * replicas
    # 4 VLM tool workers x (4 CPUs, 0.25 GPU: they load Qwen2.5-VL-7B on cuda) beside 4 x 0.3-GPU engines
    # and the LearnerActor's 4 GPUs (3 of learners, 1 of KL references)
    assert (need_cpus, need_gpus) == ((32.0, 6.2) if kind == "RayJob" else (50.0, 4.4))
    assert need_cpus <= cpus and need_gpus <= gpus
    assert cluster_spec(manifest(kind))["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"


def test_serve_config_imports_the_project_app_with_matching_options():
    from ray.serve.schema import ServeDeploySchema

    sc = serve_config()
    ServeDeploySchema.model_validate(sc)              # Ray Serve's own schema for serveConfigV2
    app, cfg = serve_app_config()
    module_name, attr = app["import_path"].split(":")
    module = importlib.import_module(module_name)
    builder = getattr(module, attr)
    assert list(inspect.signature(builder).parameters) == ["args"]
    assert module_name == "jobs.serve" and (ROOT / "jobs" / "serve.py").is_file()
    (dep,) = app["deployments"]
    assert dep["name"] == module.M1Server.name
    assert dep["num_replicas"] == cfg.serve.replicas == 2
    assert dep["max_ongoing_requests"] == cfg.serve.max_ongoing_requests
    assert dep["ray_actor_options"] == {"num_cpus": cfg.serve.replica_cpus}
    assert sc["http_options"] == {"host": cfg.serve.host, "port": cfg.serve.port} == {"host": "0.0.0.0", "port": 8000}
    assert cfg.serve.team_dir.startswith("/runs/") and cfg.ray.address == "auto"


@cache
def _dockerfile() -> tuple[str, str]:
    text = (ROOT / "docker" / "Dockerfile.cuda").read_text()
    (workdir,) = re.findall(r"^WORKDIR (\S+)$", text, re.M)
    (tag,) = re.findall(r"docker build -f docker/Dockerfile\.cuda -t (\S+) \.", text)
    return workdir, tag


@pytest.mark.parametrize("kind", list(MANIFESTS))
def test_every_pod_runs_the_cuda_image_with_token_auth(kind):
    workdir, tag = _dockerfile()
    cs = containers(manifest(kind))
    assert len(cs) == (3 if kind == "RayJob" else 2)
    secrets = set()
    for c in cs:
        assert c["image"].endswith("/" + tag) and c["image"].startswith("your-registry.example/")
        assert c["workingDir"] == workdir             # relative paths (configs/, jobs/) resolve in the checkout
        env = {e["name"]: e for e in c["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token"
        ref = env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
        secrets.add((ref["name"], ref["key"]))
    assert secrets == {("ray-auth-token", "token")}


# --- the guide --------------------------------------------------------------------------------

def test_scaling_guide_names_existing_files_and_the_manifests_commands():
    guide = (ROOT / "docs" / "SCALING.md").read_text()
    paths = set(re.findall(r"clusters/[\w./-]*\w", guide))
    assert {"clusters/kuberay/rayjob-marl.yaml", "clusters/kuberay/rayservice-serve.yaml"} <= paths
    assert sorted(p for p in paths if not (ROOT / p).exists()) == []
    for name in MANIFESTS.values():
        assert f"kubectl apply -f {name.relative_to(ROOT)}" in guide
    _, tag = _dockerfile()
    assert f"docker build -f docker/Dockerfile.cuda -t {tag} ." in guide
    assert f"docker tag {tag} your-registry.example/{tag}" in guide
    assert "kubectl create secret generic ray-auth-token --from-literal=token=" in guide
    claims = {v["persistentVolumeClaim"]["claimName"] for kind in MANIFESTS
              for pod in [cluster_spec(manifest(kind))["headGroupSpec"]["template"]]
              for v in pod["spec"]["volumes"]}
    assert claims == {"m1-models", "m1-runs"} and all(c in guide for c in claims)
