#!/usr/bin/env python3
"""Build the tiny random-weight Stable Diffusion pipelines (diffusers layout, fp32).

For each pipeline in common.PIPELINES: read its CLIP tokenizer folder (made beforehand by
tools/train/build_tokenizer.py), create the text encoder, UNet and VAE from seeded
initialisation, perturb every parameter (common.perturb), and save with
StableDiffusionPipeline.save_pretrained(safe_serialization=True). The tokenizer files written
by build_tokenizer.py are put back afterwards, so the folder keeps the published SD layout
(vocab.json + merges.txt); a tokenizer.json that transformers adds is kept next to them.

Usage: build_pipelines.py --tokenizers DIR --out DIR
  DIR/<name>/tokenizer must exist under --tokenizers for every pipeline name.
"""

import argparse
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import PIPELINES, perturb  # noqa: E402

TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")


def build(name, spec, tokenizer_dir, out_dir):
    from diffusers import AutoencoderKL, DDIMScheduler, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    originals = {}
    for file_name in TOKENIZER_FILES:
        with open(os.path.join(tokenizer_dir, file_name), "rb") as handle:
            originals[file_name] = handle.read()
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    vocab = json.loads(originals["vocab.json"])
    eos_id = vocab["<|endoftext|>"]
    bos_id = vocab["<|startoftext|>"]
    pad_id = vocab[spec["pad_token"]]

    seed = spec["seed"]
    torch.manual_seed(seed)
    text_config = CLIPTextConfig(
        vocab_size=len(vocab), bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=pad_id, **spec["text_encoder"]
    )
    text_encoder = CLIPTextModel(text_config)
    perturb(text_encoder, 1000 + seed)

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**spec["unet"])
    perturb(unet, 2000 + seed)

    torch.manual_seed(seed)
    vae = AutoencoderKL(**spec["vae"])
    perturb(vae, 3000 + seed)

    scheduler_class = {"PNDMScheduler": PNDMScheduler, "DDIMScheduler": DDIMScheduler}[spec["scheduler"]["_class_name"]]
    scheduler = scheduler_class.from_config(spec["scheduler"])

    pipe = StableDiffusionPipeline(
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
        unet=unet.eval(),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    target = os.path.join(out_dir, name)
    if os.path.exists(target):
        shutil.rmtree(target)
    pipe.save_pretrained(target, safe_serialization=True)

    saved_tokenizer = os.path.join(target, "tokenizer")
    written_by_transformers = sorted(os.listdir(saved_tokenizer))
    for file_name, content in originals.items():
        with open(os.path.join(saved_tokenizer, file_name), "wb") as handle:
            handle.write(content)
    counts = {
        "text_encoder": sum(p.numel() for p in text_encoder.parameters()),
        "unet": sum(p.numel() for p in unet.parameters()),
        "vae": sum(p.numel() for p in vae.parameters()),
    }
    print(f"{name}: saved to {target}; parameters {counts}; transformers wrote {written_by_transformers}")
    return {"parameters": counts, "tokenizer_files_written_by_transformers": written_by_transformers}


def main():
    parser = argparse.ArgumentParser(description="build the tiny SD pipelines")
    parser.add_argument("--tokenizers", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    report = {}
    for name, spec in PIPELINES.items():
        report[name] = build(name, spec, os.path.join(args.tokenizers, name, "tokenizer"), args.out)
    with open(os.path.join(args.out, "build_report.json"), "w") as handle:
        json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
