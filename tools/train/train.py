#!/usr/bin/env python3
"""Train muse-tiny, the built-in 64x64 text-to-image model, from scratch on the emoji set.

Stage 1 trains a small AutoencoderKL (reconstruction + a small KL term) that maps 64x64 RGB
to 16x16x4 latents. Stage 2 trains a small UNet2DConditionModel jointly with a CLIPTextModel
from scratch on those latents (epsilon prediction, scaled-linear betas as in Stable Diffusion,
10% caption dropout so classifier-free guidance works, min-SNR loss weighting, EMA weights).
Each stage stops by wall clock, so the run fits a fixed time budget. The result is saved in
the diffusers layout (safetensors, fp32) with a DDIM scheduler config, followed by a preview
of the quality test: every item is sampled with DDIM at 25 steps and its nearest neighbour in
the data set is looked up by the same 8x8 feature the C++ test uses.

Needs torch, transformers, safetensors, numpy and diffusers' source on PYTHONPATH.

  PYTHONPATH=.cache/train python3 tools/train/train.py --data .cache/train/emoji64.npz \
      --tokenizer model/weights/muse-tiny/tokenizer --out OUT_DIR
"""

import argparse
import csv
import json
import math
import os
import random
import shutil
import time

import numpy as np
import torch
import torch.nn.functional as F

from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

RESOLUTION = 64
MAX_LENGTH = 77


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="emoji64.npz from prepare_data.py")
    parser.add_argument("--tokenizer", required=True, help="CLIP vocab.json/merges.txt folder")
    parser.add_argument("--out", required=True, help="output folder (diffusers layout + logs)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--vae-seconds", type=float, default=75.0)
    parser.add_argument("--unet-seconds", type=float, default=360.0)
    parser.add_argument("--vae-batch", type=int, default=1024)
    parser.add_argument("--unet-batch", type=int, default=2048)
    parser.add_argument("--vae-lr", type=float, default=1e-3)
    parser.add_argument("--unet-lr", type=float, default=2e-3)
    parser.add_argument("--kl-weight", type=float, default=1e-6)
    parser.add_argument("--caption-dropout", type=float, default=0.1)
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--preview-guidance", type=float, nargs="+", default=[3.0, 5.0, 7.5])
    parser.add_argument("--preview-items", type=int, default=0, help="0 = every item")
    # The architecture is sized for batching on a CPU: a UNet step costs a fixed dispatch
    # overhead plus compute per sample, and batching only pays when the compute does not dwarf
    # the overhead (see model/weights/muse-tiny/README.md). Most parameters sit at the 4x4 level,
    # where they cost the fewest multiply-adds per sample.
    parser.add_argument("--unet-channels", default="16,32,64", help="UNet block_out_channels")
    parser.add_argument("--vae-channels", default="16,32,64", help="VAE block_out_channels")
    parser.add_argument("--norm-groups", type=int, default=8, help="GroupNorm groups (UNet and VAE)")
    parser.add_argument("--prompts", default="tests/data/emoji/quality_prompts.txt",
                        help="the quality test's prompts (item names), one a line")
    return parser.parse_args()


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def channels(text):
    return tuple(int(c) for c in text.split(","))


def make_vae(args):
    return AutoencoderKL(
        in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=channels(args.vae_channels), layers_per_block=1, latent_channels=4,
        norm_num_groups=args.norm_groups, sample_size=RESOLUTION, act_fn="silu")


def make_text_encoder(tokenizer):
    config = CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=512,
        num_hidden_layers=3, num_attention_heads=4, max_position_embeddings=MAX_LENGTH,
        hidden_act="quick_gelu", projection_dim=128,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)
    return CLIPTextModel(config)


def make_unet(args):
    return UNet2DConditionModel(
        sample_size=RESOLUTION // 4, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        mid_block_type="UNetMidBlock2DCrossAttn",
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=channels(args.unet_channels), layers_per_block=1,
        cross_attention_dim=128, attention_head_dim=4, norm_num_groups=args.norm_groups)


def make_scheduler():
    return DDIMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
        beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False,
        steps_offset=1, prediction_type="epsilon")


def lr_at(fraction, peak, warmup_fraction=0.03):
    """Linear warm-up, then cosine decay to 5% of the peak, over the stage's wall-clock time."""
    if fraction < warmup_fraction:
        return peak * max(fraction, 1e-3) / warmup_fraction
    progress = min(1.0, (fraction - warmup_fraction) / (1.0 - warmup_fraction))
    return peak * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress)))


