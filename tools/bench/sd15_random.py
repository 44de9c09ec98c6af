#!/usr/bin/env python3
"""Stable Diffusion 1.5-sized pipeline with random weights, for GPU benchmarks.

  sd15_random.py make DIR --tokenizer TOKDIR      write the pipeline (fp16 safetensors, diffusers layout)
  sd15_random.py bench DIR --batches 1,4,8,16    time diffusers (PyTorch eager) on it, one JSON line per batch

Both need PyTorch, transformers and diffusers (diffusers is an optional benchmark tool: put its
source on PYTHONPATH). The architecture is SD 1.5's (UNet 859.5M parameters, CLIP ViT-L/14 text
encoder, the 4-channel f=8 VAE); weights are seeded random, so images are noise but every
tensor has the real size. The tokenizer is the project's own (any CLIP-format vocab works: ids
stay below the text encoder's 49408 embeddings).
"""
import argparse
import json
import os
import shutil
import sys
import time

UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
            block_out_channels=[320, 640, 1280, 1280],
            down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
            up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
            cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32)
VAE = dict(in_channels=3, out_channels=3, latent_channels=4, sample_size=512, layers_per_block=2,
           block_out_channels=[128, 256, 512, 512],
           down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)
CLIP = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
            num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
            projection_dim=768)
SCHEDULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                 num_train_timesteps=1000, clip_sample=False, set_alpha_to_one=False,
                 steps_offset=1, prediction_type="epsilon")


def make(args):
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(**UNET).half()
    vae = AutoencoderKL(**VAE).half()
    text_encoder = CLIPTextModel(CLIPTextConfig(**CLIP)).half()
    tokenizer = CLIPTokenizer.from_pretrained(args.tokenizer)
    scheduler = DDIMScheduler(**SCHEDULER)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(args.dir, safe_serialization=True)
    params = sum(p.numel() for p in unet.parameters())
    print(json.dumps({"made": args.dir, "unet_params": params}))


def bench(args):
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(args.dir, torch_dtype=torch.float16,
                                                   safety_checker=None, requires_safety_checker=False)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe = pipe.to("cuda")
    pipe.set_progress_bar_config(disable=True)

    unet_times = []
    original_forward = pipe.unet.forward

    def timed_forward(*a, **k):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = original_forward(*a, **k)
        torch.cuda.synchronize()
        unet_times.append(time.perf_counter() - t0)
        return out

    pipe.unet.forward = timed_forward
    for batch in [int(b) for b in args.batches.split(",")]:
        prompts = ["a photograph of an astronaut riding a horse"] * batch
        pipe(prompts, num_inference_steps=5, height=512, width=512)  # warm-up
        unet_times.clear()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(args.repeat):
            pipe(prompts, num_inference_steps=args.steps, height=512, width=512, guidance_scale=7.5)
        torch.cuda.synchronize()
        total = time.perf_counter() - t0
        unet_times.sort()
        print(json.dumps({"impl": "diffusers", "batch": batch, "steps": args.steps,
                          "unet_step_ms": 1000 * unet_times[len(unet_times) // 2],
                          "images_per_s": batch * args.repeat / total}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--tokenizer", required=True)
    b = sub.add_parser("bench")
    b.add_argument("dir")
    b.add_argument("--batches", default="1,8")
    b.add_argument("--steps", type=int, default=25)
    b.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    make(args) if args.command == "make" else bench(args)


if __name__ == "__main__":
    main()
