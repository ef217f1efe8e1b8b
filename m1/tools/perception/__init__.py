"""Perception back-ends behind the tools: pure functions over RGB frames (numpy arrays).

CPU back-ends (default, all offline): :mod:`objects` (colour/shape detection + tracking),
:mod:`shots` (cut detection), :mod:`ocr` (rapidocr), :mod:`people` (Haar faces, HOG people),
:mod:`motion` (optical flow), :mod:`text` (MiniLM sentence embeddings). GPU back-end:
:mod:`vlm` (a Qwen2.5-VL-style captioner/answerer via transformers). None of these decode video.
"""
