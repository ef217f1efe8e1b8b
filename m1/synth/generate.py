"""Generate an M1-Synth split: event logs → videos → questions → format files.

Every video's seed derives from (global seed, split, index) through SHA-256, so splits never
share seeds (or videos) and a split is reproducible from its arguments alone: the same
arguments give byte-identical question files and identical decoded frames. Videos are
rendered in worker processes (``workers``); results are collected in index order.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from m1.config.synth import SynthConfig
from m1.schema import Question
from m1.seeding import derive_seed
from m1.synth.formats import atomic_write_text, write_split_files
from m1.synth.open_ended import generate_open_questions
from m1.synth.questions import generate_questions
from m1.synth.render import encode_video
from m1.synth.world import EventLog, sample_event_log

GENERATOR_VERSION = 1
SPLITS = ("train", "val", "test")


@dataclass
class SplitSummary:
    split_dir: Path
    videos: int
    video_seconds: float
    questions: int
    per_family: dict[str, int]
    per_subtype: dict[str, int]
    wall_seconds: float

    @property
    def video_seconds_per_second(self) -> float:
        return self.video_seconds / max(self.wall_seconds, 1e-9)


def video_seed(seed: int, split: str, index: int) -> int:
    return derive_seed("m1-synth", GENERATOR_VERSION, seed, split, index)


def video_log(cfg: SynthConfig, split: str, seed: int, index: int) -> EventLog:
    """The event log of video ``index`` of ``split`` — what ``generate_split`` renders."""
    vseed = video_seed(seed, split, index)
    return sample_event_log(cfg, f"m1s-{split}-{index:05d}", vseed)


def video_questions(cfg: SynthConfig, log: EventLog) -> list[Question]:
    """The four families' questions, then (``synth.open_ended``) the open-ended family's, from its
    own seed: turning it on adds questions and changes none of the others."""
    out = generate_questions(log, cfg, derive_seed("questions", log.seed))
    if cfg.open_ended:
        out += generate_open_questions(log, cfg, derive_seed("open-questions", log.seed))
    return out


def split_questions(cfg: SynthConfig, split: str, n: int, seed: int = 0) -> list[Question]:
    """The questions ``generate_split`` would write, without rendering any video (fast)."""
    return [q for i in range(n) for q in video_questions(cfg, video_log(cfg, split, seed, i))]


def _make_one(args: tuple[SynthConfig, Path, str, int, int]) -> tuple[dict, list[Question]]:
    cfg, split_dir, split, seed, index = args
    log = video_log(cfg, split, seed, index)
    vid = log.video_id
    video_path = split_dir / "videos" / f"{vid}.mp4"
    frames = encode_video(log, video_path, crf=cfg.crf, gop_seconds=cfg.gop_seconds)
    atomic_write_text(split_dir / "events" / f"{vid}.json", log.model_dump_json(indent=1) + "\n")
    info = {
        "video_id": vid, "seed": log.seed, "duration": log.duration, "frames": frames,
        "scenes": len(log.scenes), "objects": len(log.objects), "captions": len(log.captions),
        "sha256": hashlib.sha256(video_path.read_bytes()).hexdigest(),
    }
    return info, video_questions(cfg, log)


def generate_split(
    cfg: SynthConfig, out_dir: str | Path, split: str, n: int, seed: int = 0, workers: int = 1,
    progress: bool = True,
) -> SplitSummary:
    """Write ``n`` videos and their questions to ``out_dir/split``; returns a summary."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    split_dir = Path(out_dir) / split
    (split_dir / "videos").mkdir(parents=True, exist_ok=True)
    (split_dir / "events").mkdir(parents=True, exist_ok=True)
    jobs = [(cfg, split_dir, split, seed, i) for i in range(n)]
    t0 = time.perf_counter()
    results: list[tuple[dict, list[Question]]] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, desc=f"m1-synth {split}", unit="video")
    video_seconds = 0.0

    def _collect(r: tuple[dict, list[Question]]) -> None:
        nonlocal video_seconds
        results.append(r)
        video_seconds += r[0]["duration"]
        if bar is not None:
            bar.update(1)
            bar.set_postfix(video_s_per_s=f"{video_seconds / (time.perf_counter() - t0):.1f}")

    if workers <= 1:
        for job in jobs:
            _collect(_make_one(job))
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            for r in ex.map(_make_one, jobs, chunksize=1):
                _collect(r)
    if bar is not None:
        bar.close()

    infos = [r[0] for r in results]
    questions = [q for r in results for q in r[1]]
    counts = write_split_files(split_dir, split, questions, [i["video_id"] for i in infos])
    per_family = Counter(q.family.value for q in questions if q.family)
    per_subtype = Counter(f"{q.family.value}/{q.category}" for q in questions if q.family)
    manifest = {
        "generator": "m1-synth",
        "version": GENERATOR_VERSION,
        "split": split,
        "seed": seed,
        "n": n,
        "config": cfg.model_dump(mode="json"),
        "files": counts,
        "per_family": dict(sorted(per_family.items())),
        "per_subtype": dict(sorted(per_subtype.items())),
        "videos": infos,
    }
    atomic_write_text(split_dir / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    wall = time.perf_counter() - t0
    return SplitSummary(
        split_dir=split_dir, videos=n, video_seconds=video_seconds, questions=len(questions),
        per_family=dict(per_family), per_subtype=dict(per_subtype), wall_seconds=wall,
    )
