"""Builds the golden tensors (logits, loss, gradients) the Go tests compare against.

Layout of a golden file (see README.md): a safetensors file with
  ids            F32 [T]       input token ids (exact: ids < 2^24)
  logits         F32 [T, V]    logits at every position
  nll            F32 [T-1]     next-token NLL at positions 0..T-2 (target ids[1:])
  loss           F32 [1]       mean of nll (HF CausalLM loss)
  grad.<name>    F32 <shape>   d(sum of nll)/d(parameter), HF parameter name
and string metadata describing how it was made.
"""

import torch

import hf_reference


def compute(forward, cfg, params, ids, dtype=torch.float64):
    """Runs forward + backward in `dtype` and returns ({name: F32 tensor}, info).

    The gradient is of the SUM of next-token NLL (not the mean), so that each
    gradient is independent of the sequence length; divide by T-1 for the mean.
    """
    p = {k: v.detach().to(dtype).clone().requires_grad_(True) for k, v in params.items()}
    logits = forward(cfg, p, ids)
    nll = hf_reference.next_token_nll(logits, ids)
    nll.sum().backward()
    out = {
        "ids": ids.to(torch.float32),
        "logits": logits.detach().to(torch.float32),
        "nll": nll.detach().to(torch.float32),
        "loss": nll.detach().mean().reshape(1).to(torch.float32),
    }
    for name, t in p.items():
        if t.grad is None:
            raise RuntimeError("parameter %s received no gradient" % name)
        out["grad." + name] = t.grad.to(torch.float32)
    info = {
        "compute_dtype": str(dtype).replace("torch.", ""),
        "grad_of": "sum over positions 0..T-2 of next-token NLL (divide by T-1 for the mean loss)",
        "loss": "mean next-token NLL (HF CausalLM loss)",
    }
    return out, info


def max_rel_err(a, b):
    """max|a-b| / max|b|: the tolerance measure the README recommends."""
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()
