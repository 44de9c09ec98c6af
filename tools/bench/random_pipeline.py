#!/usr/bin/env python3
"""Stable Diffusion 1.5- and XL-sized pipelines with random weights, for GPU benchmarks.

  random_pipeline.py make DIR --tokenizer TOKDIR [--arch sd15|sdxl]
        write the pipeline (fp16 safetensors, diffusers layout)
  random_pipeline.py bench DIR --batches 1,4,8,16 [--steps 25,50] [--compiled]
        time diffusers on it, one JSON line per batch and step count, at the model's native size
        (512x512 or 1024x1024): PyTorch eager, or with --compiled the recipe a Python user turns
        on for speed: UNet and VAE channels_last, pipe.fuse_qkv_projections(),
        torch.compile(pipe.unet, mode="reduce-overhead")
  random_pipeline.py flops DIR                       FLOPs of one UNet call at the native size (1 and 2 rows)
  random_pipeline.py profile DIR OUT.json --batch 1  a Chrome trace of a few UNet calls (profile_table.py)
  random_pipeline.py loras DIR OUT --count 8 --rank 32
        write COUNT random LoRAs for the pipeline in DIR (OUT/lora-<i>.safetensors, diffusers/PEFT
        keys, fp16): rank RANK on every attention projection of the UNet (to_q, to_k, to_v,
        to_out.0) and of the text encoders (q_proj, k_proj, v_proj, out_proj), diffusers'
        default LoRA targets; needs only torch and safetensors

All need PyTorch, transformers and diffusers (diffusers is an optional benchmark tool: put its
source on PYTHONPATH). The architectures are the released ones: SD 1.5 (UNet 859.5M parameters,
CLIP ViT-L/14, the 4-channel f=8 VAE) and SDXL base 1.0 (UNet 2.57G parameters with the
text_time added conditioning, CLIP ViT-L/14 + OpenCLIP ViT-bigG/14 with projection, the f=8 VAE
with scaling factor 0.13025 and force_upcast). Weights are seeded random, so images are noise
but every tensor has the real size. The tokenizer is the project's own (any CLIP-format vocab
works: ids stay below the text encoders' 49408 embeddings); SDXL's second tokenizer is the same
vocabulary padding with "!", as SDXL's.
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

# Stable Diffusion XL base 1.0 (its unet/, vae/, text_encoder/, text_encoder_2/ config.json).
UNET_XL = dict(sample_size=128, in_channels=4, out_channels=4, layers_per_block=2,
               block_out_channels=[320, 640, 1280],
               down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
               up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
               transformer_layers_per_block=[1, 2, 10], attention_head_dim=[5, 10, 20],
               cross_attention_dim=2048, use_linear_projection=True, addition_embed_type="text_time",
               addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816, norm_num_groups=32)
VAE_XL = dict(VAE, sample_size=1024, scaling_factor=0.13025, force_upcast=True)
CLIP_G = dict(vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
              num_attention_heads=20, max_position_embeddings=77, hidden_act="gelu", projection_dim=1280)


def make(args):
    import torch
    from diffusers import (AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline,
                           UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(0)
    tokenizer = CLIPTokenizer.from_pretrained(args.tokenizer)
    scheduler = DDIMScheduler(**SCHEDULER)
    if args.arch == "sd15":
        unet = UNet2DConditionModel(**UNET).half()
        vae = AutoencoderKL(**VAE).half()
        text_encoder = CLIPTextModel(CLIPTextConfig(**CLIP)).half()
        pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                       scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    else:
        # Initialised on the GPU when there is one: 3.5G parameters take minutes on a CPU.
        with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
            unet = UNet2DConditionModel(**UNET_XL).half()
            vae = AutoencoderKL(**VAE_XL).half()
            text_encoder = CLIPTextModel(CLIPTextConfig(**CLIP)).half()
            text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_G)).half()
        tokenizer_2 = CLIPTokenizer.from_pretrained(args.tokenizer, pad_token="!")
        pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                         tokenizer=tokenizer, tokenizer_2=tokenizer_2, unet=unet,
                                         scheduler=scheduler, add_watermarker=False)
    pipe.save_pretrained(args.dir, safe_serialization=True)
    params = sum(p.numel() for p in unet.parameters())
    print(json.dumps({"made": args.dir, "arch": args.arch, "unet_params": params}))


PROMPT = "a photograph of an astronaut riding a horse"


def is_xl(directory):
    with open(os.path.join(directory, "model_index.json")) as f:
        return json.load(f)["_class_name"].startswith("StableDiffusionXL")


def load(directory, compiled):
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline

    if is_xl(directory):
        pipe = StableDiffusionXLPipeline.from_pretrained(directory, torch_dtype=torch.float16, add_watermarker=False)
    else:
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


def native_size(pipe):
    return pipe.unet.config.sample_size * pipe.vae_scale_factor


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
    import torch
    pipe = load(args.dir, args.compiled)
    impl = "diffusers-compiled" if args.compiled else "diffusers"
    xl = is_xl(args.dir)
    size = native_size(pipe)
    for batch in [int(b) for b in args.batches.split(",")]:
        prompts = [PROMPT] * batch

        def run(steps, output_type="pil"):
            return pipe(prompts, num_inference_steps=steps, height=size, width=size, guidance_scale=7.5,
                        output_type=output_type)

        first_s, _ = seconds(lambda: run(5))  # compiles (and captures) for this batch size
        run(5)
        short_s, _ = seconds(lambda: run(5, "latent"), args.repeat)
        for steps in [int(s) for s in str(args.steps).split(",")]:
            total_s, _ = seconds(lambda: run(steps), args.repeat)
            long_s, latents = seconds(lambda: run(steps, "latent"), args.repeat)
            latents = latents.images / pipe.vae.config.scaling_factor
            with torch.no_grad():  # as the pipeline runs them
                decode_s, _ = seconds(lambda: decode(pipe, latents), args.repeat)
                encode_s, _ = seconds(lambda: pipe.encode_prompt(prompt=prompts, device="cuda",
                                                                 num_images_per_prompt=1,
                                                                 do_classifier_free_guidance=True), args.repeat)
            print(json.dumps({"impl": impl, "model": "sdxl" if xl else "sd15", "size": size,
                              "batch": batch, "steps": steps,
                              "first_call_s": round(first_s, 2),
                              "unet_step_ms": 1000 * (long_s - short_s) / (steps - 5),
                              "decode_ms": 1000 * decode_s, "encode_ms": 1000 * encode_s,
                              "total_ms": 1000 * total_s, "images_per_s": batch / total_s}), flush=True)


def decode(pipe, latents):
    """The VAE decode as the pipeline runs it: SDXL's force_upcast VAE in float32."""
    import torch
    if not getattr(pipe.vae.config, "force_upcast", False) or not hasattr(pipe, "text_encoder_2"):
        return pipe.vae.decode(latents)
    pipe.vae.to(torch.float32)
    image = pipe.vae.decode(latents.float())
    pipe.vae.to(torch.float16)
    return image


