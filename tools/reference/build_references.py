#!/usr/bin/env python3
"""Compute the reference outputs of the tiny pipelines with diffusers/transformers (CPU, fp32).

Reads the pipelines that build_pipelines.py wrote under --data and writes, under --data/reference:
  <pipeline>_text_encoder.safetensors  CLIP text encoder on 3 prompts
  <pipeline>_unet.safetensors          UNet on fixed inputs, integer and fractional timesteps
  <pipeline>_vae.safetensors           VAE decode of fixed latents, encode of a fixed image
  <pipeline>_schedulers.safetensors    every scheduler on the pipeline's scheduler config
  <pipeline>_pipeline.safetensors      StableDiffusionPipeline end to end, per scheduler
  metadata.json                        prompts, seeds, resolved scheduler configs, versions
and --data/tokenizer_parity.json (CLIPTokenizer input_ids for tools/reference/tokenizer_strings.json).
Every tensor is saved contiguous; floats are fp32, ids and integer timesteps int64.

Usage: build_references.py --data DIR
"""

import argparse
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
import traceback

import numpy
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import PIPELINES, SCHEDULERS  # noqa: E402

PROMPTS = [
    "a photograph of an astronaut riding a horse",
    "A cozy cabin in the snowy mountains at night, warm light in the windows!",
    "portrait of an old fisherman, dramatic lighting, highly detailed, 8k",
]
E2E_PROMPT = "a watercolor painting of a fox sleeping under a cherry tree"
E2E_NEGATIVE = "blurry, low quality, watermark"
BATCH_PROMPTS = ["a red sports car driving through the desert", "a castle on a cliff above a stormy sea"]
BATCH_NEGATIVES = ["low quality", "blurry, text"]
E2E_SEED = 42
BATCH_SEEDS = [42, 43]
GUIDANCE = 7.5
E2E_STEPS = 10
SCHEDULER_STEPS = 10
SCHEDULER_INPUT_SEED = 7
ANCESTRAL_SEED = 1234
TIMESTEP_COUNTS = (10, 25, 50)


def contiguous(tensors):
    return {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}


def stats(tensor):
    t = tensor.double()
    return {"shape": list(tensor.shape), "mean": float(t.mean()), "std": float(t.std()) if t.numel() > 1 else 0.0,
            "max_abs": float(t.abs().max())}


def make_scheduler(base_config, name):
    import diffusers

    class_name, overrides = SCHEDULERS[name]
    return getattr(diffusers, class_name).from_config(base_config, **overrides)


