"""Engine command lines per backend: parallel flags, disagg flags and limits."""

import pytest

from dgdr_kernel.dgd.backends import build_engine_command, build_mocker_command, max_sequence_tokens
from dgdr_kernel.dgd.modelcache import resolve_model_source
from dgdr_kernel.dgd.services import gpu_limit, node_count
from dgdr_kernel.errors import RenderError
from dgdr_kernel.selection import EngineLayout

HF = resolve_model_source("Qwen/Qwen3-30B-A3B")
LOCAL = resolve_model_source("Qwen/Qwen3-30B-A3B", pvc_name="c", pvc_model_path="q3")
TP4 = EngineLayout(tp=4, max_batch_size=64, max_num_tokens=8192)
TEP8 = EngineLayout(tp=8, moe_ep=8, max_batch_size=128)
DEP8 = EngineLayout(tp=1, dp=8, moe_ep=8, max_batch_size=256)


def _flag(args, name):
    return args[args.index(name) + 1]


def _command(backend, role, layout, model=HF, trust=False):
    return build_engine_command(backend, role, layout, model, max_seq_tokens=6500, trust_remote_code=trust)


def test_vllm_tp_flags_and_limits():
    engine = _command("vllm", "agg", TP4)
    assert engine.command == ["python3", "-m", "dynamo.vllm"]
    assert engine.working_dir == "/workspace/examples/backends/vllm"
    assert _flag(engine.args, "--model") == "Qwen/Qwen3-30B-A3B"
    assert _flag(engine.args, "--tensor-parallel-size") == "4"
    assert _flag(engine.args, "--max-num-seqs") == "64"
    assert _flag(engine.args, "--max-num-batched-tokens") == "8192"
    assert _flag(engine.args, "--max-model-len") == "6500"
    assert "--data-parallel-size" not in engine.args
    assert "--disaggregation-mode" not in engine.args
    assert "--served-model-name" not in engine.args


def test_vllm_tep_and_dep_flags():
    tep = _command("vllm", "decode", TEP8).args
    assert (_flag(tep, "--tensor-parallel-size"), _flag(tep, "--data-parallel-size")) == ("8", "1")
    assert "--enable-expert-parallel" in tep
    dep = _command("vllm", "decode", DEP8).args
    assert (_flag(dep, "--tensor-parallel-size"), _flag(dep, "--data-parallel-size")) == ("1", "8")
    assert "--enable-expert-parallel" in dep


def test_vllm_prefill_gets_nixl_transfer_config():
    prefill = _command("vllm", "prefill", TP4).args
    assert _flag(prefill, "--disaggregation-mode") == "prefill"
    assert _flag(prefill, "--kv-transfer-config") == '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'
    decode = _command("vllm", "decode", TP4).args
    assert _flag(decode, "--disaggregation-mode") == "decode"
    assert "--kv-transfer-config" not in decode


def test_vllm_local_path_keeps_served_name():
    args = _command("vllm", "agg", TP4, model=LOCAL).args
    assert _flag(args, "--model") == "/opt/model-cache/q3"
    assert _flag(args, "--served-model-name") == "Qwen/Qwen3-30B-A3B"
    assert args.count("--model") == 1


def test_sglang_dep_flags():
    args = _command("sglang", "decode", DEP8).args
    assert _flag(args, "--tp") == "8"
    assert _flag(args, "--dp") == "8"
    assert _flag(args, "--ep") == "8"
    assert "--enable-dp-attention" in args


def test_sglang_tep_has_no_dp_attention():
    args = _command("sglang", "agg", TEP8).args
    assert (_flag(args, "--tp"), _flag(args, "--ep")) == ("8", "8")
    assert "--dp" not in args
    assert "--enable-dp-attention" not in args


def test_sglang_disagg_uses_nixl_bootstrap_port():
    args = _command("sglang", "prefill", TP4).args
    assert _flag(args, "--disaggregation-mode") == "prefill"
    assert _flag(args, "--disaggregation-transfer-backend") == "nixl"
    assert _flag(args, "--disaggregation-bootstrap-port") == "12345"
    assert _flag(args, "--served-model-name") == "Qwen/Qwen3-30B-A3B"


def test_trtllm_dep_uses_attention_dp_and_chunked_prefill():
    engine = _command("trtllm", "decode", DEP8)
    args = engine.args
    assert engine.working_dir == "/workspace/"
    assert _flag(args, "--tensor-parallel-size") == "8"
    assert _flag(args, "--expert-parallel-size") == "8"
    assert "--enable-attention-dp" in args
    assert _flag(args, "--max-batch-size") == "256"
    assert _flag(args, "--override-engine-args") == '{"enable_chunked_prefill":true}'


def test_trust_remote_code_per_backend():
    assert "--trust-remote-code" in _command("vllm", "agg", TP4, trust=True).args
    assert "--trust-remote-code" in _command("sglang", "agg", TP4, trust=True).args
    trtllm = _command("trtllm", "agg", TP4, trust=True).args
    assert '"trust_remote_code":true' in _flag(trtllm, "--override-engine-args")


def test_unknown_backend_raises():
    with pytest.raises(RenderError, match="backend 'llamacpp' has no engine command"):
        _command("llamacpp", "agg", TP4)


def test_mocker_command_reads_profile_data():
    engine = build_mocker_command("decode", HF, profile_data_dir="/workspace/profiling_results")
    assert engine.command == ["python3", "-m", "dynamo.mocker"]
    assert _flag(engine.args, "--model-name") == "Qwen/Qwen3-30B-A3B"
    assert _flag(engine.args, "--disaggregation-mode") == "decode"
    assert _flag(engine.args, "--planner-profile-data") == "/workspace/profiling_results"


def test_max_sequence_tokens_clamped_to_context():
    assert max_sequence_tokens(4000, 1000, 40960) == 6500  # 4000 + 1000 + 1500 headroom
    assert max_sequence_tokens(4000, 1000, 5000) == 5000


@pytest.mark.parametrize(
    ("layout", "gpus_per_node", "backend", "limit", "nodes"),
    [
        (EngineLayout(tp=4), 8, "vllm", 4, 1),
        (EngineLayout(tp=16, moe_ep=16), 8, "vllm", 8, 2),
        (EngineLayout(tp=8, pp=2), 8, "trtllm", 8, 2),
        # vLLM DEP16 on 8-GPU nodes: its DP shards are separate engines and add no nodes.
        (EngineLayout(tp=1, dp=16, moe_ep=16), 8, "vllm", 8, 1),
        # SGLang and TensorRT-LLM launch DEP16 as one TP group of 16 (--tp 16
        # --dp 16, --tensor-parallel-size 16 --enable-attention-dp): two nodes.
        (EngineLayout(tp=1, dp=16, moe_ep=16), 8, "sglang", 8, 2),
        (EngineLayout(tp=1, dp=8, moe_ep=8), 4, "trtllm", 4, 2),
        (EngineLayout(tp=4), 4, "sglang", 4, 1),
    ],
)
def test_gpu_limit_and_node_count(layout, gpus_per_node, backend, limit, nodes):
    assert gpu_limit(layout, gpus_per_node) == limit
    assert node_count(layout, gpus_per_node, backend) == nodes
