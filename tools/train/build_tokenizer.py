#!/usr/bin/env python3
"""Learn a CLIP-format byte-level BPE tokenizer from a text corpus.

The output folder has the layout of a Stable Diffusion `tokenizer/` folder, so both
transformers' CLIPTokenizer and muse's C++ tokenizer load it:

  vocab.json               256 byte symbols, the same 256 symbols + "</w>", one entry per
                           merge (in merge order), then "<|startoftext|>", "<|endoftext|>"
  merges.txt               "#version: 0.2" then one "left right" merge per line
  tokenizer_config.json    as the published SD 1.x/2.x checkpoints have it
  special_tokens_map.json  likewise

Only the Python standard library is used. The corpus is read as UTF-8 text, one prompt per
line; it is cleaned, lower-cased and split into words the way CLIP's tokenizer does before
the merges are learned, so every merge learned is reachable at encoding time.

Usage:
  build_tokenizer.py --corpus FILE --vocab-size N --out DIR [--pad-token TOKEN]
"""

import argparse
import collections
import html
import json
import os
import re
import sys
import unicodedata

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
END_OF_WORD = "</w>"
MAX_LENGTH = 77
SPECIAL_COUNT = 2
BYTE_SYMBOLS = 256

# CLIP splits on [\p{L}]+ | [\p{N}] | [^\s\p{L}\p{N}]+ and a few English contractions.
# The standard library has no \p classes: [^\W\d_] is "letter", \d is "number"
# (Unicode digits), and the rest is "neither letter, digit nor space".
WORD_PATTERN = re.compile(
    r"'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+",
    re.IGNORECASE,
)


def bytes_to_unicode():
    """CLIP's reversible map from the 256 byte values to printable characters (same order)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("\u00a1"), ord("\u00ac") + 1))
        + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    )
    codes = printable[:]
    shifted = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + shifted)
            shifted += 1
    return dict(zip(printable, (chr(c) for c in codes)))


def clean_text(text):
    """Whitespace collapse, HTML unescaping and lower-casing, as CLIP does before splitting."""
    text = html.unescape(html.unescape(text))
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text.lower()


def count_words(lines, byte_map):
    """Word (as a tuple of byte symbols, the last one ending in </w>) -> frequency."""
    counts = collections.Counter()
    for line in lines:
        for word in WORD_PATTERN.findall(clean_text(line)):
            symbols = [byte_map[b] for b in word.encode("utf-8")]
            symbols[-1] += END_OF_WORD
            counts[tuple(symbols)] += 1
    return counts


def pair_counts(words):
    counts = collections.Counter()
    for word, freq in words.items():
        for left, right in zip(word, word[1:]):
            counts[(left, right)] += freq
    return counts


def merge_word(word, left, right):
    merged = []
    i = 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == left and word[i + 1] == right:
            merged.append(left + right)
            i += 2
        else:
            merged.append(word[i])
            i += 1
    return tuple(merged)


def learn_merges(words, merge_count, known_symbols):
    """Greedy BPE: repeatedly merge the most frequent adjacent pair.

    Ties go to the lexicographically smallest pair so the result is deterministic. A pair whose
    concatenation is already a vocabulary entry is skipped: CLIP's vocab.json gives each merge
    its own id (512 + merge rank), which a duplicate entry would break.
    """
    merges = []
    known = set(known_symbols)
    while len(merges) < merge_count:
        counts = pair_counts(words)
        candidates = [(-freq, pair) for pair, freq in counts.items() if pair[0] + pair[1] not in known]
        if not candidates:
            break
        _, (left, right) = min(candidates)
        merges.append((left, right))
        known.add(left + right)
        words = {merge_word(w, left, right): f for w, f in words.items()}
        # Two spellings can collapse into one word after a merge: re-sum their counts.
        summed = collections.Counter()
        for w, f in words.items():
            summed[w] += f
        words = summed
    return merges


def special_token(content):
    return {
        "content": content,
        "lstrip": False,
        "normalized": True,
        "rstrip": False,
        "single_word": False,
    }


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, ensure_ascii=False, indent=2)
        handle.write("\n")


def write_tokenizer(out_dir, merges, byte_symbols, pad_token):
    os.makedirs(out_dir, exist_ok=True)
    entries = list(byte_symbols) + [s + END_OF_WORD for s in byte_symbols]
    entries += [left + right for left, right in merges]
    entries += [BOS, EOS]
    vocab = {token: index for index, token in enumerate(entries)}
    if len(vocab) != len(entries):
        raise RuntimeError("duplicate vocabulary entry: the merges are inconsistent")
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as handle:
        json.dump(vocab, handle, ensure_ascii=False, separators=(",", ":"))
        handle.write("\n")
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as handle:
        handle.write("#version: 0.2\n")
        for left, right in merges:
            handle.write(f"{left} {right}\n")

    added = {"__type": "AddedToken"}
    write_json(
        os.path.join(out_dir, "tokenizer_config.json"),
        {
            "add_prefix_space": False,
            "bos_token": dict(added, **special_token(BOS)),
            "do_lower_case": True,
            "eos_token": dict(added, **special_token(EOS)),
            "errors": "replace",
            "model_max_length": MAX_LENGTH,
            "pad_token": pad_token,
            "special_tokens_map_file": "./special_tokens_map.json",
            "tokenizer_class": "CLIPTokenizer",
            "unk_token": dict(added, **special_token(EOS)),
        },
    )
    write_json(
        os.path.join(out_dir, "special_tokens_map.json"),
        {
            "bos_token": special_token(BOS),
            "eos_token": special_token(EOS),
            "pad_token": pad_token,
            "unk_token": special_token(EOS),
        },
    )
    return len(vocab)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True, help="UTF-8 text file, one prompt per line")
    parser.add_argument("--vocab-size", required=True, type=int, help="total entries in vocab.json")
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument(
        "--pad-token",
        default=EOS,
        help='padding token: "<|endoftext|>" as SD 1.x ships, "!" as SD 2.x ships',
    )
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    minimum = 2 * BYTE_SYMBOLS + SPECIAL_COUNT
    if args.vocab_size < minimum:
        sys.exit(f"--vocab-size must be at least {minimum} (byte symbols and special tokens)")
    try:
        with open(args.corpus, encoding="utf-8") as handle:
            lines = [line for line in handle.read().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        sys.exit(f"cannot read corpus {args.corpus}: {error}")
    if not lines:
        sys.exit(f"corpus {args.corpus} has no text")

    byte_map = bytes_to_unicode()
    byte_symbols = list(byte_map.values())
    words = count_words(lines, byte_map)
    merge_count = args.vocab_size - minimum
    known = set(byte_symbols) | {s + END_OF_WORD for s in byte_symbols}
    merges = learn_merges(words, merge_count, known)
    if len(merges) < merge_count:
        sys.exit(
            f"corpus supports only {len(merges)} merges ({minimum + len(merges)} entries); "
            f"use a larger corpus or --vocab-size {minimum + len(merges)}"
        )
    size = write_tokenizer(args.out, merges, byte_symbols, args.pad_token)
    print(f"{args.out}: {size} entries, {len(merges)} merges from {len(lines)} lines, {len(words)} distinct words")


if __name__ == "__main__":
    main(sys.argv[1:])
