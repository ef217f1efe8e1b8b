"""A reworded copy of an M1-Synth split: every question rewritten by hand-written paraphrase rules
that neither the generator (:mod:`m1.synth.questions`) nor the training data ever use, with the
same video, options and answer — a held-out test of whether a team learnt to read questions or
only M1-Synth's exact templates.

One rule per question template (``Question.category``): a regular expression that parses the
original wording (it must match, else :class:`RewordError`) and a new sentence built from the
parsed names, colours, captions, times and directions. The rules are deterministic (no
randomness), change the sentence structure and vocabulary rather than single words ("come to a
stop" → "halt", "At 3.0 s," → "3.0 seconds into the clip,", "moves up" → "travels upward"), and
none of the new sentences matches a template form of the tools (:data:`m1.tools.answering.FORMS`;
tested), so a reworded question reaches the tools' general evidence path, or no candidate at all
(grounding has no general path). :data:`RULES` lists every template and its rewrite.

    python -m m1.synth.reword SRC_SPLIT_DIR DST_SPLIT_DIR

writes ``questions.jsonl`` and the format files (LVB, VSI-Bench, Charades-STA) of the reworded
questions under ``DST``, links ``videos/`` and ``events/`` to the source split (subtitle files are rewritten) and
records the rules in ``reworded.json``. Question ids are kept unchanged, so results on the original
and the reworded split pair by ``qid``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from m1.errors import UserError
from m1.schema import Question
from m1.synth.formats import atomic_write_text, write_split_files

_OBJ = r"([a-z]+ (?:circle|square|triangle))"
_SHAPES = r"(circles|squares|triangles)"
_DIRWORD = {"left": "leftward", "right": "rightward", "up": "upward", "down": "downward"}


class RewordError(UserError, ValueError):
    """A question whose wording no paraphrase rule parses (an unknown template, or a changed one)."""


Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]


def _r(pattern: str) -> re.Pattern[str]:
    return re.compile(r"^" + pattern + r"$")


RULES: dict[str, list[Rule]] = {
    # long_video
    "object_count": [(_r(r"How many different objects appear in the video\?"),
                      lambda m: "What is the total number of distinct shapes that show up over the whole clip?")],
    "shape_count": [(_r(rf"How many {_SHAPES} appear in the video\?"),
                     lambda m: f"Count the {m[1]} that show up anywhere in this clip. What is the total?")],
    "scene_count": [(_r(r"How many shots, separated by hard cuts, does the video contain\?"),
                     lambda m: "Into how many separate camera segments do abrupt cuts divide this clip?")],
    "first_appearance": [(_r(r"Which of these objects appears first in the video\?"),
                          lambda m: "Of the listed shapes, which one is the earliest to show up in the clip?")],
    "caption_at_entry": [(_r(rf"What text was shown on screen when the {_OBJ} appeared\?"),
                          lambda m: f"At the moment the {m[1]} first came into view, which word could be read on "
                                    "the screen?")],
    "stop_count": [(_r(rf"How many times does the {_OBJ} come to a stop\?"),
                    lambda m: f"On how many occasions does the {m[1]} halt?")],
    # reasoning
    "colour_after_caption": [(_r(r"What colour was the object that appeared right after the caption (\w+) was "
                                 r"first shown\?"),
                              lambda m: f"Once the word {m[1]} had first been displayed, a new shape entered next. "
                                        "Which colour did that shape have?")],
    "caption_during_motion": [(_r(rf"Which text was on screen while the {_OBJ} was moving (left|right|up|down)\?"),
                               lambda m: f"During the {m[1]}'s {_DIRWORD[m[2]]} travel, which word was displayed?")],
    "same_scene": [(_r(rf"Which of these objects appeared in the same shot as the {_OBJ}\?"),
                    lambda m: f"Which of these shapes shared a camera segment with the {m[1]}?")],
    "direction_at_caption": [(_r(rf"When the caption (\w+) appeared, what was the {_OBJ} doing\?"),
                              lambda m: f"What was the {m[2]} up to at the moment the word {m[1]} came up?")],
    # spatial
    "object_counting": [
        (_r(rf"How many {_SHAPES} appear in this video\?"),
         lambda m: f"Give the number of {m[1]} present in the clip."),
        (_r(r"How many distinct objects appear in this video in total\?"),
         lambda m: "Give the overall number of different shapes present in the clip."),
    ],
    "object_abs_distance": [(_r(rf"At ([\d.]+) s, what is the distance between the centres of the {_OBJ} and the "
                                rf"{_OBJ} \(in metres\)\?"),
                             lambda m: f"{m[1]} seconds into the clip, how far apart (centre to centre, metres) are "
                                       f"the {m[2]} and the {m[3]}?")],
    "object_size_estimation": [(_r(rf"What is the width of the {_OBJ} in centimetres\?"),
                                lambda m: f"How wide is the {m[1]}, measured in centimetres?")],
    "object_rel_direction_easy": [(_r(rf"At ([\d.]+) s, is the {_OBJ} to the left or to the right of the {_OBJ}\?"),
                                   lambda m: f"{m[1]} seconds into the clip, does the {m[2]} sit on the left-hand "
                                             f"or the right-hand side of the {m[3]}?")],
    "object_rel_direction_medium": [(_r(rf"At ([\d.]+) s, is the {_OBJ} to the left of, to the right of, above or "
                                        rf"below the {_OBJ}\?"),
                                     lambda m: f"{m[1]} seconds into the clip, where does the {m[2]} sit relative "
                                               f"to the {m[3]}: left, right, above or below?")],
    "object_rel_direction_hard": [(_r(rf"At ([\d.]+) s, in which direction from the {_OBJ} is the {_OBJ}\?"),
                                   lambda m: f"{m[1]} seconds into the clip, looking from the {m[2]}, which way "
                                             f"lies the {m[3]}?")],
    "object_rel_distance": [(_r(rf"At ([\d.]+) s, which of these objects is closest to the {_OBJ}\?"),
                             lambda m: f"{m[1]} seconds into the clip, which listed shape is nearest to the "
                                       f"{m[2]}?")],
    "obj_appearance_order": [(_r(r"In which order do these objects first appear: (.+)\?"),
                              lambda m: f"Sort these shapes by when each one first shows up: {m[1]}.")],
    # grounding (a query phrase, not a question)
    "motion": [(_r(rf"the {_OBJ} moves (left|right|up|down)\."),
                lambda m: f"the span during which the {m[1]} travels {_DIRWORD[m[2]]}.")],
    "still": [(_r(rf"the {_OBJ} stands still\."), lambda m: f"the period when the {m[1]} is not moving at all.")],
    "visible": [(_r(rf"the {_OBJ} is on screen\."), lambda m: f"the interval in which the {m[1]} can be seen.")],
    "caption": [(_r(r"the caption (\w+) is shown\."), lambda m: f"the time the word {m[1]} is displayed.")],
}


def reword(q: Question) -> Question:
    """``q`` with its question rewritten by the rule of its template; options, answer, video and qid
    unchanged (the original wording is kept in ``meta['original_question']``)."""
    rules = RULES.get(q.category or "")
    if rules is None:
        raise RewordError(f"{q.qid}: no paraphrase rule for template {q.category!r} (known: {sorted(RULES)})")
    for pattern, build in rules:
        m = pattern.match(q.question)
        if m is not None:
            return q.model_copy(update={"question": build(m),
                                        "meta": {**q.meta, "original_question": q.question, "reworded": True}})
    raise RewordError(f"{q.qid}: the {q.category!r} rule does not parse {q.question!r}")


def reword_split(src: str | Path, dst: str | Path) -> dict[str, int]:
    """Write the reworded copy of the M1-Synth split ``src`` to ``dst``; returns questions per template."""
    src, dst = Path(src).resolve(), Path(dst)
    path = src / "questions.jsonl"
    if not path.is_file():
        raise RewordError(f"{src} is not an M1-Synth split (no questions.jsonl)")
    if dst.resolve() == src:
        raise RewordError("the reworded split must go to another directory than its source")
    originals = [Question.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]
    questions = [reword(q) for q in originals]
    dst.mkdir(parents=True, exist_ok=True)
    for sub in ("videos", "events"):
        link = dst / sub
        if link.is_symlink() or link.exists():
            if link.resolve() != (src / sub).resolve():
                raise RewordError(f"{link} exists and is not a link to {src / sub}")
            continue
        os.symlink(src / sub, link)
    split = _split_name(src)
    video_ids = sorted({q.meta["video_id"] for q in questions})
    counts = write_split_files(dst, split, questions, video_ids)
    per_template: dict[str, int] = {}
    for q in questions:
        per_template[q.category or ""] = per_template.get(q.category or "", 0) + 1
    record = {"source": str(src), "split": split, "questions": counts["all"], "per_template": per_template,
              "rules": {k: [p.pattern for p, _ in v] for k, v in RULES.items()}}
    atomic_write_text(dst / "reworded.json", json.dumps(record, indent=1) + "\n")
    return per_template


def _split_name(src: Path) -> str:
    for f in src.glob("lvb_*.json"):
        return f.stem.removeprefix("lvb_")
    return src.name


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Write a reworded copy of an M1-Synth split (same answers).")
    ap.add_argument("src", help="An M1-Synth split directory (m1 synth --out DIR --split S → DIR/S).")
    ap.add_argument("dst", help="Where to write the reworded split.")
    args = ap.parse_args(argv)
    try:
        counts = reword_split(args.src, args.dst)
    except RewordError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"reworded": sum(counts.values()), "per_template": counts}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
