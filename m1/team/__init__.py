"""The team at inference: Collaborative Policy Planning and everything one episode needs.

- :mod:`m1.team.cpp` — the CPP loop and its back-end protocols (team, tools, memory);
- :mod:`m1.team.plan` — the plan language: grammar, parsers, prompts;
- :mod:`m1.team.memory` — the shared memory, read through a topology;
- :mod:`m1.team.topology` — who reads whom; Agent Dropout's sampled DAGs;
- :mod:`m1.team.trace` / :mod:`m1.team.trace_view` — the episode record and its renderings;
- :mod:`m1.team.rollout` — many episodes through one set of back-ends.

Nothing here trains (``m1.train``) or scores benchmarks (``m1.evaluation``); nothing imports Ray.
"""
