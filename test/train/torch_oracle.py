"""Test oracle for test/train (never used by mc at run time): PyTorch 1.13's own
schedulers, optimizers and distillation loss in float64, on a JSON request from stdin.
Run with Debian's /usr/bin/python3 (python3-torch)."""
import json
import math
import sys

import torch
import torch.nn.functional as F


def lrs(sched_factory, base, steps):
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=base)
    sched = sched_factory(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def optimize(kind, w0, grads, lr, wd, momentum):
    p = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    if kind == "sgd":
        opt = torch.optim.SGD([p], lr=lr, momentum=momentum, weight_decay=wd)
    elif kind == "adam":
        opt = torch.optim.Adam([p], lr=lr, eps=1e-7, weight_decay=wd)
    else:
        opt = torch.optim.AdamW([p], lr=lr, eps=1e-7, weight_decay=wd)
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    return p.detach().tolist()


def main():
    req = json.load(sys.stdin)
    S, base = req["steps"], req["base"]
    out = {
        "onecycle": lrs(lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=base, total_steps=S, pct_start=0.3, anneal_strategy="cos", div_factor=25.0, final_div_factor=1e4, cycle_momentum=False), base, S),
        "cosine": lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=S, eta_min=0.0), base, S),
        "step": lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=req["stepSize"], gamma=0.1), base, S),
        "optim": {k: optimize(k, req["w0"], req["grads"], req["lr"], req["wd"], 0.9) for k in ("sgd", "adam", "adamw")},
    }
    s = torch.tensor(req["student"], dtype=torch.float64)
    t = torch.tensor(req["teacher"], dtype=torch.float64)
    T = req["T"]
    out["kd"] = (F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean") * T * T).item()
    out["ce"] = F.cross_entropy(s, torch.tensor(req["ids"])).item()
    json.dump(out, sys.stdout)


main()
