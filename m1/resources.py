"""GPU memory plan of a run: how much memory each actor needs, and where it goes on a cluster
shape (nodes x GPUs x GPU memory). Pure arithmetic on published model configs — no torch, no
Ray, nothing downloaded — so ``m1 plan-resources`` answers on a laptop before a cluster is paid for.

Estimates (GB = 1e9 bytes), per actor:

* **policy agent, vLLM** — vLLM takes ``gpu_memory_utilization x GPU memory`` on each of its
  ``tensor_parallel_size`` GPUs. Inside that: weights / tp, the profiled activation peak
  (``cluster.vllm_activation_gb``) and the CUDA context (``cluster.overhead_gb``); the rest is KV
  cache, which must hold at least one full context (``agent.max_context`` tokens).
* **policy agent, HF on a GPU** — weights + context + KV for ``ray.concurrency`` full contexts.
* **learner, per agent** (one GPU each, inside the ``LearnerActor``) — weights + gradients + two
  AdamW states (checked on an H200: Qwen2.5-3B 25.2 GB, Qwen3-8B 65.5 GB after the first step),
  all in ``cluster.learner_dtype`` (``m1.train.learner`` keeps optimiser states in the parameters'
  dtype), a frozen reference copy when ``grpo.kl_coef > 0`` (LoRA too: the learner deep-copies
  the adapted model), and the larger of the optimiser step's largest-tensor transient and the
  activations of one micro-batch of
  ``grpo.micro_batch_tokens`` tokens: per layer ``6h + 2·kv·d + 4·I`` saved values per
  token, plus the full-vocabulary logits and their float32 log-softmax and gradient.
* **VLM tool worker** — weights + KV/activations of ``cluster.vlm_image_tokens`` tokens + context.

Packing: the learners first, on GPUs of their own on one node (the ``LearnerActor`` is one process
holding every agent's learner, so Ray gives it whole GPUs in one bundle); then tensor-parallel
groups (they need GPUs on one node), then larger actors first, each onto the GPU with the least
room that still fits it (best fit) and whose actors' fractional Ray GPU requests stay within 1
(:func:`ray_gpu_requests`: one GPU's actors share one placement-group bundle, :mod:`m1.placement`).
Ray requests that cannot work are refused too (:func:`ray_problems`): a GPU actor asking for no
GPU — tool workers whose VLM runs on cuda included (:func:`tool_worker_gpus`) —, more GPUs than
the cluster has, a LearnerActor with fewer GPUs than its learners occupy. What is *not* modelled:
fragmentation beyond ``overhead_gb``, CUDA graphs (the engines run eager), ZeRO/FSDP sharding of
one learner over several GPUs (the learner does not shard), CPU memory.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from m1.config import M1Config
from m1.config.team import AgentSpec

GB = 1e9
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
LORA_TARGET_COUNT = 7  # q k v o gate up down (m1.train.learner.LORA_TARGETS)


class PlacementError(ValueError):
    """The run cannot fit the cluster shape; ``reasons`` name each actor and its shortfall."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("the configuration does not fit:\n  " + "\n  ".join(reasons))


# ----------------------------------------------------------------------------- architectures


@dataclass(frozen=True)
class VisionTower:
    """Qwen2.5-VL's ViT (patch embed, blocks with biased SwiGLU MLP, 2x2 patch merger)."""

    depth: int
    hidden: int
    intermediate: int
    out_hidden: int
    patch: int
    temporal_patch: int
    merge: int
    in_chans: int = 3

    def params(self) -> int:
        h, i = self.hidden, self.intermediate
        block = 2 * h + (3 * h * h + 3 * h) + (h * h + h) + 2 * (h * i + i) + (i * h + h)
        patch_embed = self.in_chans * self.temporal_patch * self.patch * self.patch * h
        m = h * self.merge * self.merge
        merger = h + (m * m + m) + (m * self.out_hidden + self.out_hidden)
        return patch_embed + self.depth * block + merger


