"""Which checkpoint an agent with a real ``path`` loads: the trained copy in a team written by SFT or
MARL, else its ``path`` (a stale same-named directory in an untrained team does not shadow it)."""

from m1.checkpoint import TeamDir, agent_dir
from m1.config import AgentSpec, TeamConfig


def test_trained_copy_wins_only_in_a_trained_team(tmp_path):
    spec = AgentSpec(name="gemma", arch="gemma3", path=str(tmp_path / "pretrained"))
    team = TeamConfig(agents=[spec])
    assert agent_dir(tmp_path / "team", spec) == tmp_path / "pretrained"  # nothing there yet
    (tmp_path / "team" / "gemma").mkdir(parents=True)
    (tmp_path / "team" / "gemma" / "config.json").write_text("{}")
    TeamDir(tmp_path / "team").write_manifest(team, 0)  # as `m1 models init` writes it: untrained
    assert agent_dir(tmp_path / "team", spec) == tmp_path / "pretrained"
    TeamDir(tmp_path / "team").write_manifest(team, 0, sft={"mode": "full"})  # as SFT writes it
    assert agent_dir(tmp_path / "team", spec) == tmp_path / "team" / "gemma"
    TeamDir(tmp_path / "team").write_manifest(team, 0, marl={"steps": 1})
    assert TeamDir(tmp_path / "team").agent(spec) == tmp_path / "team" / "gemma"
    tiny = AgentSpec(name="tiny", arch="qwen3")
    assert agent_dir(tmp_path / "team", tiny) == tmp_path / "team" / "tiny"
