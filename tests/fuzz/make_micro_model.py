#!/usr/bin/env python3
"""A Mamba-1 or Mamba-2 model folder small enough to be a fuzz_gguf seed once exported:
hidden 8, inner 16, state 4, Δ rank 2 (Mamba-2: 4 heads of 4, one group), one layer, 304
token ids (the small tokenizer of the tokenizer corpus), F32 weights from a fixed generator. fuzz_gguf builds the model from such a file
and runs a forward step, so its tensor shapes must match its config (the cut-down seeds of
make_gguf_seeds.py have one row per tensor and stop at the loader's shape checks).

  tests/fuzz/make_micro_model.py /tmp/micro-mamba [--mamba2]
  kllens quantize /tmp/micro-mamba --type f16 --format gguf -o /tmp/micro-mamba.gguf
  tests/fuzz/make_gguf_seeds.py /tmp/micro-mamba.gguf tests/fuzz/corpus/gguf/micro-mamba-f16.gguf --whole-tensors
  (the same with --mamba2 for tests/fuzz/corpus/gguf/micro-mamba2-f16.gguf)

Standard library only."""
import json
import os
import random
import shutil
import struct
import sys

H, I, N, R, K, V = 8, 16, 4, 2, 4, 304
HEADS, G = 4, 1  # Mamba-2: heads of I / HEADS, groups of B and C
HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    out = sys.argv[1]
    mamba2 = "--mamba2" in sys.argv[2:]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(1234)
    p = "backbone.layers.0.mixer."
    shapes = {"backbone.embeddings.weight": [V, H]}
    if mamba2:
        C = I + 2 * G * N  # conv channels: x, B, C
        shapes.update({p + "A_log": [HEADS], p + "D": [HEADS], p + "conv1d.bias": [C],
                       p + "conv1d.weight": [C, 1, K], p + "dt_bias": [HEADS],
                       p + "in_proj.weight": [2 * I + 2 * G * N + HEADS, H], p + "norm.weight": [I],
                       p + "out_proj.weight": [H, I]})
    else:
        shapes.update({p + "A_log": [I, N], p + "D": [I], p + "conv1d.bias": [I], p + "conv1d.weight": [I, 1, K],
                       p + "dt_proj.bias": [I], p + "dt_proj.weight": [I, R], p + "in_proj.weight": [2 * I, H],
                       p + "out_proj.weight": [H, I], p + "x_proj.weight": [R + 2 * N, I]})
    shapes.update({"backbone.layers.0.norm.weight": [H], "backbone.norm_f.weight": [H]})
    header, data = {}, b""
    for name, shape in shapes.items():
        n = 1
        for d in shape:
            n *= d
        ones = name.endswith("norm.weight") or name.endswith(".D")
        vals = [1.0 if ones else rng.uniform(-0.5, 0.5) for _ in range(n)]
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + 4 * n]}
        data += struct.pack("<%df" % n, *vals)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    fixture = "../../../shared/fixtures/tiny-mamba2" if mamba2 else "../../models/tiny-mamba"
    cfg = json.load(open(os.path.join(HERE, fixture, "config.json")))
    cfg.update(hidden_size=H, intermediate_size=I, state_size=N, time_step_rank=R, conv_kernel=K,
               num_hidden_layers=1, vocab_size=V)
    if mamba2:
        cfg.update(num_heads=HEADS, head_dim=I // HEADS, n_groups=G, chunk_size=4)
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
    shutil.copy(os.path.join(HERE, "corpus/tokenizer/tiny-mamba-small.json"), os.path.join(out, "tokenizer.json"))
    shutil.copy(os.path.join(HERE, "../../models/tiny-mamba/tokenizer_config.json"), out)


if __name__ == "__main__":
    main()