@dataclass(frozen=True)
class Architecture:
    """The sizes of a Qwen2 / Qwen3 (or Qwen2.5-VL) decoder that memory depends on."""

    model_type: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool
    qkv_bias: bool
    qk_norm: bool
    vision: VisionTower | None = None

    def params(self) -> int:
        """Exact parameter count of the Hugging Face model built from this config."""
        h, q, kv = self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim
        attn = h * q + 2 * h * kv + q * h
        attn += (q + 2 * kv if self.qkv_bias else 0) + (2 * self.head_dim if self.qk_norm else 0)
        layer = attn + 3 * h * self.intermediate + 2 * h
        embed = self.vocab * h * (1 if self.tied else 2)
        return self.layers * layer + embed + h + (self.vision.params() if self.vision else 0)

    def kv_bytes_per_token(self, dtype_bytes: int) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * dtype_bytes

    def lora_params(self, rank: int) -> int:
        h, q, kv, i = self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim, self.intermediate
        pairs = [(h, q), (h, kv), (h, kv), (q, h), (h, i), (h, i), (i, h)]
        assert len(pairs) == LORA_TARGET_COUNT
        return self.layers * sum(rank * (a + b) for a, b in pairs)

    def activation_bytes_per_token(self, dtype_bytes: int) -> float:
        """Saved for backward in one token's pass (no checkpointing) + logits, log-softmax and its grad."""
        per_layer = 6 * self.hidden + 2 * self.kv_heads * self.head_dim + 4 * self.intermediate
        return self.layers * per_layer * dtype_bytes + self.vocab * (dtype_bytes + 8)


