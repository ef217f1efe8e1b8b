import pytest

from cli import main
from m1.config import ConfigError, M1Config, load_config, to_yaml
from m1.config.base import parse_overrides


def test_defaults_validate():
    cfg = load_config()
    assert isinstance(cfg, M1Config)
    assert cfg.synth.width % 2 == 0


def test_override_types_are_parsed():
    cfg = load_config(overrides=["synth.fps=8", "seed=3", "synth.objects_per_scene=[2, 4]"])
    assert cfg.synth.fps == 8 and cfg.seed == 3 and cfg.synth.objects_per_scene == (2, 4)


def test_parse_overrides_nested():
    assert parse_overrides(["a.b.c=1", "a.b.d=x", "e=null"]) == {"a": {"b": {"c": 1, "d": "x"}}, "e": None}


@pytest.mark.parametrize(
    "override, key, value",
    [
        ("synth.fps=abc", "synth.fps", "'abc'"),
        ("synth.fps=0", "synth.fps", "0"),
        ("synth.nonsense=1", "synth.nonsense", "1"),
        ("nonsense=1", "nonsense", "1"),
    ],
)
def test_bad_value_or_key_names_both(override, key, value):
    with pytest.raises(ConfigError) as e:
        load_config(overrides=[override])
    assert f"{key} = {value}" in str(e.value)


def test_cross_field_validation_names_fields():
    with pytest.raises(ConfigError, match="min_duration 100.0 > max_duration 10.0"):
        load_config(overrides=["synth.min_duration=100", "synth.max_duration=10"])


def test_choosing_the_summariser_after_sft_needs_held_out_questions():
    with pytest.raises(ConfigError, match="sft.val_fraction > 0"):
        load_config(overrides=["sft.choose_summariser=true"])
    assert load_config(overrides=["sft.choose_summariser=true", "sft.val_fraction=0.1"]).sft.choose_summariser


def test_override_without_equals_is_error():
    with pytest.raises(ConfigError, match="key.subkey=value"):
        load_config(overrides=["synth.fps"])


