"""Local lmms-eval task folders for benchmark files on disk (no hub).

lmms-eval's own task YAMLs load their data from the Hugging Face hub and their videos from
``$HF_HOME/<cache_dir>``. Here nothing is downloaded: :func:`write_tasks` writes a folder of task
YAMLs whose ``dataset_path`` is a local builder (``json``, ``parquet``, ``text``) with
``data_files`` pointing at the annotation files, and a ``utils.py`` that resolves videos in the data
folder. Prompts, answer parsing, metrics and aggregation are lmms-eval's own functions (``!function
lmms_eval.tasks.<task>.utils...``), so the numbers are lmms-eval's; only the document layout is
adapted (``process_docs``: LongVideoBench's JSON ``candidates`` → the parquet's ``option0..4``,
Charades-STA's text lines → the parquet's ``video/caption/timestamp``).

    python -m m1_lmms.tasks DATA_DIR --split test [--out DIR] [--prefix local]
    lmms-eval --model videochat_m1 --tasks local_longvideobench --include_path DATA_DIR/lmms_tasks

Formats found in ``DATA_DIR`` (those of :mod:`m1.data`'s loaders, and what ``m1 synth`` writes):

==================  =========================================  ==================================
task                annotation file                            videos
==================  =========================================  ==================================
<p>_longvideobench  ``lvb_<split>.json`` / ``.parquet``        ``videos/<video_path>``
<p>_charades_sta    ``charades_sta_<split>.txt`` / ``.parquet`` ``videos/`` or ``Charades_v1_480/``
<p>_vsibench        ``vsibench_<split>.parquet``               ``<dataset>/<scene_name>.mp4``
<p>_videomme        ``videomme/<split>-00000-of-00001.parquet`` ``data/<videoID>.mp4``
<p>_mlvu            ``mlvu_<split>.json``                      ``video/``, ``videos/`` or beside it
==================  =========================================  ==================================
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _args(task: str, text: str, target: str, process: str, max_new_tokens: int, metrics: list[tuple[str, str]],
          prompts: dict[str, str]) -> str:
    """The task YAML's lmms-eval part: prompt, target, parsing and metric functions of
    ``lmms_eval.tasks.<task>.utils`` (``target`` is a document field, or ``!fn`` for a function)."""
    fn = f"!function lmms_eval.tasks.{task}.utils."
    target = fn + target.removeprefix("!fn").strip() if target.startswith("!fn") else f'"{target}"'
    out = (f"doc_to_text: {fn}{text}\ndoc_to_target: {target}\nprocess_results: {fn}{process}\n"
           f"generation_kwargs: {{max_new_tokens: {max_new_tokens}, temperature: 0, do_sample: false}}\nmetric_list:\n")
    out += "".join(f"  - metric: {m}\n    aggregation: {fn}{agg}\n    higher_is_better: true\n" for m, agg in metrics)
    out += "lmms_eval_specific_kwargs:\n  default:\n"
    return out + "".join(f"    {k}: {json.dumps(v)}\n" for k, v in prompts.items())


LETTER = "Answer with the option's letter from the given choices directly."
LVB_ARGS = _args("longvideobench", "longvideobench_doc_to_text", "correct_choice", "longvideobench_process_results",
                 32, [("lvb_acc", "longvideobench_aggregate_results")],
                 {"pre_prompt": "", "post_prompt": LETTER + "\n"})
CHARADES_ARGS = _args(
    "charades_sta", "temporal_grounding_doc_to_text", "!fn temporal_grounding_doc_to_answer",
    "temporal_grounding_process_results_generation", 50,
    [(f"charades_sta_{m}", f"temporal_grounding_aggregate_{m.lower().replace('@', '')}")
     for m in ("IOU@3", "IOU@5", "IOU@7", "mIOU")],
    {"pre_prompt": "Please find the visual event described by a sentence in the video, determining its starting and "
     "ending times. The format should be: 'The event happens in the start time - end time'. For example, The event "
     "'person turn a light on' happens in the 24.3 - 30.4 seonds. Now I will give you the textual sentence: ",
     "post_prompt": "Please return its start time and end time."})
VSI_METRICS = ("overall", "obj_appearance_order_accuracy", "object_abs_distance_mra", "object_counting_mra",
               "object_rel_distance_accuracy", "object_size_estimation_mra", "room_size_estimation_mra",
               "route_planning_accuracy", "object_rel_direction_accuracy")
VSI_ARGS = _args("vsibench", "vsibench_doc_to_text", "ground_truth", "vsibench_process_results", 16,
                 [(("vsibench_" if m == "overall" else "") + m, f"vsibench_aggregate_{m}") for m in VSI_METRICS],
                 {"pre_prompt": "", "mca_post_prompt": LETTER,
                  "na_post_prompt": "Please answer the question using a single word or phrase."})
VIDEOMME_ARGS = _args("videomme", "videomme_doc_to_text", "answer", "videomme_process_results", 16,
                      [("videomme_perception_score", "videomme_aggregate_results")],
                      {"pre_prompt": "", "post_prompt": "\n" + LETTER})
MLVU_ARGS = _args("mlvu", "mlvu_doc_to_text", "answer", "mlvu_process_results", 16,
                  [("mlvu_percetion_score", "mlvu_aggregate_results_dev")],  # sic: lmms-eval's metric name
                  {"pre_prompt": "", "post_prompt": "\nOnly give the best option.\nBest option: ("})

# benchmark → (annotation file candidates in the data dir, local process_docs or None, local doc_to_visual,
#              the rest of the YAML: lmms-eval's prompt, parsing and metric functions)
TASKS: dict[str, tuple[tuple[str, ...], str | None, str, str]] = {
    "longvideobench": (("lvb_{split}.json", "lvb_{split}.parquet"), "lvb_process_docs", "lvb_doc_to_visual", LVB_ARGS),
    "charades_sta": (("charades_sta_{split}.txt", "charades_sta_{split}.parquet", "{split}-00000-of-00001.parquet"),
                     "charades_process_docs", "charades_doc_to_visual", CHARADES_ARGS),
    "vsibench": (("vsibench_{split}.parquet", "{split}-00000-of-00001.parquet"), None, "vsibench_doc_to_visual",
                 VSI_ARGS),
    "videomme": (("videomme/{split}-00000-of-00001.parquet",), None, "videomme_doc_to_visual", VIDEOMME_ARGS),
    "mlvu": (("mlvu_{split}.json",), None, "mlvu_doc_to_visual", MLVU_ARGS),
}
BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".txt": "text"}
UTILS_TEMPLATE = Path(__file__).with_name("local_task_utils.py")


class TaskFolderError(ValueError):
    """No benchmark file found, or an output folder that cannot be written."""


def find_annotations(data_dir: Path, split: str) -> dict[str, Path]:
    """benchmark → its annotation file in ``data_dir`` for ``split`` (benchmarks without one left out)."""
    found = {}
    for bench, (names, *_rest) in TASKS.items():
        for name in names:
            path = data_dir / name.format(split=split)
            if path.is_file():
                found[bench] = path
                break
    return found


def task_yaml(name: str, bench: str, rel_file: str, split: str) -> str:
    _names, process_docs, doc_to_visual, args = TASKS[bench]
    builder = BUILDERS[Path(rel_file).suffix]
    head = (f"# written by `python -m m1_lmms.tasks`: {bench} from local files (see m1_lmms/tasks.py)\n"
            f"task: {name}\ndataset_path: {builder}\ndataset_kwargs:\n  data_files:\n    {split}: {rel_file}\n"
            f"test_split: {split}\noutput_type: generate_until\n")
    if process_docs:
        head += f"process_docs: !function utils.{process_docs}\n"
    return head + f"doc_to_visual: !function utils.{doc_to_visual}\n" + args


def write_tasks(data_dir: str | Path, split: str, out: str | Path | None = None, prefix: str = "local",
                only: list[str] | None = None) -> dict[str, Path]:
    """Write one task YAML per benchmark file found (``only``: these benchmarks) and ``utils.py`` into
    ``out`` (default ``DATA_DIR/lmms_tasks``); returns task name → YAML path."""
    data_dir = Path(data_dir).resolve()
    if not data_dir.is_dir():
        raise TaskFolderError(f"{data_dir} is not a directory")
    found = find_annotations(data_dir, split)
    if only:
        unknown = sorted(set(only) - set(TASKS))
        if unknown:
            raise TaskFolderError(f"unknown benchmark(s) {unknown}; known: {', '.join(TASKS)}")
        missing = sorted(set(only) - set(found))
        if missing:
            raise TaskFolderError(f"{data_dir}: no {split} annotation file for {missing}")
        found = {b: p for b, p in found.items() if b in only}
    if not found:
        raise TaskFolderError(f"{data_dir}: no annotation file of {', '.join(TASKS)} for split {split!r} "
                              "(see python -m m1_lmms.tasks --help)")
    out_dir = Path(out).resolve() if out else data_dir / "lmms_tasks"
    out_dir.mkdir(parents=True, exist_ok=True)
    rel_data = os.path.relpath(data_dir, out_dir)
    utils = UTILS_TEMPLATE.read_text().replace('DATA_DIR_FROM_HERE = "."', f"DATA_DIR_FROM_HERE = {rel_data!r}")
    (out_dir / "utils.py").write_text(utils)
    written = {}
    for bench, path in found.items():
        name = f"{prefix}_{bench}"
        target = out_dir / f"{name}.yaml"
        target.write_text(task_yaml(name, bench, os.path.relpath(path, out_dir), split))
        written[name] = target
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m m1_lmms.tasks", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dir", help="Folder with the benchmark files (e.g. an `m1 synth` split folder).")
    p.add_argument("--split", default="test", help="Split whose files to use (default: test).")
    p.add_argument("--out", default=None, help="Task folder (default: DATA_DIR/lmms_tasks).")
    p.add_argument("--prefix", default="local", help="Task names are PREFIX_<benchmark> (default: local).")
    p.add_argument("--only", default=None, help="Comma-separated benchmarks among " + ", ".join(TASKS) + ".")
    args = p.parse_args(argv)
    try:
        written = write_tasks(args.data_dir, args.split, args.out, args.prefix,
                              args.only.split(",") if args.only else None)
    except TaskFolderError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, path in written.items():
        print(f"{name}\t{path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