def architecture_from_hf(config: dict[str, Any]) -> Architecture:
    """An :class:`Architecture` from a Hugging Face ``config.json`` dict (qwen2, qwen3, qwen2_5_vl)."""
    kind = config.get("model_type")
    text = config.get("text_config") or config
    if kind not in ("qwen2", "qwen3", "qwen2_5_vl"):
        raise ValueError(f"model_type {kind!r} is not one the planner knows (qwen2, qwen3, qwen2_5_vl)")
    heads = int(text["num_attention_heads"])
    hidden = int(text["hidden_size"])
    vision = None
    if kind == "qwen2_5_vl":
        v = config["vision_config"]
        vision = VisionTower(
            depth=int(v["depth"]), hidden=int(v["hidden_size"]), intermediate=int(v["intermediate_size"]),
            out_hidden=int(v["out_hidden_size"]), patch=int(v["patch_size"]),
            temporal_patch=int(v.get("temporal_patch_size", 2)), merge=int(v.get("spatial_merge_size", 2)),
            in_chans=int(v.get("in_chans", v.get("in_channels", 3))),
        )
    return Architecture(
        model_type=kind,
        hidden=hidden,
        layers=int(text["num_hidden_layers"]),
        heads=heads,
        kv_heads=int(text.get("num_key_value_heads", heads)),
        head_dim=int(text.get("head_dim") or hidden // heads),
        intermediate=int(text["intermediate_size"]),
        vocab=int(text["vocab_size"]),
        tied=bool(config.get("tie_word_embeddings", text.get("tie_word_embeddings", False))),
        # Qwen2 / Qwen2.5-VL always have q/k/v biases; Qwen3 has them only with attention_bias.
        qkv_bias=bool(text.get("attention_bias", False)) if kind == "qwen3" else True,
        qk_norm=kind == "qwen3",
        vision=vision,
    )


def load_architecture(path: str | Path) -> Architecture:
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    try:
        return architecture_from_hf(json.loads(path.read_text()))
    except FileNotFoundError:
        raise ValueError(f"model config {str(path)!r} does not exist") from None


def tiny_architecture(spec: AgentSpec, vocab: int) -> Architecture:
    """The tiny build of :func:`m1.models.build_model` (tied embeddings)."""
    return Architecture(
        model_type=spec.arch, hidden=spec.hidden_size, layers=spec.num_layers, heads=spec.num_heads,
        kv_heads=spec.num_kv_heads, head_dim=spec.head_dim, intermediate=spec.intermediate_size, vocab=vocab,
        tied=True, qkv_bias=spec.arch == "qwen2", qk_norm=spec.arch == "qwen3",
    )


def agent_architecture(cfg: M1Config, spec: AgentSpec, root: Path | None = None) -> Architecture:
    """cluster.agents[name].model_config_path, else ``<spec.path>/config.json``, else the tiny build."""
    entry = next((a for a in cfg.cluster.agents if a.name == spec.name), None)
    source = entry.model_config_path if entry and entry.model_config_path else None
    if source is None and spec.path:
        source = str(Path(spec.path) / "config.json")
    if source is None:
        return tiny_architecture(spec, cfg.team.vocab_size)
    p = Path(source)
    if not p.is_absolute() and root is not None and not p.exists():
        p = root / p
    return load_architecture(p)


# ----------------------------------------------------------------------------- demands


@dataclass
class Demand:
    """One actor's need: ``gpus`` GPUs on one node with ``per_gpu_gb`` each."""

    actor: str
    gpus: int
    per_gpu_gb: float
    parts: dict[str, float] = field(default_factory=dict)  # GB per GPU, by what they hold
    note: str = ""

    def describe(self) -> str:
        parts = " + ".join(f"{k} {v:.1f}" for k, v in self.parts.items())
        return f"{self.per_gpu_gb:.1f} GB x {self.gpus} GPU ({parts})"


def policy_demand(name: str, arch: Architecture, engine: str, tp: int, fraction: float, dtype: str,
                  max_context: int, gpu_gb: float, cfg: M1Config) -> tuple[Demand, list[str]]:
    b = DTYPE_BYTES[dtype]
    weights = arch.params() * b / GB / tp
    kv_token = arch.kv_bytes_per_token(b) / tp / GB
    c = cfg.cluster
    problems = []
    if arch.heads % tp:
        problems.append(f"policy:{name}: tensor_parallel_size={tp} does not divide its {arch.heads} attention heads")
    if engine == "vllm":
        share = fraction * gpu_gb
        kv = share - weights - c.vllm_activation_gb - c.overhead_gb
        tokens = int(max(kv, 0.0) / kv_token) if kv_token else 0
        parts = {"weights": weights, "activations": c.vllm_activation_gb, "context": c.overhead_gb,
                 "KV cache": max(kv, 0.0)}
        d = Demand(f"policy:{name}", tp, share, parts, note=f"vLLM fraction {fraction:g}; KV holds {tokens} tokens")
        if tokens < max_context:
            need = weights + c.vllm_activation_gb + c.overhead_gb + max_context * kv_token
            problems.append(
                f"policy:{name}: vLLM gets {fraction:g} x {gpu_gb:g} GB = {share:.1f} GB per GPU (tp={tp}), but "
                f"weights {weights:.1f} + activations {c.vllm_activation_gb:g} + context {c.overhead_gb:g} GB leave "
                f"KV cache for "
                f"{tokens} tokens < max_context {max_context}: short by {need - share:.1f} GB "
                f"(raise gpu_memory_utilization to >= {need / gpu_gb:.2f} or tensor_parallel_size)"
            )
        return d, problems
    kv = kv_token * max_context * cfg.ray.concurrency
    parts = {"weights": weights, "KV": kv, "context": c.overhead_gb}
    return Demand(f"policy:{name}", tp, sum(parts.values()), parts, note="HF engine"), problems


def learner_demand(name: str, arch: Architecture, cfg: M1Config) -> Demand:
    c = cfg.cluster
    b = DTYPE_BYTES[c.learner_dtype]
    p = arch.params()
    trainable = arch.lora_params(cfg.marl.lora_rank) if cfg.marl.lora else p
    parts = {"weights": p * b / GB, "grads": trainable * b / GB, "AdamW": 2 * trainable * b / GB}
    if cfg.grpo.kl_coef > 0 and not c.reference_apart:
        parts["reference"] = (p + (trainable if cfg.marl.lora else 0)) * b / GB
    # Activations are freed before the optimiser step; the step's own transient is the largest tensor
    # (the per-tensor AdamW of m1.train.learner; the multi-tensor one would copy every parameter).
    act = cfg.grpo.micro_batch_tokens * arch.activation_bytes_per_token(b) / GB
    parts["activations"] = max(act, arch.vocab * arch.hidden * b / GB)
    parts["context"] = c.overhead_gb
    return Demand(f"learner:{name}", 1, sum(parts.values()), parts,
                  note=f"{'LoRA r=' + str(cfg.marl.lora_rank) if cfg.marl.lora else 'full'} {c.learner_dtype}")


def reference_demand(name: str, arch: Architecture, cfg: M1Config) -> Demand:
    """A frozen reference copy apart from its learner (``cluster.reference_apart``): its weights (a LoRA
    learner deep-copies the adapted model) and one no-grad forward of a micro-batch, whose peak is
    the full-vocabulary logits and their float32 log-softmax."""
    c = cfg.cluster
    b = DTYPE_BYTES[c.learner_dtype]
    trainable = arch.lora_params(cfg.marl.lora_rank) if cfg.marl.lora else 0
    parts = {"weights": (arch.params() + trainable) * b / GB,
             "logits": cfg.grpo.micro_batch_tokens * arch.vocab * (b + 4) / GB, "context": c.overhead_gb}
    return Demand(f"reference:{name}", 1, sum(parts.values()), parts, note=f"frozen {c.learner_dtype}")


def vlm_demand(index: int, arch: Architecture, cfg: M1Config) -> Demand:
    c = cfg.cluster
    b = 2  # the VLM back-end loads bf16 on CUDA
    tokens = c.vlm_image_tokens
    parts = {"weights": arch.params() * b / GB,
             "KV+activations": tokens * (arch.kv_bytes_per_token(b) + 16 * arch.hidden * b) / GB,
             "context": c.overhead_gb}
    return Demand(f"tool-vlm:{index}", 1, sum(parts.values()), parts)


# ----------------------------------------------------------------------------- plan


@dataclass
class GPUSlot:
    node: int
    index: int
    capacity_gb: float
    actors: list[tuple[str, float]] = field(default_factory=list)
    ray_share: float = 0.0  # fractional Ray GPU requests of its actors (at most 1: one placement bundle)

    @property
    def used_gb(self) -> float:
        return sum(g for _, g in self.actors)

    @property
    def free_gb(self) -> float:
        return self.capacity_gb - self.used_gb


@dataclass
class ResourcePlan:
    demands: list[Demand]
    gpus: list[GPUSlot]
    total_params: dict[str, int]
    strategy: str
    requests: dict[str, float] = field(default_factory=dict)  # Ray num_gpus per GPU actor (ray_gpu_requests)

    def learner_devices(self, agents: list[str]) -> tuple[list[str], list[str]]:
        """Per agent, the ``cuda:<i>`` of its learner and of its reference copy inside the LearnerActor,
        which sees the plan's learner GPUs as ``cuda:0..k-1`` in plan order (a reference not planned
        apart sits on its learner's device)."""
        slots = [g for g in self.gpus if any(_in_learner(a) for a, _ in g.actors)]
        where = {a: f"cuda:{i}" for i, g in enumerate(slots) for a, _ in g.actors}
        learners = [where[f"learner:{n}"] for n in agents]
        return learners, [where.get(f"reference:{n}", d) for n, d in zip(agents, learners, strict=True)]

    def ray_bundles(self) -> list[dict[str, float]]:
        """One placement-group bundle per GPU that holds something: its share of that GPU for Ray."""
        return [{"GPU": round(min(1.0, g.used_gb / g.capacity_gb), 3)} for g in self.gpus if g.actors]

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.total_params,
            "demands": [{"actor": d.actor, "gpus": d.gpus, "per_gpu_gb": round(d.per_gpu_gb, 2),
                         "parts": {k: round(v, 2) for k, v in d.parts.items()}, "note": d.note} for d in self.demands],
            "gpus": [{"node": g.node, "gpu": g.index, "capacity_gb": g.capacity_gb, "used_gb": round(g.used_gb, 2),
                      "actors": [a for a, _ in g.actors]} for g in self.gpus],
            "ray_gpu_requests": self.requests,
            "placement_group": {"strategy": self.strategy, "bundles": self.ray_bundles()},
        }

    def render(self) -> str:
        team = sum(v for k, v in self.total_params.items() if not k.startswith("tool"))
        lines = ["parameters: " + ", ".join(f"{k} {v / 1e9:.2f}B" for k, v in self.total_params.items())
                 + f" (team total {team / 1e9:.2f}B)",
                 "", "actor demands (GB per GPU):"]
        for d in self.demands:
            lines.append(f"  {d.actor:<24} {d.describe()}" + (f"  [{d.note}]" if d.note else ""))
        lines += ["", "placement:"]
        for g in self.gpus:
            who = ", ".join(f"{a} {gb:.1f}" for a, gb in g.actors) or "-"
            lines.append(f"  node {g.node} gpu {g.index}: {g.used_gb:5.1f} / {g.capacity_gb:g} GB  {who}")
        if self.requests:
            lines += ["", "ray GPU requests: " + ", ".join(f"{a} {g:g}" for a, g in self.requests.items())]
        lines += ["", f"memory share per used GPU: {[b['GPU'] for b in self.ray_bundles()]}"]
        return "\n".join(lines)


