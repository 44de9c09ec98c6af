#!/usr/bin/env python3
"""Build the tiny random-weight Stable Diffusion XL pipeline (base 1.0 architecture, diffusers
layout, fp32) and its reference outputs with transformers/diffusers, on the CPU.

The pipeline is common.TINY_SDXL: CLIPTextModel (text_encoder) with tiny-sd's tokenizer,
CLIPTextModelWithProjection (text_encoder_2) with tiny-sd2's tokenizer (pads with "!", as SDXL's
second tokenizer does), a UNet2DConditionModel with the "text_time" added conditioning and a
transformer_layers_per_block list, an AutoencoderKL with scaling_factor 0.13025 and
force_upcast, SDXL's EulerDiscreteScheduler config; force_zeros_for_empty_prompt true. Every
component is created after torch.manual_seed and then perturbed (common.perturb), saved with
StableDiffusionXLPipeline.save_pretrained(safe_serialization=True), and the tokenizer folders are
put back to the committed files they were read from. Every reference is computed on the pipeline
reloaded from that folder.

Writes, under --out (the layout of tests/data):
  tiny-sdxl/                                  the pipeline
  reference/tiny-sdxl_text_encoders.safetensors
      per prompt set: text_encoder.{input_ids, last_hidden_state, penultimate, pooler_output},
      text_encoder_2.{input_ids, last_hidden_state, penultimate, pooler_output, text_embeds}
      (penultimate = hidden_states[-2]; pooler_output = the EOS token's final-layer-norm state;
      text_embeds = text_projection(pooler_output))
  reference/tiny-sdxl_encode_prompt.safetensors
      per case: <case>.{prompt_embeds, negative_prompt_embeds, pooled_prompt_embeds,
      negative_pooled_prompt_embeds} from pipe.encode_prompt; time_ids.<case> from
      pipe._get_add_time_ids
  reference/tiny-sdxl_unet.safetensors        UNet on fixed inputs with added_cond_kwargs
  reference/tiny-sdxl_vae.safetensors         VAE decode (plain, and through the fp16 upcast path)
                                              and encode
  reference/tiny-sdxl_pipeline.safetensors    StableDiffusionXLPipeline end to end, every
                                              scheduler of common.SCHEDULERS that it accepts
  reference/sdxl.json                         cases, configs, versions, statistics
It stops with an error (after writing what it made, and naming what failed) on any surprise.

Usage: build_sdxl.py --tokenizers tests/data --out DIR
(The single file is checked by check_sdxl_single_file.py.)
"""

import argparse
import importlib.util
import json
import math
import os
import platform
import shutil
import sys
import traceback

import numpy
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from build_references import E2E_NEGATIVE, E2E_PROMPT, E2E_SEED, PROMPTS, contiguous, make_scheduler, stats  # noqa: E402
from common import SCHEDULERS, TINY_SDXL, perturb  # noqa: E402

