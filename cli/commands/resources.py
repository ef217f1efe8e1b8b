"""``m1 plan-resources CONFIG``: the actor → GPU placement and memory per GPU of a run on a
cluster shape, or a refusal naming each actor that cannot fit and by how much (exit status 2)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from m1.config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan-resources",
        help="Place the run's GPU actors on a cluster shape; refuse what cannot fit.",
        description="Estimate GPU memory of every policy engine, learner and VLM tool worker of CONFIG, "
        "pack them onto NODES x GPUS GPUs of GPU_MEM GB and print the placement and Ray placement-group "
        "bundles. A configuration that cannot fit is refused with the actor and the shortfall (exit 2).",
    )
    p.add_argument("config", metavar="CONFIG", help="YAML config (e.g. configs/real_team.yaml).")
    p.add_argument("--nodes", type=int, default=None, help="GPU nodes (default: cluster.nodes).")
    p.add_argument("--gpus", type=int, default=None, help="GPUs per node (default: cluster.gpus_per_node).")
    p.add_argument("--gpu-mem", type=float, default=None, help="GB per GPU (default: cluster.gpu_memory_gb).")
    p.add_argument("--json", action="store_true", help="Print the plan as JSON.")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="Dotted overrides, e.g. marl.lora=true.")
    p.set_defaults(func=_plan)


def _plan(args: argparse.Namespace) -> int:
    from m1.errors import UserError
    from m1.resources import PlacementError, plan_resources

    shape = [f"cluster.{k}={v}" for k, v in (("nodes", args.nodes), ("gpus_per_node", args.gpus),
                                            ("gpu_memory_gb", args.gpu_mem)) if v is not None]
    cfg = load_config(args.config, list(args.overrides) + shape)
    root = Path(args.config).resolve().parent.parent  # configs/X.yaml: paths in it are relative to the repo
    c = cfg.cluster
    try:
        plan = plan_resources(cfg, root=root)
    except PlacementError as e:
        raise UserError(f"{c.nodes} node(s) x {c.gpus_per_node} GPU(s) x {c.gpu_memory_gb:g} GB: {e}") from None
    except ValueError as e:  # an unreadable model config
        raise UserError(str(e)) from None
    from m1.placement import gpu_layout

    try:  # the Ray placement group the run creates (ray.placement_group) from this plan
        layout = gpu_layout(cfg, plan, root=root)
    except PlacementError as e:
        raise UserError(str(e)) from None
    if args.json:
        print(json.dumps({**plan.to_dict(), "placement_group": layout.to_dict()}, indent=2))
    else:
        print(f"cluster: {c.nodes} node(s) x {c.gpus_per_node} GPU(s) x {c.gpu_memory_gb:g} GB\n")
        print(plan.render())
        print(f"\nray placement group ({layout.strategy}"
              f"{'' if cfg.ray.placement_group else '; created when ray.placement_group=true'}):")
        for label, bundle in zip(layout.labels, layout.bundles, strict=True):
            who = [k for k, s in layout.slots.items() if layout.bundles[s.bundle] is bundle]
            print(f"  {label:<18} {bundle}  {', '.join(who)}")
    return 0
