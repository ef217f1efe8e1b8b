"""``m1 eval``: run the team (and baselines) on a benchmark, resumably; write predictions, metrics
and a report with plots (see :mod:`m1.evaluation.harness` and :mod:`m1.evaluation.report`)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from cli.commands import add_config_args, config_from_args

COMPARE = ("solver", "no_tools", "no_comm", "team")
EXTRA = ("solo", "endpoint_team")  # only on request (endpoint_team needs --endpoint-url/--endpoint-model)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="Evaluate the team and baselines on a benchmark (resumable; predictions, metrics, report).",
        description="Answer every question of a benchmark split with one or several systems, appending each "
        "finished question to <out>/<system>/predictions.jsonl; a rerun with the same arguments resumes "
        "without redoing finished questions. Scores with the benchmark's official metric and reports frames "
        "and seconds per query. Systems: team (the CPP team, complete topology), no_comm (the same team, "
        "agents do not read each other's memory), solver (the reference solver's fixed tool plans), no_tools "
        "(one agent answering from the descriptions of n uniformly sampled frames, no tools of its own), solo "
        "(one agent running the CPP loop with tools alone; default the team's summariser, which `m1 models "
        "choose-summariser` sets to its best agent on a validation split), "
        "endpoint_team (the untrained endpoint-agent team: every agent an OpenAI-compatible chat endpoint, e.g. "
        "the paper's 4xGPT-4o baseline; needs --endpoint-url and --endpoint-model).",
        epilog="example: m1 eval --benchmark m1_synth --data-dir data/m1synth --split test --limit 40 --compare",
    )
    p.add_argument("--benchmark", required=True, help="Benchmark name (longvideobench, vsibench, m1_synth, ...).")
    p.add_argument("--data-dir", required=True, metavar="DIR", help="Local directory of the benchmark.")
    p.add_argument("--split", default=None, help="Split (default: the benchmark's default, e.g. test / val).")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="First N questions only.")
    p.add_argument("--sample", type=int, default=None, metavar="N",
                   help="A seeded sample of N questions instead, every family (and task type) drawn in proportion "
                        "to its share of the split, in the split's order: a cheaper run whose families weigh as in "
                        "the whole set; the same N and --sample-seed give every system the same questions.")
    p.add_argument("--sample-seed", type=int, default=0, metavar="S", help="Seed of --sample (default 0).")
    p.add_argument("--team", default=None, metavar="DIR",
                   help="Team directory. Default: <output_dir>/team, created untrained if missing.")
    p.add_argument("--system", default="team", metavar="LIST",
                   help=f"Comma-separated systems among {', '.join(COMPARE + EXTRA)} (default: team).")
    p.add_argument("--compare", action="store_true",
                   help=f"Run {', '.join(COMPARE)} and write a side-by-side report (overrides --system).")
    p.add_argument("--ray", action="store_true", help="Run agents, tools and memory as Ray actors.")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="Output directory (default: <output_dir>/eval/<benchmark>-<split>).")
    p.add_argument("--frames", type=int, default=None, metavar="N",
                   help="no_tools: frames sampled uniformly (default: tools.global_frames).")
    p.add_argument("--agent", default=None, metavar="NAME",
                   help="no_tools, solo: the agent that answers (default: the summariser).")
    p.add_argument("--endpoint-url", default=None, metavar="URL", help="endpoint_team: the endpoint root (.../v1).")
    p.add_argument("--endpoint-model", default=None, metavar="NAME", help="endpoint_team: the model name to request.")
    p.add_argument("--endpoint-key-env", default="OPENAI_API_KEY", metavar="VAR",
                   help="endpoint_team: environment variable holding the API key (default OPENAI_API_KEY).")
    p.add_argument("--endpoint-agents", type=int, default=None, metavar="N",
                   help="endpoint_team: number of endpoint agents (default: as many as team.agents).")
    p.add_argument("--restart", action="store_true", help="Discard earlier predictions of these systems in --out.")
    p.add_argument("--retry-tool-errors", action="store_true",
                   help="Ask again the questions whose recorded answer met a tool error (a hung tool's timeout, "
                        "often only because the machine was busy); their earlier answers are dropped. The "
                        "settings must match the earlier run's, as on any resume.")
    p.add_argument("--no-progress", action="store_true", help="No progress bars.")
    add_config_args(p)
    p.set_defaults(func=_run)


def sample_group(q) -> str:  # noqa: ANN001 (a Question; m1.schema stays unimported until a command runs)
    """The stratum of ``--sample``: family (or the benchmark's category) and task type."""
    return f"{q.family.value if q.family else q.category or 'all'}/{q.task_type.value}"


def parse_systems(text: str, compare: bool) -> list[str]:
    from m1.errors import UserError

    if compare:
        return list(COMPARE)
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in COMPARE + EXTRA]
    if bad or not names:
        raise UserError(f"--system must list systems among {', '.join(COMPARE + EXTRA)}, got {text!r}")
    if len(set(names)) != len(names):
        raise UserError(f"--system lists a system twice: {text!r}")
    return names