NAME = "tiny-sdxl"
TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json")
STEPS = 10
GUIDANCE = 5.0  # StableDiffusionXLPipeline's default
LONG_PROMPT = ", ".join(["a tiny red fox in a snowy forest at dawn"] * 12)  # well over 77 tokens
# encode_prompt cases: name -> keyword arguments (negative_prompt None is diffusers' "no negative":
# zeroed with force_zeros_for_empty_prompt; "" is encoded like any other prompt).
ENCODE_CASES = {
    "negative": dict(prompt=E2E_PROMPT, negative_prompt=E2E_NEGATIVE),
    "no_negative": dict(prompt=E2E_PROMPT, negative_prompt=None),
    "empty_negative": dict(prompt=E2E_PROMPT, negative_prompt=""),
    "prompt_2": dict(prompt=E2E_PROMPT, prompt_2="an oil painting of a lighthouse", negative_prompt=E2E_NEGATIVE,
                     negative_prompt_2="dark, grainy"),
    "batch": dict(prompt=["a red sports car driving through the desert", "a castle on a cliff above a stormy sea"],
                  negative_prompt=["low quality", "blurry, text"]),
    "long": dict(prompt=LONG_PROMPT, negative_prompt=E2E_NEGATIVE),
}
# _get_add_time_ids cases: name -> (original_size, crops_coords_top_left, target_size), (h, w) pairs
TIME_ID_CASES = {
    "square": ((32, 32), (0, 0), (32, 32)),
    "nonsquare": ((32, 48), (0, 0), (32, 48)),
    "micro": ((64, 96), (4, 8), (32, 48)),
    "sdxl_1024": ((1024, 1024), (0, 0), (1024, 1024)),
}
# End-to-end variants beyond "<scheduler>.negative" and "<scheduler>.no_negative" (every scheduler):
# name -> (scheduler, pipeline keyword arguments)
EXTRA_E2E = {
    "euler.nonsquare": ("euler", dict(negative_prompt=E2E_NEGATIVE, height=32, width=48)),
    "euler.micro": ("euler", dict(negative_prompt=E2E_NEGATIVE, height=32, width=48, original_size=(64, 96),
                                  crops_coords_top_left=(4, 8))),
    "euler.empty_negative": ("euler", dict(negative_prompt="")),
    "euler.no_guidance": ("euler", dict(negative_prompt=E2E_NEGATIVE, guidance_scale=1.0)),
}
SIZE_LIMIT = 3_000_000  # bytes of the pipeline folder (about 1.8 MB expected): tests/data stays small


class Unexpected(RuntimeError):
    pass


def expect(condition, message):
    if not condition:
        raise Unexpected(message)


