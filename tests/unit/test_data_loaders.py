"""Every benchmark loader on its hand-written fixture (tests/fixtures/benchmarks), field by field.

Fixtures are in the real on-disk formats; parquet files are written here from hand-written JSON
rows, and tiny H.264 videos are generated here with PyAV and copied where each benchmark keeps
them. Each fixture also holds broken rows, whose report entries are asserted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m1.data import BENCHMARKS, DataError, load_benchmark
from m1.data.loaders import charades_sta, videommmu
from m1.data.loaders.base import LoadContext, RowError, as_float, as_int, run_loader
from m1.data.report import IssueKind, LoadReport
from m1.schema import Family, TaskType

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "benchmarks"


@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("video") / "tiny.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=4)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(4):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 60 * i, np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path.read_bytes()


def stage(name: str, tmp_path: Path, videos: list[str], video: bytes) -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    for rel in videos:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(video)
    return root


def issues(result, kind: IssueKind) -> list[str]:
    return [i.where for i in result.report.of_kind(kind)]


def test_longvideobench_val(tmp_path, tiny_video):
    root = stage("longvideobench", tmp_path, ["videos/86CxyhFV9MI.mp4", "videos/@tiktokuser-7220.mp4"], tiny_video)
    r = load_benchmark("longvideobench", root)
    assert [q.qid for q in r.questions] == ["86CxyhFV9MI_0", "@tiktokuser-7220_1"]
    q = r.questions[0]
    assert q.video == str(root / "videos" / "86CxyhFV9MI.mp4")
    assert q.options == ["promised to keep", "his own hand", "a large cup", "whispering voices", "the last train"]
    assert (q.answer, q.task_type, q.family, q.category, q.duration) == (
        "C",
        TaskType.MULTIPLE_CHOICE,
        Family.LONG_VIDEO,
        "TOS",
        300.5,
    )
    assert q.meta["duration_group"] == "600" and q.meta["topic_category"] == "NP-News-Programs"
    assert q.meta["level"] == "L2-Relation" and q.meta["position"] == [1042, 1100]
    assert q.meta["question_wo_referring_query"] == "Which subtitles appear at the same time?"
    # shifted by 100 s, sorted, clipped to [0, 300.5]; the line wholly after the clip is dropped
    assert q.meta["subtitles"] == [
        (0.0, 1.5, "earlier speech before the clip"),
        (1.0, 10.0, "good evening"),
        (10.25, 12.0, "I promised to keep it"),
    ]
    q2 = r.questions[1]
    assert q2.answer == "A" and q2.meta["duration_group"] == "15"
    # the {"timestamp": [s, null]} form: null end = end of the clip
    assert q2.meta["subtitles"] == [(0.5, 2.0, "hi everyone"), (9.0, 12.0, "bye")]
    rep = r.report
    assert (rep.rows_read, rep.loaded, rep.dropped) == (4, 2, 2)
    assert issues(r, IssueKind.MALFORMED_ROW) == ["lvb_val.json[2]"]
    assert "correct_choice 7" in rep.of_kind(IssueKind.MALFORMED_ROW)[0].message
    assert issues(r, IssueKind.MISSING_VIDEO) == ["lvb_val.json[3]"]
    assert [i.message for i in rep.of_kind(IssueKind.UNKNOWN_FIELD)] == [
        "unknown field 'source_url' in 1 row(s); ignored"
    ]
    assert rep.of_kind(IssueKind.BAD_SUBTITLES)[0].message.startswith("1 unreadable entries")
    assert not rep.ok and "malformed_row: 1" in rep.summary()


def test_longvideobench_test_split_is_unlabelled_and_videos_optional(tmp_path, tiny_video):
    root = stage("longvideobench", tmp_path, [], tiny_video)
    r = load_benchmark("lvb", root, split="test", require_videos=False)
    [q] = r.questions
    assert q.qid == "zzTest01_0" and q.answer is None and q.options == ["left", "right", "does not turn"]
    assert r.report.count(IssueKind.UNLABELLED) == 1 and r.report.count(IssueKind.MISSING_VIDEO) == 1
    assert r.report.count(IssueKind.MISSING_SUBTITLES) == 1 and "subtitles" not in q.meta


def test_longvideobench_parquet_variant(tmp_path, tiny_video):
    root = stage("longvideobench", tmp_path, ["videos/86CxyhFV9MI.mp4"], tiny_video)
    rec = json.loads((root / "lvb_val.json").read_text())[0]
    del rec["candidates"]
    opts = {"option0": "a", "option1": "b", "option2": "c", "option3": "N/A", "option4": "N/A"}
    (root / "lvb_val.json").unlink()
    pq.write_table(pa.Table.from_pylist([{**rec, **opts, "correct_choice": 1}]), root / "validation.parquet")
    [q] = load_benchmark("longvideobench", root).questions
    assert q.options == ["a", "b", "c"] and q.answer == "B"


def test_video_holmes(tmp_path, tiny_video):
    root = stage("video_holmes", tmp_path, ["videos/film001.mp4", "videos/film002.mp4"], tiny_video)
    r = load_benchmark("video_holmes", root)
    assert [q.qid for q in r.questions] == ["film001_1", "film001_2"]
    q = r.questions[0]
    assert q.options[0] == "She fears her brother" and len(q.options) == 6 and q.answer == "B"
    assert (q.category, q.family, q.question) == ("SR", Family.REASONING, "Why does the woman hide the letter?")
    assert q.meta == {
        "video_id": "film001",
        "question_id": 1,
        "question_type": "SR",
        "explanation": "She is seen writing it at 00:12.",
    }
    assert r.questions[1].answer == "B"  # lower-case "b" normalised
    assert issues(r, IssueKind.DUPLICATE_ID) == ["test_Video-Holmes.json[2]"]
    assert issues(r, IssueKind.MALFORMED_ROW) == ["test_Video-Holmes.json[3]"]


def test_videommmu_json_configs_and_parquet(tmp_path, tiny_video):
    ids = ["validation_Art_1", "validation_Physics_3", "validation_Bio_2", "validation_Math_9"]
    root = stage("videommmu", tmp_path, [f"videos/{i}.mp4" for i in ids], tiny_video)
    r = load_benchmark("videommmu", root)
    assert [q.qid for q in r.questions] == ids
    art, phys, bio, math_ = r.questions
    assert (art.answer, art.task_type, art.category, art.options[2]) == (
        "C",
        TaskType.MULTIPLE_CHOICE,
        "Perception",
        "Stippling",
    )
    assert (phys.answer, phys.task_type, phys.options, phys.category) == (
        "12.50",
        TaskType.OPEN_ENDED,
        [],
        "Comprehension",
    )
    assert bio.answer == "Mitochondria" and bio.meta["question_type"] == "open"
    assert math_.answer == "J" and len(math_.options) == 10
    assert issues(r, IssueKind.MALFORMED_ROW) == ["Adaptation.json[1]"]
    assert r.report.count(IssueKind.UNKNOWN_FIELD) == 0 and r.report.count(IssueKind.MISSING_VIDEO) == 0
    # one config, from the Hugging Face parquet layout
    (root / "Perception.json").unlink()
    (root / "Perception").mkdir()
    pq.write_table(
        pa.Table.from_pylist(
            [
                {
                    "id": "validation_Art_1",
                    "question": "q?",
                    "options": ["x", "y"],
                    "answer": "B",
                    "question_type": "multiple-choice",
                }
            ]
        ),
        root / "Perception" / "test-00000-of-00001.parquet",
    )
    [q] = load_benchmark("videommmu", root, split="perception").questions
    assert q.answer == "B" and q.video == str(root / "videos" / "validation_Art_1.mp4")
    with pytest.raises(DataError, match="unknown split"):
        load_benchmark("videommmu", root, split="nope")


def test_vsibench_parquet(tmp_path, tiny_video):
    vids = ["arkitscenes/41069025.mp4", "scannet/scene0011_00.mp4", "scannetpp/09c1414f1b.mp4"]
    root = stage("vsibench", tmp_path, vids, tiny_video)
    rows = json.loads((root / "rows.json").read_text())
    pq.write_table(pa.Table.from_pylist(rows), root / "test-00000-of-00001.parquet")
    r = load_benchmark("vsibench", root)
    assert [q.qid for q in r.questions] == ["0", "1", "2", "3"]
    count, direction, room, order = r.questions
    assert (count.task_type, count.answer, count.options, count.category) == (
        TaskType.NUMERIC,
        "4",
        [],
        "object_counting",
    )
    assert count.video == str(root / "arkitscenes" / "41069025.mp4") and count.family == Family.SPATIAL
    assert (direction.options, direction.answer) == (["left", "right"], "B")
    assert room.answer == "21.5" and room.meta == {
        "dataset": "scannet",
        "scene_name": "scene0011_00",
        "question_type": "room_size_estimation",
    }
    assert order.options[3] == "sink, lamp, tv, bed" and order.answer == "D"
    assert issues(r, IssueKind.MALFORMED_ROW) == ["test-00000-of-00001.parquet[4]", "test-00000-of-00001.parquet[5]"]


def test_charades_sta_text(tmp_path, tiny_video):
    vids = ["videos/3MSZA.mp4", "Charades_v1_480/AO8RW.mp4", "videos/Y6R7T.mp4", "videos/KBPDM.mp4"]
    root = stage("charades_sta", tmp_path, vids, tiny_video)
    r = load_benchmark("charades", root)
    assert [q.qid for q in r.questions] == ["3MSZA#0", "3MSZA#1", "AO8RW#2"]  # a repeated line is a new question
    q = r.questions[0]
    assert (q.question, q.answer, q.task_type, q.family) == (
        "person turn a light on.",
        "24.3 30.4",
        TaskType.GROUNDING,
        Family.GROUNDING,
    )
    assert r.questions[2].video == str(root / "Charades_v1_480" / "AO8RW.mp4")
    assert issues(r, IssueKind.MALFORMED_ROW) == ["charades_sta_test.txt[3]", "charades_sta_test.txt[4]"]
    assert issues(r, IssueKind.MISSING_VIDEO) == ["charades_sta_test.txt[5]"]  # zero-length 5.1-5.1 is valid


def test_charades_sta_parquet_float16(tmp_path, tiny_video):
    root = stage("charades_sta", tmp_path, ["videos/3MSZA.mp4"], tiny_video)
    (root / "charades_sta_test.txt").unlink()
    table = pa.table(
        {
            "video": ["3MSZA.mp4"],
            "caption": ["person turn a light on"],
            "timestamp": pa.array([[24.3, 30.4]], type=pa.list_(pa.float16())),
        }
    )
    pq.write_table(table, root / "test-00000-of-00001.parquet")
    [q] = load_benchmark("charades_sta", root).questions
    assert q.qid == "3MSZA#0" and q.answer == "24.296875 30.40625"  # float16 precision, as shipped


def test_mlvu(tmp_path, tiny_video):
    vids = ["plotQA/movie101_66.mp4", "count/count_12.mp4", "count/count_13.mp4"]
    root = stage("mlvu", tmp_path, vids, tiny_video)
    r = load_benchmark("mlvu", root)
    a, b = r.questions
    assert a.question == "What color is the main male character in the video?"
    assert a.meta["raw_question"].endswith("(D) Blue") and a.options == ["Yellow", "Red", "Green", "Blue"]
    assert (a.answer, a.category, a.duration, a.qid) == ("A", "plotQA", 246.0, "mlvu_dev_0")
    assert b.answer == "C"  # option text "4" mapped to its letter
    assert issues(r, IssueKind.MALFORMED_ROW) == ["mlvu_dev.json[2]"]


def test_videomme_parquet_with_srt(tmp_path, tiny_video):
    root = stage("videomme", tmp_path, ["data/fFjv93ACGo8.mp4", "data/abcdEFGhijk.mp4"], tiny_video)
    (root / "videomme").mkdir()
    pq.write_table(
        pa.Table.from_pylist(json.loads((root / "rows.json").read_text())),
        root / "videomme" / "test-00000-of-00001.parquet",
    )
    r = load_benchmark("videomme", root)
    a, b = r.questions
    assert a.options == ["Apples.", "Candles.", "Berries.", "The three kinds are of the same number."]
    assert (a.qid, a.answer, a.category) == ("001-1", "C", "Counting Problem")
    assert (a.meta["duration"], a.meta["domain"], a.meta["sub_category"]) == (
        "short",
        "Knowledge",
        "Humanity & History",
    )
    assert a.meta["subtitles"] == [(1.0, 3.5, "In Germany, the tree was decorated"), (4.0, 6.0, "with apples.")]
    assert "subtitles" not in b.meta and b.meta["duration"] == "long"
    assert issues(r, IssueKind.MISSING_SUBTITLES) == ["videomme/test-00000-of-00001.parquet[1]"]
    assert r.report.of_kind(IssueKind.BAD_SUBTITLES)[0].message.startswith("1 unreadable blocks")
    assert issues(r, IssueKind.MALFORMED_ROW) == ["videomme/test-00000-of-00001.parquet[2]"]


def test_egoschema_subset_and_full(tmp_path, tiny_video):
    uid = "0074f737-11cb-497d-8d07-77c3a8127391"
    root = stage("egoschema", tmp_path, [f"videos/{uid}.mp4", "videos/unanswered-0001.mp4"], tiny_video)
    r = load_benchmark("egoschema", root)
    [q] = r.questions
    assert (q.qid, q.answer, q.options[3], q.duration) == (uid, "D", "C is cleaning dishes.", 180.0)
    assert r.report.rows_read == 3  # two answered rows + one orphan answer; the unanswered row is outside the subset
    msgs = [i.message for i in r.report.of_kind(IssueKind.MALFORMED_ROW)]
    assert msgs == ["answer index 9 outside 0..4", "answer for q_uid 'orphan-uid-42' has no question in questions.json"]
    full = load_benchmark("egoschema", root, split="full")
    assert [q.answer for q in full.questions] == ["D", None]
    assert full.report.count(IssueKind.UNLABELLED) == 1


def test_nextqa_csv(tmp_path, tiny_video):
    root = stage("nextqa", tmp_path, ["NExTVideo/1164/4010069381.mp4", "NExTVideo/0029/2435100235.mp4"], tiny_video)
    r = load_benchmark("nextqa", root)
    assert [q.qid for q in r.questions] == ["4010069381_6", "4010069381_7"]
    q = r.questions[0]
    assert (q.answer, q.category, q.meta["type_group"], q.options[4]) == ("A", "CH", "Causal", "pat with hand")
    assert r.questions[1].answer == "C" and r.questions[1].meta["type_group"] == "Causal"
    assert issues(r, IssueKind.MALFORMED_ROW) == ["val.csv[2]"]
    assert issues(r, IssueKind.MISSING_VIDEO) == ["val.csv[3]"]


def test_limit_and_errors(tmp_path, tiny_video):
    root = stage("nextqa", tmp_path, ["NExTVideo/1164/4010069381.mp4"], tiny_video)
    r = load_benchmark("nextqa", root, limit=1)
    assert len(r.questions) == 1 and r.report.rows_read == 1
    with pytest.raises(DataError, match="unknown benchmark"):
        load_benchmark("nope", root)
    with pytest.raises(DataError, match="no annotation file"):
        load_benchmark("nextqa", root, split="train")
    (root / "val.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match="cannot read"):
        load_benchmark("nextqa", root)
    (tmp_path / "bad.json").mkdir()
    (tmp_path / "bad.json" / "test_Video-Holmes.json").write_text('{"not": "a list"}')
    with pytest.raises(DataError, match="expected a JSON list"):
        load_benchmark("video_holmes", tmp_path / "bad.json")


def test_infinite_or_huge_numbers_are_row_errors_not_crashes(tmp_path):
    """Found by the property test below: int(inf) and float(10**400) raise OverflowError."""
    for value in (float("inf"), float("-inf")):
        with pytest.raises(RowError, match="must be an integer"):
            as_int({"k": value}, "k")
    with pytest.raises(RowError, match="must be a number"):
        as_float({"k": 10**400}, "k")
    ctx = LoadContext(tmp_path, "test", LoadReport(benchmark="charades_sta", split="test"))
    with pytest.raises(RowError, match="must hold numbers"):
        charades_sta.convert(ctx, "row[0]", {"video": "v.mp4", "caption": "a person", "timestamp": [10**400, 1]})


_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 12), st.floats(allow_nan=True), st.text(max_size=6),
    st.lists(st.one_of(st.text(max_size=4), st.integers(0, 3), st.none()), max_size=6),
    st.dictionaries(st.sampled_from("ABCDEFG"), st.one_of(st.text(max_size=3), st.integers())),
)  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_loaders_never_crash_on_arbitrary_rows(tmp_path, data):
    for spec in BENCHMARKS.values():
        if spec.loader is None:
            continue
        fields = sorted(spec.loader.KNOWN_FIELDS)
        rec = data.draw(st.dictionaries(st.sampled_from(fields), _VALUES, max_size=len(fields)))
        if spec.loader is videommmu:
            rec |= {"__config__": "Perception", "__base__": str(tmp_path)}
        ctx = LoadContext(tmp_path, spec.default_split, LoadReport(benchmark=spec.name, split="x"))
        ctx.cache.update(base=tmp_path, vid_map={})
        result = run_loader(ctx, lambda c, r=rec: [("row[0]", r)], spec.loader.convert, spec.loader.KNOWN_FIELDS)
        assert result.report.rows_read == 1 and result.report.loaded + len(result.report.issues) >= 1
