"""`m1 eval --ray` on a local Ray (2 CPUs): the same predictions as in-process."""

import pytest

from cli import main
from m1.config import load_config
from m1.evaluation.predictions import Prediction

pytestmark = [pytest.mark.ray, pytest.mark.slow]

TINY = ["synth.width=192", "synth.height=108", "synth.fps=5", "synth.min_duration=6", "synth.max_duration=8",
        "synth.min_scene_seconds=3", "synth.min_object_size=12", "synth.max_object_size=30"]


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    from m1.synth import generate_split

    out = tmp_path_factory.mktemp("evalray")
    generate_split(load_config(overrides=TINY).synth, out, "test", 1, seed=5, progress=False)
    return out


@pytest.fixture
def ray_shutdown():
    yield
    import ray

    ray.shutdown()


def comparable(path):
    preds = [Prediction.model_validate_json(x) for x in path.read_text().splitlines()]
    return sorted((p.model_dump(exclude={"seconds", "tool_seconds"}) for p in preds), key=lambda d: d["qid"])


def test_eval_on_ray_matches_in_process(split, tmp_path, ray_shutdown):
    # resume is covered in-process (tests/unit/test_eval*.py); here: the Ray back-ends, once (actors are slow to start)
    common = ["eval", "--benchmark", "m1_synth", "--data-dir", str(split), "--system", "team,no_tools",
              "--no-progress", "--team", str(tmp_path / "team"), "--limit", "2"]
    (tmp_path / "team").mkdir()
    cfg = [f"output_dir={tmp_path}", "cpp.max_rounds=1", "cpp.plan_tokens=48", "ray.num_cpus=2"]
    assert main([*common, "--out", str(tmp_path / "local"), *cfg]) == 0
    assert main([*common, "--out", str(tmp_path / "ray"), "--ray", *cfg]) == 0
    for system in ("team", "no_tools"):
        local = comparable(tmp_path / "local" / system / "predictions.jsonl")
        assert len(local) == 2 and local == comparable(tmp_path / "ray" / system / "predictions.jsonl")