def actor_demands(cfg: M1Config, root: Path | None = None) -> tuple[list[Demand], dict[str, int], list[str]]:
    """Every GPU actor's demand, parameter counts, and the problems found before packing."""
    c = cfg.cluster
    demands: list[Demand] = []
    problems: list[str] = []
    params: dict[str, int] = {}
    for spec in cfg.team.agents:
        arch = agent_architecture(cfg, spec, root)
        params[spec.name] = arch.params()
        entry = next((a for a in c.agents if a.name == spec.name), None)
        tp = entry.tensor_parallel_size if entry else 1
        frac = (entry.gpu_memory_utilization if entry and entry.gpu_memory_utilization
                else cfg.engine.vllm_gpu_memory_utilization)
        if tp > c.gpus_per_node:
            problems.append(f"policy:{spec.name}: tensor_parallel_size={tp} > {c.gpus_per_node} GPUs per node")
        d, p = policy_demand(spec.name, arch, spec.engine, tp, frac, cfg.engine.dtype, spec.max_context,
                             c.gpu_memory_gb, cfg)
        demands.append(d)
        problems += p
        if c.learner_on_gpu:
            demands.append(learner_demand(spec.name, arch, cfg))
            if c.reference_apart and cfg.grpo.kl_coef > 0:
                demands.append(reference_demand(spec.name, arch, cfg))
    workers, p = vlm_gpu_workers(cfg)
    problems += p
    if workers:
        if not c.vlm_model_config_path:
            problems.append(f"tool-vlm: {workers} tool worker(s) load the VLM on {cfg.tools.vlm_device}, which needs "
                            "cluster.vlm_model_config_path (its config.json) to be planned")
        else:
            varch = vlm_architecture(cfg, root)
            params["tool-vlm"] = varch.params()
            demands += [vlm_demand(i, varch, cfg) for i in range(workers)]
    return demands, params, problems


