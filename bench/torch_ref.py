"""PyTorch reference for `deno task bench:speed`: the same GPT, timed on request.

Reads one JSON command per line on stdin and answers one JSON line on stdout, so the Deno
benchmark can interleave its own rounds with these in one run:
Each timing gives wall seconds and CPU seconds of the process (both threads).
  {"cmd": "init", "vocab": 8192, "d": 256, "layers": 4, "heads": 4, "positions": 128, "threads": 2}
  {"cmd": "train", "batch": 16, "seq": 128}            -> {"seconds": ..., "cpu": ...}  fwd + bwd + AdamW
  {"cmd": "forward", "batch": 16, "seq": 128}          -> {"seconds": ...}  no-grad forward
  {"cmd": "generate", "batch": 16, "prompt": 64, "new": 48, "top_k": 50}  -> {"seconds": ...}
  {"cmd": "memory"}                                    -> {"max_rss_mib": ...}  peak RSS so far
Run with Debian's /usr/bin/python3 (python3-torch, libopenblas0-pthread).
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)

    def forward(self, x, past=None):
        b, t, c = x.shape
        hs = c // self.heads
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, hs).transpose(1, 2) for z in (q, k, v))  # (B, nh, T, hs)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        tk = k.shape[2]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)  # (B, nh, T, Tk)
        causal = torch.ones(t, tk, dtype=torch.bool).tril(diagonal=tk - t)
        att = att.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        x = x + self.c_proj(y)
        x = x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return x, (k, v)


class GPT(nn.Module):
    def __init__(self, vocab, d, layers, heads, positions):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(positions, d)
        self.h = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        # GPT-2's initialisation (as createGPT2): N(0, 0.02), residual projections scaled down
        for name, p in self.named_parameters():
            if name.endswith("weight") and p.dim() == 2:
                scale = 1 / math.sqrt(2 * layers) if name.endswith("proj.weight") else 1
                nn.init.normal_(p, std=0.02 * scale)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, start=0, past=None):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(start, start + t))
        caches = []
        for i, block in enumerate(self.h):
            x, cache = block(x, None if past is None else past[i])
            caches.append(cache)
        return self.ln_f(x) @ self.wte.weight.t(), caches  # tied head


def main():
    model = opt = None
    gen = torch.Generator().manual_seed(0)
    for line in sys.stdin:
        req = json.loads(line)
        cmd = req["cmd"]
        if cmd == "init":
            torch.manual_seed(0)
            torch.set_num_threads(req["threads"])
            model = GPT(req["vocab"], req["d"], req["layers"], req["heads"], req["positions"])
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
            reply = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                     "params": sum(p.numel() for p in model.parameters())}
        elif cmd == "train":
            idx = torch.randint(0, model.wte.num_embeddings, (req["batch"], req["seq"] + 1), generator=gen)
            t0, c0 = time.perf_counter(), time.process_time()
            logits, _ = model(idx[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), idx[:, 1:].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            reply = {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                     "loss": loss.item()}
        elif cmd == "forward":
            idx = torch.randint(0, model.wte.num_embeddings, (req["batch"], req["seq"]), generator=gen)
            t0, c0 = time.perf_counter(), time.process_time()
            with torch.no_grad():
                logits, _ = model(idx)
                logits.log_softmax(-1)
            reply = {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0}
        elif cmd == "generate":
            idx = torch.randint(0, model.wte.num_embeddings, (req["batch"], req["prompt"]), generator=gen)
            t0, c0 = time.perf_counter(), time.process_time()
            with torch.no_grad():
                logits, past = model(idx)
                pos = idx.shape[1]
                for _ in range(req["new"]):
                    last = logits[:, -1, :]
                    top, where = last.topk(req["top_k"], dim=-1)
                    choice = torch.multinomial(top.softmax(-1), 1, generator=gen)
                    token = where.gather(1, choice)
                    logits, past = model(token, pos, past)
                    pos += 1
            reply = {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0}
        elif cmd == "memory":
            # Linux reports ru_maxrss in KiB
            reply = {"max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        else:
            reply = {"error": f"unknown command {cmd}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