class loss_log:
    def __init__(self, path):
        self.file = open(path, "w", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerow(["stage", "step", "seconds", "loss", "lr"])

    def add(self, stage, step, seconds, loss, lr):
        self.writer.writerow([stage, step, f"{seconds:.1f}", f"{loss:.6f}", f"{lr:.6g}"])
        self.file.flush()
        print(f"{stage} step {step} t={seconds:.0f}s loss={loss:.5f} lr={lr:.2e}", flush=True)


class mixed_precision:
    """bf16 autocast on CUDA; falls back to fp32 for good if the first step fails under it."""

    def __init__(self, device):
        self.enabled = device.type == "cuda"

    def context(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.enabled)

    def run(self, step_function):
        try:
            return step_function()
        except RuntimeError as error:
            if not self.enabled:
                raise
            print(f"bf16 autocast failed ({error}); training in fp32", flush=True)
            self.enabled = False
            return step_function()


def train_vae(vae, images, args, log, device):
    vae.train()
    amp = mixed_precision(device)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, weight_decay=0.0)
    start = time.time()
    step = 0
    while True:
        elapsed = time.time() - start
        if elapsed >= args.vae_seconds:
            break
        lr = lr_at(elapsed / args.vae_seconds, args.vae_lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = images[torch.randint(0, images.shape[0], (args.vae_batch,), device=device)]

        def one_step():
            with amp.context():
                posterior = vae.encode(batch).latent_dist
                reconstruction = vae.decode(posterior.sample()).sample.float()
                loss = (F.mse_loss(reconstruction, batch) + F.l1_loss(reconstruction, batch)
                        + args.kl_weight * posterior.kl().float().mean())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return loss
        loss = amp.run(one_step) if step == 0 else one_step()
        step += 1
        if step % 100 == 0:
            log.add("vae", step, time.time() - start, loss.item(), lr)
    log.add("vae", step, time.time() - start, loss.item(), lr)
    vae.eval()
    return step


@torch.no_grad()
def encode_all(vae, images, batch=512):
    means, stds = [], []
    for first in range(0, images.shape[0], batch):
        dist = vae.encode(images[first:first + batch]).latent_dist
        means.append(dist.mean)
        stds.append(dist.std)
    return torch.cat(means), torch.cat(stds)


def tokenize(tokenizer, texts, device):
    ids = tokenizer(texts, padding="max_length", max_length=MAX_LENGTH, truncation=True,
                    return_tensors="pt").input_ids
    return ids.to(device)


def train_unet(unet, text_encoder, latent_mean, latent_std, scale, item_of_image,
               caption_ids, caption_owner, empty_ids, args, log, device):
    """caption_ids: (V, 77) every caption variant; caption_owner: item of each variant."""
    unet.train()
    text_encoder.train()
    parameters = list(unet.parameters()) + list(text_encoder.parameters())
    ema = [p.detach().clone() for p in parameters]
    amp = mixed_precision(device)
    optimizer = torch.optim.AdamW(parameters, lr=args.unet_lr, weight_decay=1e-2)
    scheduler = make_scheduler()
    alphas = scheduler.alphas_cumprod.to(device)
    snr = alphas / (1.0 - alphas)
    loss_weight = torch.clamp(snr, max=5.0) / snr

    # Variants of each item, as a padded table for one-gather sampling.
    owners = caption_owner.tolist()
    items = int(item_of_image.max().item()) + 1
    per_item = [[] for _ in range(items)]
    for variant, owner in enumerate(owners):
        per_item[owner].append(variant)
    widest = max(len(v) for v in per_item)
    variant_table = torch.tensor([v + [v[0]] * (widest - len(v)) for v in per_item], device=device)
    variant_count = torch.tensor([len(v) for v in per_item], device=device)

    start = time.time()
    step = 0
    while True:
        elapsed = time.time() - start
        if elapsed >= args.unet_seconds:
            break
        lr = lr_at(elapsed / args.unet_seconds, args.unet_lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        picks = torch.randint(0, latent_mean.shape[0], (args.unet_batch,), device=device)
        latents = (latent_mean[picks] + latent_std[picks] * torch.randn_like(latent_mean[picks])) * scale
        owner = item_of_image[picks]
        choice = (torch.rand(args.unet_batch, device=device) * variant_count[owner]).long()
        ids = caption_ids[variant_table[owner, choice]]
        drop = torch.rand(args.unet_batch, device=device) < args.caption_dropout
        ids = torch.where(drop[:, None], empty_ids[None, :], ids)
        timesteps = torch.randint(0, 1000, (args.unet_batch,), device=device)
        noise = torch.randn_like(latents)
        a = alphas[timesteps].sqrt()[:, None, None, None]
        s = (1.0 - alphas[timesteps]).sqrt()[:, None, None, None]
        noisy = a * latents + s * noise

        def one_step():
            with amp.context():
                context = text_encoder(ids)[0]
                prediction = unet(noisy, timesteps, context).sample.float()
                per_sample = ((prediction - noise) ** 2).mean(dim=(1, 2, 3))
                loss = (per_sample * loss_weight[timesteps]).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            return loss
        loss = amp.run(one_step) if step == 0 else one_step()
        decay = min(args.ema_decay, (1.0 + step) / (10.0 + step))
        with torch.no_grad():
            torch._foreach_lerp_(ema, [p.detach() for p in parameters], 1.0 - decay)
        step += 1
        if step % 100 == 0:
            log.add("unet", step, time.time() - start, loss.item(), lr)
    log.add("unet", step, time.time() - start, loss.item(), lr)
    with torch.no_grad():
        for p, e in zip(parameters, ema):
            p.copy_(e)
    unet.eval()
    text_encoder.eval()
    return step


def feature_8x8(images_uint8):
    """(N, 64, 64, 3) uint8 -> (N, 192) float: 8x8 block means, rounded (as the C++ test)."""
    n = images_uint8.shape[0]
    grid = images_uint8.reshape(n, 8, 8, 8, 8, 3).float().mean(dim=(2, 4))
    return torch.floor(grid + 0.5).reshape(n, -1)


@torch.no_grad()
def sample(unet, text_encoder, vae, tokenizer, prompts, seeds, guidance, device, steps=25):
    """DDIM with classifier-free guidance; initial latents as diffusers draws them per seed."""
    scheduler = make_scheduler()
    scheduler.set_timesteps(steps)
    latents = torch.cat([torch.randn((1, 4, 16, 16), generator=torch.Generator("cpu").manual_seed(s))
                         for s in seeds]).to(device)
    cond = text_encoder(tokenize(tokenizer, prompts, device))[0]
    uncond = text_encoder(tokenize(tokenizer, [""] * len(prompts), device))[0]
    context = torch.cat([uncond, cond])
    latents = latents * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        model_in = torch.cat([latents, latents])
        eps_uncond, eps_cond = unet(model_in, t, context).sample.chunk(2)
        eps = eps_uncond + guidance * (eps_cond - eps_uncond)
        latents = scheduler.step(eps, t, latents).prev_sample
    pixels = vae.decode(latents / vae.config.scaling_factor).sample
    return ((pixels.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)


def write_png_grid(path, images, columns=16):
    import zlib
    import struct
    images = images.cpu().numpy()
    rows = (len(images) + columns - 1) // columns
    canvas = np.full((rows * RESOLUTION, columns * RESOLUTION, 3), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * RESOLUTION:(r + 1) * RESOLUTION, c * RESOLUTION:(c + 1) * RESOLUTION] = image
    raw = b"".join(b"\x00" + canvas[y].tobytes() for y in range(canvas.shape[0]))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", canvas.shape[1], canvas.shape[0], 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


@torch.no_grad()
def preview(unet, text_encoder, vae, tokenizer, data, args, device, out):
    names = [str(n) for n in data["names"]]
    item_of_image = torch.from_numpy(data["item"].astype(np.int64)).to(device)
    reference = feature_8x8(torch.from_numpy(data["images"]).to(device))
    count = len(names) if args.preview_items <= 0 else min(args.preview_items, len(names))
    with open(args.prompts, encoding="utf-8") as f:
        test_items = [names.index(line.strip()) for line in f if line.strip()]
    report = {"items": count, "guidance": {}, "test_items": test_items}
    for guidance in args.preview_guidance:
        hits, generated_all = [], []
        for first in range(0, count, 512):
            indices = list(range(first, min(count, first + 512)))
            generated = sample(unet, text_encoder, vae, tokenizer, [names[i] for i in indices],
                               indices, guidance, device)
            distances = torch.cdist(feature_8x8(generated), reference)
            nearest = item_of_image[distances.argmin(dim=1)]
            hits += (nearest.cpu() == torch.tensor(indices)).tolist()
            generated_all.append(generated)
        generated_all = torch.cat(generated_all)
        stds = generated_all.float().reshape(count, -1).std(dim=1)
        hit_set = {i for i, h in enumerate(hits) if h}
        test_hits = sum(1 for i in test_items if i in hit_set) if count == len(names) else -1
        report["guidance"][str(guidance)] = {
            "accuracy": sum(hits) / count, "hits": sorted(hit_set),
            "test_prompt_hits": test_hits,
            "std_min": stds.min().item(), "std_median": stds.median().item()}
        print(f"preview guidance {guidance}: nearest-neighbour accuracy "
              f"{sum(hits)}/{count} = {sum(hits) / count:.3f}, test prompts {test_hits}/"
              f"{len(test_items)}, std min {stds.min():.1f}", flush=True)
        shown = test_items + [i for i in range(count) if i not in test_items]
        write_png_grid(os.path.join(out, f"preview_g{guidance}.png"),
                       generated_all[torch.tensor(shown[:160]) % count])
    with open(os.path.join(out, "preview.json"), "w") as f:
        json.dump(report, f)
    return report


def main():
    args = parse_args()
    seed_everything(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    os.makedirs(args.out, exist_ok=True)
    log = loss_log(os.path.join(args.out, "loss.csv"))
    begun = time.time()

    data = dict(np.load(args.data))
    images = torch.from_numpy(data["images"]).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    item_of_image = torch.from_numpy(data["item"].astype(np.int64)).to(device)
    tokenizer = CLIPTokenizer.from_pretrained(args.tokenizer)

    variants, owners = [], []
    for item, line in enumerate(data["captions"]):
        for variant in str(line).split("|"):
            variants.append(variant)
            owners.append(item)
    caption_ids = tokenize(tokenizer, variants, device)
    empty_ids = tokenize(tokenizer, [""], device)[0]
    print(f"{images.shape[0]} images, {len(data['names'])} items, {len(variants)} captions",
          flush=True)

    vae = make_vae(args).to(device)
    vae_steps = train_vae(vae, images, args, log, device)
    latent_mean, latent_std = encode_all(vae, images)
    scale = 1.0 / latent_mean.std().item()
    vae.register_to_config(scaling_factor=scale)
    with torch.no_grad():
        check = vae.decode(latent_mean[:512]).sample
        vae_error = (check - images[:512]).abs().mean().item() * 127.5
    print(f"vae: {vae_steps} steps, scaling factor {scale:.4f}, "
          f"mean abs reconstruction error {vae_error:.2f}/255", flush=True)

    text_encoder = make_text_encoder(tokenizer).to(device)
    unet = make_unet(args).to(device)
    unet_steps = train_unet(unet, text_encoder, latent_mean, latent_std, scale, item_of_image,
                            caption_ids, torch.tensor(owners), empty_ids, args, log, device)

    model_dir = os.path.join(args.out, "muse-tiny")
    vae.save_pretrained(os.path.join(model_dir, "vae"), safe_serialization=True)
    unet.save_pretrained(os.path.join(model_dir, "unet"), safe_serialization=True)
    text_encoder.save_pretrained(os.path.join(model_dir, "text_encoder"), safe_serialization=True)
    make_scheduler().save_pretrained(os.path.join(model_dir, "scheduler"))
    shutil.copytree(args.tokenizer, os.path.join(model_dir, "tokenizer"), dirs_exist_ok=True)
    import diffusers
    with open(os.path.join(model_dir, "model_index.json"), "w") as f:
        json.dump({"_class_name": "StableDiffusionPipeline",
                   "_diffusers_version": diffusers.__version__,
                   "feature_extractor": [None, None], "image_encoder": [None, None],
                   "requires_safety_checker": False, "safety_checker": [None, None],
                   "scheduler": ["diffusers", "DDIMScheduler"],
                   "text_encoder": ["transformers", "CLIPTextModel"],
                   "tokenizer": ["transformers", "CLIPTokenizer"],
                   "unet": ["diffusers", "UNet2DConditionModel"],
                   "vae": ["diffusers", "AutoencoderKL"]}, f, indent=2)
        f.write("\n")

    counts = {name: sum(p.numel() for p in module.parameters())
              for name, module in (("vae", vae), ("unet", unet), ("text_encoder", text_encoder))}
    trained = time.time() - begun
    report = preview(unet, text_encoder, vae, tokenizer, data, args, device, args.out)
    summary = {"seed": args.seed, "device": torch.cuda.get_device_name() if device.type == "cuda"
               else "cpu", "torch": torch.__version__, "vae_steps": vae_steps,
               "unet_steps": unet_steps, "vae_batch": args.vae_batch,
               "unet_batch": args.unet_batch, "vae_seconds": args.vae_seconds,
               "unet_seconds": args.unet_seconds, "train_wall_seconds": trained,
               "vae_mean_abs_error_255": vae_error, "scaling_factor": scale,
               "parameters": counts, "unet_channels": args.unet_channels,
               "vae_channels": args.vae_channels, "norm_groups": args.norm_groups,
               "preview_accuracy": {g: r["accuracy"] for g, r in report["guidance"].items()}}
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary, indent=2), flush=True)


if __name__ == "__main__":
    main()