def unet_inputs(pipe, rows):
    """One UNet call's arguments at the native size: sample, timesteps and the keyword arguments
    (the context; SDXL's pooled text and time ids)."""
    import torch
    generator = torch.Generator("cuda").manual_seed(0)
    latent = pipe.unet.config.sample_size
    sample = torch.randn((rows, 4, latent, latent), generator=generator, device="cuda", dtype=torch.float16)
    context = torch.randn((rows, 77, pipe.unet.config.cross_attention_dim), generator=generator, device="cuda",
                          dtype=torch.float16)
    timesteps = torch.full((rows,), 500.0, device="cuda")
    kwargs = {"encoder_hidden_states": context}
    if pipe.unet.config.addition_embed_type == "text_time":
        size = float(native_size(pipe))
        text_embeds = torch.randn((rows, pipe.text_encoder_2.config.projection_dim), generator=generator,
                                  device="cuda", dtype=torch.float16)
        time_ids = torch.tensor([[size, size, 0.0, 0.0, size, size]] * rows, device="cuda", dtype=torch.float16)
        kwargs["added_cond_kwargs"] = {"text_embeds": text_embeds, "time_ids": time_ids}
    return sample, timesteps, kwargs


def flops(args):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    pipe = load(args.dir, False)
    for rows in (1, 2):
        sample, timesteps, kwargs = unet_inputs(pipe, rows)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            pipe.unet(sample, timesteps, **kwargs)
        print(json.dumps({"unet_rows": rows, "size": native_size(pipe), "flops": counter.get_total_flops()}),
              flush=True)


def profile(args):
    """Chrome trace of --calls UNet calls at 2 x --batch rows (guidance doubles the rows), each in
    a "muse::unet_step" range, as muse-generate --profile names the C++ pipeline's."""
    import torch
    from torch.profiler import ProfilerActivity, record_function

    pipe = load(args.dir, args.compiled)
    sample, timesteps, kwargs = unet_inputs(pipe, 2 * args.batch)
    with torch.no_grad():
        for _ in range(3):
            pipe.unet(sample, timesteps, **kwargs)
        torch.cuda.synchronize()
        with torch.profiler.profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(args.calls):
                with record_function("muse::unet_step"):
                    pipe.unet(sample, timesteps, **kwargs)
                torch.cuda.synchronize()
    prof.export_chrome_trace(args.out)


def loras(args):
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file
    targets = {"unet": ("to_q", "to_k", "to_v", "to_out.0"),
               "text_encoder": ("q_proj", "k_proj", "v_proj", "out_proj"),
               "text_encoder_2": ("q_proj", "k_proj", "v_proj", "out_proj")}
    shapes = {}
    for component, names in targets.items():
        folder = os.path.join(args.dir, component)
        if not os.path.isdir(folder):
            continue
        for file in sorted(f for f in os.listdir(folder) if f.endswith(".safetensors")):
            with safe_open(os.path.join(folder, file), "pt") as weights:
                for key in weights.keys():
                    if not key.endswith(".weight"):
                        continue
                    module = key[: -len(".weight")]
                    shape = weights.get_slice(key).get_shape()
                    if any(module.endswith("." + name) for name in names) and len(shape) == 2:
                        shapes[f"{component}.{module}"] = shape
    os.makedirs(args.out, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    for i in range(args.count):
        tensors = {}
        for module, (rows, columns) in sorted(shapes.items()):
            down = torch.randn(args.rank, columns, generator=generator) / columns ** 0.5
            up = torch.randn(rows, args.rank, generator=generator) * 0.01
            tensors[f"{module}.lora_A.weight"] = down.half().contiguous()
            tensors[f"{module}.lora_B.weight"] = up.half().contiguous()
        save_file(tensors, os.path.join(args.out, f"lora-{i}.safetensors"))
    print(json.dumps({"loras": args.count, "rank": args.rank, "modules": len(shapes)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--tokenizer", required=True)
    m.add_argument("--arch", choices=("sd15", "sdxl"), default="sd15")
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
    lo = sub.add_parser("loras")
    lo.add_argument("dir")
    lo.add_argument("out")
    lo.add_argument("--count", type=int, default=8)
    lo.add_argument("--rank", type=int, default=32)
    args = parser.parse_args()
    {"make": make, "bench": bench, "flops": flops, "profile": profile, "loras": loras}[args.command](args)


if __name__ == "__main__":
    main()
