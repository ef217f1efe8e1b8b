"""lmms-eval end to end with the ``videochat_m1`` plugin, on a tiny M1-Synth split written in the real
formats (LongVideoBench JSON, Charades-STA text) and read through local task YAMLs (no hub).

The ``lmms-eval`` command runs in ``.venv-lmms`` (scripts/setup_lmms.sh, installed by
scripts/setup_test_deps.sh); these tests skip without it. The numbers lmms-eval reports are checked
against :func:`m1.data.score` on the answers the plugin returned — the cross-check of
``m1_lmms.crosscheck`` on real runs — and the cross-check itself runs in that environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from m1.data import load_benchmark, score
from m1_lmms.tasks import TaskFolderError, find_annotations, write_tasks

ROOT = Path(__file__).resolve().parents[2]
LMMS_PY = ROOT / ".venv-lmms" / "bin" / "python"
LMMS_CLI = ROOT / ".venv-lmms" / "bin" / "lmms-eval"
TINY = ["synth.width=192", "synth.height=108", "synth.fps=5", "synth.min_duration=6", "synth.max_duration=8",
        "synth.min_scene_seconds=3", "synth.min_object_size=12", "synth.max_object_size=30"]
needs_lmms = pytest.mark.skipif(not LMMS_CLI.exists(), reason="no .venv-lmms (bash scripts/setup_lmms.sh)")


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    from m1.config import load_config
    from m1.synth import generate_split

    out = tmp_path_factory.mktemp("lmmssynth")
    generate_split(load_config(overrides=TINY).synth, out, "test", 1, seed=3, progress=False)
    return out / "test"


def test_task_folder_finds_the_formats_and_refuses_what_is_not_there(split, tmp_path):
    assert set(find_annotations(split, "test")) == {"longvideobench", "charades_sta", "vsibench"}
    written = write_tasks(split, "test", tmp_path / "tasks", prefix="m1s", only=["longvideobench", "charades_sta"])
    assert sorted(written) == ["m1s_charades_sta", "m1s_longvideobench"]
    lvb = written["m1s_longvideobench"].read_text()
    assert "dataset_path: json" in lvb and "process_docs: !function utils.lvb_process_docs" in lvb
    assert "lmms_eval.tasks.longvideobench.utils.longvideobench_process_results" in lvb
    rel = next(ln.split(": ", 1)[1] for ln in lvb.splitlines() if ln.strip().startswith("test: "))
    assert not Path(rel).is_absolute() and (tmp_path / "tasks" / rel).resolve() == split / "lvb_test.json"
    # the folder's utils.py finds the data folder from where it lies
    ns: dict = {"__file__": str(tmp_path / "tasks" / "utils.py")}
    exec((tmp_path / "tasks" / "utils.py").read_text(), ns)
    assert ns["DATA_DIR"] == split
    video = json.loads((split / "lvb_test.json").read_text())[0]["video_path"]
    assert ns["lvb_doc_to_visual"]({"video_path": video}) == [str(split / "videos" / video)]
    with pytest.raises(FileNotFoundError, match="no video at any of"):
        ns["lvb_doc_to_visual"]({"video_path": "missing.mp4"})
    with pytest.raises(TaskFolderError, match="no test annotation file for \\['videomme'\\]"):
        write_tasks(split, "test", tmp_path / "t2", only=["videomme"])
    with pytest.raises(TaskFolderError, match="no annotation file"):
        write_tasks(split, "val", tmp_path / "t3")
    with pytest.raises(TaskFolderError, match="unknown benchmark"):
        write_tasks(split, "test", tmp_path / "t4", only=["imagenet"])


def _run_lmms(tasks_dir: Path, tasks: str, model_args: str, out: Path, limit: int | None = None) -> dict:
    env = {**os.environ, "HF_HOME": str(out / "hf"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "LMMS_EVAL_LAUNCHER": "",
           "WANDB_MODE": "disabled"}
    cmd = [str(LMMS_CLI), "--model", "videochat_m1", "--model_args", model_args, "--tasks", tasks,
           "--include_path", str(tasks_dir), "--output_path", str(out / "results"), "--batch_size", "1",
           "--log_samples"]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    proc = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"lmms-eval failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    results = sorted((out / "results").rglob("*_results.json"))
    assert results, f"no results file under {out / 'results'}:\n{proc.stdout[-3000:]}"
    data = json.loads(results[-1].read_text())
    data["_log"] = proc.stdout + proc.stderr  # lmms-eval logs (loguru) to stdout
    return data


def _plugin_answers(path: Path, task: str) -> dict[int, str]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {r["doc_id"]: r["text"] for r in rows if r["task"] == task}


VSI_ROWS = [  # every VSI-Bench type (lmms-eval's aggregation needs all three direction levels)
    ("object_rel_direction_easy", ["A. left", "B. right"], "A"),
    ("object_rel_direction_medium", ["A. left", "B. right"], "B"),
    ("object_rel_direction_hard", ["A. front-left", "B. back-right", "C. front-right"], "C"),
    ("object_rel_distance", ["A. the square", "B. the circle"], "A"),
    ("route_planning", ["A. turn left", "B. go on"], "B"),
    ("obj_appearance_order", ["A. square, circle", "B. circle, square"], "A"), ("object_counting", None, "2"),
    ("object_abs_distance", None, "1.5"), ("object_size_estimation", None, "30"),
    ("room_size_estimation", None, "12.5"),
]
MLVU_DEV = ["anomaly_reco", "count", "ego", "needle", "order", "plotQA", "topic_reasoning"]


def all_formats(split: Path, root: Path) -> Path:
    """M1-Synth's LongVideoBench and Charades-STA files, plus VSI-Bench (all ten types), Video-MME and MLVU
    files in their real layouts, about the same real video."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    d = root / "data"
    shutil.copytree(split, d, ignore=shutil.ignore_patterns("vsibench_*"))
    vid = json.loads((d / "lvb_test.json").read_text())[0]["video_id"]
    rows = [{"id": i, "dataset": "videos", "scene_name": vid, "question_type": t, "question": f"Question {i}?",
             "options": o, "ground_truth": g} for i, (t, o, g) in enumerate(VSI_ROWS)]
    pq.write_table(pa.Table.from_pylist(rows), d / "vsibench_test.parquet")
    (d / "data").mkdir()
    shutil.copy(d / "videos" / f"{vid}.mp4", d / "data" / f"{vid}.mp4")
    (d / "videomme").mkdir()
    mme = [{"video_id": "001", "duration": "short", "domain": "Knowledge", "sub_category": "Humanity & History",
            "url": "", "videoID": vid, "question_id": f"001-{i}", "task_type": t, "question": f"What is shown {i}?",
            "options": ["A. a square", "B. a circle", "C. a star", "D. nothing"], "answer": "ABCD"[i]}
           for i, t in enumerate(["Counting Problem", "Object Recognition", "Temporal Perception", "OCR Problems"])]
    pq.write_table(pa.Table.from_pylist(mme), d / "videomme" / "test-00000-of-00001.parquet")
    mlvu = [{"video_name": f"{vid}.mp4", "duration": 7.0, "candidates": ["one", "two", "three", "four"],
             "question": f"How many squares ({t})?\n(A) one\n(B) two\n(C) three\n(D) four", "answer": "AB"[i % 2],
             "task_type": t, "question_id": f"m{i}"} for i, t in enumerate(MLVU_DEV)]
    (d / "mlvu_test.json").write_text(json.dumps(mlvu))
    return d


