"""Independent PyTorch reference forward passes for the golden generators.

Each function re-implements, op for op, the eager path of a Hugging Face
modeling file (read from huggingface/transformers, v4.48 era: commit
5dd4a63548857797727ae73eeb6a6e886ea02a3e for modeling_llama.py and
modeling_mistral.py, and modeling_rope_utils.py of the same release line).
Transformers itself is not used: only torch tensors and the parameter names of
the HF checkpoints. Dropout is off (eval mode); no KV cache; batch size 1.

All functions take `cfg` (the config.json dict), `p` ({HF name: tensor}) and
`ids` (1-D LongTensor) and return logits [T, vocab] in the dtype of `p`.
"""

import math

import torch


# ---------------------------------------------------------------- shared pieces


def rms_norm(x, w, eps):
    # LlamaRMSNorm.forward: x * rsqrt(mean(x^2) + eps), then weight *.
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def rotate_half(x):
    # modeling_llama.rotate_half: half-split layout (i, i + d/2).
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def default_inv_freq(base, dim, dtype):
    # modeling_rope_utils._compute_default_rope_parameters.
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(dtype) / dim))


def llama3_inv_freq(cfg, dim, dtype):
    # modeling_rope_utils._compute_llama3_parameters.
    inv_freq = default_inv_freq(cfg["rope_theta"], dim, dtype)
    rs = cfg["rope_scaling"]
    factor = rs["factor"]
    low_freq_factor = rs["low_freq_factor"]
    high_freq_factor = rs["high_freq_factor"]
    old_context_len = rs["original_max_position_embeddings"]
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium, smoothed, inv_freq_llama)


def rope_inv_freq(cfg, dim, dtype):
    rs = cfg.get("rope_scaling")
    kind = "default" if rs is None else rs.get("rope_type", rs.get("type"))
    if kind == "default":
        return default_inv_freq(cfg["rope_theta"], dim, dtype)
    if kind == "llama3":
        return llama3_inv_freq(cfg, dim, dtype)
    raise ValueError("reference does not implement rope_scaling type %r" % kind)


