#!/usr/bin/python3
# PyTorch CPU baseline for the Go engine's forward+backward benchmarks
# (stdlib/model/bench_test.go: BenchmarkForwardBackwardStories, ...70M).
#
# Run with Debian's python3-torch, two threads, from the repository root:
#   /usr/bin/python3 bench/torch/fwdbwd.py            # both shapes
#   /usr/bin/python3 bench/torch/fwdbwd.py --shape 70m --iters 3
# and beside it:
#   go test ./stdlib/model/ -run '^$' -bench ForwardBackward -benchtime 3x
#
# The model is a plain-torch Llama written after transformers'
# modeling_llama.py (RMSNorm computed in float32, half-split rotate_half RoPE,
# grouped-query attention with a causal mask, SwiGLU MLP, tied or untied
# head), float32, random init. One step = forward of a batch of 4 sequences
# of 256 tokens, summed next-token cross-entropy, backward into every
# parameter's .grad (zeroed first) — the same work as the Go benchmark, which
# runs the 4 sequences one after another. Prints tokens/s.
"""Forward+backward tokens/s of a Llama in plain PyTorch (CPU baseline)."""

import argparse
import math
import time

import torch
import torch.nn.functional as F

SHAPES = {
    # name: (dim, layers, heads, kv_heads, hidden, vocab, tied)
    "stories": (64, 5, 8, 4, 172, 512, True),
    "70m": (512, 6, 8, 8, 1376, 50304, False),
}


class Llama(torch.nn.Module):
    def __init__(self, dim, layers, heads, kv_heads, hidden, vocab, tied, eps=1e-5, theta=10000.0):
        super().__init__()
        self.heads, self.kv_heads, self.hd, self.eps = heads, kv_heads, dim // heads, eps
        g = torch.Generator().manual_seed(0)

        def lin(o, i):
            return torch.nn.Parameter(torch.randn(o, i, generator=g) * (0.5 / math.sqrt(i)))

        self.embed = torch.nn.Parameter(torch.randn(vocab, dim, generator=g))
        self.layers = torch.nn.ModuleList()
        for _ in range(layers):
            L = torch.nn.Module()
            L.q, L.k, L.v = lin(heads * self.hd, dim), lin(kv_heads * self.hd, dim), lin(kv_heads * self.hd, dim)
            L.o = lin(dim, heads * self.hd)
            L.gate, L.up, L.down = lin(hidden, dim), lin(hidden, dim), lin(dim, hidden)
            L.n1, L.n2 = torch.nn.Parameter(torch.ones(dim)), torch.nn.Parameter(torch.ones(dim))
            self.layers.append(L)
        self.norm = torch.nn.Parameter(torch.ones(dim))
        self.head = None if tied else torch.nn.Parameter(torch.randn(vocab, dim, generator=g))
        inv = 1.0 / (theta ** (torch.arange(0, self.hd, 2, dtype=torch.int64).float() / self.hd))
        self.register_buffer("inv_freq", inv, persistent=False)

    def rms(self, x, w):
        var = x.pow(2).mean(-1, keepdim=True)
        return w * (x * torch.rsqrt(var + self.eps))

    @staticmethod
    def rotate_half(x):
        h = x.shape[-1] // 2
        return torch.cat((-x[..., h:], x[..., :h]), dim=-1)

    def forward(self, ids):
        B, T = ids.shape
        x = self.embed[ids]
        pos = torch.arange(T, dtype=torch.float32)
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        mask = torch.full((T, T), float("-inf")).triu(1)
        rep = self.heads // self.kv_heads
        for L in self.layers:
            h = self.rms(x, L.n1)
            q = F.linear(h, L.q).view(B, T, self.heads, self.hd).transpose(1, 2)
            k = F.linear(h, L.k).view(B, T, self.kv_heads, self.hd).transpose(1, 2)
            v = F.linear(h, L.v).view(B, T, self.kv_heads, self.hd).transpose(1, 2)
            q = q * cos + self.rotate_half(q) * sin
            k = k * cos + self.rotate_half(k) * sin
            if rep > 1:
                k = k.repeat_interleave(rep, dim=1)
                v = v.repeat_interleave(rep, dim=1)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + mask
            att = att.softmax(-1)
            o = (att @ v).transpose(1, 2).reshape(B, T, self.heads * self.hd)
            x = x + F.linear(o, L.o)
            h = self.rms(x, L.n2)
            x = x + F.linear(F.silu(F.linear(h, L.gate)) * F.linear(h, L.up), L.down)
        x = self.rms(x, self.norm)
        return F.linear(x, self.embed if self.head is None else self.head)


def bench(shape, iters, seqs=4, T=256):
    dim, layers, heads, kv, hidden, vocab, tied = SHAPES[shape]
    m = Llama(dim, layers, heads, kv, hidden, vocab, tied)
    nparams = sum(p.numel() for p in m.parameters())
    ids = torch.randint(0, vocab, (seqs, T), generator=torch.Generator().manual_seed(1))

    def step():
        for p in m.parameters():
            p.grad = None
        logits = m(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1), reduction="sum")
        loss.backward()

    step()  # warm up
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    dt = time.perf_counter() - t0
    print(f"{shape}: {nparams/1e6:.2f}M params, {seqs}x{T} tokens, {iters} steps: "
          f"{seqs*T*iters/dt:.0f} tok/s ({dt/iters*1e3:.1f} ms/step)", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shape", choices=sorted(SHAPES) + ["all"], default="all")
    ap.add_argument("--iters", type=int, default=0, help="timed steps (default: 20 stories, 3 70m)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for s in (["stories", "70m"] if a.shape == "all" else [a.shape]):
        bench(s, a.iters or (20 if s == "stories" else 3))


if __name__ == "__main__":
    main()
