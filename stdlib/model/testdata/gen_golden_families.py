#!/usr/bin/python3
# Regenerate (from the repository root, Debian python3-torch, not the pyenv python):
#   /usr/bin/python3 stdlib/model/testdata/gen_golden_families.py
# Output, under stdlib/model/testdata/:
#   tiny/<family>/config.json, tiny/<family>/model.safetensors   tiny random HF checkpoints
#   <family>_golden.safetensors                                   golden logits/loss/grads (README.md)
#
# One tiny random checkpoint per model family of the seed models, in real Hugging Face
# layout (HF config.json keys, HF tensor names, F32 safetensors), and golden outputs from
# the independent PyTorch references in hf_reference.py, each written op for op after
# the Hugging Face modeling file named below (transformers v4.48 era, commit 5dd4a635,
# except GPT-NeoX: commit 006bd23d, v4.4x):
#   llama3              modeling_llama.py + modeling_rope_utils._compute_llama3_parameters
#   mistral             modeling_mistral.py (sliding window 16 < sequence length 40)
#   phi3                modeling_phi3.py (fused qkv_proj / gate_up_proj, GQA, sliding window 20)
#   mixtral             modeling_mixtral.py (4 experts, top-2, GQA)
#   gpt_neox            modeling_gpt_neox.py (partial rotary 0.5, parallel residual)
#   gpt_neox_sequential the gpt_neox checkpoint with use_parallel_residual=false
#                       (golden metadata config_override says so; the test sets it)
# Goldens are computed in float64 and stored as float32; the float32-vs-float64 gap of
# the same reference is recorded in each golden's metadata.
"""Tiny HF checkpoints and goldens for the llama3, mistral, phi3, mixtral and gpt_neox families."""

import json
import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of testdata
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import golden  # noqa: E402
import hf_reference  # noqa: E402
import safetensors_io  # noqa: E402

T = 40  # sequence length of every golden
V = 96  # vocabulary of every tiny model
D = 32  # hidden size
H = 4  # attention heads (head_dim 8)
KV = 2  # key/value heads where the family has GQA

CONFIGS = {
    "llama3": {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": D,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": H,
        "num_key_value_heads": KV,
        "vocab_size": V,
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0,
        # Llama-3.1's scheme with a small original context so that, at head_dim 8
        # (wavelengths 6.3, 63, 628, 6283), one frequency is kept, one smoothed and two
        # divided by the factor, all within the 40 golden positions.
        "rope_scaling": {
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 8.0,
            "original_max_position_embeddings": 256,
            "rope_type": "llama3",
        },
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "attention_bias": False,
        "mlp_bias": False,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "float32",
    },
    "mistral": {
        "architectures": ["MistralForCausalLM"],
        "model_type": "mistral",
        "hidden_size": D,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": H,
        "num_key_value_heads": KV,
        "vocab_size": V,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0,
        "sliding_window": 16,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "float32",
    },
    "phi3": {
        "architectures": ["Phi3ForCausalLM"],
        "model_type": "phi3",
        "hidden_size": D,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": H,
        "num_key_value_heads": KV,
        "vocab_size": V,
        "max_position_embeddings": 4096,
        "original_max_position_embeddings": 4096,
        "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0,
        "rope_scaling": None,
        "sliding_window": 20,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "attention_bias": False,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 0,
        "torch_dtype": "float32",
    },
    "mixtral": {
        "architectures": ["MixtralForCausalLM"],
        "model_type": "mixtral",
        "hidden_size": D,
        "intermediate_size": 48,
        "num_hidden_layers": 2,
        "num_attention_heads": H,
        "num_key_value_heads": KV,
        "num_local_experts": 4,
        "num_experts_per_tok": 2,
        "output_router_logits": False,
        "router_aux_loss_coef": 0.02,
        "vocab_size": V,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-05,
        "rope_theta": 1000000.0,
        "sliding_window": None,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "float32",
    },
    # Keys as pythia's config.json has them (no attention_bias key: HF's default, true, applies).
    "gpt_neox": {
        "architectures": ["GPTNeoXForCausalLM"],
        "model_type": "gpt_neox",
        "hidden_size": D,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": H,
        "vocab_size": V,
        "max_position_embeddings": 2048,
        "layer_norm_eps": 1e-05,
        "rotary_emb_base": 10000,
        "rotary_pct": 0.5,
        "use_parallel_residual": True,
        "hidden_act": "gelu",
        "tie_word_embeddings": False,
        "bos_token_id": 0,
        "eos_token_id": 0,
        "torch_dtype": "float32",
    },
}
SEEDS = {"llama3": 31, "mistral": 7, "phi3": 3, "mixtral": 15, "gpt_neox": 14}


