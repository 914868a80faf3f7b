#!/usr/bin/python3
"""fp64 oracle of the tiny-mamba lens probes: how far is any fp32 forward from the truth?

Analysis only (not built, not tested; needs python3-numpy). Runs tiny-mamba's forward in
float64 (specs/mamba.md §3–4, weights quantised in fp32 exactly as fixtures/README.md says)
on the reference's two windows, computes every probe's ΔCE and SQNR, and prints the
deviation from these exact values of the reference (a PyTorch fp32 forward) and, when
given, of a kllens sensitivity run. docs/lens.md quotes its output.

usage: scripts/analysis/lens_fp64_oracle.py [KLLENS_SENSITIVITY_DIR]
"""
import json, math, os, struct, sys

import numpy as np

FX = os.path.join(os.path.dirname(__file__), '../../../shared/fixtures/tiny-mamba')


def load(path):
    raw = open(path, 'rb').read()
    n = struct.unpack('<Q', raw[:8])[0]
    head, out = json.loads(raw[8:8 + n]), {}
    for k, v in head.items():
        if k == '__metadata__':
            continue
        dt = {'F32': np.float32, 'I32': np.int32}[v['dtype']]
        s, e = v['data_offsets']
        out[k] = np.frombuffer(raw[8 + n + s:8 + n + e], dtype=dt).reshape(v['shape'])
    return out


W = load(f'{FX}/model.safetensors')
ids = load(f'{FX}/reference.safetensors')['input_ids']
cfg = json.load(open(f'{FX}/config.json'))
I, N, R, K = cfg['intermediate_size'], cfg['state_size'], cfg['time_step_rank'], cfg['conv_kernel']
eps, layers = cfg['layer_norm_epsilon'], cfg['num_hidden_layers']
W64 = {k: v.astype(np.float64) for k, v in W.items()}
E = W64['backbone.embeddings.weight']

rms = lambda x, w: w * x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)
silu = lambda x: x / (1 + np.exp(-x))
softplus = lambda x: np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


def mixer(w, p, u):
    xz = u @ w[p + 'in_proj.weight'].T
    x, z = xz[:, :I], xz[:, I:]
    T, cw = len(x), w[p + 'conv1d.weight'][:, 0, :]
    xp = np.concatenate([np.zeros((K - 1, I)), x])
    xc = silu(w[p + 'conv1d.bias'] + sum(cw[:, k] * xp[k:k + T] for k in range(K)))
    sel = xc @ w[p + 'x_proj.weight'].T
    dt, B, C = sel[:, :R], sel[:, R:R + N], sel[:, R + N:]
    delta = softplus(dt @ w[p + 'dt_proj.weight'].T + w[p + 'dt_proj.bias'])
    A, h, y = -np.exp(w[p + 'A_log']), np.zeros((I, N)), np.zeros((T, I))
    for t in range(T):
        h = np.exp(delta[t][:, None] * A) * h + (delta[t][:, None] * B[t][None, :]) * xc[t][:, None]
        y[t] = h @ C[t]
    return ((y + xc * w[p + 'D']) * silu(z)) @ w[p + 'out_proj.weight'].T


def logits(w, seq):
    h = E[seq]
    for l in range(layers):
        p = f'backbone.layers.{l}.'
        h = h + mixer(w, p + 'mixer.', rms(h, w[p + 'norm.weight']))
    return rms(h, w['backbone.norm_f.weight']) @ E.T


def quantise(w, bits):  # fp32 arithmetic, round half to even, as fixtures/README.md
    m = np.float32(2 ** (bits - 1) - 1)
    scale = np.maximum(np.abs(w).max(1, keepdims=True), np.float32(1e-5)) / m
    return (np.clip(np.round(w / scale), -m - 1, m) * scale).astype(np.float64)


def log_softmax(z):
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))


teacher = [logits(W64, s) for s in ids]
exact = {}
for name in sorted(k for k in W if k.startswith('backbone.layers') and W[k].ndim == 2):
    for bits in (4, 8):
        w = dict(W64)
        w[name] = quantise(W[name], bits)
        dce = sqnr = 0.0
        for s, zt in zip(ids, teacher):
            zs, rows = logits(w, s), np.arange(len(s) - 1)
            dce += (log_softmax(zt)[rows, s[1:]] - log_softmax(zs)[rows, s[1:]]).mean()
            sqnr += 10 * math.log10((zt ** 2).sum() / ((zt - zs) ** 2).sum())
        exact[f"{name[:-len('.weight')]}@{bits}"] = {'delta_cross_entropy': dce / len(ids),
                                                     'sqnr_db': sqnr / len(ids)}

ref = json.load(open(f'{FX}/reference.json'))['probes']
ours = None
if len(sys.argv) > 1:
    got = json.load(open(os.path.join(sys.argv[1], 'sensitivity.json')))
    ours = lambda k, m: got[k.split('@')[1]][k.split('@')[0]][m]
for m in ('delta_cross_entropy', 'sqnr_db'):
    rows = [('reference - fp64', lambda k: ref[k][m] - exact[k][m])]
    if ours:
        rows += [('kllens - fp64', lambda k: ours(k, m) - exact[k][m]),
                 ('kllens - reference', lambda k: ours(k, m) - ref[k][m])]
    for label, diff in rows:
        d = [diff(k) for k in ref]
        print(f'{m:20s} {label:19s} rms {math.sqrt(sum(x * x for x in d) / len(d)):.3g}'
              f'  max {max(map(abs, d)):.3g}')
