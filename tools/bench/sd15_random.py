#!/usr/bin/env python3
"""Stable Diffusion 1.5-sized pipeline with random weights, for GPU benchmarks.

  sd15_random.py make DIR --tokenizer TOKDIR      write the pipeline (fp16 safetensors, diffusers layout)
  sd15_random.py bench DIR --batches 1,4,8,16    time diffusers on it, one JSON line per batch:
        PyTorch eager, or with --compiled the recipe a Python user turns on for speed: UNet and VAE
        channels_last, pipe.fuse_qkv_projections(), torch.compile(pipe.unet, mode="reduce-overhead")
  sd15_random.py flops DIR                       FLOPs of one UNet call at 512x512 (batch 1 and 2)
  sd15_random.py profile DIR --batch 1 OUT.json  a Chrome trace of a few UNet calls (profile_table.py)

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


PROMPT = "a photograph of an astronaut riding a horse"


def load(directory, compiled):
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(directory, torch_dtype=torch.float16,
                                                   safety_checker=None, requires_safety_checker=False)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe = pipe.to("cuda")
    pipe.set_progress_bar_config(disable=True)
    if compiled:
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
        pipe.fuse_qkv_projections()
        pipe.unet = torch.compile(pipe.unet, mode="reduce-overhead")
    return pipe


def seconds(fn, repeat=1):
    import torch
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeat):
        result = fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / repeat, result


def bench(args):
    """Per batch: the first call (compilation, for --compiled), then per step count whole images/s
    and the stages. The UNet step is the difference of two latent-only runs (the step count and 5
    steps) over the step difference, scheduler included, so eager and compiled are timed the same
    way."""
    pipe = load(args.dir, args.compiled)
    impl = "diffusers-compiled" if args.compiled else "diffusers"
    for batch in [int(b) for b in args.batches.split(",")]:
        prompts = [PROMPT] * batch

        def run(steps, output_type="pil"):
            return pipe(prompts, num_inference_steps=steps, height=512, width=512, guidance_scale=7.5,
                        output_type=output_type)

        first_s, _ = seconds(lambda: run(5))  # compiles (and captures) for this batch size
        run(5)
        short_s, _ = seconds(lambda: run(5, "latent"), args.repeat)
        for steps in [int(s) for s in str(args.steps).split(",")]:
            total_s, _ = seconds(lambda: run(steps), args.repeat)
            long_s, latents = seconds(lambda: run(steps, "latent"), args.repeat)
            latents = latents.images / pipe.vae.config.scaling_factor
            decode_s, _ = seconds(lambda: pipe.vae.decode(latents), args.repeat)
            encode_s, _ = seconds(lambda: pipe.encode_prompt(prompts, "cuda", 1, True), args.repeat)
            print(json.dumps({"impl": impl, "batch": batch, "steps": steps,
                              "first_call_s": round(first_s, 2),
                              "unet_step_ms": 1000 * (long_s - short_s) / (steps - 5),
                              "decode_ms": 1000 * decode_s, "encode_ms": 1000 * encode_s,
                              "total_ms": 1000 * total_s, "images_per_s": batch / total_s}), flush=True)


def unet_inputs(pipe, rows):
    import torch
    generator = torch.Generator("cuda").manual_seed(0)
    sample = torch.randn((rows, 4, 64, 64), generator=generator, device="cuda", dtype=torch.float16)
    context = torch.randn((rows, 77, 768), generator=generator, device="cuda", dtype=torch.float16)
    timesteps = torch.full((rows,), 500.0, device="cuda")
    return sample, timesteps, context


def flops(args):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    pipe = load(args.dir, False)
    for rows in (1, 2):
        sample, timesteps, context = unet_inputs(pipe, rows)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            pipe.unet(sample, timesteps, encoder_hidden_states=context)
        print(json.dumps({"unet_rows": rows, "size": 512, "flops": counter.get_total_flops()}), flush=True)


def profile(args):
    """Chrome trace of --calls UNet calls at 2 x --batch rows (guidance doubles the rows), each in
    a "muse::unet_step" range, as muse-generate --profile names the C++ pipeline's."""
    import torch
    from torch.profiler import ProfilerActivity, record_function

    pipe = load(args.dir, args.compiled)
    sample, timesteps, context = unet_inputs(pipe, 2 * args.batch)
    with torch.no_grad():
        for _ in range(3):
            pipe.unet(sample, timesteps, encoder_hidden_states=context)
        torch.cuda.synchronize()
        with torch.profiler.profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(args.calls):
                with record_function("muse::unet_step"):
                    pipe.unet(sample, timesteps, encoder_hidden_states=context)
                torch.cuda.synchronize()
    prof.export_chrome_trace(args.out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--tokenizer", required=True)
    b = sub.add_parser("bench")
    b.add_argument("dir")
    b.add_argument("--batches", default="1,8")
    b.add_argument("--steps", default="25", help="step counts, e.g. 25,50")
    b.add_argument("--repeat", type=int, default=2)
    b.add_argument("--compiled", action="store_true")
    f = sub.add_parser("flops")
    f.add_argument("dir")
    p = sub.add_parser("profile")
    p.add_argument("dir")
    p.add_argument("out")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--calls", type=int, default=5)
    p.add_argument("--compiled", action="store_true")
    args = parser.parse_args()
    {"make": make, "bench": bench, "flops": flops, "profile": profile}[args.command](args)


if __name__ == "__main__":
    main()