def plain(value):
    """JSON-safe copy: tuples to lists, non-finite floats to strings, other objects to str."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, numpy.generic):
        return plain(value.item())
    return str(value)


def finite(tensors, what):
    for key, value in tensors.items():
        if value.is_floating_point():
            expect(bool(torch.isfinite(value).all()), f"{what}: {key} has non-finite values")


def read_files(folder):
    out = {}
    for file_name in TOKENIZER_FILES:
        with open(os.path.join(folder, file_name), "rb") as handle:
            out[file_name] = handle.read()
    return out


def build(tokenizer_root, out_dir):
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    spec = TINY_SDXL
    seed = spec["seed"]
    parts = {}
    originals = {}
    for key, model_class, offset in (("text_encoder", CLIPTextModel, 1000), ("text_encoder_2",
                                                                            CLIPTextModelWithProjection, 1100)):
        tokenizer_key = key.replace("text_encoder", "tokenizer")
        folder = os.path.join(tokenizer_root, spec[tokenizer_key], "tokenizer")
        originals[tokenizer_key] = read_files(folder)
        tokenizer = CLIPTokenizer.from_pretrained(folder)
        vocab = json.loads(originals[tokenizer_key]["vocab.json"])
        config = CLIPTextConfig(vocab_size=len(vocab), bos_token_id=vocab["<|startoftext|>"],
                                eos_token_id=vocab["<|endoftext|>"], pad_token_id=tokenizer.pad_token_id,
                                **spec[key])
        torch.manual_seed(seed)
        model = model_class(config)
        perturb(model, offset + seed)
        parts[key] = model.eval()
        parts[tokenizer_key] = tokenizer
    expect(parts["tokenizer"].pad_token == "<|endoftext|>" and parts["tokenizer_2"].pad_token == "!",
           f"pad tokens {parts['tokenizer'].pad_token!r}, {parts['tokenizer_2'].pad_token!r}")

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**spec["unet"])
    perturb(unet, 2000 + seed)
    torch.manual_seed(seed)
    vae = AutoencoderKL(**spec["vae"])
    perturb(vae, 3000 + seed)
    expect(spec["scheduler"]["_class_name"] == "EulerDiscreteScheduler", "SDXL ships EulerDiscreteScheduler")
    scheduler = EulerDiscreteScheduler.from_config(spec["scheduler"])

    pipe = StableDiffusionXLPipeline(vae=vae.eval(), text_encoder=parts["text_encoder"],
                                     text_encoder_2=parts["text_encoder_2"], tokenizer=parts["tokenizer"],
                                     tokenizer_2=parts["tokenizer_2"], unet=unet.eval(), scheduler=scheduler,
                                     force_zeros_for_empty_prompt=True, add_watermarker=False)
    target = os.path.join(out_dir, NAME)
    if os.path.exists(target):
        shutil.rmtree(target)
    pipe.save_pretrained(target, safe_serialization=True)
    written = {}
    for tokenizer_key, files in originals.items():
        folder = os.path.join(target, tokenizer_key)
        written[tokenizer_key] = sorted(os.listdir(folder))
        for file_name in os.listdir(folder):
            os.remove(os.path.join(folder, file_name))
        for file_name, content in files.items():
            with open(os.path.join(folder, file_name), "wb") as handle:
                handle.write(content)
    counts = {key: sum(p.numel() for p in module.parameters())
              for key, module in (("text_encoder", parts["text_encoder"]), ("text_encoder_2", parts["text_encoder_2"]),
                                  ("unet", unet), ("vae", vae))}
    size = sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(target) for f in files)
    print(f"{NAME}: saved to {target}; {size} bytes; parameters {counts}; transformers wrote {written}", flush=True)
    expect(size <= SIZE_LIMIT, f"{target} holds {size} bytes, more than {SIZE_LIMIT}")
    with open(os.path.join(target, "model_index.json")) as handle:
        index = json.load(handle)
    expect(index.get("force_zeros_for_empty_prompt") is True, "model_index.json lacks force_zeros_for_empty_prompt")
    return {"parameters": counts, "bytes": size, "tokenizer_files_written_by_transformers": written}


def load(out_dir):
    from diffusers import StableDiffusionXLPipeline

    pipe = StableDiffusionXLPipeline.from_pretrained(os.path.join(out_dir, NAME), add_watermarker=False)
    pipe.set_progress_bar_config(disable=True)
    pipe = pipe.to("cpu", torch.float32)
    for part in ("text_encoder", "text_encoder_2", "unet", "vae"):
        for key, param in getattr(pipe, part).named_parameters():
            expect(param.dtype == torch.float32, f"{part}.{key}: {param.dtype}")
    expect(pipe.watermark is None if hasattr(pipe, "watermark") else True, "a watermarker is on")
    expect(type(pipe.text_encoder_2).__name__ == "CLIPTextModelWithProjection", type(pipe.text_encoder_2).__name__)
    expect(pipe.config.force_zeros_for_empty_prompt, "force_zeros_for_empty_prompt is off after reload")
    expect(pipe.vae.config.force_upcast and pipe.vae.config.scaling_factor == 0.13025, "VAE config")
    expect(pipe.tokenizer_2.pad_token == "!", f"tokenizer_2 pads with {pipe.tokenizer_2.pad_token!r}")
    return pipe


def encode(model, ids):
    """Every output the conditioner needs from one CLIP text model."""
    # transformers 5's CLIPTextModel is the text transformer itself (no text_model submodule);
    # CLIPTextModelWithProjection wraps one as text_model. Either returns pooler_output.
    inner = getattr(model, "text_model", None)
    inner = inner if isinstance(inner, torch.nn.Module) else model
    with torch.no_grad():
        out = model(ids, output_hidden_states=True)
        text_model_out = inner(ids)
    tensors = {"input_ids": ids, "last_hidden_state": out.last_hidden_state, "penultimate": out.hidden_states[-2],
               "pooler_output": text_model_out.pooler_output}
    expect(torch.equal(text_model_out.last_hidden_state, out.last_hidden_state), "text_model and model disagree")
    expect(len(out.hidden_states) == model.config.num_hidden_layers + 1, f"{len(out.hidden_states)} hidden states")
    if hasattr(out, "text_embeds") and out.text_embeds is not None:
        tensors["text_embeds"] = out.text_embeds
        with torch.no_grad():
            projected = model.text_projection(text_model_out.pooler_output)
        expect(torch.allclose(projected, out.text_embeds, atol=1e-6), "text_embeds != text_projection(pooler_output)")
    return tensors


def eos_positions(ids, eos_id):
    return [int(row.tolist().index(eos_id)) for row in ids]


def text_encoders_reference(pipe):
    tensors, meta = {}, {"prompt_sets": {}, "eos": {}}
    sets = {"prompts": PROMPTS, "long": [LONG_PROMPT, ""]}
    for key, tokenizer_key in (("text_encoder", "tokenizer"), ("text_encoder_2", "tokenizer_2")):
        tokenizer = getattr(pipe, tokenizer_key)
        model = getattr(pipe, key)
        eos_id = tokenizer.eos_token_id
        meta["eos"][key] = {"tokenizer_eos_token_id": eos_id, "config_eos_token_id": model.config.eos_token_id,
                            "pad_token_id": tokenizer.pad_token_id,
                            "note": "transformers pools at the first eos_token_id (argmax of the ids when "
                                    "eos_token_id is 2, the legacy configs); here both pick the same token"}
        for set_name, prompts in sets.items():
            ids = tokenizer(prompts, padding="max_length", max_length=77, truncation=True,
                            return_tensors="pt").input_ids.to(torch.int64)
            out = encode(model, ids)
            # The pooled row must be the state of the first EOS token after the final layer norm.
            positions = eos_positions(ids, eos_id)
            expect(positions == ids.argmax(-1).tolist(), f"{key}: first EOS {positions} is not argmax of the ids")
            rows = torch.stack([out["last_hidden_state"][b, p] for b, p in enumerate(positions)])
            expect(torch.equal(rows, out["pooler_output"]), f"{key}: pooler_output is not the first EOS state")
            for name, value in out.items():
                tensors[f"{set_name}.{key}.{name}"] = value
            meta["prompt_sets"][set_name] = prompts
            meta.setdefault("eos_positions", {})[f"{set_name}.{key}"] = positions
    finite(tensors, "text encoders")
    meta["stats"] = {k: stats(v) for k, v in tensors.items() if v.is_floating_point()}
    return tensors, meta


def encode_prompt_reference(pipe):
    tensors, meta = {}, {"cases": {}, "time_ids": {}}
    names = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds")
    for case, kwargs in ENCODE_CASES.items():
        with torch.no_grad():
            out = pipe.encode_prompt(device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=True, **kwargs)
        batch = len(kwargs["prompt"]) if isinstance(kwargs["prompt"], list) else 1
        for name, value in zip(names, out):
            tensors[f"{case}.{name}"] = value
        width = pipe.text_encoder.config.hidden_size + pipe.text_encoder_2.config.hidden_size
        expect(tuple(out[0].shape) == (batch, 77, width), f"{case}: prompt_embeds {tuple(out[0].shape)}")
        expect(tuple(out[2].shape) == (batch, pipe.text_encoder_2.config.projection_dim),
               f"{case}: pooled {tuple(out[2].shape)}")
        zeroed = bool((out[1] == 0).all() and (out[3] == 0).all())
        expect(zeroed == (kwargs["negative_prompt"] is None), f"{case}: negative zeroed {zeroed}")
        meta["cases"][case] = dict(plain(kwargs), negative_zeroed=zeroed)
    # prompt_embeds = concat(penultimate of text_encoder, penultimate of text_encoder_2) on channels
    ids = [getattr(pipe, t)(E2E_PROMPT, padding="max_length", max_length=77, truncation=True,
                            return_tensors="pt").input_ids for t in ("tokenizer", "tokenizer_2")]
    for key, value in zip(("ids_1", "ids_2"), ids):
        tensors[f"negative.{key}"] = value.to(torch.int64)
    parts = [encode(pipe.text_encoder, ids[0]), encode(pipe.text_encoder_2, ids[1])]
    expect(torch.equal(torch.cat([parts[0]["penultimate"], parts[1]["penultimate"]], -1), tensors["negative.prompt_embeds"]),
           "prompt_embeds is not the concatenation of the penultimate states")
    expect(torch.equal(parts[1]["text_embeds"], tensors["negative.pooled_prompt_embeds"]),
           "pooled_prompt_embeds is not text_encoder_2's text_embeds")
    projection_dim = pipe.text_encoder_2.config.projection_dim
    for case, (original, crop, target) in TIME_ID_CASES.items():
        value = pipe._get_add_time_ids(original, crop, target, dtype=torch.float32,
                                       text_encoder_projection_dim=projection_dim)
        tensors[f"time_ids.{case}"] = value
        meta["time_ids"][case] = {"original_size": original, "crops_coords_top_left": crop, "target_size": target,
                                  "time_ids": value.tolist()}
    finite(tensors, "encode_prompt")
    meta["stats"] = {k: stats(v) for k, v in tensors.items() if v.is_floating_point()}
    return tensors, meta


def unet_reference(pipe):
    unet = pipe.unet
    g = torch.Generator().manual_seed(21)
    size = unet.config.sample_size
    channels = unet.config.in_channels
    sample = torch.randn((2, channels, size, size), generator=g)
    hidden = torch.randn((2, 77, unet.config.cross_attention_dim), generator=g)
    text_embeds = torch.randn((2, pipe.text_encoder_2.config.projection_dim), generator=g)
    time_ids = torch.tensor([[32, 32, 0, 0, 32, 32], [64, 96, 4, 8, 32, 48]], dtype=torch.float32)
    timestep = torch.tensor([999, 261], dtype=torch.int64)
    sample_f = torch.randn((2, channels, size, size), generator=g)
    timestep_f = torch.tensor([500.5, 17.25], dtype=torch.float32)
    sample_ns = torch.randn((1, channels, size, size + size // 2), generator=g)
    with torch.no_grad():
        out = unet(sample, timestep, encoder_hidden_states=hidden,
                   added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids}).sample
        out_f = unet(sample_f, timestep_f, encoder_hidden_states=hidden,
                     added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids}).sample
        out_ns = unet(sample_ns, torch.tensor([500], dtype=torch.int64), encoder_hidden_states=hidden[1:],
                      added_cond_kwargs={"text_embeds": text_embeds[1:], "time_ids": time_ids[1:]}).sample
        # The added conditioning must matter: other time_ids give another output.
        other = unet(sample, timestep, encoder_hidden_states=hidden,
                     added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids.flip(0)}).sample
    expect(not torch.allclose(other, out, atol=1e-4), "time_ids do not change the UNet output")
    tensors = {"sample": sample, "timestep": timestep, "encoder_hidden_states": hidden, "text_embeds": text_embeds,
               "time_ids": time_ids, "out": out, "sample_f": sample_f, "timestep_f": timestep_f, "out_f": out_f,
               "sample_nonsquare": sample_ns, "timestep_nonsquare": torch.tensor([500], dtype=torch.int64),
               "out_nonsquare": out_ns}
    finite(tensors, "unet")
    meta = {"inputs": "torch.Generator().manual_seed(21): sample, encoder_hidden_states, text_embeds, sample_f, "
                      "sample_nonsquare in that order; out_nonsquare uses row 1 of the others",
            "stats": {"out": stats(out), "out_f": stats(out_f), "out_nonsquare": stats(out_ns)}}
    return tensors, meta


def vae_reference(pipe):
    vae = pipe.vae
    g = torch.Generator().manual_seed(22)
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    size = vae.config.sample_size
    latents = torch.randn((2, vae.config.latent_channels, size // factor, size // factor), generator=g)
    image = torch.rand((1, 3, size, size), generator=g) * 2 - 1
    with torch.no_grad():
        decoded = vae.decode(latents).sample
        # StableDiffusionXLPipeline's decode: latents / scaling_factor (no latents_mean here); with
        # a float16 VAE and force_upcast it moves the VAE to float32 and casts the float16
        # latents to float32 before decoding: that path on float16-rounded latents.
        expect(vae.config.get("latents_mean") is None, "the tiny VAE has no latents_mean")
        pipeline_decoded = vae.decode(latents / vae.config.scaling_factor).sample
        upcast_latents = latents.to(torch.float16).to(torch.float32)
        upcast_decoded = vae.decode(upcast_latents / vae.config.scaling_factor).sample
        posterior = vae.encode(image).latent_dist
    tensors = {"latents": latents, "decoded": decoded, "pipeline_decoded": pipeline_decoded,
               "upcast_latents": upcast_latents, "upcast_decoded": upcast_decoded, "image": image,
               "posterior_mean": posterior.mean, "posterior_logvar": posterior.logvar}
    finite(tensors, "vae")
    meta = {"scaling_factor": vae.config.scaling_factor, "force_upcast": vae.config.force_upcast,
            "decoded": "vae.decode(latents).sample, no scaling factor",
            "pipeline_decoded": "vae.decode(latents / scaling_factor).sample, as the pipeline decodes in float32",
            "upcast_decoded": "the force_upcast path: float16 latents cast to float32, float32 VAE",
            "stats": {"decoded": stats(decoded), "pipeline_decoded": stats(pipeline_decoded)}}
    return tensors, meta


def accepted_schedulers():
    from diffusers.schedulers.scheduling_utils import KarrasDiffusionSchedulers

    accepted = {member.name for member in KarrasDiffusionSchedulers}
    return [name for name, (class_name, _) in SCHEDULERS.items() if class_name in accepted]


def run(pipe, base_config, scheduler, seed, kwargs, record_steps=False):
    """One case twice from the same seed: output_type="latent", then "np"; the image run must
    denoise to the same latents, bit for bit."""
    args = dict(prompt=E2E_PROMPT, num_inference_steps=STEPS, guidance_scale=GUIDANCE)
    args.update(kwargs)
    args.setdefault("height", 32)
    args.setdefault("width", 32)
    pipe.scheduler = make_scheduler(base_config, scheduler)
    expect(type(pipe.scheduler).__name__ == SCHEDULERS[scheduler][0], type(pipe.scheduler).__name__)
    with torch.no_grad():
        latents = pipe(output_type="latent", generator=torch.Generator("cpu").manual_seed(seed), **args).images
    timesteps = pipe.scheduler.timesteps.clone()
    pipe.scheduler = make_scheduler(base_config, scheduler)
    steps = []

    def record(_pipe, _i, _t, callback_kwargs):
        steps.append(callback_kwargs["latents"].clone())
        return callback_kwargs

    with torch.no_grad():
        image = pipe(output_type="np", generator=torch.Generator("cpu").manual_seed(seed), callback_on_step_end=record,
                     **args).images
    what = f"{scheduler} {kwargs}"
    shape = (1, 4, args["height"] // pipe.vae_scale_factor, args["width"] // pipe.vae_scale_factor)
    expect(isinstance(latents, torch.Tensor) and tuple(latents.shape) == shape, f"{what}: latents {latents.shape}")
    expect(bool(torch.isfinite(latents).all()), f"{what}: non-finite latents")
    expect(torch.equal(steps[-1], latents), f"{what}: the image run denoised to other latents")
    expect(torch.equal(pipe.scheduler.timesteps, timesteps), f"{what}: the two runs had other timesteps")
    expect(image.shape == (1, args["height"], args["width"], 3) and image.dtype == numpy.float32,
           f"{what}: image {image.shape} {image.dtype}")
    calls = STEPS + 1 if scheduler == "pndm" else STEPS
    expect(len(timesteps) == calls, f"{what}: {len(timesteps)} timesteps, expected {calls}")
    init = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))
    out = {"final_latents": latents, "image": torch.from_numpy(numpy.ascontiguousarray(image)).float(),
           "timesteps": timesteps, "init_latents": init}
    if record_steps:
        out["step_latents"] = torch.stack(steps)
    return out, pipe.do_classifier_free_guidance


def pipeline_reference(pipe):
    base_config = dict(pipe.scheduler.config)
    tensors = {}
    meta = {"prompt": E2E_PROMPT, "negative_prompt": E2E_NEGATIVE, "guidance_scale": GUIDANCE,
            "num_inference_steps": STEPS, "seed": E2E_SEED, "height": 32, "width": 32,
            "generator": "torch.Generator('cpu').manual_seed(seed) per run; init_latents = torch.randn(shape) from it",
            "scheduler_config": plain(base_config), "schedulers": {}, "cases": {}}
    cases = []
    for scheduler in accepted_schedulers():
        cases.append((f"{scheduler}.negative", scheduler, dict(negative_prompt=E2E_NEGATIVE), True))
        cases.append((f"{scheduler}.no_negative", scheduler, dict(negative_prompt=None), False))
    for name, (scheduler, kwargs) in EXTRA_E2E.items():
        cases.append((name, scheduler, kwargs, False))
    meta["rejected_schedulers"] = [s for s in SCHEDULERS if s not in accepted_schedulers()]
    for name, scheduler, kwargs, record_steps in cases:
        out, cfg = run(pipe, base_config, scheduler, E2E_SEED, kwargs, record_steps)
        for key, value in out.items():
            tensors[f"{name}.{key}"] = value
        meta["schedulers"].setdefault(scheduler, {"class": type(pipe.scheduler).__name__,
                                                  "resolved_config": plain(dict(pipe.scheduler.config))})
        meta["cases"][name] = dict(scheduler=scheduler, **plain(kwargs), classifier_free_guidance=cfg,
                                   model_calls=len(out["timesteps"]), final_latents=stats(out["final_latents"]),
                                   image=stats(out["image"]))
        print(f"{NAME} {name}: {len(out['timesteps'])} model calls, latents std "
              f"{meta['cases'][name]['final_latents']['std']:.4f}, image mean {meta['cases'][name]['image']['mean']:.4f}",
              flush=True)
    # Zeroed negatives must differ from an encoded empty prompt, or the case would test nothing.
    expect(not torch.equal(tensors["euler.no_negative.final_latents"], tensors["euler.empty_negative.final_latents"]),
           "no_negative and empty_negative give the same latents")
    return tensors, meta


def versions():
    import diffusers
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "diffusers": diffusers.__version__,
            "numpy": numpy.__version__, "python": platform.python_version(),
            "ftfy_installed": importlib.util.find_spec("ftfy") is not None}


def main():
    parser = argparse.ArgumentParser(description="build the tiny SDXL pipeline and its references")
    parser.add_argument("--tokenizers", required=True, help="tests/data (tiny-sd/tokenizer and tiny-sd2/tokenizer)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    torch.manual_seed(0)
    meta = {"versions": versions(), "device": "cpu", "dtype": "float32", "torch_threads": torch.get_num_threads(),
            "pipeline": NAME, "spec": plain(TINY_SDXL)}
    meta["build"] = build(args.tokenizers, args.out)
    pipe = load(args.out)
    # The reloaded tokenizers are the committed ones.
    from transformers import CLIPTokenizer

    for key, source in (("tokenizer", TINY_SDXL["tokenizer"]), ("tokenizer_2", TINY_SDXL["tokenizer_2"])):
        committed = CLIPTokenizer.from_pretrained(os.path.join(args.tokenizers, source, "tokenizer"))
        for prompt in PROMPTS + [LONG_PROMPT, ""]:
            expect(getattr(pipe, key)(prompt).input_ids == committed(prompt).input_ids, f"{key}: ids of {prompt!r}")

    out_dir = os.path.join(args.out, "reference")
    os.makedirs(out_dir, exist_ok=True)
    failures = []
    for part, fn in (("text_encoders", lambda: text_encoders_reference(pipe)),
                     ("encode_prompt", lambda: encode_prompt_reference(pipe)),
                     ("unet", lambda: unet_reference(pipe)),
                     ("vae", lambda: vae_reference(pipe)),
                     ("pipeline", lambda: pipeline_reference(pipe))):
        try:
            tensors, part_meta = fn()
        except Exception:  # keep going: the other parts are still worth writing
            traceback.print_exc()
            failures.append(part)
            continue
        path = os.path.join(out_dir, f"{NAME}_{part}.safetensors")
        save_file(contiguous(tensors), path)
        part_meta["tensors"] = {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
                                for k, v in tensors.items()}
        meta[part] = part_meta
        print(f"{NAME}/{part}: {len(tensors)} tensors, {os.path.getsize(path)} bytes", flush=True)
    meta["failures"] = failures
    with open(os.path.join(out_dir, "sdxl.json"), "w") as handle:
        json.dump(plain(meta), handle, indent=1, allow_nan=False)
        handle.write("\n")
    if failures:
        sys.exit(f"failed: {failures}")
    print("done", flush=True)


if __name__ == "__main__":
    main()
