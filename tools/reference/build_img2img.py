#!/usr/bin/env python3
"""StableDiffusionImg2ImgPipeline and StableDiffusionXLImg2ImgPipeline on the committed tiny
pipelines (CPU, fp32): every scheduler of common.SCHEDULERS x the strength cases below, from a
fixed init image made here (no file read).

Loads tests/data/tiny-sd, tiny-sd2 and tiny-sdxl as they are committed (nothing is rebuilt) and
writes, under --out:
  <pipeline>_img2img.safetensors  per init image "init_image.<W>x<H>": (H, W, 3) uint8, the image
                                  handed to the pipeline (as a PIL RGB image, as users pass one);
                                  per case "<name>":
      .posterior_mean, .posterior_std (1, 4, H/2, W/2)  the VAE encoder's latent distribution
      .init_latents   (1, 4, H/2, W/2)  scaling_factor x latent_dist.sample(generator)
      .noise          (1, 4, H/2, W/2)  the noise add_noise was given (the generator's next draw)
      .noised_latents (1, 4, H/2, W/2)  scheduler.add_noise(init_latents, noise, first timestep)
      .timesteps      (model calls)     the timesteps the UNet saw (int64 or float32)
      .final_latents  (1, 4, H/2, W/2)  output_type="latent"
      .image          (1, H, W, 3)      output_type="np": float32 in [0, 1], HWC
  img2img.json                    the cases (scheduler, steps, strength, size, seed, the timestep
                                  cut), the resolved scheduler configs, versions, and the checks
Each case is one image from its own seed: torch.Generator("cpu").manual_seed(seed), which
diffusers draws from in this order: the VAE posterior sample (retrieve_latents' default
sample_mode "sample"), then the add_noise noise, then (Euler ancestral) each step's noise.

Before it writes anything it checks that this environment remakes the committed 10-step
reference/<pipeline>_pipeline.safetensors latents (build_end_to_end.py's check; for tiny-sdxl
every scheduler's case with a negative prompt from build_sdxl.py), and it stops
with an error on anything unexpected: a preprocessed image that is not uint8 / 255 * 2 - 1, a
posterior sample or noise that is not the generator's draws in the order above, timesteps that
are not diffusers' get_timesteps cut, a shape, a non-finite value, two runs from one seed that
differ.

Usage: build_img2img.py --data tests/data --out DIR
"""

import argparse
import importlib.util
import json
import os
import platform
import sys

import numpy
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from build_end_to_end import (  # noqa: E402  (the committed pipelines, loaded and checked the same way)
    check_remade,
    check_reproduces_committed,
    expect,
    load_pipeline,
    plain,
)
from build_references import E2E_NEGATIVE, E2E_PROMPT, E2E_SEED, GUIDANCE, contiguous, make_scheduler, stats  # noqa: E402
from common import PIPELINES, SCHEDULERS  # noqa: E402

SDXL = "tiny-sdxl"

# (steps, strength): a half-way start, the full schedule (strength 1 still starts from the image:
# add_noise at the first timestep, not the text-to-image initial noise), and a cut that int()
# truncates (7 x 0.3 = 2.1 -> 2 steps) on a step count that does not divide 1000.
STRENGTH_CASES = ((10, 0.5), (10, 1.0), (7, 0.3))
# One non-square case per pipeline (width != height, so a transposed image shows), on the sampler
# that draws the most from the generator.
WIDE_CASE = {"scheduler": "euler_ancestral", "steps": 10, "strength": 0.75, "width": 48, "height": 32}
FIRST_SEED = 2000  # case k of a pipeline uses seed FIRST_SEED + k
# Two float32 computations of one value that must agree (the hand-made posterior sample against
# the pipeline's): a few ulps of the latents' scale.
SAME_VALUE = 1e-6


def init_image(width, height):
    """A fixed RGB image: horizontal and vertical ramps in red and green, and a blue channel with
    detail at every pixel, so that the encoder sees edges and every value range."""
    y, x = numpy.mgrid[0:height, 0:width].astype(numpy.int64)
    red = (x * 255) // max(width - 1, 1)
    green = 255 - (y * 255) // max(height - 1, 1)
    blue = (x * 37 + y * 91 + (x * y) % 53) % 256
    return numpy.ascontiguousarray(numpy.stack([red, green, blue], axis=-1).astype(numpy.uint8))