def tools_on_gpu(cfg: M1Config) -> bool:
    """Whether the tool workers' back-end runs on a GPU (``tools.backend=vlm`` on a cuda device)."""
    return cfg.tools.backend == "vlm" and cfg.tools.vlm_device.startswith("cuda")


def vlm_gpu_workers(cfg: M1Config) -> tuple[int, list[str]]:
    """How many tool workers hold the VLM on a GPU, and problems with ``cluster.vlm_workers_on_gpu``.

    The tool-worker pool is homogeneous: with the VLM on cuda *every* one of the ``ray.tool_workers``
    workers loads its own copy, so that is the count; a ``cluster.vlm_workers_on_gpu`` that says
    otherwise would plan memory the run does not use (or miss memory it does)."""
    n = cfg.ray.tool_workers if tools_on_gpu(cfg) else 0
    given = cfg.cluster.vlm_workers_on_gpu
    if given is None or given == n:
        return n, []
    if n == 0:
        return 0, [f"cluster.vlm_workers_on_gpu={given} but the tool workers run on {cfg.tools.vlm_device!r} "
                   f"(tools.backend={cfg.tools.backend}): no VLM is loaded on a GPU"]
    return n, [f"cluster.vlm_workers_on_gpu={given} but every one of the ray.tool_workers={n} workers loads the "
               f"VLM on {cfg.tools.vlm_device}: set it to {n} or leave it unset"]


def vlm_architecture(cfg: M1Config, root: Path | None = None) -> Architecture:
    p = Path(cfg.cluster.vlm_model_config_path or "")
    return load_architecture(p if p.is_absolute() or root is None or p.exists() else root / p)


