#!/usr/bin/env python3
"""Check that a single-file checkpoint holds exactly the weights of a diffusers-layout pipeline.

Text-encoder tensors must appear unchanged under "cond_stage_model.transformer.<key>"; UNet and
VAE tensors are renamed (and the VAE's attention matrices reshaped to 1x1 kernels) by the
conversion, so those are compared as multisets of (element count, exact sum, exact sum of
squares). Exits non-zero on any mismatch.

Usage: check_single_file.py PIPELINE_DIR CHECKPOINT.safetensors
"""

import os
import sys

from safetensors.torch import load_file


def fingerprint(tensor):
    t = tensor.double()
    return (t.numel(), float(t.sum()), float((t * t).sum()))


def main():
    pipeline_dir, checkpoint = sys.argv[1], sys.argv[2]
    single = load_file(checkpoint)
    text = load_file(os.path.join(pipeline_dir, "text_encoder", "model.safetensors"))
    unet = load_file(os.path.join(pipeline_dir, "unet", "diffusion_pytorch_model.safetensors"))
    vae = load_file(os.path.join(pipeline_dir, "vae", "diffusion_pytorch_model.safetensors"))
    errors = []
    for key, value in text.items():
        mapped = single.get("cond_stage_model.transformer." + key)
        if mapped is None or not mapped.equal(value):
            errors.append(f"text encoder tensor {key} missing or changed")
    rest = [v for k, v in single.items() if not k.startswith("cond_stage_model.")]
    expected = sorted(fingerprint(v) for v in list(unet.values()) + list(vae.values()))
    if sorted(fingerprint(v) for v in rest) != expected:
        errors.append("UNet/VAE tensors differ from the pipeline's")
    if len(single) != len(text) + len(unet) + len(vae):
        errors.append(f"{len(single)} tensors, expected {len(text) + len(unet) + len(vae)}")
    if errors:
        sys.exit("\n".join(errors))
    print(f"{checkpoint}: {len(single)} tensors match {pipeline_dir}")


if __name__ == "__main__":
    main()