def test_yaml_file_layers(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("seed: 5\nsynth:\n  fps: 12\n")
    cfg = load_config(f, ["synth.fps=6"])
    assert cfg.seed == 5 and cfg.synth.fps == 6
    # round trip: the dumped YAML is itself a valid config file
    f2 = tmp_path / "d.yaml"
    f2.write_text(to_yaml(cfg))
    assert load_config(f2) == cfg


def test_yaml_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(bad)


def test_shipped_configs_are_valid():
    from pathlib import Path

    files = sorted(Path(__file__).resolve().parents[2].joinpath("configs").glob("*.yaml"))
    assert files, "configs/ must ship at least one YAML instance"
    for f in files:
        load_config(f)


def test_cli_config_show(capsys):
    assert main(["config", "show", "synth.fps=7"]) == 0
    assert "fps: 7" in capsys.readouterr().out
    assert main(["config", "show", "synth.fps=x"]) == 2
    err = capsys.readouterr().err
    assert "synth.fps = 'x'" in err


def test_shipped_configs_in_subfolders_are_valid():
    from pathlib import Path

    files = sorted(Path(__file__).resolve().parents[2].joinpath("configs").rglob("*.yaml"))
    assert any(f.parent.name != "configs" for f in files)
    for f in files:
        load_config(f)


def test_layering_order_defaults_yaml_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("seed: 5\nsynth: {fps: 12, width: 320}\nsampling:\n  train: {top_p: 0.9}\n")
    cfg = load_config(f, ["synth.fps=6", "seed=7", "seed=8"])
    assert (cfg.seed, cfg.synth.fps, cfg.synth.width) == (8, 6, 320)  # overrides in order, after the file
    assert cfg.synth.height == M1Config().synth.height  # a default no layer touched
    # a mapping merges key by key onto the defaults: the train temperature keeps its default 0.7
    # (not SamplingConfig's own default 1.0, which replacing the whole section would give)
    assert (cfg.sampling.train.temperature, cfg.sampling.train.top_p) == (0.7, 0.9)
    # a list is replaced as a whole; flow mappings in overrides still parse
    cfg = load_config(overrides=["team.agents=[{name: x, arch: qwen2}, {name: y, arch: qwen3}]", "team.use=[y]"])
    assert [a.name for a in cfg.team.agents] == ["y"]


def test_default_paths_interpolate_output_dir():
    cfg = load_config(overrides=["output_dir=/runs/r"])
    assert (cfg.sft.out_dir, cfg.sft.dataset_dir, cfg.sft.team_dir) == (
        "/runs/r/sft", "/runs/r/sft/data", "/runs/r/team")
    cfg = load_config(overrides=["output_dir=/runs/r", "sft.out_dir=/elsewhere"])
    assert (cfg.sft.out_dir, cfg.sft.dataset_dir) == ("/elsewhere", "/elsewhere/data")
    # a config built in code resolves its defaults too
    assert M1Config(output_dir="/q").sft.dataset_dir == "/q/sft/data"
    assert M1Config().sft.out_dir == "runs/default/sft"


def test_interpolation_in_yaml_and_overrides_resolves_after_all_layers(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("output_dir: /a\nsft:\n  out_dir: ${output_dir}/lora\n")
    # the file's interpolation sees the output_dir of the later override, not the file's own
    assert load_config(f, ["output_dir=/b"]).sft.out_dir == "/b/lora"
    cfg = load_config(overrides=["seed=8", "synth.fps=${seed}", "sft.team_dir=${sft.out_dir}/start"])
    assert cfg.synth.fps == 8 and isinstance(cfg.synth.fps, int)
    assert cfg.sft.team_dir == "runs/default/sft/start"
    # the dumped YAML holds resolved values and is itself a valid config file
    f2 = tmp_path / "d.yaml"
    f2.write_text(to_yaml(cfg))
    assert "${" not in f2.read_text() and load_config(f2) == cfg


@pytest.mark.parametrize("override, key, missing", [
    ("sft.out_dir=${nowhere}/sft", "sft.out_dir = '${nowhere}/sft'", "nowhere"),
    ("synth.fps=${synth.speed}", "synth.fps = '${synth.speed}'", "synth.speed"),
])
def test_interpolation_of_a_missing_key_names_it(override, key, missing):
    with pytest.raises(ConfigError) as e:
        load_config(overrides=[override])
    assert key in str(e.value) and f"'{missing}' not found" in str(e.value)
    assert "does not exist" in str(e.value)


def test_an_interpolated_bad_value_is_named_after_resolution():
    with pytest.raises(ConfigError) as e:
        load_config(overrides=["seed=0", "synth.fps=${seed}"])
    assert "synth.fps = 0" in str(e.value)


def test_a_list_replacing_a_mapping_is_a_pydantic_error_naming_both():
    with pytest.raises(ConfigError) as e:
        load_config(overrides=["synth=[1, 2]"])
    assert "synth = [1, 2]: Input should be a valid dictionary" in str(e.value)


@pytest.mark.parametrize("old, new", [
    ("cpp.temperature", "sampling.eval.temperature"),
    ("cpp.top_p", "sampling.eval.top_p"),
    ("marl.temperature", "sampling.train.temperature"),
    ("marl.top_p", "sampling.train.top_p"),
    ("engine.temperature", "sampling.train.temperature or sampling.eval.temperature"),
    ("engine.max_new_tokens", "cpp.plan_tokens"),
])
def test_old_sampling_keys_say_where_they_moved(old, new, tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(overrides=[f"{old}=0.5"])
    assert f"{old} = 0.5: unknown key" in str(e.value) and new in str(e.value)
    section, key = old.split(".")
    f = tmp_path / "old.yaml"
    f.write_text(f"{section}:\n  {key}: 0.5\n")
    with pytest.raises(ConfigError, match=new.replace(".", r"\.")):
        load_config(f)


def test_rollouts_must_sample():
    with pytest.raises(ConfigError) as e:
        load_config(overrides=["sampling.train.temperature=0"])
    assert "sampling.train = " in str(e.value) and "temperature > 0" in str(e.value)
    assert load_config(overrides=["sampling.eval.temperature=0"]).sampling.eval.temperature == 0


def test_cli_config_show_resolves_interpolations(capsys):
    assert main(["config", "show", "output_dir=/w", "sft.team_dir=${output_dir}/t0"]) == 0
    out = capsys.readouterr().out
    assert "out_dir: /w/sft" in out and "team_dir: /w/t0" in out and "${" not in out
    assert main(["config", "show", "cpp.temperature=1"]) == 2
    assert "cpp.temperature = 1: unknown key: moved to sampling.eval.temperature" in capsys.readouterr().err


def test_interpolation_syntax_error_names_key_and_value():
    with pytest.raises(ConfigError) as e:
        load_config(overrides=["sft.out_dir=${output_dir"])
    assert "sft.out_dir = '${output_dir'" in str(e.value)


def test_a_jobs_embedded_defaults_sit_below_the_yaml_file(tmp_path):
    # `m1 run -c mixed.yaml` used to lose the file's output_dir and marl.steps to the pipeline's
    # embedded sizes, which were applied as overrides after the file
    from jobs.pipeline import PIPELINE_DEFAULTS

    f = tmp_path / "c.yaml"
    f.write_text("output_dir: runs/mixed\nmarl:\n  steps: 1\n")
    cfg = load_config(f, ["grpo.group_size=2"], defaults=PIPELINE_DEFAULTS)
    assert cfg.output_dir == "runs/mixed" and cfg.marl.steps == 1 and cfg.grpo.group_size == 2
    assert cfg.marl.questions_per_step == 4 and cfg.sft.train_videos == 24  # the defaults the file leaves alone
    cfg = load_config(None, ["marl.steps=3"], defaults=PIPELINE_DEFAULTS)
    assert cfg.output_dir == "runs/pipeline" and cfg.marl.steps == 3
    assert cfg.sft.out_dir.startswith("runs/pipeline")  # interpolation follows the default layer too


def test_homogeneous_ablation_configs_change_only_the_team():
    """Each homogeneous-team ablation restates its noise setting (YAML files do not include each other):
    outside ``team`` it must equal the setting it ablates, or its rows stop being comparable."""
    from pathlib import Path

    configs = Path(__file__).resolve().parents[2] / "configs"
    for ablation, base in [("homogeneous_noisy.yaml", "noisy.yaml"), ("homogeneous_hard.yaml", "noisy_hard.yaml")]:
        a, b = load_config(configs / "ablations" / ablation), load_config(configs / base)
        assert a.model_dump(exclude={"team"}) == b.model_dump(exclude={"team"}), ablation
        assert {s.arch for s in a.team.agents} == {"qwen3"} and len(a.team.agents) == len(b.team.agents)
