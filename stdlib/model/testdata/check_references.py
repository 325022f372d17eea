#!/usr/bin/python3
# Run (from the repository root): /usr/bin/python3 stdlib/model/testdata/check_references.py
#
# Cross-checks of the reference implementations in hf_reference.py against each other
# and against torch's own ops, so that a golden is not just "whatever the reference
# computes": every family-specific piece is reduced to a case another reference (or
# torch) computes independently. Exits non-zero on the first failure.
"""Self-consistency checks of hf_reference.py."""

import math
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import gen_golden_families as fam  # noqa: E402
import hf_reference as ref  # noqa: E402

torch.set_default_dtype(torch.float64)
failures = []


def check(name, a, b, tol=1e-10):
    err = ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()
    ok = err <= tol
    print("%-62s %s (max rel %.2e)" % (name, "ok" if ok else "FAIL", err))
    if not ok:
        failures.append(name)


def tiny(family):
    cfg = dict(fam.CONFIGS[family])
    gen = torch.Generator().manual_seed(fam.SEEDS[family])
    p = {k: v.double() for k, v in fam.init_params(fam.param_shapes(family, cfg), gen).items()}
    ids = torch.cat([torch.tensor([cfg["bos_token_id"]]), torch.randint(3, fam.V, (fam.T - 1,), generator=gen)])
    return cfg, p, ids