def command_line(args: argparse.Namespace, systems: list[str]) -> str:
    parts = ["m1", "eval", "--benchmark", args.benchmark, "--data-dir", args.data_dir]
    for flag, val in (("--split", args.split), ("--limit", args.limit), ("--team", args.team),
                      ("--out", args.out), ("--frames", args.frames), ("--agent", args.agent),
                      ("--endpoint-url", args.endpoint_url), ("--endpoint-model", args.endpoint_model),
                      ("--endpoint-agents", args.endpoint_agents)):
        if val is not None:
            parts += [flag, str(val)]
    parts += ["--compare"] if args.compare else ["--system", ",".join(systems)]
    parts += ["--ray"] if args.ray else []
    return " ".join(shlex.quote(p) for p in [*parts, *args.overrides])


def _run(args: argparse.Namespace) -> int:
    from m1.data import DataError, get_spec, load_benchmark
    from m1.errors import UserError
    from m1.evaluation.harness import METRICS, SolverSystem, run_system, system_metrics
    from m1.evaluation.predictions import MANIFEST, PREDICTIONS, EvalError

    cfg = config_from_args(args)
    systems = parse_systems(args.system, args.compare)
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be >= 1, got {args.limit}")
    if args.sample is not None and (args.sample < 1 or args.limit is not None):
        raise UserError(f"--sample wants N >= 1 and no --limit, got --sample {args.sample} --limit {args.limit}")
    try:
        spec = get_spec(args.benchmark)
        split = args.split or spec.default_split
        loaded = load_benchmark(spec.name, args.data_dir, split, limit=args.limit)
    except DataError as e:
        raise UserError(str(e)) from None
    print(loaded.report.summary(max_listed=3), file=sys.stderr)
    questions = loaded.questions
    if args.sample is not None:
        from m1.evaluation.stats import stratified_sample

        questions = stratified_sample(questions, args.sample, sample_group, args.sample_seed)
        print(f"--sample {args.sample} --sample-seed {args.sample_seed}: {len(questions)} of "
              f"{len(loaded.questions)} questions", file=sys.stderr)
    if not questions:
        raise UserError(f"{spec.name}/{split}: no question loaded from {args.data_dir} (see the load report above)")
    out = Path(args.out) if args.out else Path(cfg.output_dir) / "eval" / f"{spec.name}-{split}"
    if args.restart:
        for s in systems:
            for f in (PREDICTIONS, MANIFEST, METRICS):
                (out / s / f).unlink(missing_ok=True)

    import torch

    torch.set_num_threads(1)
    built: dict = {}
    if "solver" in systems:
        built["solver"] = SolverSystem(cfg.tools, cfg.video)
    if "endpoint_team" in systems:
        from m1.config import EndpointConfig
        from m1.evaluation.harness import endpoint_team_system

        if not (args.endpoint_url and args.endpoint_model):
            raise UserError("--system endpoint_team needs --endpoint-url and --endpoint-model")
        ep = EndpointConfig(base_url=args.endpoint_url, model=args.endpoint_model, api_key_env=args.endpoint_key_env)
        built["endpoint_team"] = endpoint_team_system(cfg, ep, args.endpoint_agents or len(cfg.team.agents),
                                                      out / "endpoint_team")
    team_names = [s for s in systems if s not in ("solver", "endpoint_team")]
    team_dir = None
    if team_names:
        from actors.rollout import build_backends
        from m1.evaluation.harness import team_systems
        from m1.evaluation.summariser import unchosen_agent_note
        from m1.models import ensure_team, with_team_summariser

        team_dir = ensure_team(cfg, args.team).resolve()
        cfg = with_team_summariser(cfg, team_dir)
        note = unchosen_agent_note(team_names, args.agent, cfg.cpp.summariser, [a.name for a in cfg.team.agents],
                                   team_dir)
        if note:
            print(note, file=sys.stderr)
        backends = build_backends(cfg, team_dir, use_ray=args.ray)
        try:
            built.update(team_systems(team_names, backends, cfg, str(team_dir), args.agent, args.frames))
        except EvalError as e:
            raise UserError(str(e)) from None
    manifest = {"benchmark": spec.name, "split": split, "data_dir": str(Path(args.data_dir).resolve()),
                "tools": cfg.tools.model_dump(mode="json")}
    if args.sample is not None:  # recorded only when sampling, so runs of whole splits resume as before
        manifest["sample"] = {"n": args.sample, "seed": args.sample_seed}
    metrics, predictions, notes = {}, {}, []
    for name in systems:  # in the order given: a failure leaves the earlier systems complete
        try:
            res = run_system(built[name], questions, out / name, manifest, progress=not args.no_progress,
                             retry_tool_errors=args.retry_tool_errors)
        except EvalError as e:
            raise UserError(str(e)) from None
        print(f"{name}: {res.ran} answered now"
              + (f" ({res.retried} of them asked again after a tool error)" if res.retried else "")
              + f", {res.reused} reused from an earlier run ({res.seconds:.1f} s) -> {out / name / PREDICTIONS}",
              file=sys.stderr)
        if res.torn_line_dropped:
            notes.append(f"{name}: a torn last line (interrupted write) was dropped and its question rerun")
        if res.extra_in_file:
            notes.append(f"{name}: {res.extra_in_file} predictions in the file are for questions outside this run "
                         "(e.g. a larger --limit earlier); not scored")
        metrics[name] = system_metrics(spec.name, questions, res.predictions)
        if metrics[name]["with_tool_errors"]:
            notes.append(f"{name}: {metrics[name]['with_tool_errors']} answer(s) met a tool error (a failed or "
                         "timed-out tool call; they still count). If the machine was busy, --retry-tool-errors "
                         "asks them again")
        predictions[name] = list(res.predictions.values())
        (out / name / METRICS).write_text(json.dumps(metrics[name], indent=1) + "\n")
    if team_dir is not None:
        notes.append(f"team: {team_dir}")
    from m1.evaluation.report import write_report

    paths = write_report(out, spec.name, split, questions, metrics, predictions, loaded.report,
                         command_line(args, systems), notes)
    for name, m in metrics.items():
        e = m["efficiency"]
        print(f"{name:>9}: overall {m['score']['overall']:.1f}%  frames/q {e['frames_per_query']['mean']:.1f}  "
              f"s/q {e['seconds_per_query']['mean']:.2f}  (n={m['score']['n']}, unparseable "
              f"{m['score']['unparseable']}, with a tool error {m['with_tool_errors']})")
    print(f"report: {paths['markdown']} ({paths['plot'].name}), metrics: {paths['metrics']}")
    return 0
