"""m1.provenance: what a run records about where it came from, and how two records are compared."""

import json

import pytest

from cli import main
from m1.checkpoint import TeamDir
from m1.config import TeamConfig
from m1.provenance import differences, git_state, packages_fingerprint, read, record


def test_the_record_names_the_commit_packages_and_machine():
    rec = record()
    assert len(rec["commit"]) == 40 and isinstance(rec["dirty"], bool)
    assert {"torch", "transformers", "numpy"} <= set(rec["versions"])
    assert len(rec["packages"]) == 16 and rec["machine"]["cpus"] >= 1
    assert differences(rec, record()) == []


def test_outside_a_git_checkout_the_commit_is_unknown_not_an_error(tmp_path):
    assert git_state(tmp_path) == {"commit": None, "dirty": None}


def test_the_packages_fingerprint_changes_with_any_version():
    base = {"torch": "2.13.0", "numpy": "2.4.6"}
    assert packages_fingerprint(base) == packages_fingerprint(dict(reversed(list(base.items()))))
    assert packages_fingerprint(base) != packages_fingerprint({**base, "numpy": "2.4.5"})
    assert packages_fingerprint(base) != packages_fingerprint({**base, "extra": "1"})


def test_differences_name_each_changed_key_with_its_path():
    a = {"commit": "x", "machine": {"cpu": "AMD EPYC", "torch_cpu_capability": "AVX512"}, "python": "3.11.7"}
    b = {"commit": "x", "machine": {"cpu": "AMD EPYC", "torch_cpu_capability": "AVX2"}, "from_step": 8}
    assert differences(a, b) == ["from_step: None -> 8", "machine.torch_cpu_capability: 'AVX512' -> 'AVX2'",
                                 "python: '3.11.7' -> None"]


def _outputs(tmp_path):
    rec = record()
    old = tmp_path / "old_team"
    TeamDir(old).write_manifest(TeamConfig(), 0, sft={"mode": "full"})  # written before provenance was recorded
    new = tmp_path / "new_team"
    TeamDir(new).write_manifest(TeamConfig(), 0, sft={"mode": "full", "provenance": {**rec, "commit": "c0ffee"}})
    data = tmp_path / "data"
    data.mkdir()
    (data / "manifest.json").write_text(json.dumps({"examples": 3, "provenance": rec}))
    run = tmp_path / "eval"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"system": "team", "provenance": rec}))
    return rec, old, new, data, run


def test_read_finds_the_record_of_a_team_a_data_set_and_an_evaluation(tmp_path):
    rec, old, new, data, run = _outputs(tmp_path)
    assert read(new)[1]["commit"] == "c0ffee" and "sft.provenance" in read(new)[0]
    assert read(old)[1] is None
    assert read(data)[1] == rec and read(data / "manifest.json")[1] == rec
    assert read(run)[1] == rec
    with pytest.raises(FileNotFoundError, match="holds no team.json"):
        read(tmp_path / "nothing")


def test_the_command_prints_a_record_or_what_differs(tmp_path, capsys):
    rec, old, new, data, run = _outputs(tmp_path)
    assert main(["models", "provenance", str(run)]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1]) == rec
    assert main(["models", "provenance", str(data), str(new)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"commit: {rec['commit']!r} -> 'c0ffee'"
    assert main(["models", "provenance", str(data), str(run)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "the same commit, packages and machine"
    assert main(["models", "provenance", str(old), str(new)]) == 1  # nothing to compare with
    assert "not recorded" in capsys.readouterr().out
    assert main(["models", "provenance", str(tmp_path / "nothing")]) == 2
    assert "holds no team.json" in capsys.readouterr().err
