"""Document adapters and video paths of the local lmms-eval tasks (copied next to their YAMLs by
``python -m m1_lmms.tasks``, which sets DATA_DIR_FROM_HERE). Everything else those tasks use —
prompts, answer parsing, metrics — is lmms-eval's own code."""

from pathlib import Path

DATA_DIR_FROM_HERE = "."
DATA_DIR = (Path(__file__).resolve().parent / DATA_DIR_FROM_HERE).resolve()


def _existing(*candidates: Path) -> str:
    for c in candidates:
        if c.is_file():
            return str(c)
    raise FileNotFoundError(f"no video at any of {', '.join(str(c) for c in candidates)}")


def lvb_process_docs(dataset):
    """LongVideoBench JSON records (``candidates`` list) → the hub parquet's ``option0``..``option4``."""
    if "candidates" not in dataset.column_names:
        return dataset

    def to_options(doc):
        cands = list(doc["candidates"])
        return {f"option{i}": cands[i] if i < len(cands) else "N/A" for i in range(5)}

    return dataset.map(to_options, remove_columns=["candidates"])


def lvb_doc_to_visual(doc):
    return [_existing(DATA_DIR / "videos" / doc["video_path"], DATA_DIR / doc["video_path"])]


def charades_process_docs(dataset):
    """Charades-STA text lines ``VID START END##sentence`` → the hub parquet's ``video/caption/timestamp``."""
    if "text" not in dataset.column_names:
        return dataset
    dataset = dataset.filter(lambda doc: bool(doc["text"].strip()))

    def to_record(doc):
        head, _, caption = doc["text"].partition("##")
        vid, start, end = head.split()
        return {"video": f"{vid}.mp4", "caption": caption.strip(), "timestamp": [float(start), float(end)]}

    return dataset.map(to_record, remove_columns=["text"])


def charades_doc_to_visual(doc, lmms_eval_specific_kwargs=None):
    v = doc["video"]
    return [_existing(DATA_DIR / "videos" / v, DATA_DIR / "Charades_v1_480" / v, DATA_DIR / v)]


def vsibench_doc_to_visual(doc):
    return [_existing(DATA_DIR / doc["dataset"] / f"{doc['scene_name']}.mp4")]


def videomme_doc_to_visual(doc):
    vid = doc["videoID"]
    folders = (DATA_DIR / "data", DATA_DIR / "videos")
    return [_existing(*(f / f"{vid}{ext}" for f in folders for ext in (".mp4", ".MP4", ".mkv", ".webm")))]


def mlvu_doc_to_visual(doc):
    name = doc["video_name"]
    return [_existing(DATA_DIR / "video" / name, DATA_DIR / "videos" / name, DATA_DIR / name,
                      DATA_DIR / "video" / doc["task_type"] / name)]