def tool_worker_gpus(cfg: M1Config, root: Path | None = None) -> float:
    """The GPUs one ``ToolWorkerActor`` asks Ray for: ``ray.tool_gpus`` when set; else 0 for CPU tools,
    and for a VLM on cuda its planned memory share of one GPU (rounded up to 0.01; 1.0 when there is no
    cluster shape or VLM config to plan from)."""
    if cfg.ray.tool_gpus is not None:
        return cfg.ray.tool_gpus
    if not tools_on_gpu(cfg):
        return 0.0
    c = cfg.cluster
    if c.gpus_per_node == 0 or not c.vlm_model_config_path:
        return 1.0
    share = vlm_demand(0, vlm_architecture(cfg, root), cfg).per_gpu_gb / c.gpu_memory_gb
    return min(1.0, math.ceil(share * 100 - 1e-9) / 100)


def plan_resources(cfg: M1Config, root: Path | None = None) -> ResourcePlan:
    """Place every GPU actor of ``cfg`` on ``cfg.cluster``'s shape, or raise :class:`PlacementError`."""
    c = cfg.cluster
    if c.gpus_per_node == 0:
        raise PlacementError(["cluster.gpus_per_node = 0: a CPU-only cluster has no GPUs to plan "
                              "(set cluster.gpus_per_node and cluster.gpu_memory_gb)"])
    demands, params, problems = actor_demands(cfg, root)
    gpus = [GPUSlot(n, i, c.gpu_memory_gb) for n in range(c.nodes) for i in range(c.gpus_per_node)]
    for d in demands:
        if d.per_gpu_gb > c.gpu_memory_gb:
            problems.append(f"{d.actor} needs {d.describe()} but one GPU has {c.gpu_memory_gb:g} GB: "
                            f"short by {d.per_gpu_gb - c.gpu_memory_gb:.1f} GB")
    total_need = sum(d.per_gpu_gb * d.gpus for d in demands)
    total_have = c.gpu_memory_gb * len(gpus)
    if total_need > total_have:
        problems.append(f"all actors need {total_need:.1f} GB but {c.nodes} x {c.gpus_per_node} GPUs x "
                        f"{c.gpu_memory_gb:g} GB = {total_have:.1f} GB: short by {total_need - total_have:.1f} GB")
    if problems:
        raise PlacementError(problems)
    requests = ray_gpu_requests(cfg, demands, root)
    # The LearnerActor is one process holding every agent's learner: its GPUs are its own (a Ray
    # bundle of whole GPUs) and on one node, so learners are packed first, among themselves.
    order = sorted(demands, key=lambda d: (not _in_learner(d.actor), d.actor.startswith("reference:"), -d.gpus,
                                           -d.per_gpu_gb, d.actor))
    # A fractional ray.learner_gpus (one GPU shared with other actors, e.g. a single-GPU check) keeps
    # every learner on that one GPU instead.
    whole = requests.get("learner", 0.0) >= 1
    learner_slots: list[GPUSlot] = []
    for d in order:
        is_learner = _in_learner(d.actor)
        if is_learner and not whole:
            allowed = learner_slots or gpus
        else:
            # references planned apart go on GPUs of references: apart from the learners they would crowd
            ref = d.actor.startswith("reference:")
            allowed = [g for g in gpus if all(_in_learner(a) == is_learner for a, _ in g.actors)
                       and all(a.startswith("reference:") == ref for a, _ in g.actors)
                       and (not is_learner or not learner_slots or g.node == learner_slots[0].node)] \
                if whole else gpus
        ask = requests.get("learner" if is_learner else d.actor, 0.0)
        share = ask if ask < 1 and not (is_learner and learner_slots) else 0.0  # the LearnerActor asks once
        chosen = _best_fit([g for g in allowed if g.ray_share + share <= 1 + 1e-9], d, c.nodes)
        if chosen is None:
            free = ", ".join(f"n{g.node}g{g.index} {g.free_gb:.1f}" for g in allowed) or "none"
            why = ((" (the LearnerActor holds every agent's learner in one process: its GPUs hold only learners "
                    "and are on one node)" if is_learner else " (GPUs holding learners are the LearnerActor's)")
                   if whole else (" (a fractional ray.learner_gpus keeps every learner on one GPU)"
                                  if is_learner else ""))
            raise PlacementError([f"no room for {d.actor} ({d.describe()}) after placing the larger actors{why}; "
                                  f"free GB per GPU it may use: {free}"])
        for g in chosen:
            g.actors.append((d.actor, d.per_gpu_gb))
            g.ray_share += share
        if is_learner:
            learner_slots += [g for g in chosen if g not in learner_slots]
    plan = ResourcePlan(demands, gpus, params, c.placement_strategy)
    problems = ray_problems(cfg, plan, requests)
    if problems:
        raise PlacementError(problems)
    plan.requests = requests
    return plan


