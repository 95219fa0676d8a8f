"""PyTorch reference for `deno task bench:speed`: the same GPT, timed on request.

Reads one JSON command per line on stdin and answers one JSON line on stdout, so the Deno
benchmark can interleave its own rounds with these in one run:
Each timing gives wall seconds and CPU seconds of the process (both threads).
  {"cmd": "init", "vocab": 8192, "d": 256, "layers": 4, "heads": 4, "positions": 128, "threads": 2}
  {"cmd": "train", "batch": 16, "seq": 128}            -> {"seconds": ..., "cpu": ...}  fwd + bwd + AdamW
  {"cmd": "forward", "batch": 16, "seq": 128}          -> {"seconds": ...}  no-grad forward
  {"cmd": "generate", "batch": 16, "prompt": 64, "new": 48, "top_k": 50}  -> {"seconds": ...}
  {"cmd": "rl_iteration", "rows": 112, "prompt": 64, "new": 48, "epochs": 5, "minibatch": 28}
      -> {"seconds": ..., "cpu": ..., "parts": {...}}  the work of one PPO++ iteration (below)
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
        self.d, self.heads, self.positions = d, heads, positions
        # GPT-2's initialisation (as createGPT2): N(0, 0.02), residual projections scaled down
        for name, p in self.named_parameters():
            if name.endswith("weight") and p.dim() == 2:
                scale = 1 / math.sqrt(2 * layers) if name.endswith("proj.weight") else 1
                nn.init.normal_(p, std=0.02 * scale)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def hidden(self, idx, start=0, past=None, caches=None):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(start, start + t))
        for i, block in enumerate(self.h):
            x, cache = block(x, None if past is None else past[i])
            if caches is not None:
                caches.append(cache)
        return self.ln_f(x)

    def forward(self, idx, start=0, past=None):
        caches = []
        return self.hidden(idx, start, past, caches) @ self.wte.weight.t(), caches  # tied head


def sample(model, idx, new, top_k, gen):
    """KV-cache sampling of `new` tokens after `idx`, top-k."""
    logits, past = model(idx)
    pos, out = idx.shape[1], []
    for _ in range(new):
        top, where = logits[:, -1, :].topk(top_k, dim=-1)
        token = where.gather(1, torch.multinomial(top.softmax(-1), 1, generator=gen))
        out.append(token)
        logits, past = model(token, pos, past)
        pos += 1
    return torch.cat(out, dim=1)


def rl_iteration(model, req, gen):
    """The work of one PPO++ iteration as pipelines/ does it, at the same shapes, in PyTorch:
    roll-outs (the learner samples every row; the guide samples the roll-in rows, a fifth), the
    no-grad forwards (learner's old log-probs, reference, guide, critic values), then `epochs`
    passes of minibatches: the learner's clipped policy loss + 0.1 x the NLL of a reference
    continuation (a second forward), and a separate critic's clipped value loss, each with its
    own AdamW step after clipping. Returns seconds per part."""
    rows, p, new = req["rows"], req["prompt"], req["new"]
    vocab = model.wte.num_embeddings
    learner = model
    reference = GPT(vocab, model.d, len(model.h), model.heads, model.positions)
    guide = GPT(vocab, model.d, len(model.h), model.heads, model.positions)
    critic = GPT(vocab, model.d, len(model.h), model.heads, model.positions)
    v_head = nn.Linear(model.d, 1)
    opt_l = torch.optim.AdamW(learner.parameters(), lr=1e-5)
    opt_c = torch.optim.AdamW(list(critic.parameters()) + list(v_head.parameters()), lr=1e-5)
    prompts = torch.randint(0, vocab, (rows, p), generator=gen)
    refs = torch.randint(0, vocab, (rows, new), generator=gen)
    parts = {}
    t0 = time.perf_counter()
    with torch.no_grad():
        # per 16 rows, as the benchmark's generate; the guide rolls in a fifth of the rows
        conts = torch.cat([sample(learner, prompts[i:i + 16], new, 50, gen) for i in range(0, rows, 16)])
        roll_in = rows // 5
        sample(guide, prompts[:roll_in], new, 50, gen)
    parts["rollouts"] = time.perf_counter() - t0
    seq = torch.cat([prompts, conts], dim=1)

    def logprobs(m, s):
        logits, _ = m(s[:, :-1])
        lp = logits[:, p - 1:].log_softmax(-1)
        return lp.gather(-1, s[:, p:, None]).squeeze(-1), lp

    def values(s):
        hidden = critic.hidden(s[:, :-1])[:, p - 1:]
        return v_head(hidden).squeeze(-1)

    t0 = time.perf_counter()
    with torch.no_grad():
        old, _ = logprobs(learner, seq)
        ref, _ = logprobs(reference, seq)
        logprobs(guide, seq)
        old_values = values(seq)
    parts["scoring"] = time.perf_counter() - t0
    advantages = torch.randn(rows, new, generator=gen)
    returns = old_values + advantages
    ref_seq = torch.cat([prompts, refs], dim=1)
    t0 = time.perf_counter()
    for _ in range(req["epochs"]):
        order = torch.randperm(rows, generator=gen)
        for start in range(0, rows, req["minibatch"]):
            mb = order[start:start + req["minibatch"]]
            lp, full = logprobs(learner, seq[mb])
            ratio = (lp - old[mb]).exp()
            adv = advantages[mb]
            policy = -torch.min(ratio * adv, ratio.clamp(0.8, 1.2) * adv).mean()
            entropy = -(full.exp() * full).sum(-1).mean()
            nll = -logprobs(learner, ref_seq[mb])[0].mean()
            v = values(seq[mb])
            v_clip = old_values[mb] + (v - old_values[mb]).clamp(-0.2, 0.2)
            value_loss = 0.5 * torch.max((v - returns[mb]) ** 2, (v_clip - returns[mb]) ** 2).mean()
            loss = policy + 0.1 * nll + 0.5 * value_loss - 0.0 * entropy
            opt_l.zero_grad(set_to_none=True)
            opt_c.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(learner.parameters(), 1.0)
            torch.nn.utils.clip_grad_norm_(list(critic.parameters()) + list(v_head.parameters()), 1.0)
            opt_l.step()
            opt_c.step()
    parts["update"] = time.perf_counter() - t0
    return parts


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
        elif cmd == "rl_iteration":
            t0, c0 = time.perf_counter(), time.process_time()
            parts = rl_iteration(model, req, gen)
            reply = {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                     "parts": parts}
        elif cmd == "memory":
            # Linux reports ru_maxrss in KiB
            reply = {"max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        else:
            reply = {"error": f"unknown command {cmd}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
