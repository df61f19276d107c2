"""A tiny randomly initialised CLIP checkpoint, written the way Hugging Face checkpoints are
(config.json, model.safetensors, vocab.json + merges.txt + tokenizer files,
preprocessor_config.json), and a folder of generated PNGs: the image path tested end to end with
no real weights and no download."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LETTERS = "abcdefghijklmnopqrstuvwxyz"
COLOURS = {"red": (220, 30, 30), "blue": (30, 40, 220)}


def write_tiny_clip(directory: Path) -> Path:
    """Save a 2-layer, 32-wide CLIP (32 px images, 8 px patches, 16-d projection) with a
    character-level BPE tokenizer built from a vocabulary written here."""
    import torch
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    directory.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in LETTERS:
        vocab[letter] = len(vocab)
        vocab[letter + "</w>"] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n")
    tower = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4}
    ids = {"bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}
    text = {**tower, **ids, "vocab_size": len(vocab), "max_position_embeddings": 32}
    vision = {**tower, "image_size": 32, "patch_size": 8}
    torch.manual_seed(0)
    config = transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
    transformers.CLIPModel(config).save_pretrained(directory)
    tokenizer = transformers.CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"))
    tokenizer.save_pretrained(directory)
    size = {"shortest_edge": 32}
    transformers.CLIPImageProcessorPil(size=size, crop_size={"height": 32, "width": 32}).save_pretrained(directory)
    return directory


def write_images(folder: Path, per_colour: int = 6) -> list[str]:
    """PNGs of red and blue shapes on white, in one subfolder per colour; their relative paths."""
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for colour, rgb in COLOURS.items():
        (folder / colour).mkdir(parents=True, exist_ok=True)
        for i in range(per_colour):
            pixels = np.full((48, 40, 3), 255, dtype=np.uint8)
            top, left = rng.integers(0, 16, size=2)
            pixels[top : top + 24, left : left + 20] = rgb
            Image.fromarray(pixels).save(folder / colour / f"{i}.png")
            paths.append(f"{colour}/{i}.png")
    return sorted(paths)
