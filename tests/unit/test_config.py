import pytest

from m1.cli import main
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
