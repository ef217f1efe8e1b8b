"""Settings of the Ray deployment (``actors/``): where to connect and how actors are sized."""

from __future__ import annotations

from pydantic import Field

from m1.config.base import StrictModel


class RayConfig(StrictModel):
    """A local Ray is started by the code itself unless ``address`` (or ``RAY_ADDRESS``) is set."""

    address: str | None = Field(None, description="Cluster address (e.g. 'auto', 'ray://host:10001'); None = "
                                "RAY_ADDRESS if set, else start a local Ray.")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of a local Ray (None: all of this machine's).")
    namespace: str = Field("m1", description="Ray namespace of the project's actors.")
    policy_cpus: float = Field(0.25, ge=0.0, description="CPUs reserved per PolicyAgentActor.")
    policy_gpus: float = Field(0.0, ge=0.0, description="GPUs per PolicyAgentActor (vLLM/HF on CUDA).")
    tool_workers: int = Field(2, ge=1, le=256, description="ToolWorkerActor pool size.")
    tool_cpus: float = Field(0.25, ge=0.0, description="CPUs reserved per ToolWorkerActor.")
    tool_gpus: float | None = Field(
        None, ge=0.0, le=8.0,
        description="GPUs (a fraction below 1) per ToolWorkerActor. None: what the tool back-end needs - 0 for "
        "CPU tools; with tools.backend=vlm on a cuda device, the VLM's planned memory share of one GPU "
        "(m1.resources.tool_worker_gpus; 1.0 without a cluster shape). Ray hides GPUs from actors that ask "
        "for none, so a VLM worker on cuda with 0 here could not start.",
    )
    learner_cpus: float = Field(0.5, ge=0.0, description="CPUs reserved for the LearnerActor (MARL).")
    learner_threads: int | None = Field(
        None, ge=1, le=256,
        description="torch threads of the LearnerActor. None: the machine's cores, at most 8. The MARL loop is "
        "synchronous (the rollout actors idle while the learner updates), so the learner may use every core; "
        "on the 2-core box 2 threads cut learner time per sample 1.3x in MARL runs (benchmarks/marl_results.md).",
    )
    learner_gpus: float = Field(0.0, ge=0.0, description="GPUs for the LearnerActor.")
    placement_group: bool = Field(
        False,
        description="Reserve the actors' resources as one Ray placement group (m1.placement: bundles per GPU of the "
        "planned layout on a GPU cluster, per actor on CPU; cluster.placement_strategy) and schedule every "
        "policy, learner and tool-worker actor into its bundle. False: each actor asks Ray on its own.",
    )
    concurrency: int = Field(4, ge=1, le=1024, description="Episodes the rollout driver runs at once.")
    start_timeout: float = Field(90.0, gt=0, description="Seconds allowed per actor for actors started together "
                                 "(policy agents, tool workers) to load and answer: the wait is this times their "
                                 "number, since on a small or busy machine they load one after another.")
