#!/usr/bin/env python3
"""diffusers' own half-precision outputs on a CUDA GPU, for the GPU parity tests (tests/gpu).

Runs the committed tiny pipelines (tests/data/tiny-sd, tiny-sd2 with StableDiffusionPipeline,
tiny-sdxl with StableDiffusionXLPipeline) in float16 on the GPU, end to end for every scheduler,
with the prompt, negative prompt, guidance, step count, size and seed of the CPU end-to-end
references (build_references.py's pipeline_reference; for tiny-sdxl build_sdxl.py's
"<scheduler>.negative" cases), and writes --out/<pipeline>_cuda_fp16.safetensors:
  <scheduler>.image          (1, H, W, 3) float32 in [0, 1]  (output_type="np")
  <scheduler>.final_latents  (1, 4, h, w) float32            (output_type="latent", as float32)
plus --out/cuda_fp16_metadata.json (versions, GPU, settings). diffusers keeps the latents in
float16 between steps and decodes in float16 (tiny-sdxl: in float32, its VAE's force_upcast).

Usage: build_cuda_references.py --data tests/data --out DIR   (diffusers' src/ on PYTHONPATH)
"""
import argparse
import json
import os
import sys

import numpy
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from build_references import E2E_NEGATIVE, E2E_PROMPT, E2E_SEED, E2E_STEPS, GUIDANCE, make_scheduler  # noqa: E402
from common import PIPELINES, SCHEDULERS  # noqa: E402
import build_sdxl  # noqa: E402


SDXL = "tiny-sdxl"


def references(folder, sdxl):
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    if sdxl:
        pipe = StableDiffusionXLPipeline.from_pretrained(folder, torch_dtype=torch.float16, add_watermarker=False)
    else:
        pipe = StableDiffusionPipeline.from_pretrained(folder, torch_dtype=torch.float16, safety_checker=None,
                                                       requires_safety_checker=False)
    pipe = pipe.to("cuda")
    pipe.set_progress_bar_config(disable=True)
    base_config = dict(pipe.scheduler.config)
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    guidance = build_sdxl.GUIDANCE if sdxl else GUIDANCE
    steps = build_sdxl.STEPS if sdxl else E2E_STEPS
    common = dict(prompt=E2E_PROMPT, negative_prompt=E2E_NEGATIVE, guidance_scale=guidance,
                  num_inference_steps=steps, height=size, width=size)
    tensors = {}
    for name in SCHEDULERS:
        pipe.scheduler = make_scheduler(base_config, name)
        with torch.no_grad():
            image = pipe(output_type="np", generator=torch.Generator("cpu").manual_seed(E2E_SEED), **common).images
            latents = pipe(output_type="latent", generator=torch.Generator("cpu").manual_seed(E2E_SEED),
                           **common).images
        tensors[f"{name}.image"] = torch.from_numpy(numpy.ascontiguousarray(image)).float()
        tensors[f"{name}.final_latents"] = latents.float().cpu().contiguous()
    return tensors, {"class": type(pipe).__name__, "size": size, "guidance_scale": guidance,
                     "num_inference_steps": steps}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="tests/data (holds tiny-sd, tiny-sd2, tiny-sdxl)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("build_cuda_references.py needs a CUDA GPU")
    import diffusers
    import transformers

    os.makedirs(args.out, exist_ok=True)
    meta = {"torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__,
            "gpu": torch.cuda.get_device_name(0), "dtype": "float16", "prompt": E2E_PROMPT,
            "negative_prompt": E2E_NEGATIVE, "seed": E2E_SEED, "schedulers": list(SCHEDULERS), "pipelines": {}}
    for name in list(PIPELINES) + [SDXL]:
        tensors, info = references(os.path.join(args.data, name), name == SDXL)
        save_file(tensors, os.path.join(args.out, f"{name}_cuda_fp16.safetensors"))
        meta["pipelines"][name] = info
    with open(os.path.join(args.out, "cuda_fp16_metadata.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
