"""The GRPO learner's peak memory and update time against ``grpo.micro_batch_tokens`` and the way
samples are packed into micro-batches, on the CPU.

Builds the config's tiny team from nothing (``m1.models.init_team``: its tokenizer and
architectures, random weights: memory and time do not depend on the weights), makes one MARL
step's worth of samples with a seeded length distribution, and runs ``TeamLearner.step`` on them,
once per (packing, micro-batch size), each in a fresh process so that each peak resident set is its
own. Packings: ``sorted`` is the learner's (``m1.train.learner.pack_micro_batches``: longest first,
padded tokens counted); ``in_order`` is the packing before stop 51 (samples in order, unpadded tokens
counted), kept here as a baseline. Prints peak RSS and seconds per update with their ratio to the
first row (the baseline), and the largest difference of the updated weights from the baseline's:
gradient accumulation should give the same update at any packing and size, up to float summation
order.

Default lengths: 62 samples per agent (a 4-question, group-4 MARL step of the hard open-ended
setting gives 231-262 samples over four agents), prompts of 300-700 tokens and completions of
4-24 (its annotated examples average 493 tokens, 10.5 of them targets). Run:

    .venv/bin/python benchmarks/learner_memory.py --config configs/noisy_hard.yaml --tokens 16384 4096 1024 \\
        --packing in_order sorted
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_samples(n_agents: int, per_agent: int, vocab: int, prompt: tuple[int, int], completion: tuple[int, int],
                 seed: int):
    from m1.train.learner import Sample

    rng = random.Random(seed)
    out = []
    for a in range(n_agents):
        for i in range(per_agent):
            p = [rng.randrange(4, vocab) for _ in range(rng.randint(*prompt))]
            c = [rng.randrange(4, vocab) for _ in range(rng.randint(*completion))]
            out.append(Sample(a, p, c, [-2.0] * len(c), advantage=1.0 if i % 2 else -1.0))
    return out


def in_order(samples, budget: int):
    """The learner's packing before stop 51: samples in the order given, cut when the *unpadded*
    prompt + completion tokens would pass ``budget`` (so a micro-batch's padded tensor could be far
    larger than the budget)."""
    chunks, used = [[]], 0
    for smp in samples:
        size = len(smp.prompt_ids) + len(smp.completion_ids)
        if chunks[-1] and used + size > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(smp)
        used += size
    return chunks


def padded(chunk) -> int:
    """Tokens of the tensor the learner builds for ``chunk``: rows x the longest prompt + completion."""
    return len(chunk) * max(len(s.prompt_ids) + len(s.completion_ids) for s in chunk)


def one(args: argparse.Namespace) -> None:
    """Child process: one update at ``args.one`` micro-batch tokens packed by ``args.packing``; prints
    a JSON line."""
    import torch

    import m1.train.learner as learner_mod
    from m1.config import load_config
    from m1.models import init_team
    from m1.train.learner import TeamLearner, peak_memory

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    cfg = load_config(args.config)
    grpo = cfg.grpo.model_copy(update={"micro_batch_tokens": args.one})
    with tempfile.TemporaryDirectory() as tmp:
        dirs = init_team(cfg.team, tmp, seed=args.seed)
        learner = TeamLearner.from_dirs(list(dirs.values()), grpo, seed=args.seed)
        vocab = learner.models[0].get_input_embeddings().num_embeddings
        samples = make_samples(len(dirs), args.samples, vocab, tuple(args.prompt), tuple(args.completion), args.seed)
        packing = args.packing[0]  # the parent passes one
        if packing == "in_order":
            learner_mod.pack_micro_batches = in_order
        sizes = [padded(c) for a in range(len(dirs))
                 for c in learner_mod.pack_micro_batches([s for s in samples if s.agent == a], args.one)]
        tokens = sum(len(s.prompt_ids) + len(s.completion_ids) for s in samples)
        before = peak_memory()["peak_rss_gb"]
        t0 = time.perf_counter()
        m = learner.step(samples)
        seconds = time.perf_counter() - t0
        torch.save([{k: v.detach().clone() for k, v in mod.state_dict().items()} for mod in learner.models],
                   args.weights)
    print(json.dumps({"packing": packing, "micro_batch_tokens": args.one,
                      "largest_padded": max(sizes), "padding": 1 - tokens / sum(sizes),
                      "peak_rss_gb": m["peak_rss_gb"], "rss_before_gb": before,
                      "seconds": seconds, "micro_batches": max(v for k, v in m.items() if k.endswith("/micro_batches")),
                      "tokens": tokens,
                      "loss": m["loss"]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/noisy_hard.yaml", help="config whose team and grpo settings are used")
    ap.add_argument("--tokens", type=int, nargs="+", default=[16384, 4096, 1024],
                    help="micro_batch_tokens values")
    ap.add_argument("--packing", nargs="+", choices=["sorted", "in_order"], default=["in_order", "sorted"],
                    help="packings to run at every size; the first row (first packing, first size) is the "
                    "baseline of the ratios")
    ap.add_argument("--samples", type=int, default=62, help="samples per agent in the step")
    ap.add_argument("--prompt", type=int, nargs=2, default=[300, 700], metavar=("MIN", "MAX"), help="prompt tokens")
    ap.add_argument("--completion", type=int, nargs=2, default=[4, 24], metavar=("MIN", "MAX"),
                    help="completion tokens")
    ap.add_argument("--seed", type=int, default=0, help="seed of the weights and of the samples")
    ap.add_argument("--threads", type=int, default=1, help="torch threads in each child (1 beside other work)")
    ap.add_argument("--json", help="write the rows here too")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--weights", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        one(args)
        return
    import torch

    rows, base_w = [], None
    with tempfile.TemporaryDirectory() as tmp:
        runs = [(p, t) for p in args.packing for t in args.tokens]
        for i, (packing, mbt) in enumerate(runs):
            w = str(Path(tmp) / f"w{i}.pt")
            cmd = [sys.executable, __file__, "--one", str(mbt), "--packing", packing, "--weights", w,
                   "--config", args.config,
                   "--samples", str(args.samples), "--prompt", *map(str, args.prompt),
                   "--completion", *map(str, args.completion), "--seed", str(args.seed), "--threads", str(args.threads)]
            print(f"[{i + 1}/{len(runs)}] packing={packing} micro_batch_tokens={mbt} ...", file=sys.stderr,
                  flush=True)
            res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if res.returncode != 0:
                sys.exit(f"packing={packing} micro_batch_tokens={mbt} failed (exit {res.returncode}):\n"
                         f"{res.stderr[-3000:]}")
            row = json.loads(res.stdout.strip().splitlines()[-1])
            weights = torch.load(w)
            if base_w is None:
                base_w = weights
            row["max_weight_diff"] = max(float((a[k] - b[k]).abs().max())
                                         for a, b in zip(weights, base_w, strict=True) for k in a)
            rows.append(row)
    b = rows[0]
    print(f"\n{args.config}: {b['tokens']} tokens per step, {args.samples} samples per agent, seed {args.seed}\n")
    print("| packing | micro_batch_tokens | micro-batches per agent | largest micro-batch, padded (tokens) "
          "| padding | peak RSS (GB) | ratio | update (s) | ratio | max weight difference from the baseline |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['packing']} | {r['micro_batch_tokens']} | {r['micro_batches']} | {r['largest_padded']} "
              f"| {r['padding']:.0%} | {r['peak_rss_gb']:.2f} "
              f"| {r['peak_rss_gb'] / b['peak_rss_gb']:.2f}x | {r['seconds']:.1f} | {r['seconds'] / b['seconds']:.2f}x "
              f"| {r['max_weight_diff']:.1e} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