@needs_lmms
@pytest.mark.slow
def test_lmms_eval_runs_the_solver_on_every_local_format_and_agrees_with_m1_scoring(split, tmp_path):
    data_dir = all_formats(split, tmp_path)
    written = write_tasks(data_dir, "test", prefix="m1s")
    assert sorted(written) == ["m1s_charades_sta", "m1s_longvideobench", "m1s_mlvu", "m1s_videomme", "m1s_vsibench"]
    preds = tmp_path / "answers.jsonl"
    data = _run_lmms(data_dir / "lmms_tasks", ",".join(sorted(written)), f"system=solver,predictions={preds}",
                     tmp_path)
    res = data["results"]
    log = data["_log"]  # frames and seconds logged per query and per batch
    assert "m1s_longvideobench[0]" in log and "frames/query mean" in log and "seconds/query mean" in log

    def ours(bench: str, task: str) -> dict:
        qs = load_benchmark(bench, data_dir, "test").questions
        answers = _plugin_answers(preds, task)
        assert sorted(answers) == list(range(len(qs))), task  # every document answered, in file order
        return score(bench, qs, {q.qid: answers[i] for i, q in enumerate(qs)})

    lvb = ours("longvideobench", "m1s_longvideobench")
    assert res["m1s_longvideobench"]["lvb_acc,none"] * 100 == pytest.approx(lvb["overall"], abs=1e-3)
    ch = ours("charades_sta", "m1s_charades_sta")
    spans = _plugin_answers(preds, "m1s_charades_sta").values()
    assert all(a.startswith("The event happens in ") for a in spans if a)
    for lmms_key, our_key in (("IOU@3", "R1@0.3"), ("IOU@5", "R1@0.5"), ("IOU@7", "R1@0.7"), ("mIOU", "mIoU")):
        assert res["m1s_charades_sta"][f"charades_sta_{lmms_key},none"] == pytest.approx(ch[our_key], abs=1e-6)
    assert ch["mIoU"] > 0  # the solver grounds events on this video: not a run of empty answers
    vsi = ours("vsibench", "m1s_vsibench")
    assert res["m1s_vsibench"]["vsibench_overall,none"] * 100 == pytest.approx(vsi["overall"], abs=1e-3)
    assert res["m1s_vsibench"]["object_counting_mra,none"] * 100 == pytest.approx(vsi["by_task"]["object_counting"])
    mme = ours("videomme", "m1s_videomme")
    assert res["m1s_videomme"]["videomme_perception_score,none"] == pytest.approx(mme["overall"])
    mlvu = ours("mlvu", "m1s_mlvu")  # all seven dev tasks present: lmms-eval's fixed /7 is our mean
    assert res["m1s_mlvu"]["mlvu_percetion_score,none"] == pytest.approx(mlvu["M-Avg"])


