#!/usr/bin/env python3
"""Write the fixtures of tests/test_augment.cpp into tests/fixtures/augment/: what torchvision's
TrivialAugmentWide / RandAugment operations make of two 32 x 32 RGB images, on PIL images (the
way the CIFAR-10 recipes run them, so Pillow's ImageEnhance, ImageOps and Image.transform do
the work), and torchvision's magnitude tables.

The test suite only reads the files written here; this script (torch, torchvision, Pillow and
NumPy: Debian's python3-torchvision, python3-pil, python3-numpy) is needed only to remake them.
The images come from a fixed seed, so running it again writes the same files, as long as
Pillow's arithmetic stays as it is (written with Pillow 9.4.0 and torchvision 0.14.1).

What it writes:
- images.npy      uint8 [2, 3, 32, 32], channel planes R, G, B as sav stores CIFAR-10 records:
                  0, gradients in R and G and three squares in B, every channel short of
                  0..255 so that AutoContrast has work to do; 1, low-contrast noise.
- cases.npy       float32 [K, 3]: image index, operation index (torchvision's order, as
                  sav::data::AugmentOp), magnitude (a float32, as torchvision passes it).
- expected.npy    uint8 [K, 3, 32, 32]: torchvision's _apply_op on the PIL image, nearest
                  neighbour, fill None (0), back in channel planes.
- magnitudes.npy  float32 [2, 14, 31]: the magnitude of each operation and bin, TrivialAugment
                  Wide (0) and RandAugment on 32 x 32 (1); 0 for the operations without one.
- sweep.npy       float32 [S, 6]: every (operation, magnitude) either policy can draw, both
                  signs, on both images: image, operation, magnitude, and of torchvision's
                  output the sum of its bytes and its 32-bit FNV-1a hash as two 16-bit halves
                  (a float32 holds them exactly).

Usage: python3 tools/make_augment_fixtures.py [FIXTURE_FOLDER]
"""
import os
import sys

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import RandAugment, TrivialAugmentWide, _apply_op

OPS = [
    "Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
    "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize",
]


def make_images():
    y, x = np.mgrid[0:32, 0:32]
    structured = np.zeros((3, 32, 32), np.uint8)
    structured[0] = 40 + 5 * x
    structured[1] = 30 + 6 * y
    structured[2] = 90
    structured[2, 4:12, 4:12] = 200
    structured[2, 6:14, 20:28] = 50
    structured[2, 20:30, 10:18] = 120
    rng = np.random.default_rng(2021)
    noise = np.stack([rng.integers(low, low + 81, (32, 32)) for low in (70, 20, 150)])
    return np.stack([structured, noise.astype(np.uint8)])


def magnitude_tables():
    tables = np.zeros((2, len(OPS), 31), np.float32)
    spaces = [
        TrivialAugmentWide()._augmentation_space(31),
        RandAugment()._augmentation_space(31, (32, 32)),
    ]
    for p, space in enumerate(spaces):
        assert list(space.keys()) == OPS
        for o, name in enumerate(OPS):
            values, _ = space[name]
            if values.ndim > 0:
                tables[p, o] = values.numpy().astype(np.float32)
    return tables


# Magnitudes per operation: both signs, the ends of TrivialAugment's ranges, RandAugment's
# magnitude 9, and values that land the geometry on transposes (Rotate +-90) and on PIL's
# special cases (Posterize 8, Solarize 255 and 0).
def cases_for(tables):
    ta, ra = tables[0], tables[1]
    op = {name: i for i, name in enumerate(OPS)}
    chosen = {
        "Identity": [0.0],
        "ShearX": [ta[op["ShearX"], 30], -ta[op["ShearX"], 10], ra[op["ShearX"], 9], -0.5],
        "ShearY": [-ta[op["ShearY"], 30], ta[op["ShearY"], 10], -ra[op["ShearY"], 9], 0.5],
        "TranslateX": [ta[op["TranslateX"], 15], -ra[op["TranslateX"], 9], 30.0, -7.9],
        "TranslateY": [-ta[op["TranslateY"], 15], ra[op["TranslateY"], 9], -30.0, 7.9],
        "Rotate": [4.5, -30.0, 90.0, -90.0, 121.5, -135.0],
        "Brightness": [ta[op["Brightness"], 30], -ta[op["Brightness"], 30], ra[op["Brightness"], 9],
                       -ta[op["Brightness"], 19]],
        "Color": [ta[op["Color"], 30], -ta[op["Color"], 30], -ra[op["Color"], 9],
                  ta[op["Color"], 19]],
        "Contrast": [ta[op["Contrast"], 30], -ta[op["Contrast"], 30], ra[op["Contrast"], 9],
                     -ta[op["Contrast"], 19]],
        "Sharpness": [ta[op["Sharpness"], 30], -ta[op["Sharpness"], 30], -ra[op["Sharpness"], 9],
                      ta[op["Sharpness"], 19]],
        "Posterize": [2.0, 3.0, 5.0, 7.0, 8.0],
        "Solarize": [255.0, 178.5, 127.5, 0.0],
        "AutoContrast": [0.0],
        "Equalize": [0.0],
    }
    return [(o, float(np.float32(m))) for o, name in enumerate(OPS) for m in chosen[name]]


def fnv1a32(data):
    h = 0x811C9DC5
    for byte in data.tobytes():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def sweep_for(tables):
    pairs = set()
    for o in range(len(OPS)):
        for table in tables:
            for value in table[o]:
                pairs.add((o, float(value)))
                if o in range(1, 10):  # the signed operations, ShearX .. Sharpness
                    pairs.add((o, -float(value)))
    return sorted(pairs)


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "augment")
    os.makedirs(folder, exist_ok=True)
    images = make_images()
    tables = magnitude_tables()
    cases, expected = [], []
    for i, image in enumerate(images):
        pil = Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0)), "RGB")
        for o, magnitude in cases_for(tables):
            out = _apply_op(pil, OPS[o], magnitude, InterpolationMode.NEAREST, None)
            cases.append((i, o, magnitude))
            expected.append(np.asarray(out, np.uint8).transpose(2, 0, 1))
    np.save(os.path.join(folder, "images.npy"), images)
    np.save(os.path.join(folder, "cases.npy"), np.array(cases, np.float32))
    np.save(os.path.join(folder, "expected.npy"), np.stack(expected))
    np.save(os.path.join(folder, "magnitudes.npy"), tables)
    sweep = []
    for i, image in enumerate(images):
        pil = Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0)), "RGB")
        for o, magnitude in sweep_for(tables):
            out = np.asarray(_apply_op(pil, OPS[o], magnitude, InterpolationMode.NEAREST, None),
                             np.uint8).transpose(2, 0, 1)
            h = fnv1a32(np.ascontiguousarray(out))
            sweep.append((i, o, magnitude, int(out.sum()), h & 0xFFFF, h >> 16))
    np.save(os.path.join(folder, "sweep.npy"), np.array(sweep, np.float32))
    print(f"wrote {len(cases)} cases and a sweep of {len(sweep)} into {folder} (Pillow {PIL.__version__}, "
          f"torchvision {torchvision.__version__}, torch {torch.__version__})")


if __name__ == "__main__":
    main()