def rope_cos_sin(inv_freq, T):
    # LlamaRotaryEmbedding.forward: freqs = pos * inv_freq, emb = cat(freqs, freqs).
    # HF forces float32 here; the reference keeps the parameters' dtype so that
    # a float64 run is the exact value of the same formula.
    pos = torch.arange(T, dtype=inv_freq.dtype)
    freqs = torch.outer(pos, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def causal_mask(T, sliding_window=None):
    # True where attention is allowed. Mistral's
    # _prepare_4d_causal_attention_mask_with_cache_position masks j > i and,
    # with a sliding window W, also j <= i - W: each query sees W keys, itself included.
    i = torch.arange(T).reshape(-1, 1)
    j = torch.arange(T).reshape(1, -1)
    allowed = j <= i
    if sliding_window is not None:
        allowed = allowed & ~(j <= i - sliding_window)
    return allowed


def attention(q, k, v, allowed, scaling):
    # eager_attention_forward with repeat_kv: q [H, T, d], k/v [KV, T, d].
    n_rep = q.shape[0] // k.shape[0]
    k = k.repeat_interleave(n_rep, dim=0)
    v = v.repeat_interleave(n_rep, dim=0)
    scores = torch.matmul(q, k.transpose(1, 2)) * scaling
    scores = scores.masked_fill(~allowed, float("-inf"))
    w = torch.softmax(scores, dim=-1)
    return torch.matmul(w, v)  # [H, T, d]


def linear(x, p, name, bias=False):
    y = x @ p[name + ".weight"].T
    if bias:
        y = y + p[name + ".bias"]
    return y


def act(name, x):
    if name == "silu":
        return torch.nn.functional.silu(x)
    if name == "gelu":  # exact erf GELU (ACT2FN["gelu"])
        return torch.nn.functional.gelu(x)
    raise ValueError("reference does not implement activation %r" % name)


def next_token_nll(logits, ids):
    """Per-position NLL of ids[1:] given logits[:-1] (HF's shifted labels)."""
    return torch.nn.functional.cross_entropy(logits[:-1], ids[1:], reduction="none")


# ------------------------------------------------------- Llama / Mistral / Llama-3


def llama_forward(cfg, p, ids):
    """modeling_llama.py (LlamaForCausalLM) and modeling_mistral.py (MistralForCausalLM).

    Mistral differs only by the sliding-window mask; Llama-3.x only by
    rope_scaling type "llama3" (handled in rope_inv_freq).
    """
    D = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    hd = cfg.get("head_dim") or D // H
    eps = cfg["rms_norm_eps"]
    T = ids.shape[0]
    dtype = p["model.embed_tokens.weight"].dtype
    cos, sin = rope_cos_sin(rope_inv_freq(cfg, hd, dtype), T)
    sw = cfg.get("sliding_window") if cfg.get("model_type") == "mistral" else None
    allowed = causal_mask(T, sw)
    attn_bias = cfg.get("attention_bias", False)
    mlp_bias = cfg.get("mlp_bias", False)

    x = p["model.embed_tokens.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        pre = "model.layers.%d." % l
        h = rms_norm(x, p[pre + "input_layernorm.weight"], eps)
        q = linear(h, p, pre + "self_attn.q_proj", attn_bias).reshape(T, H, hd).transpose(0, 1)
        k = linear(h, p, pre + "self_attn.k_proj", attn_bias).reshape(T, KV, hd).transpose(0, 1)
        v = linear(h, p, pre + "self_attn.v_proj", attn_bias).reshape(T, KV, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        o = attention(q, k, v, allowed, hd**-0.5).transpose(0, 1).reshape(T, H * hd)
        x = x + linear(o, p, pre + "self_attn.o_proj", attn_bias)
        h = rms_norm(x, p[pre + "post_attention_layernorm.weight"], eps)
        g = act(cfg["hidden_act"], linear(h, p, pre + "mlp.gate_proj", mlp_bias))
        u = linear(h, p, pre + "mlp.up_proj", mlp_bias)
        x = x + linear(g * u, p, pre + "mlp.down_proj", mlp_bias)
    x = rms_norm(x, p["model.norm.weight"], eps)
    head = p["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else p["lm_head.weight"]
    return x @ head.T


# ------------------------------------------------------------------------ Phi-3


def phi3_forward(cfg, p, ids):
    """modeling_phi3.py (Phi3ForCausalLM), transformers v4.48 era (commit 5dd4a635).

    Llama-style with fused projections: qkv_proj rows are [q (H*hd); k (KV*hd); v (KV*hd)],
    gate_up_proj rows are [gate (F); up (F)] (up_states.chunk(2) → gate first). The
    causal mask honours sliding_window exactly as Mistral's does. rope_scaling must be
    None (the 4k models); longrope is not in this reference.
    """
    if cfg.get("rope_scaling") is not None:
        raise ValueError("phi3 reference: rope_scaling must be null")
    D = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    hd = D // H
    F = cfg["intermediate_size"]
    eps = cfg["rms_norm_eps"]
    T = ids.shape[0]
    dtype = p["model.embed_tokens.weight"].dtype
    cos, sin = rope_cos_sin(default_inv_freq(cfg["rope_theta"], hd, dtype), T)
    allowed = causal_mask(T, cfg.get("sliding_window"))

    x = p["model.embed_tokens.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        pre = "model.layers.%d." % l
        h = rms_norm(x, p[pre + "input_layernorm.weight"], eps)
        qkv = linear(h, p, pre + "self_attn.qkv_proj")
        q = qkv[:, : H * hd].reshape(T, H, hd).transpose(0, 1)
        k = qkv[:, H * hd : (H + KV) * hd].reshape(T, KV, hd).transpose(0, 1)
        v = qkv[:, (H + KV) * hd :].reshape(T, KV, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        o = attention(q, k, v, allowed, hd**-0.5).transpose(0, 1).reshape(T, H * hd)
        x = x + linear(o, p, pre + "self_attn.o_proj")
        h = rms_norm(x, p[pre + "post_attention_layernorm.weight"], eps)
        gu = linear(h, p, pre + "mlp.gate_up_proj")
        gate, up = gu[:, :F], gu[:, F:]
        x = x + linear(up * act(cfg["hidden_act"], gate), p, pre + "mlp.down_proj")
    x = rms_norm(x, p["model.norm.weight"], eps)
    head = p["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else p["lm_head.weight"]
    return x @ head.T


# ---------------------------------------------------------------------- Mixtral


def moe_routing(cfg, router_logits):
    """MixtralSparseMoeBlock routing: softmax over experts, top-k, renormalise.

    Returns (weights [T, k], selected [T, k]).
    """
    w = torch.softmax(router_logits, dim=1)
    w, sel = torch.topk(w, cfg["num_experts_per_tok"], dim=-1)
    w = w / w.sum(dim=-1, keepdim=True)
    return w, sel


def mixtral_forward(cfg, p, ids, on_route=None):
    """modeling_mixtral.py (MixtralForCausalLM), transformers v4.48 era (commit 5dd4a635).

    Attention as Mistral (sliding_window honoured when set). The MLP is the sparse MoE
    block: router `block_sparse_moe.gate`, expert e computes w2(silu(w1 x) * w3 x), the
    output is the routing-weighted sum over the selected experts. The loss is the plain
    LM loss: the router auxiliary loss is only added with output_router_logits=True,
    which the seed configs leave false.
    """
    D = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    hd = cfg.get("head_dim") or D // H
    E = cfg["num_local_experts"]
    eps = cfg["rms_norm_eps"]
    T = ids.shape[0]
    dtype = p["model.embed_tokens.weight"].dtype
    cos, sin = rope_cos_sin(default_inv_freq(cfg["rope_theta"], hd, dtype), T)
    allowed = causal_mask(T, cfg.get("sliding_window"))

    x = p["model.embed_tokens.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        pre = "model.layers.%d." % l
        h = rms_norm(x, p[pre + "input_layernorm.weight"], eps)
        q = linear(h, p, pre + "self_attn.q_proj").reshape(T, H, hd).transpose(0, 1)
        k = linear(h, p, pre + "self_attn.k_proj").reshape(T, KV, hd).transpose(0, 1)
        v = linear(h, p, pre + "self_attn.v_proj").reshape(T, KV, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        o = attention(q, k, v, allowed, hd**-0.5).transpose(0, 1).reshape(T, H * hd)
        x = x + linear(o, p, pre + "self_attn.o_proj")
        h = rms_norm(x, p[pre + "post_attention_layernorm.weight"], eps)
        router_logits = linear(h, p, pre + "block_sparse_moe.gate")
        if on_route is not None:
            on_route(router_logits.detach())
        w, sel = moe_routing(cfg, router_logits)
        out = torch.zeros_like(h)
        for e in range(E):
            ex = pre + "block_sparse_moe.experts.%d." % e
            top_x, idx = torch.where(sel == e)  # token top_x chose expert e as its idx-th pick
            if top_x.numel() == 0:
                continue
            hs = h[top_x]
            y = linear(act(cfg["hidden_act"], linear(hs, p, ex + "w1")) * linear(hs, p, ex + "w3"), p, ex + "w2")
            out = out.index_add(0, top_x, y * w[top_x, idx, None])
        x = x + out
    x = rms_norm(x, p["model.norm.weight"], eps)
    head = p["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else p["lm_head.weight"]
    return x @ head.T


def mixtral_router_margin(cfg, p, ids):
    """Smallest gap, over layers and tokens, between the k-th and (k+1)-th routing
    probability: a golden is only meaningful if float32 rounding cannot flip a choice."""
    k = cfg["num_experts_per_tok"]
    margins = []

    def on_route(router_logits):
        top = torch.topk(torch.softmax(router_logits, dim=1), k + 1, dim=-1).values
        margins.append((top[:, k - 1] - top[:, k]).min().item())

    with torch.no_grad():
        mixtral_forward(cfg, p, ids, on_route)
    return min(margins)


# --------------------------------------------------------------------- GPT-NeoX


def layer_norm(x, w, b, eps):
    # nn.LayerNorm: biased variance.
    mu = x.mean(-1, keepdim=True)
    var = (x - mu).pow(2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def gpt_neox_forward(cfg, p, ids):
    """modeling_gpt_neox.py (GPTNeoXForCausalLM), transformers v4.4x (commit 006bd23d), eager path.

    query_key_value output viewed as [T, H, 3*hd]: per head q, k, v of hd rows each
    (interleaved by head, not [Q; K; V]). RoPE on the first rotary_ndims =
    int(hd * rotary_pct) dims of each head (half-split rotate_half within them), base
    rotary_emb_base; scores scaled by hd^-0.5. Parallel residual:
    x + attn(ln1(x)) + mlp(ln2(x)); sequential: y = x + attn(ln1(x)); y + mlp(ln2(y)).
    LayerNorms with bias, exact GELU, untied embed_out.
    """
    D = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    hd = D // H
    rot = int(hd * cfg["rotary_pct"])
    eps = cfg["layer_norm_eps"]
    bias = cfg.get("attention_bias", True)
    T = ids.shape[0]
    dtype = p["gpt_neox.embed_in.weight"].dtype
    cos, sin = rope_cos_sin(default_inv_freq(cfg["rotary_emb_base"], rot, dtype), T)
    allowed = causal_mask(T)

    x = p["gpt_neox.embed_in.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        pre = "gpt_neox.layers.%d." % l
        h = layer_norm(x, p[pre + "input_layernorm.weight"], p[pre + "input_layernorm.bias"], eps)
        qkv = linear(h, p, pre + "attention.query_key_value", bias).reshape(T, H, 3 * hd)
        q = qkv[..., :hd].transpose(0, 1)
        k = qkv[..., hd : 2 * hd].transpose(0, 1)
        v = qkv[..., 2 * hd :].transpose(0, 1)
        q_rot, q_pass = q[..., :rot], q[..., rot:]
        k_rot, k_pass = k[..., :rot], k[..., rot:]
        q = torch.cat((q_rot * cos + rotate_half(q_rot) * sin, q_pass), dim=-1)
        k = torch.cat((k_rot * cos + rotate_half(k_rot) * sin, k_pass), dim=-1)
        o = attention(q, k, v, allowed, hd**-0.5).transpose(0, 1).reshape(T, D)
        attn_out = linear(o, p, pre + "attention.dense", bias)

        def mlp(y):
            y = layer_norm(y, p[pre + "post_attention_layernorm.weight"], p[pre + "post_attention_layernorm.bias"], eps)
            return linear(act(cfg["hidden_act"], linear(y, p, pre + "mlp.dense_h_to_4h", True)), p, pre + "mlp.dense_4h_to_h", True)

        if cfg.get("use_parallel_residual", True):
            x = x + attn_out + mlp(x)
        else:
            y = x + attn_out
            x = y + mlp(y)
    x = layer_norm(x, p["gpt_neox.final_layer_norm.weight"], p["gpt_neox.final_layer_norm.bias"], eps)
    head = p["gpt_neox.embed_in.weight"] if cfg.get("tie_word_embeddings") else p["embed_out.weight"]
    return x @ head.T


FORWARDS = {
    "llama": llama_forward,
    "mistral": llama_forward,
    "phi3": phi3_forward,
    "mixtral": mixtral_forward,
    "gpt_neox": gpt_neox_forward,
}
