"""Actor start-up on a slow machine (issue 17, finding 7): the wait scales with the number of actors
started together and names the setting to raise; the job's command line ends such an expected
failure with one line, not a traceback. No Ray: the remote wait is replaced by a recorder."""

from __future__ import annotations

import pytest

import actors
from actors import ActorStartError, RayTimeoutError, wait_started
from m1.config import load_config
from m1.errors import UserError


def test_the_start_wait_scales_with_the_actors_and_names_the_setting(monkeypatch):
    waits = []

    def slow_get(refs, timeout, what):
        waits.append((len(refs), timeout, what))
        raise RayTimeoutError(f"{what} did not finish within {timeout:.0f} s")

    monkeypatch.setattr(actors, "get", slow_get)
    with pytest.raises(ActorStartError) as e:
        wait_started(["a", "b", "c", "d"], "starting the policy agents", 90.0)
    assert waits == [(4, 360.0, "starting the policy agents")]
    msg = str(e.value)
    assert msg == ("starting the policy agents: 4 actor(s) did not come up within 360 s (ray.start_timeout=90 s "
                   "per actor); the machine is probably busy or slow: run again with a larger ray.start_timeout, "
                   "e.g. ray.start_timeout=180")
    assert isinstance(e.value, UserError) and isinstance(e.value, TimeoutError)
    monkeypatch.setattr(actors, "get", lambda refs, timeout, what: ["pong"] * len(refs))
    assert wait_started(["a"], "starting the tool workers", 5.0) == ["pong"]
    assert load_config(overrides=["ray.start_timeout=12.5"]).ray.start_timeout == 12.5


def test_a_job_ends_an_expected_failure_in_one_line(capsys):
    from jobs import run_cli

    def main(cfg):
        raise ActorStartError(f"starting the policy agents: too slow (ray.start_timeout={cfg.ray.start_timeout:g})")

    assert run_cli(main, "A job.", ["ray.start_timeout=7"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [err.strip()] and "Traceback" not in err
    assert err.strip().endswith("error: starting the policy agents: too slow (ray.start_timeout=7)")

    def broken(cfg):
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):  # unexpected failures still show their traceback
        run_cli(broken, "A job.", [])