def param_shapes(family, c):
    """HF parameter names and shapes, written independently of stdlib/model/size.go."""
    d, f, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    h = c["num_attention_heads"]
    kv = c.get("num_key_value_heads") or h
    hd = d // h
    s = {}
    if family == "gpt_neox":
        s["gpt_neox.embed_in.weight"] = (v, d)
        for l in range(c["num_hidden_layers"]):
            p = "gpt_neox.layers.%d." % l
            for n in ("input_layernorm", "post_attention_layernorm"):
                s[p + n + ".weight"] = (d,)
                s[p + n + ".bias"] = (d,)
            s[p + "attention.query_key_value.weight"] = (3 * d, d)
            s[p + "attention.query_key_value.bias"] = (3 * d,)
            s[p + "attention.dense.weight"] = (d, d)
            s[p + "attention.dense.bias"] = (d,)
            s[p + "mlp.dense_h_to_4h.weight"] = (f, d)
            s[p + "mlp.dense_h_to_4h.bias"] = (f,)
            s[p + "mlp.dense_4h_to_h.weight"] = (d, f)
            s[p + "mlp.dense_4h_to_h.bias"] = (d,)
        s["gpt_neox.final_layer_norm.weight"] = (d,)
        s["gpt_neox.final_layer_norm.bias"] = (d,)
        s["embed_out.weight"] = (v, d)
        return s
    s["model.embed_tokens.weight"] = (v, d)
    for l in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % l
        s[p + "input_layernorm.weight"] = (d,)
        s[p + "post_attention_layernorm.weight"] = (d,)
        if family == "phi3":
            s[p + "self_attn.qkv_proj.weight"] = ((h + 2 * kv) * hd, d)
        else:
            s[p + "self_attn.q_proj.weight"] = (h * hd, d)
            s[p + "self_attn.k_proj.weight"] = (kv * hd, d)
            s[p + "self_attn.v_proj.weight"] = (kv * hd, d)
        s[p + "self_attn.o_proj.weight"] = (d, h * hd)
        if family == "phi3":
            s[p + "mlp.gate_up_proj.weight"] = (2 * f, d)
            s[p + "mlp.down_proj.weight"] = (d, f)
        elif family == "mixtral":
            s[p + "block_sparse_moe.gate.weight"] = (c["num_local_experts"], d)
            for e in range(c["num_local_experts"]):
                x = p + "block_sparse_moe.experts.%d." % e
                s[x + "w1.weight"] = (f, d)
                s[x + "w2.weight"] = (d, f)
                s[x + "w3.weight"] = (f, d)
        else:
            s[p + "mlp.gate_proj.weight"] = (f, d)
            s[p + "mlp.up_proj.weight"] = (f, d)
            s[p + "mlp.down_proj.weight"] = (d, f)
    s["model.norm.weight"] = (d,)
    if not c.get("tie_word_embeddings"):
        s["lm_head.weight"] = (v, d)
    return s


def init_params(shapes, gen):
    """Random weights scaled so activations, attention patterns and gradients are O(1)
    (HF's N(0, 0.02) init gives near-uniform softmaxes, a weak test): matrices
    N(0, 1/fan_in), embeddings N(0, 1), norm gains 1 + N(0, 0.1^2), biases N(0, 0.1^2)."""
    p = {}
    for name, shape in shapes.items():
        if name.endswith("embed_tokens.weight") or name.endswith("embed_in.weight"):
            t = torch.randn(shape, generator=gen)
        elif len(shape) == 2:
            t = torch.randn(shape, generator=gen) / shape[1] ** 0.5
        elif "norm" in name and name.endswith(".weight"):
            t = 1 + 0.1 * torch.randn(shape, generator=gen)
        else:
            t = 0.1 * torch.randn(shape, generator=gen)
        p[name] = t.to(torch.float32)
    return p


def write_golden(name, family, cfg, params, ids, extra):
    fwd = hf_reference.FORWARDS[cfg["model_type"]]
    out, info = golden.compute(fwd, cfg, params, ids, torch.float64)
    out32, _ = golden.compute(fwd, cfg, params, ids, torch.float32)
    info.update(extra)
    info["model"] = "tiny/" + family
    info["f32_vs_f64_logits_max_rel"] = "%.3g" % golden.max_rel_err(out32["logits"], out["logits"])
    info["f32_vs_f64_grad_max_rel"] = "%.3g" % max(
        golden.max_rel_err(out32[k], out[k]) for k in out if k.startswith("grad.")
    )
    info["regenerate"] = "/usr/bin/python3 stdlib/model/testdata/gen_golden_families.py"
    path = os.path.join(HERE, name + "_golden.safetensors")
    safetensors_io.write(path, out, info)
    print(
        "%-20s loss %.5f  f32-vs-f64 logits %s grads %s  %6d bytes"
        % (name, out["loss"].item(), info["f32_vs_f64_logits_max_rel"], info["f32_vs_f64_grad_max_rel"], os.path.getsize(path))
    )


def main():
    for family, cfg in CONFIGS.items():
        seed = SEEDS[family]
        gen = torch.Generator().manual_seed(seed)
        params = init_params(param_shapes(family, cfg), gen)
        ids = torch.cat([torch.tensor([cfg["bos_token_id"]]), torch.randint(3, V, (T - 1,), generator=gen)])
        extra = {"reference": "hf_reference.%s" % hf_reference.FORWARDS[cfg["model_type"]].__name__, "seed": str(seed)}
        if family == "mixtral":
            # A routing choice within float32 rounding of a tie would make the golden
            # ill-posed: require a clear margin between the k-th and (k+1)-th expert.
            margin = hf_reference.mixtral_router_margin(cfg, {k: v.double() for k, v in params.items()}, ids)
            if margin < 1e-3:
                raise SystemExit("mixtral seed %d: routing margin %.2g too small; pick another seed" % (seed, margin))
            extra["router_min_margin"] = "%.3g" % margin
        d = os.path.join(HERE, "tiny", family)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
        safetensors_io.write(os.path.join(d, "model.safetensors"), params, {"format": "pt"})
        write_golden(family, family, cfg, params, ids, extra)
        if family == "gpt_neox":
            seq = dict(cfg, use_parallel_residual=False)
            extra = dict(extra, config_override=json.dumps({"use_parallel_residual": False}))
            write_golden("gpt_neox_sequential", family, seq, params, ids, extra)


if __name__ == "__main__":
    main()
