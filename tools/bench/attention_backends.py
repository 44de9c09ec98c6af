#!/usr/bin/env python3
"""Which scaled-dot-product-attention kernel is fastest for Stable Diffusion's attention shapes.

  attention_backends.py [--rows 2,16]

For each of SD 1.5's attention shapes at 512x512 (self-attention over 4096, 1024, 256 and 64
tokens with head dims 40, 80, 160, 160; cross-attention to 77 tokens), times every backend
PyTorch has on this GPU (flash, memory-efficient, cuDNN, math), the default choice, and flash
with the head dim padded to the next multiple of 64, in float16. One JSON line per shape with
milliseconds per call and the max difference of each backend from the math one.
"""
import argparse
import json

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

SHAPES = [  # (tokens, head_dim, context tokens or None)
    (4096, 40, None), (1024, 80, None), (256, 160, None), (64, 160, None),
    (4096, 40, 77), (1024, 80, 77), (256, 160, 77),
]
BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
            "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}


def time_ms(fn, repeat=20):
    for _ in range(3):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeat):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / repeat


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="2,16", help="UNet rows (2 x images with guidance)")
    args = parser.parse_args()
    for rows in [int(r) for r in args.rows.split(",")]:
        for tokens, head_dim, context in SHAPES:
            heads = 8
            q = torch.randn(rows, heads, tokens, head_dim, device="cuda", dtype=torch.float16)
            kv_tokens = context or tokens
            k = torch.randn(rows, heads, kv_tokens, head_dim, device="cuda", dtype=torch.float16)
            v = torch.randn_like(k)
            line = {"rows": rows, "tokens": tokens, "head_dim": head_dim, "context": context, "ms": {}, "max_diff": {}}
            with sdpa_kernel([SDPBackend.MATH]):
                reference = F.scaled_dot_product_attention(q, k, v)
            line["ms"]["default"] = round(time_ms(lambda: F.scaled_dot_product_attention(q, k, v)), 4)
            for name, backend in BACKENDS.items():
                try:
                    with sdpa_kernel([backend]):
                        out = F.scaled_dot_product_attention(q, k, v)
                        line["ms"][name] = round(time_ms(lambda: F.scaled_dot_product_attention(q, k, v)), 4)
                    line["max_diff"][name] = float((out.float() - reference.float()).abs().max())
                except RuntimeError as e:
                    line["ms"][name] = None
                    line["max_diff"][name] = str(e).splitlines()[0][:80]
            padded = (head_dim + 63) // 64 * 64
            if padded != head_dim:
                pad = lambda t: F.pad(t, (0, padded - head_dim))
                qp, kp, vp = pad(q), pad(k), pad(v)
                scale = head_dim ** -0.5
                with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                    line["ms"][f"flash_padded_{padded}"] = round(
                        time_ms(lambda: F.scaled_dot_product_attention(qp, kp, vp, scale=scale)), 4)
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