def img2img_pipeline(pipe):
    from diffusers import StableDiffusionImg2ImgPipeline

    img = StableDiffusionImg2ImgPipeline(vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer,
                                         unet=pipe.unet, scheduler=pipe.scheduler, safety_checker=None,
                                         feature_extractor=None, requires_safety_checker=False)
    img.set_progress_bar_config(disable=True)
    return img


def load_sdxl(data_dir):
    """tiny-sdxl as committed, with the check that this environment remakes its committed
    StableDiffusionXLPipeline latents, and its image-to-image pipeline on the same components."""
    import build_sdxl
    from diffusers import StableDiffusionXLImg2ImgPipeline
    from safetensors.torch import load_file

    pipe = build_sdxl.load(data_dir)
    base_config = dict(pipe.scheduler.config)
    committed = load_file(os.path.join(data_dir, "reference", f"{SDXL}_pipeline.safetensors"))
    errors = {}
    for scheduler in SCHEDULERS:
        out, _ = build_sdxl.run(pipe, base_config, scheduler, E2E_SEED,
                                dict(negative_prompt=E2E_NEGATIVE))
        errors[scheduler] = check_remade(SDXL, scheduler, out["final_latents"],
                                         committed[f"{scheduler}.negative.final_latents"])
    img = StableDiffusionXLImg2ImgPipeline(
        vae=pipe.vae, text_encoder=pipe.text_encoder, text_encoder_2=pipe.text_encoder_2, tokenizer=pipe.tokenizer,
        tokenizer_2=pipe.tokenizer_2, unet=pipe.unet, scheduler=pipe.scheduler, requires_aesthetics_score=False,
        force_zeros_for_empty_prompt=pipe.config.force_zeros_for_empty_prompt, add_watermarker=False)
    img.set_progress_bar_config(disable=True)
    return pipe, img, base_config, errors


def expected_cut(steps, strength, order):
    """diffusers' get_timesteps, restated: the index of the first timestep and the steps left."""
    init_timestep = min(int(steps * strength), steps)
    t_start = max(steps - init_timestep, 0)
    return t_start * order, steps - t_start


