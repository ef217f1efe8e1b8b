"""videochat-m1: Collaborative Policy Planning for video understanding, trained with SFT and
multi-agent GRPO, distributed on Ray.

The library (`m1`) is plain Python + torch: it imports neither ``ray`` nor ``vllm`` at module
level, so everything that decides *what* happens is testable in-process. ``actors/`` and
``jobs/`` decide *where* it runs.
"""

__version__ = "0.1.0"
