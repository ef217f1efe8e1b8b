"""Training the team: SFT on teacher annotations, then multi-agent GRPO.

- :mod:`m1.train.teachers` — who writes the plans the students learn (oracle or LLM endpoint);
- :mod:`m1.train.annotation` — teacher episodes through the CPP loop, the paper's filter, the dataset;
- :mod:`m1.train.sft` — the SFT loop for one agent (full or LoRA);
- :mod:`m1.train.rewards` — ``R = R_res + R_format + R_col`` per agent;
- :mod:`m1.train.grpo` — group advantages and the clipped policy loss (pure tensor maths);
- :mod:`m1.train.learner` — samples from rollouts and every agent's update;
- :mod:`m1.train.marl` — the multi-agent GRPO loop.

Where it runs (Ray actors, jobs) is decided in ``actors/`` and ``jobs/``.
"""
