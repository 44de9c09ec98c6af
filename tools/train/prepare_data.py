#!/usr/bin/env python3
"""Build the emoji training set of the built-in model, reproducibly.

Fetches pinned versions of the npm packages emoji-datasource-google (Noto Emoji images,
Apache 2.0) and emoji-datasource-twitter (Twemoji images, CC-BY 4.0) with `npm pack`,
extracts every base emoji's 64x64 PNG (skin-tone variants are left out), composites it
onto white and writes captions from the emoji's name and short names, lower-cased.

Outputs (in --out, git-ignored):
  emoji64.npz    images uint8 (N, 64, 64, 3); item int32 (N,) index into `names`;
                 style uint8 (N,) 0 = google, 1 = twitter; names (M,) item names;
                 captions (M,) caption variants of each item joined by "|"
  corpus.txt     every caption variant, one a line (the tokenizer's corpus)
And the quality test's reference features (in --features-out, committed):
  features.bin   N x 192 bytes: each image's 8x8 RGB block means (see feature_8x8)
  labels.json    {"names": [...], "item": [...], "style": [...]}, parallel to features.bin

Needs npm, Python 3 with numpy and Pillow. Everything is sorted; nothing is random.
"""

import argparse
import json
import os
import subprocess
import sys
import tarfile

import numpy as np
from PIL import Image

PACKAGES = (
    ("google", "emoji-datasource-google", "16.0.0"),
    ("twitter", "emoji-datasource-twitter", "16.0.0"),
)
SIZE = 64
FEATURE_GRID = 8


def fetch_package(cache_dir, package, version):
    """npm pack NAME@VERSION into cache_dir (once) and return the tarball's path."""
    tarball = os.path.join(cache_dir, f"{package}-{version}.tgz")
    if not os.path.exists(tarball):
        os.makedirs(cache_dir, exist_ok=True)
        subprocess.run(["npm", "pack", f"{package}@{version}"], cwd=cache_dir, check=True,
                       stdout=subprocess.DEVNULL)
    if not os.path.exists(tarball):
        sys.exit(f"npm pack did not produce {tarball}")
    return tarball


def read_package(tarball, style):
    """Returns (emoji.json entries, {image file name: PNG bytes}) of one package."""
    images = {}
    entries = None
    prefix = f"package/img/{style}/{SIZE}/"
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive:
            if member.name == "package/emoji.json":
                entries = json.load(archive.extractfile(member))
            elif member.name.startswith(prefix) and member.name.endswith(".png"):
                images[member.name[len(prefix):]] = archive.extractfile(member).read()
    if entries is None:
        sys.exit(f"{tarball} has no package/emoji.json")
    return entries, images


def captions_of(entry):
    """Caption variants: the Unicode name, then each short name with separators as spaces."""
    variants = []
    for text in [entry.get("name") or ""] + list(entry.get("short_names") or []):
        caption = " ".join(text.lower().replace("_", " ").replace("-", " ").split())
        if caption and caption not in variants:
            variants.append(caption)
    return variants


def on_white(png_bytes):
    import io
    image = Image.open(io.BytesIO(png_bytes)).convert("RGBA")
    if image.size != (SIZE, SIZE):
        image = image.resize((SIZE, SIZE), Image.LANCZOS)
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, image).convert("RGB"), dtype=np.uint8)


def feature_8x8(images):
    """The quality test's feature: mean of each 8x8 pixel block per channel, rounded, as uint8.

    (N, 64, 64, 3) uint8 -> (N, 192) uint8 in row-major (block row, block column, channel)."""
    n = images.shape[0]
    block = SIZE // FEATURE_GRID
    grid = images.reshape(n, FEATURE_GRID, block, FEATURE_GRID, block, 3).astype(np.float64)
    means = grid.mean(axis=(2, 4))
    return np.floor(means + 0.5).clip(0, 255).astype(np.uint8).reshape(n, -1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", default=".cache/npm", help="where npm tarballs are kept")
    parser.add_argument("--out", default=".cache/train", help="where the training set goes")
    parser.add_argument("--features-out", default="tests/data/emoji",
                        help="where the quality test's reference features go")
    args = parser.parse_args()

    per_style = {}
    for style, package, version in PACKAGES:
        per_style[style] = read_package(fetch_package(args.cache, package, version), style)

    # Items are keyed by their unified code point sequence; the google package's list is the
    # reference (both packages ship the same emoji.json for a given version).
    entries = sorted(per_style["google"][0], key=lambda e: e["unified"])
    names, captions, images, items, styles = [], [], [], [], []
    seen_names = set()
    for entry in entries:
        variants = captions_of(entry)
        if not variants or variants[0] in seen_names:
            continue
        found = []
        for style_index, (style, _, _) in enumerate(PACKAGES):
            png = per_style[style][1].get(entry["image"])
            if png is not None and entry.get(f"has_img_{style}", False):
                found.append((style_index, on_white(png)))
        if not found:
            continue
        seen_names.add(variants[0])
        item = len(names)
        names.append(variants[0])
        captions.append("|".join(variants))
        for style_index, pixels in found:
            images.append(pixels)
            items.append(item)
            styles.append(style_index)

    images = np.stack(images)
    os.makedirs(args.out, exist_ok=True)
    np.savez_compressed(os.path.join(args.out, "emoji64.npz"), images=images,
                        item=np.asarray(items, dtype=np.int32),
                        style=np.asarray(styles, dtype=np.uint8),
                        names=np.asarray(names), captions=np.asarray(captions))
    with open(os.path.join(args.out, "corpus.txt"), "w", encoding="utf-8") as corpus:
        for line in captions:
            for variant in line.split("|"):
                corpus.write(variant + "\n")

    os.makedirs(args.features_out, exist_ok=True)
    with open(os.path.join(args.features_out, "features.bin"), "wb") as features:
        features.write(feature_8x8(images).tobytes())
    with open(os.path.join(args.features_out, "labels.json"), "w", encoding="utf-8") as labels:
        json.dump({"feature": "8x8 RGB block means, uint8, 192 bytes per image",
                   "styles": [style for style, _, _ in PACKAGES],
                   "names": names, "item": items, "style": styles}, labels)
        labels.write("\n")
    print(f"{len(names)} items, {len(images)} images -> {args.out}, {args.features_out}")


if __name__ == "__main__":
    main()
