"""PyTorch side of `deno task bench:llama`: a Llama of the given shape (random weights), written
out here (RMSNorm, RoPE with rotate_half, grouped-query attention, SwiGLU), timed for one mode:

  generate  4 rows x (64 prompt + 48 new tokens), KV cache, top-k 50 sampling
  full      one train step of 4 x (64 + 48): forward, log-prob loss, backward, AdamW on every weight
  lora      the same with LoRA r 16 on q, k, v, o, gate, up, down (the base frozen)

Prints one JSON line: {"mode", "seconds" (median of the timed repeats), "peak_mib", "params",
"trained"}. Run with Debian's /usr/bin/python3 (python3-torch, libopenblas0-pthread):
  /usr/bin/python3 bench/torch_llama.py MODE '{"vocab":49152,"d":576,...}' REPEATS
"""
import json
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Lora(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.a = nn.Parameter(torch.randn(r, base.in_features) / math.sqrt(base.in_features))
        self.b = nn.Parameter(torch.zeros(base.out_features, r))
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + self.scale * (x @ self.a.t()) @ self.b.t()


def rms(x, w, eps=1e-5):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], -1) * sin


class Layer(nn.Module):
    def __init__(self, s):
        super().__init__()
        d, hd = s["d"], s["head_dim"]
        self.h, self.kv, self.hd = s["heads"], s["kv_heads"], hd
        self.q = nn.Linear(d, self.h * hd, bias=False)
        self.k = nn.Linear(d, self.kv * hd, bias=False)
        self.v = nn.Linear(d, self.kv * hd, bias=False)
        self.o = nn.Linear(self.h * hd, d, bias=False)
        self.gate = nn.Linear(d, s["ff"], bias=False)
        self.up = nn.Linear(d, s["ff"], bias=False)
        self.down = nn.Linear(s["ff"], d, bias=False)
        self.n1 = nn.Parameter(torch.ones(d))
        self.n2 = nn.Parameter(torch.ones(d))

    def forward(self, x, cos, sin, past=None):
        b, t, _ = x.shape
        h = rms(x, self.n1)
        q = rotate(self.q(h).view(b, t, self.h, self.hd), cos, sin).transpose(1, 2)
        k = rotate(self.k(h).view(b, t, self.kv, self.hd), cos, sin).transpose(1, 2)
        v = self.v(h).view(b, t, self.kv, self.hd).transpose(1, 2)
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        rep = self.h // self.kv
        kk, vv = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        tk = kk.shape[2]
        att = (q @ kk.transpose(-2, -1)) / math.sqrt(self.hd)
        causal = torch.ones(t, tk, dtype=torch.bool).tril(diagonal=tk - t)
        att = att.masked_fill(~causal, float("-inf")).softmax(-1)
        x = x + self.o((att @ vv).transpose(1, 2).reshape(b, t, -1))
        m = rms(x, self.n2)
        return x + self.down(F.silu(self.gate(m)) * self.up(m)), (k, v)


class Llama(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.embed = nn.Embedding(s["vocab"], s["d"])
        self.layers = nn.ModuleList(Layer(s) for _ in range(s["layers"]))
        self.norm = nn.Parameter(torch.ones(s["d"]))
        hd = s["head_dim"]
        self.inv = 1 / (s["theta"] ** (torch.arange(0, hd, 2).float() / hd))
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, start=0, past=None):
        t = idx.shape[1]
        ang = torch.arange(start, start + t).float()[:, None] * self.inv[None]
        ang = torch.cat([ang, ang], -1)
        cos, sin = ang.cos()[None, :, None], ang.sin()[None, :, None]
        x, caches = self.embed(idx), []
        for i, layer in enumerate(self.layers):
            x, cache = layer(x, cos, sin, None if past is None else past[i])
            caches.append(cache)
        return rms(x, self.norm) @ self.embed.weight.t(), caches  # tied head (SmolLM2)


def main():
    mode, shape, repeats = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = Llama(shape)
    params = sum(p.numel() for p in model.parameters())
    if mode == "lora":
        for p in model.parameters():
            p.requires_grad_(False)
        for layer in model.layers:
            for name in ["q", "k", "v", "o", "gate", "up", "down"]:
                setattr(layer, name, Lora(getattr(layer, name), 16, 32))
    trained = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trained, lr=1e-5) if mode != "generate" else None
    gen = torch.Generator().manual_seed(1)
    vocab = shape["vocab"]

    def step():
        if mode == "generate":
            with torch.no_grad():
                idx = torch.randint(0, vocab, (4, 64), generator=gen)
                logits, past = model(idx)
                pos = 64
                for _ in range(48):
                    top, where = logits[:, -1].topk(50, -1)
                    token = where.gather(1, torch.multinomial(top.softmax(-1), 1, generator=gen))
                    logits, past = model(token, pos, past)
                    pos += 1
            return
        idx = torch.randint(0, vocab, (4, 113), generator=gen)
        logits, _ = model(idx[:, :-1])
        lp = logits[:, 63:].log_softmax(-1).gather(-1, idx[:, 64:, None])
        loss = -lp.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    print(json.dumps({
        "mode": mode,
        "seconds": statistics.median(times),
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "params": params,
        "trained": sum(p.numel() for p in trained),
        "torch": torch.__version__,
    }), flush=True)


if __name__ == "__main__":
    main()
