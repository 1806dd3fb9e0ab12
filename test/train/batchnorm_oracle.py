"""Test oracle for test/train/batchnorm-train.test.ts (never used by mc at run time):
Conv (pads 1) then BatchNormalization with batch statistics, in float64 PyTorch 1.13
(F.batch_norm with training=True), the loss sum(y * R), its gradients, and the running
statistics after the step as the ONNX spec's training mode defines them:
running = running * momentum + batch * (1 - momentum), with the population variance.
Run with Debian's /usr/bin/python3 (python3-torch)."""
import json
import sys

import torch
import torch.nn.functional as F

req = json.load(sys.stdin)
shapes = req["shapes"]
d = lambda k: torch.tensor(req[k], dtype=torch.float64).reshape(shapes.get(k, [-1]))
x, R = d("x"), d("R")
w, scale, bias = (d(k).requires_grad_() for k in ("w", "scale", "bias"))
mean, var = d("mean"), d("var")
m, eps = req["momentum"], req["epsilon"]
c = F.conv2d(x, w, padding=1)
# torch's own running-stat update uses the unbiased variance; the ONNX spec uses the population one, so pass copies and recompute below.
y = F.batch_norm(c, mean.clone(), var.clone(), scale, bias, training=True, momentum=1 - m, eps=eps)
(y * R).sum().backward()
bm = c.detach().mean(dim=(0, 2, 3))
bv = c.detach().var(dim=(0, 2, 3), unbiased=False)
json.dump({
    "y": y.detach().flatten().tolist(),
    "w": w.grad.flatten().tolist(), "scale": scale.grad.tolist(), "bias": bias.grad.tolist(),
    "runningMean": (mean * m + bm * (1 - m)).tolist(), "runningVar": (var * m + bv * (1 - m)).tolist(),
}, sys.stdout)
