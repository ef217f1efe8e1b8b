"""Baselines beside the LLM team, above the library: they may import ``m1`` (never the reverse) and
third-party learners the library must not load (Ray RLlib).

- :mod:`baselines.skeletons` — the discrete plan skeletons over the seven tools, and the per-question
  cache of every tool's result that makes an episode a lookup (no Ray, no gymnasium);
- :mod:`baselines.rllib_env` — the CPP episode as an RLlib ``MultiAgentEnv`` over that cache;
- :mod:`baselines.rllib_planner` — PPO training and the greedy evaluation against the reference solver
  and random skeletons (``python -m baselines.rllib_planner --help``).
"""
