"""Engine command lines per backend: vLLM, SGLang, TensorRT-LLM and the mocker.

Each function returns the command, working directory, arguments and extra
environment of one worker role (`agg`, `prefill` or `decode`), with the
parallel layout, the disaggregation flags and the batch and token limits of
the picked `EngineLayout`. Flag spellings are those the Dynamo profiler writes
for the `dynamo.vllm`, `dynamo.sglang`, `dynamo.trtllm` and `dynamo.mocker`
launchers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from dgdr_kernel.dgd.modelcache import ModelSource
from dgdr_kernel.errors import RenderError
from dgdr_kernel.selection import EngineLayout

__all__ = ["BACKENDS", "EngineCommand", "Role", "build_engine_command", "build_mocker_command"]

Role = Literal["agg", "prefill", "decode"]
BACKENDS = ("vllm", "sglang", "trtllm")

# Headroom above ISL + OSL for the per-request sequence limit (AIConfigurator's
# rule: max_seq_len = isl + osl + 1500), clamped to the model's context window.
SEQUENCE_HEADROOM_TOKENS = 1500

# NIXL moves the KV cache from prefill to decode workers in vLLM disagg.
VLLM_KV_TRANSFER_CONFIG = json.dumps({"kv_connector": "NixlConnector", "kv_role": "kv_both"}, separators=(",", ":"))
SGLANG_BOOTSTRAP_PORT = 12345
PROFILE_DATA_MOUNT = "/workspace/profiling_results"


@dataclass(frozen=True)
class EngineCommand:
    """Command, working directory, arguments and extra environment of one main container."""

    command: list[str]
    args: list[str]
    working_dir: str
    env: list[dict] = field(default_factory=list)


def max_sequence_tokens(isl: int, osl: int, max_context_tokens: int | None) -> int:
    """Return the per-request token limit: ISL + OSL + headroom, within the model context."""
    tokens = isl + osl + SEQUENCE_HEADROOM_TOKENS
    if max_context_tokens:
        tokens = min(tokens, max_context_tokens)
    return tokens


def build_engine_command(
    backend: str,
    role: Role,
    layout: EngineLayout,
    model: ModelSource,
    *,
    max_seq_tokens: int,
    trust_remote_code: bool = False,
) -> EngineCommand:
    """Build the engine command of one worker role for `backend`."""
    builders = {"vllm": _vllm_command, "sglang": _sglang_command, "trtllm": _trtllm_command}
    if backend not in builders:
        raise RenderError(f"backend {backend!r} has no engine command; expected one of {list(BACKENDS)}")
    return builders[backend](role, layout, model, max_seq_tokens, trust_remote_code)


def _limit_args(layout: EngineLayout, max_seq_tokens: int, flags: tuple[str, str, str]) -> list[str]:
    """Return the batch, step-token and sequence limits under each engine's flag names.

    `flags` names the in-flight sequences, the tokens of one forward step (left
    to the engine's default when the layout has none) and the per-request length.
    """
    batch_flag, tokens_flag, sequence_flag = flags
    args = [batch_flag, str(layout.max_batch_size)]
    if layout.max_num_tokens > 0:
        args += [tokens_flag, str(layout.max_num_tokens)]
    return args + [sequence_flag, str(max_seq_tokens)]


def _vllm_command(role, layout, model, max_seq_tokens, trust_remote_code) -> EngineCommand:
    args = ["--model", model.model_path]
    if model.is_local_path:
        args += ["--served-model-name", model.served_model_name]

    args += ["--tensor-parallel-size", str(layout.tp)]
    if layout.pp > 1:
        args += ["--pipeline-parallel-size", str(layout.pp)]
    if layout.dp > 1 or layout.moe_ep > 1:
        args += ["--data-parallel-size", str(layout.dp)]
    if layout.moe_ep > 1:
        args.append("--enable-expert-parallel")

    args += _limit_args(layout, max_seq_tokens, ("--max-num-seqs", "--max-num-batched-tokens", "--max-model-len"))

    if role != "agg":
        args += ["--disaggregation-mode", role]
    if role == "prefill":
        args += ["--kv-transfer-config", VLLM_KV_TRANSFER_CONFIG]
    if trust_remote_code:
        args.append("--trust-remote-code")
    return EngineCommand(["python3", "-m", "dynamo.vllm"], args, "/workspace/examples/backends/vllm")


def _sglang_command(role, layout, model, max_seq_tokens, trust_remote_code) -> EngineCommand:
    # SGLang's --tp is the number of GPUs of the engine; attention data parallelism
    # splits those GPUs into --dp groups (DEP), and --ep shards the experts.
    args = ["--model-path", model.model_path, "--served-model-name", model.served_model_name]
    args += ["--page-size", "16", "--tp", str(layout.tp * layout.dp)]
    if layout.pp > 1:
        args += ["--pp-size", str(layout.pp)]
    if layout.dp > 1:
        args += ["--dp", str(layout.dp), "--enable-dp-attention"]
    if layout.moe_ep > 1:
        args += ["--ep", str(layout.moe_ep)]

    args += _limit_args(layout, max_seq_tokens, ("--max-running-requests", "--chunked-prefill-size", "--context-length"))
    args.append("--skip-tokenizer-init")

    if role != "agg":
        args += [
            "--disaggregation-mode", role,
            "--disaggregation-transfer-backend", "nixl",
            "--disaggregation-bootstrap-port", str(SGLANG_BOOTSTRAP_PORT),
            "--host", "0.0.0.0",
        ]  # fmt: skip
    if trust_remote_code:
        args.append("--trust-remote-code")
    return EngineCommand(["python3", "-m", "dynamo.sglang"], args, "/workspace/examples/backends/sglang")


def _trtllm_command(role, layout, model, max_seq_tokens, trust_remote_code) -> EngineCommand:
    # TensorRT-LLM sizes the engine by tensor_parallel_size (all GPUs of a
    # pipeline stage); attention DP reuses those GPUs as data-parallel ranks.
    args = ["--model-path", model.model_path, "--served-model-name", model.served_model_name]
    args += ["--tensor-parallel-size", str(layout.tp * layout.dp)]
    if layout.pp > 1:
        args += ["--pipeline-parallel-size", str(layout.pp)]
    if layout.moe_ep > 1:
        args += ["--expert-parallel-size", str(layout.moe_ep)]
    if layout.dp > 1:
        args.append("--enable-attention-dp")

    args += _limit_args(layout, max_seq_tokens, ("--max-batch-size", "--max-num-tokens", "--max-seq-len"))

    if role != "agg":
        args += ["--disaggregation-mode", role]
    # Chunked prefill lets a prompt longer than the step token budget through.
    args += ["--override-engine-args", json.dumps({"enable_chunked_prefill": True}, separators=(",", ":"))]
    if trust_remote_code:
        # NOTE: dynamo.trtllm has no --trust-remote-code flag; TensorRT-LLM reads
        # trust_remote_code from the engine arguments instead.
        args[-1] = json.dumps({"enable_chunked_prefill": True, "trust_remote_code": True}, separators=(",", ":"))
    return EngineCommand(["python3", "-m", "dynamo.trtllm"], args, "/workspace/")


def build_mocker_command(role: Role, model: ModelSource, *, profile_data_dir: str | None) -> EngineCommand:
    """Build the command of a simulated `dynamo.mocker` worker.

    With `profile_data_dir` the mocker replays the planner curves written from
    our performance model instead of its built-in timing polynomial.
    """
    args = ["--model-path", model.model_path, "--model-name", model.served_model_name, "--speedup-ratio", "1.0"]
    if role != "agg":
        args += ["--disaggregation-mode", role]
    if profile_data_dir:
        args += ["--planner-profile-data", profile_data_dir]
    return EngineCommand(["python3", "-m", "dynamo.mocker"], args, "/workspace")