def run(img, base_config, case, pixels, size):
    """One image, twice from the same seed: latents (recording add_noise and the timesteps), then
    the image; the latents the second run decodes must be the first run's, bit for bit."""
    import PIL.Image

    what = (f"{case['scheduler']} {case['steps']} steps, strength {case['strength']}, "
            f"{case['width']}x{case['height']}, seed {case['seed']}")
    picture = PIL.Image.fromarray(pixels, "RGB")
    # What the C++ side computes from the decoded bytes: x / 255 * 2 - 1 in float32, NCHW.
    expected_input = torch.from_numpy(pixels.astype(numpy.float32) / 255.0).permute(2, 0, 1).unsqueeze(0) * 2.0 - 1.0
    preprocessed = img.image_processor.preprocess(picture)
    expect(preprocessed.dtype == torch.float32 and torch.equal(preprocessed, expected_input),
           f"{what}: the preprocessed image is not uint8 / 255 * 2 - 1")

    img.scheduler = make_scheduler(base_config, case["scheduler"])
    expect(type(img.scheduler).__name__ == SCHEDULERS[case["scheduler"]][0], f"{what}: {type(img.scheduler).__name__}")
    recorded = {}
    add_noise = img.scheduler.add_noise

    def recording_add_noise(original_samples, noise, timesteps):
        out = add_noise(original_samples, noise, timesteps)
        expect("noised_latents" not in recorded, f"{what}: add_noise called twice")
        recorded.update(init_latents=original_samples.clone(), noise=noise.clone(),
                        noise_timestep=timesteps.clone(), noised_latents=out.clone())
        return out

    img.scheduler.add_noise = recording_add_noise
    seen = []

    def record_timestep(_pipe, _i, t, kwargs):
        seen.append(t.clone())
        return kwargs

    common = dict(prompt=E2E_PROMPT, negative_prompt=E2E_NEGATIVE, guidance_scale=GUIDANCE, image=picture,
                  strength=case["strength"], num_inference_steps=case["steps"])
    with torch.no_grad():
        latents = img(output_type="latent", generator=torch.Generator("cpu").manual_seed(case["seed"]),
                      callback_on_step_end=record_timestep, **common).images
    full_schedule = img.scheduler.timesteps.clone()
    order = img.scheduler.order
    begin, remaining = expected_cut(case["steps"], case["strength"], order)
    timesteps = full_schedule[begin:]
    expect(len(timesteps) > 0, f"{what}: no timesteps left")
    expect(len(seen) == len(timesteps) and all(torch.equal(a.reshape(()), b.reshape(())) for a, b in zip(seen, timesteps)),
           f"{what}: the UNet saw other timesteps than diffusers' get_timesteps cut")
    expect(set(recorded) == {"init_latents", "noise", "noise_timestep", "noised_latents"}, f"{what}: add_noise not called")
    expect(torch.equal(recorded["noise_timestep"].reshape(-1), timesteps[:1]),
           f"{what}: add_noise at {recorded['noise_timestep']}, not the first timestep {timesteps[0]}")

    # The generator's draws in diffusers' order: the posterior sample, then the noise.
    with torch.no_grad():
        posterior = img.vae.encode(expected_input).latent_dist
    generator = torch.Generator("cpu").manual_seed(case["seed"])
    sample = torch.randn(posterior.mean.shape, generator=generator, dtype=torch.float32)
    by_hand = img.vae.config.scaling_factor * (posterior.mean + posterior.std * sample)
    noise = torch.randn(by_hand.shape, generator=generator, dtype=torch.float32)
    error = float((by_hand - recorded["init_latents"]).abs().max())
    expect(error <= SAME_VALUE * max(1.0, float(by_hand.abs().max())),
           f"{what}: init latents are not scaling_factor x (mean + std x the first draw) (max abs error {error:.3g})")
    expect(torch.equal(noise, recorded["noise"]), f"{what}: add_noise's noise is not the generator's second draw")

    img.scheduler = make_scheduler(base_config, case["scheduler"])
    last = []

    def record_latents(_pipe, _i, _t, kwargs):
        last[:] = [kwargs["latents"].clone()]
        return kwargs

    with torch.no_grad():
        image = img(output_type="np", generator=torch.Generator("cpu").manual_seed(case["seed"]),
                    callback_on_step_end=record_latents, **common).images
    latent_shape = (1, 4, case["height"] // size["factor"], case["width"] // size["factor"])
    for key in ("init_latents", "noise", "noised_latents"):
        expect(tuple(recorded[key].shape) == latent_shape and recorded[key].dtype == torch.float32,
               f"{what}: {key} {tuple(recorded[key].shape)} {recorded[key].dtype}")
    expect(isinstance(latents, torch.Tensor) and tuple(latents.shape) == latent_shape and latents.dtype == torch.float32,
           f"{what}: latents {type(latents)} {getattr(latents, 'shape', None)}")
    expect(bool(torch.isfinite(latents).all()), f"{what}: non-finite latents")
    expect(len(last) == 1 and torch.equal(last[0], latents), f"{what}: the image run denoised to other latents")
    expect(torch.equal(img.scheduler.timesteps, full_schedule), f"{what}: the two runs had other timesteps")
    expect(isinstance(image, numpy.ndarray) and image.shape == (1, case["height"], case["width"], 3)
           and image.dtype == numpy.float32, f"{what}: image {type(image)} {getattr(image, 'shape', None)}")
    expect(bool(numpy.isfinite(image).all()) and image.min() >= 0 and image.max() <= 1, f"{what}: image outside [0, 1]")

    tensors = {
        "posterior_mean": posterior.mean,
        "posterior_std": posterior.std,
        "init_latents": recorded["init_latents"],
        "noise": recorded["noise"],
        "noised_latents": recorded["noised_latents"],
        "timesteps": timesteps.clone(),
        "final_latents": latents,
        "image": torch.from_numpy(numpy.ascontiguousarray(image)),
    }
    cut = {"scheduler_order": order, "schedule_length": len(full_schedule), "begin_index": begin,
           "denoising_steps": remaining, "model_calls": len(timesteps)}
    return tensors, cut


def cases():
    out = []
    for steps, strength in STRENGTH_CASES:
        for scheduler in SCHEDULERS:
            out.append({"name": f"{scheduler}.{steps}.s{strength}", "scheduler": scheduler, "steps": steps,
                        "strength": strength, "width": 32, "height": 32})
    wide = dict(WIDE_CASE)
    wide["name"] = f"{wide['scheduler']}.{wide['steps']}.s{wide['strength']}.{wide['width']}x{wide['height']}"
    out.append(wide)
    for k, case in enumerate(out):
        case["seed"] = FIRST_SEED + k
        case["guidance_scale"] = GUIDANCE
        case["negative_prompt"] = E2E_NEGATIVE
        case["init_image"] = f"init_image.{case['width']}x{case['height']}"
    return out


def main():
    parser = argparse.ArgumentParser(description="image-to-image references over schedulers and strengths")
    parser.add_argument("--data", required=True, help="tests/data (the committed pipelines and references)")
    parser.add_argument("--out", required=True, help="folder for the new files")
    args = parser.parse_args()

    import diffusers
    import PIL
    import transformers

    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    meta = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "diffusers": diffusers.__version__, "numpy": numpy.__version__, "pillow": PIL.__version__,
                     "python": platform.python_version(),
                     "ftfy_installed": importlib.util.find_spec("ftfy") is not None},
        "device": "cpu", "dtype": "float32", "torch_threads": torch.get_num_threads(),
        "prompt": E2E_PROMPT, "negative_prompt": E2E_NEGATIVE, "guidance_scale": GUIDANCE,
        "strength_cases": [list(c) for c in STRENGTH_CASES],
        "generator": "torch.Generator('cpu').manual_seed(seed), one per case and run; draws: posterior sample, "
                     "add_noise noise, then ancestral step noise",
        "init_image": "init_image(width, height) of build_img2img.py, passed as a PIL RGB image",
        "pipelines": {},
    }

    outputs = {}
    for name in list(PIPELINES) + [SDXL]:
        if name == SDXL:
            pipe, img, base_config, reproduced = load_sdxl(args.data)
        else:
            pipe, base_config, native = load_pipeline(args.data, name)
            reproduced = check_reproduces_committed(pipe, base_config, native, args.data, name)
            img = img2img_pipeline(pipe)
        size = {"factor": pipe.vae_scale_factor}
        entry = {"pipeline_class": type(img).__name__, "scheduler_config": plain(base_config),
                 "vae_scale_factor": pipe.vae_scale_factor, "scaling_factor": pipe.vae.config.scaling_factor,
                 "reproduced_committed_pipeline": reproduced, "schedulers": {}, "cases": []}
        tensors = {}
        for case in cases():
            pixels = init_image(case["width"], case["height"])
            tensors[case["init_image"]] = torch.from_numpy(pixels)
            produced, cut = run(img, base_config, case, pixels, size)
            for key, value in produced.items():
                tensors[f"{case['name']}.{key}"] = value
            entry["schedulers"].setdefault(case["scheduler"], {"class": type(img.scheduler).__name__,
                                                               "resolved_config": plain(dict(img.scheduler.config))})
            entry["cases"].append(dict(case, **cut, final_latents=stats(produced["final_latents"]),
                                       image=stats(produced["image"])))
            print(f"{name} {case['name']}: seed {case['seed']}, begin index {cut['begin_index']} of "
                  f"{cut['schedule_length']}, {cut['model_calls']} model calls, "
                  f"image mean {entry['cases'][-1]['image']['mean']:.4f}", flush=True)
        entry["tensors"] = {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
                            for k, v in tensors.items()}
        meta["pipelines"][name] = entry
        outputs[name] = tensors

    # Written only once every pipeline and case went through.
    for name, tensors in outputs.items():
        path = os.path.join(args.out, f"{name}_img2img.safetensors")
        save_file(contiguous(tensors), path)
        print(f"wrote {path}: {len(tensors)} tensors, {os.path.getsize(path)} bytes", flush=True)
    path = os.path.join(args.out, "img2img.json")
    with open(path, "w") as handle:
        json.dump(plain(meta), handle, indent=1, allow_nan=False)
        handle.write("\n")
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
