#!/usr/bin/python3
"""Independent Llama forward pass in PyTorch, for checking kiln's logits.

usage: reference_forward.py MODEL.gguf TOKEN_IDS OUT.f32
TOKEN_IDS is a comma-separated list; OUT gets the logits of every position as raw
little-endian float32, n_tokens x n_vocab. Reads the GGUF with scripts/gguf.py, computes in
float32, and follows the Llama definition (RMSNorm, RoPE on consecutive pairs as GGUF
stores Q and K, grouped-query attention, SwiGLU; Mixtral's Mixture of Experts: the router's top-k
experts per token, weighted by the softmax of their logits).
"""
import sys

import numpy as np
import torch

import gguf


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(x, pos, rot_dim, base, factors=None):
    # x: [n_tokens, n_heads, head_dim]; rotates pairs (2i, 2i+1) of the first rot_dim dims;
    # factors (rope_freqs.weight, Llama 3.1+) divide the pairs' frequencies.
    i = torch.arange(0, rot_dim, 2, dtype=torch.float64)
    freqs = base ** (-i / rot_dim)
    if factors is not None:
        freqs = freqs / factors.double()
    angles = pos[:, None].double() * freqs[None, :]
    cos = torch.cos(angles).float()[:, None, :]
    sin = torch.sin(angles).float()[:, None, :]
    rot = x[..., :rot_dim]
    a, b = rot[..., 0::2], rot[..., 1::2]
    out = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)
    return torch.cat((out, x[..., rot_dim:]), dim=-1)


def swiglu(h, gate, up, down):
    return (torch.nn.functional.silu(h @ gate.T) * (h @ up.T)) @ down.T


def moe(h, t, p, k):
    logits = h @ t[p + "ffn_gate_inp.weight"].T
    top, experts = torch.topk(logits, k, dim=-1)
    weights = torch.softmax(top, dim=-1)
    out = torch.zeros_like(h)
    gate, up, down = t[p + "ffn_gate_exps.weight"], t[p + "ffn_up_exps.weight"], t[p + "ffn_down_exps.weight"]
    for i in range(h.shape[0]):
        for j in range(k):
            e = int(experts[i, j])
            out[i] += weights[i, j] * swiglu(h[i:i + 1], gate[e], up[e], down[e])[0]
    return out


def forward(model, tokens):
    md, t = model.metadata, {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in model.tensors.items()}
    n_layer = md["llama.block_count"]
    n_head = md["llama.attention.head_count"]
    n_kv = md.get("llama.attention.head_count_kv", n_head)
    dim = md["llama.embedding_length"]
    hd = dim // n_head
    rot_dim = md.get("llama.rope.dimension_count", hd)
    base = md.get("llama.rope.freq_base", 10000.0)
    eps = md.get("llama.attention.layer_norm_rms_epsilon", 1e-5)
    n = len(tokens)
    pos = torch.arange(n)
    x = t["token_embd.weight"][torch.tensor(tokens)]
    mask = torch.full((n, n), float("-inf")).triu(1)
    for l in range(n_layer):
        p = f"blk.{l}."
        h = rmsnorm(x, t[p + "attn_norm.weight"], eps)
        q = (h @ t[p + "attn_q.weight"].T).view(n, n_head, hd)
        k = (h @ t[p + "attn_k.weight"].T).view(n, n_kv, hd)
        v = (h @ t[p + "attn_v.weight"].T).view(n, n_kv, hd)
        factors = t.get("rope_freqs.weight")
        q, k = rope(q, pos, rot_dim, base, factors), rope(k, pos, rot_dim, base, factors)
        k = k.repeat_interleave(n_head // n_kv, dim=1)
        v = v.repeat_interleave(n_head // n_kv, dim=1)
        scores = torch.einsum("qhd,khd->hqk", q, k) / hd ** 0.5 + mask
        att = torch.einsum("hqk,khd->qhd", torch.softmax(scores, dim=-1), v).reshape(n, dim)
        x = x + att @ t[p + "attn_output.weight"].T
        h = rmsnorm(x, t[p + "ffn_norm.weight"], eps)
        if md.get("llama.expert_count", 0):
            x = x + moe(h, t, p, md["llama.expert_used_count"])
        else:
            x = x + swiglu(h, t[p + "ffn_gate.weight"], t[p + "ffn_up.weight"], t[p + "ffn_down.weight"])
    x = rmsnorm(x, t["output_norm.weight"], eps)
    out = t.get("output.weight", t["token_embd.weight"])
    return x @ out.T


def main():
    model_path, ids, out_path = sys.argv[1:4]
    tokens = [int(s) for s in ids.split(",")]
    with torch.no_grad():
        logits = forward(gguf.Reader(model_path), tokens)
    logits.numpy().astype("<f4").tofile(out_path)


if __name__ == "__main__":
    main()