def text_encoder_reference(pipe):
    ids = pipe.tokenizer(PROMPTS, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    with torch.no_grad():
        out = pipe.text_encoder(ids.to(torch.int64))
    tensors = {"input_ids": ids.to(torch.int64), "last_hidden_state": out.last_hidden_state,
               "pooler_output": out.pooler_output}
    return tensors, {"prompts": PROMPTS, "stats": {"last_hidden_state": stats(out.last_hidden_state)}}


def unet_reference(pipe):
    unet = pipe.unet
    g = torch.Generator().manual_seed(11)
    size = unet.config.sample_size
    channels = unet.config.in_channels
    sample = torch.randn((2, channels, size, size), generator=g)
    hidden = torch.randn((2, 77, unet.config.cross_attention_dim), generator=g)
    timestep = torch.tensor([999, 261], dtype=torch.int64)
    sample_f = torch.randn((2, channels, size, size), generator=g)
    timestep_f = torch.tensor([500.5, 17.25], dtype=torch.float32)
    with torch.no_grad():
        out = unet(sample, timestep, encoder_hidden_states=hidden).sample
        out_f = unet(sample_f, timestep_f, encoder_hidden_states=hidden).sample
    tensors = {"sample": sample, "timestep": timestep, "encoder_hidden_states": hidden, "out": out,
               "sample_f": sample_f, "timestep_f": timestep_f, "out_f": out_f}
    return tensors, {"stats": {"out": stats(out), "out_f": stats(out_f)}}


def vae_reference(pipe):
    vae = pipe.vae
    g = torch.Generator().manual_seed(12)
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    size = vae.config.sample_size
    latents = torch.randn((2, vae.config.latent_channels, size // factor, size // factor), generator=g)
    image = torch.rand((1, 3, size, size), generator=g) * 2 - 1
    with torch.no_grad():
        decoded = vae.decode(latents).sample
        posterior = vae.encode(image).latent_dist
    tensors = {"latents": latents, "decoded": decoded, "image": image,
               "posterior_mean": posterior.mean, "posterior_logvar": posterior.logvar}
    return tensors, {"scaling_factor": vae.config.scaling_factor, "stats": {"decoded": stats(decoded)}}


def scheduler_reference(base_config):
    tensors = {}
    meta = {}
    g = torch.Generator().manual_seed(SCHEDULER_INPUT_SEED)
    base_sample = torch.randn((1, 4, 8, 8), generator=g)
    model_outputs = torch.randn((SCHEDULER_STEPS + 2, 1, 4, 8, 8), generator=g)
    tensors["base_sample"] = base_sample
    tensors["model_outputs"] = model_outputs
    for name in SCHEDULERS:
        for count in TIMESTEP_COUNTS:
            sched = make_scheduler(base_config, name)
            sched.set_timesteps(count)
            tensors[f"{name}.timesteps_{count}"] = sched.timesteps.clone()
            if getattr(sched, "sigmas", None) is not None:
                tensors[f"{name}.sigmas_{count}"] = torch.as_tensor(sched.sigmas, dtype=torch.float32).clone()

        sched = make_scheduler(base_config, name)
        sched.set_timesteps(SCHEDULER_STEPS)
        init_sigma = float(sched.init_noise_sigma)
        sample = base_sample * init_sigma
        tensors[f"{name}.init_noise_sigma"] = torch.tensor([init_sigma], dtype=torch.float32)
        tensors[f"{name}.initial_sample"] = sample.clone()
        generator = torch.Generator("cpu").manual_seed(ANCESTRAL_SEED) if name == "euler_ancestral" else None
        noise_generator = torch.Generator("cpu").manual_seed(ANCESTRAL_SEED) if generator is not None else None
        scaled, prev, pred_x0, noises = [], [], [], []
        for k, t in enumerate(sched.timesteps):
            scaled.append(sched.scale_model_input(sample, t))
            kwargs = {"generator": generator} if generator is not None else {}
            if noise_generator is not None:
                noises.append(torch.randn(sample.shape, generator=noise_generator, dtype=sample.dtype))
            result = sched.step(model_outputs[k], t, sample, **kwargs)
            sample = result.prev_sample
            prev.append(sample)
            x0 = getattr(result, "pred_original_sample", None)
            if x0 is not None:
                pred_x0.append(x0)
        tensors[f"{name}.step_timesteps"] = sched.timesteps.clone()
        tensors[f"{name}.scaled_inputs"] = torch.stack(scaled)
        tensors[f"{name}.prev_samples"] = torch.stack(prev)
        if pred_x0:
            tensors[f"{name}.pred_original_samples"] = torch.stack(pred_x0)
        if noises:
            tensors[f"{name}.noises"] = torch.stack(noises)
        meta[name] = {"class": type(sched).__name__, "resolved_config": dict(sched.config),
                      "steps_run": len(sched.timesteps)}
    meta["inputs"] = {
        "base_sample": f"torch.randn((1,4,8,8), generator=torch.Generator().manual_seed({SCHEDULER_INPUT_SEED}))",
        "model_outputs": "the next torch.randn((12,1,4,8,8)) from that same generator; step k uses model_outputs[k]",
        "initial_sample": "base_sample * init_noise_sigma",
        "euler_ancestral": (f"step(..., generator=torch.Generator('cpu').manual_seed({ANCESTRAL_SEED})), one generator "
                            "for the whole run; step k draws torch.randn(sample.shape) from it; those draws are "
                            "saved as euler_ancestral.noises"),
    }
    return tensors, meta


def pipeline_reference(pipe, base_config):
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    latent_shape = (1, pipe.unet.config.in_channels, size // pipe.vae_scale_factor, size // pipe.vae_scale_factor)
    tensors = {}
    meta = {"prompt": E2E_PROMPT, "negative_prompt": E2E_NEGATIVE, "guidance_scale": GUIDANCE,
            "num_inference_steps": E2E_STEPS, "seed": E2E_SEED, "height": size, "width": size, "schedulers": {},
            "batch": {"prompts": BATCH_PROMPTS, "negative_prompts": BATCH_NEGATIVES, "seeds": BATCH_SEEDS}}
    tensors["init_latents"] = torch.randn(latent_shape, generator=torch.Generator("cpu").manual_seed(E2E_SEED))
    tensors["batch.init_latents"] = torch.cat(
        [torch.randn(latent_shape, generator=torch.Generator("cpu").manual_seed(s)) for s in BATCH_SEEDS])
    with torch.no_grad():
        embeds, negative = pipe.encode_prompt(E2E_PROMPT, "cpu", 1, True, negative_prompt=E2E_NEGATIVE)
    tensors["prompt_embeds"] = embeds
    tensors["negative_prompt_embeds"] = negative
    common = dict(guidance_scale=GUIDANCE, num_inference_steps=E2E_STEPS, height=size, width=size)

    for name in SCHEDULERS:
        pipe.scheduler = make_scheduler(base_config, name)
        steps = []

        def record(_pipe, _i, _t, kwargs):
            steps.append(kwargs["latents"].clone())
            return kwargs

        with torch.no_grad():
            image = pipe(E2E_PROMPT, negative_prompt=E2E_NEGATIVE, output_type="np",
                         generator=torch.Generator("cpu").manual_seed(E2E_SEED),
                         callback_on_step_end=record, **common).images
            latents = pipe(E2E_PROMPT, negative_prompt=E2E_NEGATIVE, output_type="latent",
                           generator=torch.Generator("cpu").manual_seed(E2E_SEED), **common).images
        tensors[f"{name}.image"] = torch.from_numpy(numpy.ascontiguousarray(image)).float()
        tensors[f"{name}.final_latents"] = latents
        tensors[f"{name}.step_latents"] = torch.stack(steps)
        tensors[f"{name}.timesteps"] = pipe.scheduler.timesteps.clone()
        meta["schedulers"][name] = {"class": type(pipe.scheduler).__name__,
                                    "resolved_config": dict(pipe.scheduler.config),
                                    "image": stats(tensors[f"{name}.image"])}

    for name in ("ddim", "euler_ancestral"):
        pipe.scheduler = make_scheduler(base_config, name)
        generators = [torch.Generator("cpu").manual_seed(s) for s in BATCH_SEEDS]
        with torch.no_grad():
            image = pipe(BATCH_PROMPTS, negative_prompt=BATCH_NEGATIVES, output_type="np",
                         generator=generators, **common).images
        tensors[f"batch.{name}.image"] = torch.from_numpy(numpy.ascontiguousarray(image)).float()
    return tensors, meta


def tokenizer_parity(data_dir, strings):
    """input_ids of every string from every CLIP tokenizer class transformers has, loaded both from
    vocab.json + merges.txt alone and from the saved folder (which also holds tokenizer.json)."""
    import transformers

    result = {"transformers_version": transformers.__version__,
              "ftfy_installed": importlib.util.find_spec("ftfy") is not None,
              "call": "tokenizer(text, padding='max_length', max_length=77, truncation=True).input_ids",
              "tokenizers": {}}
    per_pipeline = {}
    for pipeline_name in PIPELINES:
        folder = os.path.join(data_dir, pipeline_name, "tokenizer")
        only_vocab = tempfile.mkdtemp()
        for f in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
            shutil.copy(os.path.join(folder, f), only_vocab)
        runs = {}
        for class_name in ("CLIPTokenizer", "CLIPTokenizerFast"):
            cls = getattr(transformers, class_name, None)
            if cls is None:
                continue
            for source, path in (("vocab_merges", only_vocab), ("saved_folder", folder)):
                tok = cls.from_pretrained(path)
                runs[f"{class_name}.{source}"] = (
                    type(tok).__name__,
                    [tok(s, padding="max_length", max_length=77, truncation=True).input_ids for s in strings],
                    [tok.tokenize(s) for s in strings])
        shutil.rmtree(only_vocab)
        reference_key = next(iter(runs))
        reference_ids = runs[reference_key][1]
        result["tokenizers"][pipeline_name] = {
            "reference": reference_key,
            "runs": {key: {"resolved_class": cls_name,
                           "disagreeing_cases": [i for i, (a, b) in enumerate(zip(ids, reference_ids)) if a != b]}
                     for key, (cls_name, ids, _) in runs.items()}}
        per_pipeline[pipeline_name] = runs[reference_key]
    _, sd_ids, sd_tokens = per_pipeline["tiny-sd"]
    _, sd2_ids, _ = per_pipeline["tiny-sd2"]
    result["cases"] = [{"text": s, "tokens": toks, "input_ids": ids, "tiny-sd2_input_ids": ids2}
                       for s, toks, ids, ids2 in zip(strings, sd_tokens, sd_ids, sd2_ids)]
    return result


def write_parity(path, parity):
    """Pretty top level, one line per case: readable in a diff, small on disk."""
    head = {k: v for k, v in parity.items() if k != "cases"}
    text = json.dumps(head, ensure_ascii=False, indent=1)[:-2]
    lines = [json.dumps(case, ensure_ascii=False) for case in parity["cases"]]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text + ',\n "cases": [\n  ' + ",\n  ".join(lines) + "\n ]\n}\n")


def main():
    parser = argparse.ArgumentParser(description="compute reference outputs of the tiny pipelines")
    parser.add_argument("--data", required=True)
    args = parser.parse_args()

    import diffusers
    import transformers
    from diffusers import StableDiffusionPipeline

    torch.manual_seed(0)
    failures = []
    out_dir = os.path.join(args.data, "reference")
    os.makedirs(out_dir, exist_ok=True)
    meta = {"versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "diffusers": diffusers.__version__, "numpy": numpy.__version__,
                         "python": platform.python_version(),
                         "ftfy_installed": importlib.util.find_spec("ftfy") is not None},
            "device": "cpu", "dtype": "float32", "torch_threads": torch.get_num_threads(), "pipelines": {}}
    for name, spec in PIPELINES.items():
        pipe = StableDiffusionPipeline.from_pretrained(os.path.join(args.data, name), safety_checker=None,
                                                       requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        pipe = pipe.to("cpu", torch.float32)
        base_config = dict(pipe.scheduler.config)
        entry = {"scheduler_config": base_config}
        for part, fn in (("text_encoder", lambda: text_encoder_reference(pipe)),
                         ("unet", lambda: unet_reference(pipe)),
                         ("vae", lambda: vae_reference(pipe)),
                         ("schedulers", lambda: scheduler_reference(base_config)),
                         ("pipeline", lambda: pipeline_reference(pipe, base_config))):
            try:
                tensors, part_meta = fn()
            except Exception:  # keep going: the other parts are still worth writing
                traceback.print_exc()
                failures.append(f"{name}/{part}")
                continue
            path = os.path.join(out_dir, f"{name}_{part}.safetensors")
            save_file(contiguous(tensors), path)
            part_meta["tensors"] = {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
                                    for k, v in tensors.items()}
            entry[part] = part_meta
            print(f"{name}/{part}: {len(tensors)} tensors, {os.path.getsize(path)} bytes; "
                  f"stats {json.dumps(part_meta.get('stats', {}))}", flush=True)
        meta["pipelines"][name] = entry

    with open(os.path.join(HERE, "tokenizer_strings.json"), encoding="utf-8") as handle:
        strings = json.load(handle)
    try:
        parity = tokenizer_parity(args.data, strings)
        write_parity(os.path.join(args.data, "tokenizer_parity.json"), parity)
        with open(os.path.join(args.data, "tokenizer_parity.json"), encoding="utf-8") as handle:
            json.load(handle)
        meta["tokenizer_parity"] = {k: v for k, v in parity.items() if k != "cases"}
        print(json.dumps(meta["tokenizer_parity"], indent=1), flush=True)
    except Exception:
        traceback.print_exc()
        failures.append("tokenizer_parity")
    meta["failures"] = failures
    with open(os.path.join(out_dir, "metadata.json"), "w") as handle:
        json.dump(meta, handle, indent=1, default=str)
    if failures:
        sys.exit(f"failed: {failures}")
    print("done", flush=True)


if __name__ == "__main__":
    main()