@needs_lmms
@pytest.mark.slow
def test_lmms_eval_runs_the_team_in_process(split, tmp_path):
    tasks_dir = tmp_path / "tasks"
    write_tasks(split, "test", tasks_dir, prefix="m1s", only=["longvideobench"])
    preds = tmp_path / "answers.jsonl"
    overrides = f"output_dir={tmp_path / 'run'};cpp.max_rounds=1;cpp.plan_tokens=48"
    data = _run_lmms(tasks_dir, "m1s_longvideobench", f"system=team,overrides={overrides},predictions={preds}",
                     tmp_path, limit=2)
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    assert [r["doc_id"] for r in rows] == [0, 1] and all(r["system"] == "team" for r in rows)
    assert all(r["seconds"] > 0 and r["tool_calls"] >= 0 for r in rows)
    assert (tmp_path / "run" / "team").is_dir()  # the untrained team was created where the overrides say
    acc = data["results"]["m1s_longvideobench"]["lvb_acc,none"]
    assert 0.0 <= acc <= 1.0


@needs_lmms
def test_crosscheck_canonical_predictions_agree(tmp_path):
    out = tmp_path / "table.md"
    proc = subprocess.run([str(LMMS_PY), "-m", "m1_lmms.crosscheck", "--n", "120", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [ln for ln in out.read_text().splitlines() if ln.startswith("| ") and "benchmark" not in ln]
    canonical = [ln for ln in lines if "| canonical |" in ln]
    assert {ln.split("|")[1].strip() for ln in canonical} == {
        "LongVideoBench", "Video-MME", "VSI-Bench", "Charades-STA", "MLVU (dev)", "VideoMMMU"}
    assert all("| yes |" in ln for ln in canonical)
    # the check can fail: the partial-category rows show the documented aggregation differences
    assert any("| **no** |" in ln for ln in lines if "of 7 tasks" in ln)


def test_plugin_module_is_not_imported_by_the_library():
    # m1 must work without lmms-eval; importing it must not pull the plugin (or lmms_eval) in
    code = "import m1, m1.data, m1.evaluation.harness, sys; print(any(k.startswith(('m1_lmms', 'lmms_eval')) " \
           "for k in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------ documents → questions (no lmms-eval needed)


def test_task_names_map_to_benchmark_loaders():
    from m1_lmms.questions import TaskDocError, benchmark_of_task

    assert benchmark_of_task("longvideobench_val_v") == "longvideobench"
    assert benchmark_of_task("temporal_grounding_charades") == "charades_sta"
    assert benchmark_of_task("videomme_w_subtitle") == "videomme"
    assert benchmark_of_task("video_mmmu_perception") == "videommmu"
    assert benchmark_of_task("m1s_vsibench") == "vsibench"
    assert benchmark_of_task("my_renamed_task", override="mlvu") == "mlvu"
    with pytest.raises(TaskDocError, match="no benchmark loader"):
        benchmark_of_task("mmmu_val")
    with pytest.raises(TaskDocError, match="benchmark='imagenet'"):
        benchmark_of_task("x", override="imagenet")


def test_documents_become_the_loaders_questions_and_answers_the_scorers_text():
    from m1.data import score
    from m1.schema import TaskType
    from m1_lmms.questions import TaskDocError, format_answer, question_from_doc

    lvb = {"id": "q1", "video_path": "a.mp4", "question": "What?", "correct_choice": 2, "duration_group": 15,
           "question_category": "S2E", **{f"option{i}": t for i, t in enumerate(["x", "y", "z", "N/A", "N/A"])}}
    q = question_from_doc("longvideobench", lvb, "/d/videos/a.mp4", "longvideobench_val_v", 0)
    assert (q.options, q.answer, q.video, q.task_type) == (["x", "y", "z"], "C", "/d/videos/a.mp4",
                                                           TaskType.MULTIPLE_CHOICE)
    assert format_answer(q, "C") == "C" and format_answer(q, None) == ""

    ch = {"video": "AB12.mp4", "caption": "person opens a door", "timestamp": [2.5, 7.0]}
    g = question_from_doc("charades_sta", ch, "/d/Charades_v1_480/AB12.mp4", "temporal_grounding_charades", 4)
    assert (g.qid, g.answer, g.task_type) == ("AB12#4", "2.5 7.0", TaskType.GROUNDING)
    text = format_answer(g, "3 7.25")
    assert text == "The event happens in 3 - 7.25 seconds."
    assert score("charades_sta", [g], {g.qid: text})["mIoU"] == pytest.approx(100 * 4.0 / 4.75)

    vsi = {"id": 7, "dataset": "arkitscenes", "scene_name": "s1", "question_type": "object_counting",
           "question": "How many chairs?", "options": None, "ground_truth": "4"}
    n = question_from_doc("vsibench", vsi, "/d/arkitscenes/s1.mp4", "vsibench", 0)
    assert (n.task_type, n.answer, format_answer(n, "4.5")) == (TaskType.NUMERIC, "4", "4.5")

    with pytest.raises(TaskDocError, match="document 3: not a longvideobench record"):
        question_from_doc("longvideobench", {"id": "x", "question": "q"}, "/d/videos/a.mp4", "lvb", 3)


def test_numbers_reach_vsibench_as_plain_decimals():
    from m1.schema import Question, TaskType
    from m1_lmms.questions import format_answer

    q = Question(qid="n", video="v.mp4", question="How far?", answer="0.00002", task_type=TaskType.NUMERIC)
    assert format_answer(q, "3.25") == "3.25" and format_answer(q, "12") == "12"
    assert format_answer(q, "2e-05") == "0.00002" and format_answer(q, "1.5e3") == "1500"
    assert format_answer(q, "no idea") == "no idea"  # nothing to rewrite: scored unparseable both ways


def test_serve_mode_asks_a_running_m1_serve(split, tmp_path):
    """``serve_url=``: the plugin's client against the real HTTP app (uvicorn on loopback, real tools on the
    real video; the policies' text scripted as in the serving tests) — answer, frames, tool calls; errors typed."""
    sys.path.insert(0, str(ROOT / "tests" / "unit"))
    from serving_fixtures import make_service, planning_team, serving

    from m1_lmms.questions import question_from_doc
    from m1_lmms.serve_client import ServeAnswerError, ask_serve

    rec = json.loads((split / "lvb_test.json").read_text())[0]
    video = split / "videos" / rec["video_path"]
    q = question_from_doc("longvideobench", rec, str(video), "m1s_longvideobench", 0)
    svc = make_service(planning_team(), [f"serve.allowed_roots=[{split / 'videos'}]", "serve.api_key=k3y"])
    with serving(svc) as url:
        out = ask_serve(url, q, timeout=120, api_key="k3y")
        assert out["answer"] == "B" and out["frames"] > 0 and out["tool_calls"] == 3 and out["seconds"] > 0
        with pytest.raises(ServeAnswerError, match="401"):
            ask_serve(url, q, timeout=60, api_key="wrong")
        outside = q.model_copy(update={"video": str(tmp_path / "elsewhere.mp4")})
        with pytest.raises(ServeAnswerError, match="403"):
            ask_serve(url, outside, timeout=60, api_key="k3y")


@needs_lmms
def test_bad_model_args_are_refused_with_what_is_known():
    code = """
from m1_lmms.model import VideoChatM1
for kwargs in ({"system": "oracle"}, {"sytem": "team"}, {"ray": "true", "system": "team"}):
    try:
        VideoChatM1(**kwargs)
    except ValueError as e:
        print(type(e).__name__, e)
"""
    out = subprocess.run([str(LMMS_PY), "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 3, out.stdout
    assert "system='oracle'; choose one of team, no_comm, no_tools, solo, solver" in lines[0]
    assert "unknown model_args ['sytem']" in lines[1]
    assert "ray=true needs ray in this environment" in lines[2]  # .venv-lmms has no Ray: said, not a traceback
