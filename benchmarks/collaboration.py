"""Does collaboration pay? The team against its best single agent, against no communication and
against the reference solver, on the same held-out questions: per family, paired bootstrap
intervals, frames per query against a uniform 1-fps pass (issue #20).

Reads what ``m1 eval --system team,no_comm,solo,solver --out DIR`` wrote (``DIR/<system>/
predictions.jsonl``), scores every question with the benchmark's official scorer and writes a
Markdown report::

    python benchmarks/collaboration.py --data-dir D --split test --eval-dir DIR --md report.md

Also reported: each agent's own answer *inside* the team (it read the others' memory, so this is
not the agent alone; ``solo`` is) and how often the vote overruled a minority. ``--aggregations
summariser,top_score`` adds the base system's answers aggregated by other rules (``team@summariser``
...), read from the answers its agents recorded: the aggregation rows of the ablation table, exact
without another evaluation (:func:`m1.evaluation.harness.reaggregate`). ``RULE/AGENT`` (e.g.
``vote/qwen3-small``) also makes AGENT the summariser: the team as it would have answered with the
summariser ``m1 models choose-summariser`` stored, from an evaluation run before the choice.
``item_vote`` is ``vote`` with open-ended lists voted item by item (``cpp.open_ended_aggregation``);
``vote`` is the paper's rule whatever the run used; ``--reparse`` reads the agents' answers through
today's parser first.

Held-out sets generated from several data seeds, each evaluated on its own, pool into one report
(their question ids repeat, so each is prefixed with its set's directory name)::

    python benchmarks/collaboration.py --data-dir /d/oeh100 --data-dir /d/oeh200 \\
        --run sft=/e/sft_100/team,/e/sft_200/team --run marl=/e/marl_100/team,/e/marl_200/team --base sft

``--planner-episodes`` then names one RLlib planner ``episodes.jsonl`` per set, in the same order.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from m1.config import CPPConfig
from m1.data import load_benchmark
from m1.data.scoring import score_question
from m1.evaluation.harness import reaggregate, recorded_cpp
from m1.evaluation.predictions import EvalError, Prediction, read_predictions
from m1.evaluation.stats import paired_bootstrap
from m1.evaluation.summary import uniform_frames, with_durations
from m1.schema import Question, TaskType

METRIC = {TaskType.MULTIPLE_CHOICE: "acc", TaskType.NUMERIC: "MRA", TaskType.GROUNDING: "IoU",
          TaskType.OPEN_ENDED: "F1"}


def group(q: Question, by: str = "family") -> str:
    """The row a question counts in: its family (else its category), or with ``by="category"`` its
    category (e.g. the open-ended family's four kinds of list), with the metric."""
    name = q.category if by == "category" and q.category else q.family.value if q.family else q.category
    return f"{name or 'all'}/{METRIC[q.task_type]}"


def load_systems(eval_dir: Path, systems: list[str]) -> dict[str, dict]:
    out = {}
    for name in systems:
        preds, _ = read_predictions(eval_dir / name / "predictions.jsonl", system=name)
        if preds:
            out[name] = preds
    return out


def tools_of(run_dir: Path) -> dict[str, object]:
    """What made a run's tool readings, from its ``run.json``: the tools' code fingerprint
    (``tools_code``) and the tools config (``tools``); a key the run did not record (written before
    they were recorded, or a run without a run.json) is left out."""
    path = run_dir / "run.json"
    if not path.is_file():
        return {}
    got = json.loads(path.read_text())
    tools = got.get("tools", got.get("settings", {}).get("tools"))  # the solver records its config in settings
    return {k: v for k, v in (("tools_code", got.get("tools_code")), ("tools", tools)) if v is not None}


def check_same_tools(dirs: dict[str, Path], allow: bool) -> str:
    """Refuse to pair runs whose tools differ in code or config: the same call then reads other errors,
    so a per-question difference measures the tools, not the systems (a tools-code change re-keys the
    noise: benchmarks/collaboration.md). ``allow`` turns the refusal into a line of the report. Returns
    the report's line about the tools the runs used."""
    recorded = {name: tools_of(d) for name, d in dirs.items()}
    lines = []
    for key in ("tools_code", "tools"):
        seen = {name: json.dumps(r[key], sort_keys=True) for name, r in recorded.items() if key in r}
        if len(set(seen.values())) > 1:
            groups = defaultdict(list)
            for name, v in seen.items():
                groups[v].append(name)
            shown = "; ".join(f"{', '.join(names)}: {json.loads(v) if key == 'tools_code' else v[:80]}"
                              for v, names in groups.items())
            msg = f"the runs used different {key} ({shown})"
            if not allow:
                raise SystemExit(msg + "; their answers do not pair question by question. Evaluate them again on "
                                 "one commit's tools, or pass --allow-tool-mismatch to report them anyway")
            lines.append(f"WARNING: {msg}.")
    codes = sorted({r["tools_code"] for r in recorded.values() if "tools_code" in r})
    unknown = sorted(name for name, r in recorded.items() if "tools_code" not in r)
    lines.append(f"Tools code {', '.join(codes) or 'not recorded'}"
                 + (f" (not recorded for {', '.join(unknown)})" if unknown and codes else "") + ".")
    return " ".join(lines)


def per_set(value: str, i: int, n: int, what: str) -> str:
    """The ``i``-th of ``n`` comma-separated directories of ``value`` (``value`` itself for one set)."""
    if n == 1:
        return value
    parts = value.split(",")
    if len(parts) != n:
        raise SystemExit(f"{what}: {n} --data-dirs pool {n} question sets, so it wants {n} comma-separated "
                         f"directories in the same order, got {len(parts)} ({value!r})")
    return parts[i]


def set_label(data_dirs: list[str], i: int) -> str:
    """The prefix of set ``i``'s question ids: its directory's name, or its position where names repeat."""
    names = [Path(d).name for d in data_dirs]
    return names[i] if len(set(names)) == len(names) else f"set{i}"


def scored(questions: list[Question], preds: dict[str, dict]) -> dict[str, dict[str, dict]]:
    """system → qid → score, frames, seconds, tool calls and whether a tool call failed on the way (a
    timeout under load, say: the question still counts, but the answer may differ from a quiet run's),
    scored by the official scorer."""
    return {s: {q.qid: {"score": score_question(q, p[q.qid].prediction or None).score, "frames": p[q.qid].frames,
                        "seconds": p[q.qid].seconds, "tool_calls": p[q.qid].tool_calls,
                        "tool_errors": int(bool(p[q.qid].error))}
                for q in questions if q.qid in p} for s, p in preds.items()}


def seed_mean(runs: list[dict[str, dict]]) -> dict[str, dict]:
    """qid → the mean of ``runs``' score, frames, seconds and tool calls (None where a run lacks one)
    and the sum of their tool errors, over the questions every run answered."""
    shared = set.intersection(*(set(r) for r in runs))

    def mean(qid: str, key: str) -> float | None:
        vals = [r[qid].get(key) for r in runs]
        if any(v is None for v in vals):
            return None
        return sum(vals) if key == "tool_errors" else sum(vals) / len(vals)

    keys = ("score", "frames", "seconds", "tool_calls", "tool_errors")
    return {qid: {k: mean(qid, k) for k in keys} for qid in sorted(shared)}


# --aggregations RULE → the CPP settings it stands for (any other RULE is tried as cpp.aggregation)
RULES = {"vote": {"aggregation": "vote", "open_ended_aggregation": "summariser"},
         "item_vote": {"aggregation": "vote", "open_ended_aggregation": "item_vote"}}


def reaggregated(questions: list[Question], name: str, preds: dict[str, Prediction], run_json: Path,
                 rules: list[str], reparse: bool = False) -> dict[str, dict[str, Prediction]]:
    """``name@rule`` → qid → the prediction of system ``name`` aggregated by ``rule``; ``run_json`` (the
    evaluation's ``run.json``) gives the team's agent order and its CPP settings. ``reparse``: the agents'
    recorded answers are parsed again by today's parser first (:func:`m1.evaluation.harness.reparsed`)."""
    if not run_json.is_file():
        raise SystemExit(f"--aggregations needs {run_json} (the agent order and cpp settings of {name!r})")
    settings = json.loads(run_json.read_text())["settings"]
    qs = {q.qid: q for q in questions}
    out = {}
    for spec in rules:
        rule, _, summariser = spec.partition("/")
        cpp = ({**recorded_cpp(settings["cpp"]), **RULES.get(rule, {"aggregation": rule})}
               | ({"summariser": summariser} if summariser else {}))
        # exact only where every agent already read the whole memory the summariser reads (m1.team.cpp)
        if summariser and settings.get("topology") != "complete":
            raise SystemExit(f"--aggregations {spec}: another summariser is exact only for a complete-topology "
                             f"run ('team'); {name!r} ran on {settings.get('topology')!r}, where the summariser "
                             "reads more of the memory than the others")
        if summariser and summariser not in settings["agents"]:
            raise SystemExit(f"--aggregations {spec}: {summariser!r} is not an agent of {name!r} "
                             f"({settings['agents']})")
        try:
            cfg = CPPConfig(**cpp)
        except ValueError as e:
            raise SystemExit(f"--aggregations {spec}: {e}") from None
        try:
            out[f"{name}@{spec}"] = {qid: reaggregate(p, qs[qid], settings["agents"], cfg, reparse=reparse)
                                     for qid, p in preds.items() if qid in qs}
        except EvalError as e:
            raise SystemExit(f"--aggregations {spec}: {e}") from None
    return out


def from_noisy_tools(path: Path, systems: list[str], prefix: str = "solver") -> dict[str, dict[str, dict]]:
    """Per-question results of a ``{"systems": {name: [rows]}}`` JSON — the reference solver's that
    ``benchmarks/noisy_tools.py --json`` wrote (``exact``, ``one_call@S``, ``verify@S``) or the teacher
    teams' of ``benchmarks/teacher_teams.py --json`` (``oracle``, ``verify``) — in :func:`scored`'s
    form, named ``<prefix>:<system>``."""
    data = json.loads(path.read_text())["systems"]
    missing = [s for s in systems if s not in data]
    if missing:
        raise SystemExit(f"{path} has no system {missing} (has {sorted(data)})")
    return {f"{prefix}:{s}": {r["qid"]: {"score": r["score"], "frames": r["frames"], "seconds": r.get("seconds"),
                                         "tool_calls": r.get("tool_calls")} for r in data[s]} for s in systems}


def synth_qids(questions: list[Question], split_dir: Path) -> dict[str, str]:
    """M1-Synth question id (``questions.jsonl``, what the planner's cache keeps) → the id the
    benchmark loaders give the same question (Charades-STA and VSI-Bench rows have their own ids).
    The format files keep ``questions.jsonl``'s order within a family, so the questions are paired
    in order per family and checked by video and task type."""
    from m1.synth import read_split  # noqa: PLC0415

    neutral: dict[object, list[Question]] = defaultdict(list)
    loaded: dict[object, list[Question]] = defaultdict(list)
    for q in read_split(split_dir):
        neutral[q.family].append(q)
    for q in questions:
        loaded[q.family].append(q)
    out = {}
    for fam, qs in neutral.items():
        if len(qs) != len(loaded[fam]):
            raise SystemExit(f"{split_dir}: {len(qs)} {fam} questions in questions.jsonl, {len(loaded[fam])} loaded")
        for a, b in zip(qs, loaded[fam], strict=True):
            if Path(a.video).stem != Path(b.video).stem or a.task_type != b.task_type:
                raise SystemExit(f"{split_dir}: question {a.qid} does not pair with loaded {b.qid}")
            out[a.qid] = b.qid
    return out


def from_planner(path: Path, qids: dict[str, str]) -> dict[str, dict[str, dict]]:
    """Per-question results of the RLlib planner's ``episodes.jsonl`` (``python -m
    baselines.rllib_planner train/eval --out DIR``: one row per system and question, by M1-Synth
    question id; ``qids`` maps those to the loaded benchmark's) in :func:`scored`'s form, named
    ``planner:<system>``."""
    if not path.is_file():
        raise SystemExit(f"--planner-episodes: no file {path}")
    out: dict[str, dict[str, dict]] = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        out.setdefault(f"planner:{r['system']}", {})[qids.get(r["qid"], r["qid"])] = {
            "score": r["score"], "frames": r["frames"], "seconds": None, "tool_calls": None}
    return out


def table(questions: list[Question], results: dict[str, dict[str, dict]], base: str, seed: int,
          resamples: int, by: str = "family") -> str:
    groups = sorted({group(q, by) for q in questions}) + ["all"]
    members = {g: [q for q in questions if g in ("all", group(q, by))] for g in groups}
    names = list(results)
    lines = [f"| {by} / metric | n | " + " | ".join([*names, *(f"{base} − {s} [95% CI]" for s in names if s != base)])
             + " |", "|---|---|" + "---|" * (2 * len(names) - 1)]
    for g in groups:
        qs = members[g]
        cells = [f"{sum(results[s][q.qid]['score'] for q in qs) / len(qs):.3f}" for s in names]
        diffs = []
        for s in names:
            if s == base:
                continue
            d, lo, hi = paired_bootstrap([results[s][q.qid]["score"] for q in qs],
                                         [results[base][q.qid]["score"] for q in qs], n_resamples=resamples, seed=seed)
            diffs.append(f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
        label = f"**{g}**" if g == "all" else g
        lines.append(f"| {label} | {len(qs)} | " + " | ".join(cells + diffs) + " |")
    cost = ["", "| system | frames/q | 1-fps frames/q | s/q | tool calls/q | questions with a tool error "
            f"| frames/q, {base} − it [95% CI] |", "|---|---|---|---|---|---|---|"]
    uniform = sum(uniform_frames(q) for q in questions) / len(questions)  # raises on a missing duration
    for s in names:
        r = [results[s][q.qid] for q in questions]
        calls = "—" if r[0]["tool_calls"] is None else f"{sum(x['tool_calls'] for x in r) / len(r):.2f}"
        secs = "—" if r[0]["seconds"] is None else f"{sum(x['seconds'] for x in r) / len(r):.2f}"
        errs = "—" if any(x.get("tool_errors") is None for x in r) else f"{sum(x['tool_errors'] for x in r):g}"
        fewer = "—"
        if s != base:  # the efficiency claim is about frames at equal accuracy: their difference gets an interval too
            d, lo, hi = paired_bootstrap([x["frames"] for x in r], [results[base][q.qid]["frames"] for q in questions],
                                         n_resamples=resamples, seed=seed)
            fewer = f"{d:+.1f} [{lo:+.1f}, {hi:+.1f}]"
        cost.append(f"| {s} | {sum(x['frames'] for x in r) / len(r):.1f} | {uniform:.1f} | {secs} | {calls} | {errs} "
                    f"| {fewer} |")
    return "\n".join(lines + cost)


def inside_team(questions: list[Question], team: dict) -> str:
    """Each agent's own answer inside the team, and the vote's effect on disagreements."""
    per_agent: dict[str, list[float]] = defaultdict(list)
    split = fixed = broken = 0
    for q in questions:
        p = team[q.qid]
        own = {a: score_question(q, v).score if v is not None else 0.0 for a, v in p.agent_answers.items()}
        for a, s in own.items():
            per_agent[a].append(s)
        if len({v for v in p.agent_answers.values()}) > 1:
            split += 1
            final = score_question(q, p.prediction or None).score
            fixed += final > min(own.values())
            broken += final < max(own.values())
    lines = ["| agent (inside the team) | score |", "|---|---|"]
    lines += [f"| {a} | {sum(v) / len(v):.3f} |" for a, v in sorted(per_agent.items())]
    lines.append(f"\nAgents disagreed on {split} of {len(questions)} questions; the team's answer beat the "
                 f"worst agent's on {fixed} of them and fell short of the best agent's on {broken}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--benchmark", default="m1_synth")
    ap.add_argument("--data-dir", required=True, action="append", metavar="DIR",
                    help="The benchmark directory m1 eval read. Repeat it to pool question sets (e.g. held-out sets "
                         "of other data seeds, each evaluated on its own): every --eval-dir and --run then names one "
                         "directory per set, comma-separated in the order of the --data-dirs, and a question's id "
                         "is prefixed with its set's directory name, so sets may reuse ids.")
    ap.add_argument("--split", default="test")
    ap.add_argument("--eval-dir", default=None, help="m1 eval --out DIR (holds <system>/predictions.jsonl).")
    ap.add_argument("--run", action="append", default=[], metavar="NAME=DIR",
                    help="Also read DIR/predictions.jsonl (one system of another m1 eval, e.g. OUT/team) as NAME: "
                         "compares runs, e.g. the SFT team with the SFT + MARL team. Repeatable.")
    ap.add_argument("--systems", default="team,solo,no_comm,solver", help="Systems to read (those present).")
    ap.add_argument("--base", default="team", help="The system every other one is compared against.")
    ap.add_argument("--seed", type=int, default=0, help="Bootstrap seed.")
    ap.add_argument("--resamples", type=int, default=5000, help="Bootstrap resamples.")
    ap.add_argument("--noisy-tools-json", default=None,
                    help="Also compare against the reference solver's results in this benchmarks/noisy_tools.py --json "
                         "file (same data and noise seed), e.g. on the long videos.")
    ap.add_argument("--noisy-tools-systems", default="exact,one_call@0,verify@0",
                    help="Which of that file's systems to add (as solver:<name>).")
    ap.add_argument("--teacher-teams-json", default=None,
                    help="Also compare against the teacher teams in this benchmarks/teacher_teams.py --json file "
                         "(same questions and tools), as teacher:<name>.")
    ap.add_argument("--planner-episodes", default=None,
                    help="Also compare against the RLlib planner's systems in this episodes.jsonl "
                         "(baselines.rllib_planner train/eval --out DIR; same questions and tools), as planner:<name>; "
                         "with several --data-dirs, one file per set, comma-separated in the same order.")
    ap.add_argument("--aggregations", default="",
                    help="Also score the base system's answers aggregated by these rules (comma-separated of vote, "
                         "summariser, top_score, item_vote) as BASE@RULE, from its agents' recorded answers and its "
                         "run.json; item_vote votes open-ended lists item by item; top_score needs predictions "
                         "that record agent_scores. RULE/AGENT also makes AGENT the summariser (e.g. "
                         "vote/qwen3-small: the team with the summariser choose-summariser "
                         "picked, from an evaluation run with the default one).")
    ap.add_argument("--aggregate", default=None, metavar="SYSTEMS",
                    help="The systems --aggregations reads again (comma-separated; default: --base), e.g. "
                         "team,no_comm to compare the two under one rule.")
    ap.add_argument("--reparse", action="store_true",
                    help="With --aggregations: parse the agents' recorded answers again with today's parser first, "
                         "so an answer a stricter parser now rejects counts as unparseable (e.g. an evidence label "
                         "given as a structured open-ended list, refused since stop 41): what the same run would "
                         "aggregate today. Off: a run is read as it ran.")
    ap.add_argument("--mean", action="append", default=[], metavar="NAME=A+B",
                    help="Also a system NAME whose per-question score, frames, seconds and calls are the mean of "
                         "systems A, B, ... (e.g. two training seeds of one row): its intervals resample questions "
                         "over the seed mean; the seeds' own spread is the difference of A and B. Repeatable.")
    ap.add_argument("--allow-tool-mismatch", action="store_true",
                    help="Report runs whose run.json records different tools code or config (refused by default: "
                         "the same call then reads other errors, so answers do not pair question by question).")
    ap.add_argument("--versus", default=None,
                    help="The system every difference is taken against (default: --base), e.g. team@item_vote "
                         "after --aggregations item_vote.")
    ap.add_argument("--by", choices=("family", "category"), default="family",
                    help="Rows per family, or per question category (e.g. the open-ended family's kinds of list).")
    ap.add_argument("--md", default=None, help="Also write the report here.")
    args = ap.parse_args(argv)
    pooled = len(args.data_dir) > 1
    if pooled and (args.noisy_tools_json or args.teacher_teams_json):
        raise SystemExit("--noisy-tools-json and --teacher-teams-json read one question set: "
                         "give one --data-dir with them")
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    sets = []  # per question set: its id prefix ("" for one set), data dir, predictions and run directories
    for i, data_dir in enumerate(args.data_dir):
        eval_dir = per_set(args.eval_dir, i, len(args.data_dir), "--eval-dir") if args.eval_dir else None
        preds = load_systems(Path(eval_dir), systems) if eval_dir else {}
        dirs = {name: Path(eval_dir) / name for name in preds}
        for spec in args.run:
            name, sep, where = spec.partition("=")
            if not sep or not name or not where:
                raise SystemExit(f"--run wants NAME=DIR, got {spec!r}")
            where = per_set(where, i, len(args.data_dir), f"--run {name}")
            got, _ = read_predictions(Path(where) / "predictions.jsonl")
            if not got:
                raise SystemExit(f"--run {name}: no predictions in {Path(where) / 'predictions.jsonl'}")
            preds[name], dirs[name] = got, Path(where)
        sets.append((set_label(args.data_dir, i) if pooled else "", data_dir, preds, dirs))
    tools_line = check_same_tools({f"{name}[{label}]" if label else name: d for label, _, _, dirs in sets
                                   for name, d in dirs.items()}, args.allow_tool_mismatch)
    names = set(sets[0][2])
    means = {spec.partition("=")[0] for spec in args.mean}
    if args.base not in names and args.base not in means:
        raise SystemExit(f"no predictions of {args.base!r} under {args.eval_dir} or --run (found {sorted(names)})")
    if (args.reparse or args.aggregate) and not args.aggregations:
        raise SystemExit("--reparse and --aggregate act on --aggregations: name the rules (e.g. --aggregations "
                         "vote,item_vote)")
    again = [x.strip() for x in (args.aggregate or args.base).split(",") if x.strip()]
    if args.aggregations and any(x not in names for x in again):
        raise SystemExit(f"--aggregations reads recorded answers of {again}: each must be a system read from "
                         f"--eval-dir or --run (found {sorted(names)}), not a --mean")
    rules = [r.strip() for r in args.aggregations.split(",") if r.strip()]
    questions, preds, loaded = [], {}, []
    for label, data_dir, got, dirs in sets:
        if set(got) != names:
            raise SystemExit(f"question set {data_dir} has systems {sorted(got)}, the first has {sorted(names)}")
        # durations from the videos where the format has none: a 1-fps cost must not count them as 0
        qs = with_durations(load_benchmark(args.benchmark, data_dir, args.split).questions)
        loaded.append(qs)
        for name in again if rules else []:
            got |= reaggregated(qs, name, got[name], dirs[name] / "run.json", rules, reparse=args.reparse)
        questions += [q.model_copy(update={"qid": f"{label}:{q.qid}"}) if label else q for q in qs]
        for name, p in got.items():
            preds.setdefault(name, {}).update({f"{label}:{qid}" if label else qid: x for qid, x in p.items()})
    results = scored(questions, preds)
    if args.noisy_tools_json:
        results |= from_noisy_tools(Path(args.noisy_tools_json), args.noisy_tools_systems.split(","))
    if args.teacher_teams_json:
        teams = json.loads(Path(args.teacher_teams_json).read_text())["systems"]
        results |= from_noisy_tools(Path(args.teacher_teams_json), list(teams), prefix="teacher")
    for spec in args.mean:
        name, sep, parts = spec.partition("=")
        members = [m for m in parts.split("+") if m]
        if not sep or not name or len(members) < 2 or any(m not in results for m in members):
            raise SystemExit(f"--mean wants NAME=A+B over systems read ({sorted(results)}), got {spec!r}")
        results[name] = seed_mean([results[m] for m in members])
    planner_sets = enumerate(zip(sets, loaded, strict=True)) if args.planner_episodes else ()
    for i, ((label, data_dir, _, _), qs) in planner_sets:
        split_dir = Path(data_dir) / args.split
        qids = synth_qids(qs, split_dir) if (split_dir / "questions.jsonl").is_file() else {}
        path = Path(per_set(args.planner_episodes, i, len(sets), "--planner-episodes"))
        for name, rows in from_planner(path, qids).items():
            results.setdefault(name, {}).update({f"{label}:{k}" if label else k: v for k, v in rows.items()})
    versus = args.versus or args.base
    if versus not in results:
        raise SystemExit(f"--versus {versus!r} is not a system of this report ({sorted(results)})")
    common = [q for q in questions if all(q.qid in r for r in results.values())]
    if not common:
        raise SystemExit("the systems share no answered question")
    text = (f"{len(common)} questions answered by every system ({', '.join(results)}) of {len(questions)} in "
            f"{', '.join(args.data_dir)} ({args.split}); paired bootstrap: {args.resamples} resamples, "
            f"seed {args.seed}. "
            f"{tools_line}\n\n"
            + table(common, results, versus, args.seed, args.resamples, args.by))
    for name, got in preds.items():  # every system that records its agents' own answers (team, no_comm, runs)
        if "@" not in name and any(got[q.qid].agent_answers for q in common):
            text += f"\n\n{name}:\n\n" + inside_team(common, got)
    print(text)
    if args.md:
        Path(args.md).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
