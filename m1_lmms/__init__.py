"""VideoChat-M1 as an lmms-eval model (``lmms-eval --model videochat_m1``).

Out of tree: lmms-eval finds the model through this project's entry point in the
``lmms_eval.models`` group (pyproject.toml), which names :func:`manifest`. The library ``m1``
never imports this package; it imports ``m1``, ``actors`` and lmms-eval, and runs in the
environment ``scripts/setup_lmms.sh`` builds (``.venv-lmms``; lmms-eval's dependencies do not
install beside the project's own, see README "lmms-eval").

- :mod:`m1_lmms.model` — the model class (team in-process, on Ray, or via a Serve endpoint);
- :mod:`m1_lmms.questions` — lmms-eval documents → questions, answers → the scorers' text;
- :mod:`m1_lmms.tasks` — local task folders for benchmark files on disk (no hub);
- :mod:`m1_lmms.crosscheck` — our metrics against lmms-eval's scoring functions.
"""

MODEL_ID = "videochat_m1"
MODEL_CLASS = "m1_lmms.model.VideoChatM1"


def manifest():
    """The ``lmms_eval.models`` entry point: the manifest of ``videochat_m1``."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(model_id=MODEL_ID, simple_class_path=MODEL_CLASS)
