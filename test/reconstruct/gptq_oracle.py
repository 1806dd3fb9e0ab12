"""Oracle for test/reconstruct/gptq-torch.test.ts: IST-DASLab/gptq gptq.py's
GPTQ.add_batch and GPTQ.fasterquant (static_groups=True), copied as they are
and run by torch in float64, with quant.py's quantize() on mc's grid (scales and
zero points handed in: round 1's, per row and group; levels rounded half to even
by torch.round, clamped to [qmin, qmax], dequantized in float32).

Reads a JSON request on stdin, writes a JSON answer on stdout. Test use only:
mc never runs Python.
"""
import json
import math
import sys

import torch

torch.set_default_dtype(torch.float64)


def quantize(x, scale, zero, qmin, qmax):
    q = torch.clamp(torch.round(x / scale) + zero, qmin, qmax)
    return q, (scale * (q - zero)).to(torch.float32).to(torch.float64)


class GPTQ:
    def __init__(self, columns):
        self.columns = columns
        self.H = torch.zeros((columns, columns))
        self.nsamples = 0

    def add_batch(self, inp):
        tmp = inp.shape[0]
        inp = inp.t()
        self.H *= self.nsamples / (self.nsamples + tmp)
        self.nsamples += tmp
        inp = math.sqrt(2 / self.nsamples) * inp
        self.H += inp.matmul(inp.t())

    def fasterquant(self, W, scale, zero, qmin, qmax, blocksize=128, percdamp=.01, groupsize=-1, actorder=False):
        W = W.clone()
        H = self.H.clone()
        dead = torch.diag(H) == 0
        H[dead, dead] = 1
        W[:, dead] = 0

        if actorder:
            perm = torch.argsort(torch.diag(H), descending=True)
            W = W[:, perm]
            H = H[perm][:, perm]
            invperm = torch.argsort(perm)

        Losses = torch.zeros_like(W)
        Q = torch.zeros_like(W)
        L = torch.zeros_like(W)

        damp = percdamp * torch.mean(torch.diag(H))
        diag = torch.arange(self.columns)
        H[diag, diag] += damp
        H = torch.linalg.cholesky(H)
        H = torch.cholesky_inverse(H)
        H = torch.linalg.cholesky(H, upper=True)
        Hinv = H

        for i1 in range(0, self.columns, blocksize):
            i2 = min(i1 + blocksize, self.columns)
            count = i2 - i1

            W1 = W[:, i1:i2].clone()
            Q1 = torch.zeros_like(W1)
            L1 = torch.zeros_like(W1)
            Err1 = torch.zeros_like(W1)
            Losses1 = torch.zeros_like(W1)
            Hinv1 = Hinv[i1:i2, i1:i2]

            for i in range(count):
                w = W1[:, i]
                d = Hinv1[i, i]

                idx = i1 + i
                if actorder:
                    idx = perm[idx]
                g = idx // groupsize

                lv, q = quantize(w, scale[:, g], zero[:, g], qmin, qmax)
                Q1[:, i] = q
                L1[:, i] = lv
                Losses1[:, i] = (w - q) ** 2 / d ** 2

                err1 = (w - q) / d
                W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
                Err1[:, i] = err1

            Q[:, i1:i2] = Q1
            L[:, i1:i2] = L1
            Losses[:, i1:i2] = Losses1 / 2

            W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])

        if actorder:
            Q = Q[:, invperm]
            L = L[:, invperm]
        return Q, L, torch.sum(Losses).item()


def main():
    req = json.load(sys.stdin)
    rows, cols = req["rows"], req["cols"]
    W = torch.tensor(req["w"]).reshape(rows, cols)
    X = torch.tensor(req["x"]).reshape(-1, cols)
    gptq = GPTQ(cols)
    for b in range(0, X.shape[0], req["batch"]):
        gptq.add_batch(X[b:b + req["batch"]])
    groups = req["groups"]
    scale = torch.tensor(req["scales"]).reshape(rows, groups)
    zero = torch.tensor(req["zeros"]).reshape(rows, groups)
    Q, L, loss = gptq.fasterquant(
        W, scale, zero, req["qmin"], req["qmax"], blocksize=req["blocksize"], percdamp=req["percdamp"],
        groupsize=req["groupsize"], actorder=req["actorder"],
    )
    json.dump({
        "torch": torch.__version__,
        "h": gptq.H.flatten().tolist(),
        "q": Q.flatten().tolist(),
        "levels": [int(v) for v in L.flatten().tolist()],
        "loss": loss,
    }, sys.stdout)


main()