def main():
    # RMSNorm and LayerNorm against torch.
    x = torch.randn(5, 32)
    w, b = torch.randn(32), torch.randn(32)
    check("layer_norm == torch.nn.functional.layer_norm", ref.layer_norm(x, w, b, 1e-5),
          torch.nn.functional.layer_norm(x, (32,), w, b, 1e-5))
    check("rms_norm == x / sqrt(mean(x^2)+eps) * w", ref.rms_norm(x, w, 1e-5),
          x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-5) * w)

    # Attention (GQA, mask) against torch's scaled_dot_product_attention-free formula.
    q, k, v = torch.randn(4, 7, 8), torch.randn(2, 7, 8), torch.randn(2, 7, 8)
    allowed = ref.causal_mask(7, 3)
    slow = torch.zeros(4, 7, 8)
    for h in range(4):
        for i in range(7):
            js = [j for j in range(7) if j <= i and j > i - 3]
            s = torch.stack([q[h, i] @ k[h // 2, j] / math.sqrt(8) for j in js])
            slow[h, i] = (torch.softmax(s, 0)[:, None] * v[h // 2, js]).sum(0)
    check("attention (GQA, sliding window 3) == explicit loops", ref.attention(q, k, v, allowed, 8**-0.5), slow)

    # Llama-3 RoPE frequencies against a direct transcription of Meta's apply_scaling.
    cfg, _, _ = tiny("llama3")
    rs = cfg["rope_scaling"]
    base = ref.default_inv_freq(cfg["rope_theta"], 8, torch.float64)
    want = []
    for f in base.tolist():
        wl = 2 * math.pi / f
        if wl < rs["original_max_position_embeddings"] / rs["high_freq_factor"]:
            want.append(f)
        elif wl > rs["original_max_position_embeddings"] / rs["low_freq_factor"]:
            want.append(f / rs["factor"])
        else:
            sm = (rs["original_max_position_embeddings"] / wl - rs["low_freq_factor"]) / (
                rs["high_freq_factor"] - rs["low_freq_factor"])
            want.append((1 - sm) * f / rs["factor"] + sm * f)
    got = ref.llama3_inv_freq(cfg, 8, torch.float64)
    check("llama3 inv_freq == Meta apply_scaling transcription", got, torch.tensor(want))
    kinds = ["kept" if g == b_ else ("divided" if abs(g - b_ / 8) < 1e-15 else "smoothed")
             for g, b_ in zip(got.tolist(), base.tolist())]
    print("  llama3 frequency branches at head_dim 8:", kinds)
    if sorted(set(kinds)) != ["divided", "kept", "smoothed"]:
        failures.append("llama3 config does not exercise all three branches")

    # Mistral: a window >= T is plain causal Llama; the golden's window does change the output.
    cfg, p, ids = tiny("mistral")
    wide = dict(cfg, sliding_window=fam.T)
    as_llama = dict(cfg, model_type="llama")
    check("mistral(window >= T) == llama", ref.llama_forward(wide, p, ids), ref.llama_forward(as_llama, p, ids))
    d = (ref.llama_forward(cfg, p, ids) - ref.llama_forward(as_llama, p, ids)).abs().max().item()
    print("  mistral window 16 moves logits by up to %.3g" % d)
    if d < 1e-2:
        failures.append("mistral sliding window has no visible effect")

    # Phi-3: split the fused tensors into Llama's q/k/v and gate/up, compare with llama_forward.
    cfg, p, ids = tiny("phi3")
    H, KV, hd, F = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["hidden_size"] // cfg["num_attention_heads"], cfg["intermediate_size"]
    lp = {}
    for n, t in p.items():
        if n.endswith("qkv_proj.weight"):
            s = n[: -len("qkv_proj.weight")]
            lp[s + "q_proj.weight"] = t[: H * hd]
            lp[s + "k_proj.weight"] = t[H * hd : (H + KV) * hd]
            lp[s + "v_proj.weight"] = t[(H + KV) * hd :]
        elif n.endswith("gate_up_proj.weight"):
            s = n[: -len("gate_up_proj.weight")]
            lp[s + "gate_proj.weight"] = t[:F]
            lp[s + "up_proj.weight"] = t[F:]
        else:
            lp[n] = t
    lcfg = dict(cfg, model_type="mistral")  # Mistral's mask honours the same sliding_window
    check("phi3(fused) == mistral(unfused, same window)", ref.phi3_forward(cfg, p, ids), ref.llama_forward(lcfg, lp, ids))

    # Mixtral: identical experts make the MoE a dense SwiGLU MLP (weights sum to 1).
    cfg, p, ids = tiny("mixtral")
    same = dict(p)
    lp = {}
    for n, t in p.items():
        if ".experts." in n:
            layer, rest = n.split(".block_sparse_moe.experts.")
            e, wname = rest.split(".", 1)
            same[n] = p["%s.block_sparse_moe.experts.0.%s" % (layer, wname)]
            if e == "0":
                hf = {"w1.weight": "gate_proj.weight", "w3.weight": "up_proj.weight", "w2.weight": "down_proj.weight"}[wname]
                lp["%s.mlp.%s" % (layer, hf)] = t
        elif ".gate." not in n:
            lp[n] = t
    check("mixtral(identical experts) == dense llama MLP", ref.mixtral_forward(cfg, same, ids),
          ref.llama_forward(dict(cfg, model_type="llama"), lp, ids))
    # Top-k = all experts with renormalisation is the full softmax mixture.
    allk = dict(cfg, num_experts_per_tok=cfg["num_local_experts"])
    h = torch.randn(6, cfg["hidden_size"])
    w, sel = ref.moe_routing(allk, h @ p["model.layers.0.block_sparse_moe.gate.weight"].T)
    full = torch.softmax(h @ p["model.layers.0.block_sparse_moe.gate.weight"].T, dim=1)
    check("moe_routing(top-k = all) == softmax", torch.zeros_like(full).scatter(1, sel, w), full)

    # GPT-NeoX: the per-head interleaved fused qkv equals separate projections.
    cfg, p, ids = tiny("gpt_neox")
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = D // H
    Wqkv = p["gpt_neox.layers.0.attention.query_key_value.weight"].reshape(H, 3, hd, D)
    x = torch.randn(3, D)
    fused = (x @ p["gpt_neox.layers.0.attention.query_key_value.weight"].T).reshape(3, H, 3 * hd)
    check("neox qkv layout: head h rows [3h*hd, 3h*hd+hd) are its q", fused[..., :hd],
          torch.einsum("td,hed->the", x, Wqkv[:, 0]))
    # With rotary_pct 0 a one-layer model has no position information: swapping two
    # earlier tokens leaves the last token's logits unchanged; with 0.5 it does not.
    zero = dict(cfg, rotary_pct=0.0, num_hidden_layers=1)
    perm_ids = ids.clone()
    perm_ids[[1, 2]] = perm_ids[[2, 1]]
    check("neox rotary_pct 0: position-free (swap two earlier tokens)",
          ref.gpt_neox_forward(zero, p, perm_ids)[-1], ref.gpt_neox_forward(zero, p, ids)[-1])
    half = dict(cfg, num_hidden_layers=1)
    d = (ref.gpt_neox_forward(half, p, perm_ids)[-1] - ref.gpt_neox_forward(half, p, ids)[-1]).abs().max().item()
    print("  neox rotary_pct 0.5: swapping two earlier tokens moves the last logits by %.3g" % d)
    if d < 1e-3:
        failures.append("neox partial rotary has no visible effect")

    if failures:
        print("FAILED:", failures)
        sys.exit(1)
    print("all reference checks passed")


if __name__ == "__main__":
    main()
