"""clusters/*.yaml validate against the autoscaler schema shipped inside the installed ``ray``
(``ray/autoscaler/ray-schema.json``, via Ray's own ``validate_config``), and they carry what the
Scaling-up guide relies on: the README install, the configs, an 8-GPU worker type with bounds."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import validate_config

ROOT = Path(__file__).resolve().parents[2]
LAUNCHERS = ["aws.yaml", "gcp.yaml"]


@pytest.mark.parametrize("name", LAUNCHERS)
def test_launcher_yaml_validates_against_rays_schema(name):
    cfg = yaml.safe_load((ROOT / "clusters" / name).read_text())
    validate_config(cfg)  # raises on any schema violation
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(cfg, schema)


def test_schema_really_rejects_a_bad_config():
    cfg = yaml.safe_load((ROOT / "clusters" / "aws.yaml").read_text())
    cfg["max_workers"] = "many"
    with pytest.raises((jsonschema.ValidationError, ValueError)):
        validate_config(cfg)


@pytest.mark.parametrize("name", LAUNCHERS)
def test_launcher_installs_like_readme_and_ships_the_configs(name):
    cfg = yaml.safe_load((ROOT / "clusters" / name).read_text())
    assert "cd ~/videochat-m1 && bash scripts/setup.sh dev,gpu" in cfg["setup_commands"]
    assert cfg["file_mounts"]["~/videochat-m1"] == "."
    assert (ROOT / "configs" / "real_team.yaml").exists()
    workers = {k: v for k, v in cfg["available_node_types"].items() if k != cfg["head_node_type"]}
    assert list(workers) == ["gpu_8x_a100_80g"]
    w = workers["gpu_8x_a100_80g"]
    assert 0 <= w["min_workers"] <= w["max_workers"] <= cfg["max_workers"]
    assert cfg["available_node_types"]["head"]["resources"] == {"CPU": 0}
    assert any("--autoscaling-config" in c for c in cfg["head_start_ray_commands"])


def test_gpu_node_type_matches_the_planned_shape():
    from m1.config import load_config
    from m1.resources import plan_resources

    aws = yaml.safe_load((ROOT / "clusters" / "aws.yaml").read_text())
    gcp = yaml.safe_load((ROOT / "clusters" / "gcp.yaml").read_text())
    assert aws["available_node_types"]["gpu_8x_a100_80g"]["node_config"]["InstanceType"] == "p4de.24xlarge"
    acc = gcp["available_node_types"]["gpu_8x_a100_80g"]["node_config"]["guestAccelerators"][0]
    assert acc == {"acceleratorType": "nvidia-a100-80gb", "acceleratorCount": 8}
    cfg = load_config(ROOT / "configs" / "real_team.yaml")
    assert (cfg.cluster.gpus_per_node, cfg.cluster.gpu_memory_gb) == (8, 80)
    plan_resources(cfg, root=ROOT)  # the shape these node types provide fits the real team