def ray_gpu_requests(cfg: M1Config, demands: list[Demand], root: Path | None = None) -> dict[str, float]:
    """What each GPU actor asks Ray for (``num_gpus``), keyed like the plan's actors; the learner is
    one ``LearnerActor`` (``learner``) for all agents."""
    req: dict[str, float] = {}
    for d in demands:
        if d.actor.startswith("policy:"):
            req[d.actor] = cfg.ray.policy_gpus
        elif d.actor.startswith("tool-vlm:"):
            req[d.actor] = tool_worker_gpus(cfg, root)
    if any(d.actor.startswith("learner:") for d in demands):
        req["learner"] = cfg.ray.learner_gpus
    return req


def ray_problems(cfg: M1Config, plan: ResourcePlan, requests: dict[str, float]) -> list[str]:
    """Ray requests that cannot work with the plan: a GPU actor asking for no GPU (Ray would hide
    the GPUs from it), fractions over 1 that are not whole GPUs, a LearnerActor with fewer GPUs
    than its learners occupy, more GPUs asked for than exist, or one GPU's actors asking for more
    than that GPU (its placement-group bundle could not be created)."""
    problems = []
    setting = {"policy": "ray.policy_gpus", "tool-vlm": "ray.tool_gpus", "learner": "ray.learner_gpus"}
    for actor, g in requests.items():
        key = setting[actor.split(":")[0]]
        if g <= 0:
            problems.append(f"{actor}: {key}={g:g} but the plan puts it on a GPU; Ray hides the GPUs from actors that "
                            f"ask for none (CUDA_VISIBLE_DEVICES is empty), so it could not start")
        elif g > 1 and g != int(g):
            problems.append(f"{actor}: {key}={g:g}: Ray gives fractions of one GPU or whole GPUs, not {g:g}")
    learner_gpus = [g for g in plan.gpus if any(_in_learner(a) for a, _ in g.actors)]
    if learner_gpus and 1 <= requests.get("learner", 0) < len(learner_gpus):
        problems.append(f"learner: ray.learner_gpus={requests['learner']:g} but the plan puts the agents' learners "
                        f"on {len(learner_gpus)} GPUs: short by {len(learner_gpus) - requests['learner']:g} GPU(s)")
    total, have = sum(requests.values()), len(plan.gpus)
    if total > have + 1e-9:
        detail = " + ".join(f"{a} {g:g}" for a, g in requests.items())
        problems.append(f"the actors ask Ray for {total:g} GPUs ({detail}) but the cluster has {have}: "
                        f"short by {total - have:g} GPU(s)")
    for g in plan.gpus:
        fractional = [(a, requests[a]) for a, _ in g.actors if a in requests and requests[a] < 1]
        if any(_in_learner(a) for a, _ in g.actors) and 0 < requests.get("learner", 0) < 1:
            fractional.append(("learner", requests["learner"]))
        if sum(r for _, r in fractional) > 1 + 1e-9:
            who = ", ".join(f"{a} {r:g}" for a, r in fractional)
            problems.append(f"node {g.node} gpu {g.index}: its actors ask Ray for {sum(r for _, r in fractional):g} "
                            f"of it ({who}): short by {sum(r for _, r in fractional) - 1:g} GPU")
    return problems


def _in_learner(actor: str) -> bool:
    """Held by the LearnerActor: an agent's learner state, or its reference copy when planned apart."""
    return actor.startswith(("learner:", "reference:"))


def _best_fit(gpus: list[GPUSlot], d: Demand, nodes: int) -> list[GPUSlot] | None:
    best: list[GPUSlot] | None = None
    for n in range(nodes):
        fits = sorted((g for g in gpus if g.node == n and g.free_gb + 1e-9 >= d.per_gpu_gb), key=lambda g: g.free_gb)
        if len(fits) < d.gpus:
            continue
        pick = fits[: d.gpus]
        if best is None or sum(g.free_gb for g in pick) < sum(g.free_gb for g in best):
            best = pick
    return best
