"""Settings of M1-Synth, the procedural video-QA benchmark (see :mod:`m1.synth`)."""

from __future__ import annotations

from pydantic import Field, model_validator

from m1.config.base import StrictModel


class SynthConfig(StrictModel):
    """Knobs of the generator. Same knobs + same seed → byte-identical question files and
    identical video frames."""

    width: int = Field(640, ge=96, le=3840, description="Frame width in pixels (even).")
    height: int = Field(360, ge=96, le=2160, description="Frame height in pixels (even).")
    fps: int = Field(10, ge=2, le=60, description="Frames per second of the encoded video.")
    min_duration: float = Field(20.0, ge=4.0, le=3600.0, description="Shortest video, seconds.")
    max_duration: float = Field(60.0, ge=4.0, le=3600.0, description="Longest video, seconds.")
    long_video: bool = Field(
        False, description="Long-video mode: durations of 3-6 minutes (overrides min/max_duration)."
    )
    min_scenes: int = Field(1, ge=1, le=20, description="Fewest shots (hard cuts + 1).")
    max_scenes: int = Field(6, ge=1, le=40, description="Most shots.")
    min_scene_seconds: float = Field(5.0, ge=2.0, description="Shortest shot, seconds.")
    objects_per_scene: tuple[int, int] = Field(
        (1, 3), description="Inclusive range of objects entering each shot."
    )
    captions_per_scene: tuple[int, int] = Field(
        (0, 2), description="Inclusive range of on-screen captions per shot."
    )
    min_object_size: int = Field(28, ge=12, description="Smallest object side, pixels.")
    max_object_size: int = Field(96, ge=12, description="Largest object side, pixels.")
    slow_motion_prob: float = Field(
        0.15, ge=0.0, le=1.0, description="Probability that a move is slow (harder to see sparsely)."
    )
    occlusion_prob: float = Field(
        0.2, ge=0.0, le=1.0, description="Probability that a shot stages two objects crossing."
    )
    metres_per_pixel: float = Field(
        0.01, gt=0.0, description="Declared world scale for distance/size questions."
    )
    num_options: int = Field(4, ge=2, le=6, description="Options per long-video/reasoning question.")
    questions_per_family: int = Field(
        2, ge=1, le=20, description="Questions per family and video (fewer if a video lacks facts)."
    )
    open_ended: bool = Field(
        False, description="Also ask the open-ended family (free-text answers: a motion sequence, the captions in "
        "order, the objects on screen, the order of appearance; scored by item F1). Off by default: the questions "
        "of the other families are the same either way, but a split's question list (and so the held-out "
        "questions `m1 run` takes from its head) would change.",
    )
    open_ended_per_video: int | None = Field(
        None, ge=1, le=20, description="Open-ended questions per video (fewer if a video lacks facts); default "
        "questions_per_family. Raising it adds open-ended questions and changes no other family's, nor the first "
        "open-ended ones: a training split for students that must learn the free-text answers.",
    )
    gop_seconds: float = Field(2.0, gt=0.0, le=30.0, description="Keyframe interval of the encoder.")
    crf: int = Field(23, ge=0, le=51, description="x264 constant rate factor.")

    @model_validator(mode="after")
    def _check_ranges(self) -> SynthConfig:
        problems = []
        if self.width % 2 or self.height % 2:
            problems.append(f"width/height must be even for H.264, got {self.width}x{self.height}")
        if self.min_duration > self.max_duration:
            problems.append(f"min_duration {self.min_duration} > max_duration {self.max_duration}")
        if self.min_scenes > self.max_scenes:
            problems.append(f"min_scenes {self.min_scenes} > max_scenes {self.max_scenes}")
        for name in ("objects_per_scene", "captions_per_scene"):
            lo, hi = getattr(self, name)
            if lo < 0 or lo > hi:
                problems.append(f"{name} must be 0 <= lo <= hi, got {(lo, hi)}")
        if self.min_object_size > self.max_object_size:
            problems.append(
                f"min_object_size {self.min_object_size} > max_object_size {self.max_object_size}"
            )
        if self.max_object_size * 3 > min(self.width, self.height):
            problems.append(f"max_object_size {self.max_object_size} too large for {self.width}x{self.height}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def duration_range(self) -> tuple[float, float]:
        return (180.0, 360.0) if self.long_video else (self.min_duration, self.max_duration)
