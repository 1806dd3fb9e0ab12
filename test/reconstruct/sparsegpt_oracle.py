"""Oracle for test/reconstruct/sparsegpt-torch.test.ts: IST-DASLab/sparsegpt
sparsegpt.py's SparseGPT.fasterprune, copied as it is and run by torch in
float64 on a given H, with quant.py's quantize() on mc's grid when scales are
handed in (round 1's, per row and group; torch.round is half to even;
dequantized in float32). Reads a JSON request on stdin, writes JSON on stdout.
Test use only: mc never runs Python.
"""
import json
import sys

import torch

torch.set_default_dtype(torch.float64)


def quantize(x, scale, zero, qmin, qmax):
    q = torch.clamp(torch.round(x / scale) + zero, qmin, qmax)
    return (scale * (q - zero)).to(torch.float32).to(torch.float64)


def fasterprune(W, H, sparsity, prunen=0, prunem=0, blocksize=128, percdamp=.01, quant=None):
    W = W.clone()
    H = H.clone()
    rows, columns = W.shape
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0

    Losses = torch.zeros(rows)

    damp = percdamp * torch.mean(torch.diag(H))
    diag = torch.arange(columns)
    H[diag, diag] += damp
    H = torch.linalg.cholesky(H)
    H = torch.cholesky_inverse(H)
    H = torch.linalg.cholesky(H, upper=True)
    Hinv = H

    mask = None
    M = torch.zeros_like(W) == 1

    for i1 in range(0, columns, blocksize):
        i2 = min(i1 + blocksize, columns)
        count = i2 - i1

        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Losses1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]

        if prunen == 0:
            if mask is not None:
                mask1 = mask[:, i1:i2]
            else:
                tmp = W1 ** 2 / (torch.diag(Hinv1).reshape((1, -1))) ** 2
                thresh = torch.sort(tmp.flatten())[0][int(tmp.numel() * sparsity)]
                mask1 = tmp <= thresh
        else:
            mask1 = torch.zeros_like(W1) == 1

        for i in range(count):
            w = W1[:, i]
            d = Hinv1[i, i]

            if prunen != 0 and i % prunem == 0:
                tmp = W1[:, i:(i + prunem)] ** 2 / (torch.diag(Hinv1)[i:(i + prunem)].reshape((1, -1))) ** 2
                mask1.scatter_(1, i + torch.topk(tmp, prunen, dim=1, largest=False)[1], True)

            q = w.clone()
            q[mask1[:, i]] = 0

            if quant is not None:
                g = (i1 + i) // quant["groupsize"]
                q = quantize(q, quant["scale"][:, g], quant["zero"][:, g], quant["qmin"], quant["qmax"])

            Q1[:, i] = q
            Losses1[:, i] = (w - q) ** 2 / d ** 2

            err1 = (w - q) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1

        W[:, i1:i2] = Q1
        M[:, i1:i2] = mask1
        Losses += torch.sum(Losses1, 1) / 2

        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])

    return W, M, torch.sum(Losses).item()


def main():
    req = json.load(sys.stdin)
    rows, cols = req["rows"], req["cols"]
    W = torch.tensor(req["w"]).reshape(rows, cols)
    H = torch.tensor(req["h"]).reshape(cols, cols)
    quant = None
    if req.get("scales") is not None:
        groups = req["groups"]
        quant = {
            "scale": torch.tensor(req["scales"]).reshape(rows, groups), "zero": torch.tensor(req["zeros"]).reshape(rows, groups),
            "qmin": req["qmin"], "qmax": req["qmax"], "groupsize": cols // groups,
        }
    W, M, loss = fasterprune(W, H, req["sparsity"], req["prunen"], req["prunem"], req["blocksize"], 0.01, quant)
    json.dump({"w": W.flatten().tolist(), "mask": [int(v) for v in M.flatten().tolist()], "loss": loss}, sys.stdout)


main()
