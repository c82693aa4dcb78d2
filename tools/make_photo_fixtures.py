#!/usr/bin/env python3
"""Write the photo fixtures of tests/test_photo.cpp: small JPEGs and PNGs, and what PIL makes
of them, into tests/fixtures/photos/.

The test suite only reads the files written here; this script (Pillow and NumPy) is needed only
to remake them. Every image is drawn from a fixed seed, so running it again writes the same
pictures (the JPEG bytes depend on the libjpeg build, the expected arrays on Pillow's).

What it writes:
- orient_<n>.jpg, n = 1..8: one upright 24 x 16 picture stored as EXIF orientation n asks (the
  stored pixels transformed so that applying the tag gives the upright picture back), the tag in
  little-endian TIFF for even n and big-endian for odd n; orient_<n>.npy is Pillow's decoding
  with ImageOps.exif_transpose, and orient_upright.npy the picture before JPEG compression.
- grey.jpg (a greyscale JPEG), cmyk.jpg (a CMYK one, written by Pillow with an Adobe marker) and
  ycck.jpg (that file marked as YCCK), each with <name>_jpg.npy: Pillow's decoding converted to
  RGB.
- orient_8.png: a 21 x 13 PNG with an eXIf chunk saying orientation 8; orient_8_png.npy is
  Pillow's decoding with ImageOps.exif_transpose (13 x 21).
- photo_a.jpg (stored 61 x 97 with orientation 6: upright 97 x 61), photo_b.png (40 x 120 RGB),
  photo_c.png (256 x 256 greyscale), with the preprocessing of the models sav explains:
    <name>_timm<size>.npy  timm's evaluation transform (torchvision Resize(int) of the shorter
                           side to floor(size / crop_pct), bicubic; CenterCrop(size); ToTensor;
                           Normalize with the ImageNet mean and std), crop_pct 0.875;
    <name>_timm_rect.npy   the same for a non-square input (24 x 40 from photo_a, 32 x 16 from
                           photo_b), crop_pct 0.9: timm's ResizeKeepRatio, then the crop;
    <name>_hf.npy          Hugging Face's ViTImageProcessor: resize to an exact height x width,
                           bilinear; rescale by 1/255; normalise with mean = std = 0.5;
    photo_a_hf_deit.npy    DeiTImageProcessor: 27 x 27 bicubic, a 24 x 24 centre crop whose
                           corner is floored (an odd difference), the ImageNet mean and std;
    photo_c_nearest.npy    an exact nearest-neighbour resize, scaled to [0, 1] only.
  Every array is float32 [3, H, W] (channel-planar), as sav's preprocess returns.

The .npy files hold uint8 [H, W, 3] pixels or float32 [3, H, W] tensors. Run it with a Python
that has Pillow and NumPy (Debian: python3-pil, python3-numpy).

It also writes the seeds of the JPEG fuzz target into fuzz/corpus/jpeg/: small baseline,
progressive, greyscale, CMYK, YCCK and Exif-tagged JPEGs, one cut short, one with junk before
its end marker and one whose header declares 30000 x 30000 pixels.

Usage: python3 tools/make_photo_fixtures.py [FIXTURE_FOLDER [CORPUS_FOLDER]]
"""
import math
import os
import struct
import sys

import numpy as np
from PIL import Image, ImageOps

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# How Image.transpose turns the stored pixels upright for each orientation (the table of
# ImageOps.exif_transpose), and the inverse, which makes the stored pixels from upright ones.
UPRIGHT = {
    2: Image.FLIP_LEFT_RIGHT, 3: Image.ROTATE_180, 4: Image.FLIP_TOP_BOTTOM,
    5: Image.TRANSPOSE, 6: Image.ROTATE_270, 7: Image.TRANSVERSE, 8: Image.ROTATE_90,
}
STORED = {**UPRIGHT, 6: Image.ROTATE_90, 8: Image.ROTATE_270}


def texture_rgb(width, height, seed):
    """Smooth waves, sharp edges and a little noise: what makes resampling filters differ."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = []
    for c in range(3):
        fx, fy = rng.uniform(0.05, 0.6, size=2)
        wave = 90 * np.sin(fx * x + c) * np.cos(fy * y - c)
        edges = np.where(((x // (5 + c)) + (y // (7 - c))) % 2 == 0, 60.0, -60.0)
        noise = rng.normal(0, 12, size=(height, width))
        channels.append(128 + wave + edges + noise)
    return np.clip(np.rint(np.stack(channels, axis=-1)), 0, 255).astype(np.uint8)


def exif_orientation(orientation, big_endian):
    """APP1 payload: "Exif\\0\\0", a TIFF header and IFD0 with Make and Orientation."""
    e = ">" if big_endian else "<"
    tiff = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    ifd = struct.pack(e + "H", 2)
    ifd += struct.pack(e + "HHI", 0x010F, 2, 4) + b"sav\0"  # Make, ASCII, 4 bytes inline
    ifd += struct.pack(e + "HHIHH", 0x0112, 3, 1, orientation, 0)
    ifd += struct.pack(e + "I", 0)  # no IFD1
    return b"Exif\0\0" + tiff + ifd


def save_npy(folder, name, array):
    np.save(os.path.join(folder, name), np.ascontiguousarray(array))


def decoded_upright(path):
    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


def write_orientation_set(folder):
    upright = Image.fromarray(texture_rgb(24, 16, seed=1))
    # Four flat quadrants over the texture make any wrong turn or flip obvious.
    pixels = np.asarray(upright).copy()
    pixels[:8, :12] //= 4
    pixels[8:, 12:] = 255 - pixels[8:, 12:] // 4
    upright = Image.fromarray(pixels)
    save_npy(folder, "orient_upright.npy", pixels)
    for n in range(1, 9):
        stored = upright.transpose(STORED[n]) if n in STORED else upright
        path = os.path.join(folder, f"orient_{n}.jpg")
        stored.save(path, quality=95, subsampling=0, exif=exif_orientation(n, n % 2 == 1))
        decoded = np.asarray(decoded_upright(path))
        assert decoded.shape == pixels.shape, (n, decoded.shape)
        assert np.abs(decoded.astype(int) - pixels).mean() < 4, n
        save_npy(folder, f"orient_{n}.npy", decoded)


def write_colour_models(folder):
    grey = Image.fromarray(texture_rgb(20, 12, seed=2)[:, :, 0], mode="L")
    grey.save(os.path.join(folder, "grey.jpg"), quality=90)
    cmyk = Image.fromarray(texture_rgb(16, 16, seed=3)).convert("CMYK")
    cmyk.save(os.path.join(folder, "cmyk.jpg"), quality=90)
    # Pillow writes no YCCK; the same file with the Adobe marker's transform set to 2 is one:
    # libjpeg then reads the four components as Y, Cb, Cr, K and converts them to CMYK.
    with open(os.path.join(folder, "cmyk.jpg"), "rb") as f:
        data = bytearray(f.read())
    adobe = data.index(b"Adobe")  # APP14: marker, length, "Adobe", version, 2 flags, transform
    assert data[adobe - 4:adobe - 2] == b"\xff\xee" and data[adobe + 11] == 0  # 0: CMYK
    data[adobe + 11] = 2
    with open(os.path.join(folder, "ycck.jpg"), "wb") as f:
        f.write(data)
    for name in ("grey", "cmyk", "ycck"):
        with Image.open(os.path.join(folder, name + ".jpg")) as image:
            assert image.mode == {"grey": "L", "cmyk": "CMYK", "ycck": "CMYK"}[name]
            save_npy(folder, name + "_jpg.npy", np.asarray(image.convert("RGB")))


def to_tensor(image, mean, std):
    """torchvision ToTensor and Normalize, in float32 as they compute."""
    x = np.asarray(image.convert("RGB"), dtype=np.float32) / np.float32(255)
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return x.transpose(2, 0, 1).astype(np.float32)


def timm_eval(image, size, crop_pct=0.875):
    """timm's transforms_factory eval path: Resize(floor(size / crop_pct)), CenterCrop(size)."""
    short = math.floor(size / crop_pct)
    w, h = image.size
    if w <= h:  # torchvision's _compute_resized_output_size
        new_w, new_h = short, int(short * h / w)
    else:
        new_w, new_h = int(short * w / h), short
    if (new_w, new_h) != (w, h):
        image = image.resize((new_w, new_h), Image.BICUBIC)
    top = int(round((new_h - size) / 2.0))  # torchvision's center_crop (Python rounds half even)
    left = int(round((new_w - size) / 2.0))
    image = image.crop((left, top, left + size, top + size))
    return to_tensor(image, IMAGENET_MEAN, IMAGENET_STD)


def timm_eval_rect(image, height, width, crop_pct=0.9):
    """timm's eval path for a non-square input: ResizeKeepRatio to the scaled size (the side
    needing the smaller scale fits, both sides rounded half to even), then CenterCrop."""
    target_h, target_w = math.floor(height / crop_pct), math.floor(width / crop_pct)
    w, h = image.size
    ratio = min(h / target_h, w / target_w)
    new_h, new_w = round(h / ratio), round(w / ratio)
    image = image.resize((new_w, new_h), Image.BICUBIC)
    top = int(round((new_h - height) / 2.0))
    left = int(round((new_w - width) / 2.0))
    image = image.crop((left, top, left + width, top + height))
    return to_tensor(image, IMAGENET_MEAN, IMAGENET_STD)


def hf_deit(image, size, crop):
    """DeiTImageProcessor: resize to size x size bicubic, centre crop (corner floored), rescale
    1/255 in float64, normalise with the ImageNet mean and std."""
    resized = np.asarray(image.convert("RGB").resize((size, size), Image.BICUBIC))
    top = (size - crop) // 2
    cropped = resized[top:top + crop, top:top + crop]
    x = (cropped.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    return x.transpose(2, 0, 1).astype(np.float32)


def hf_vit(image, height, width):
    """ViTImageProcessor: resize to (height, width) bilinear, rescale 1/255, mean = std = 0.5."""
    resized = np.asarray(image.convert("RGB").resize((width, height), Image.BILINEAR))
    x = (resized.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - np.float32(0.5)) / np.float32(0.5)
    return x.transpose(2, 0, 1).astype(np.float32)


def write_photos(folder):
    stored = Image.fromarray(texture_rgb(61, 97, seed=4))
    path_a = os.path.join(folder, "photo_a.jpg")
    stored.save(path_a, quality=92, exif=exif_orientation(6, big_endian=False))
    a = decoded_upright(path_a)
    assert a.size == (97, 61)
    Image.fromarray(texture_rgb(40, 120, seed=5)).save(os.path.join(folder, "photo_b.png"))
    grey = Image.fromarray(texture_rgb(256, 256, seed=6)[:, :, 1], mode="L")
    grey.save(os.path.join(folder, "photo_c.png"), optimize=True)
    with Image.open(os.path.join(folder, "photo_b.png")) as image:
        b = image.convert("RGB")
    with Image.open(os.path.join(folder, "photo_c.png")) as image:
        c = image.convert("RGB")
    save_npy(folder, "photo_a_timm32.npy", timm_eval(a, 32))
    save_npy(folder, "photo_a_hf.npy", hf_vit(a, 24, 40))
    save_npy(folder, "photo_b_timm48.npy", timm_eval(b, 48))
    save_npy(folder, "photo_b_hf.npy", hf_vit(b, 32, 32))
    save_npy(folder, "photo_c_timm48.npy", timm_eval(c, 48))
    save_npy(folder, "photo_c_hf.npy", hf_vit(c, 32, 48))
    # A PNG stored on its side with an eXIf chunk (orientation 8); PIL turns it upright.
    png_path = os.path.join(folder, "orient_8.png")
    Image.fromarray(texture_rgb(21, 13, seed=7)).save(
        png_path, exif=exif_orientation(8, big_endian=True))
    save_npy(folder, "orient_8_png.npy", np.asarray(decoded_upright(png_path)))
    save_npy(folder, "photo_a_timm_rect.npy", timm_eval_rect(a, 24, 40))
    save_npy(folder, "photo_b_timm_rect.npy", timm_eval_rect(b, 32, 16))
    save_npy(folder, "photo_a_hf_deit.npy", hf_deit(a, 27, 24))
    save_npy(folder, "photo_c_nearest.npy", to_tensor(c.resize((28, 20), Image.NEAREST),
                                                      (0, 0, 0), (1, 1, 1)))


def with_declared_size(jpeg, width, height):
    """The JPEG with its SOF segment declaring another size (segments walked from SOI)."""
    at = 2
    while jpeg[at + 1] not in (0xC0, 0xC1, 0xC2):
        at += 2 + struct.unpack(">H", jpeg[at + 2:at + 4])[0]
    return jpeg[:at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9:]


def write_fuzz_seeds(fixtures, corpus):
    def save(name, data):
        with open(os.path.join(corpus, name), "wb") as out:
            out.write(data)

    def encoded(image, **options):
        path = os.path.join(corpus, "tmp.jpg")
        image.save(path, **options)
        with open(path, "rb") as f:
            data = f.read()
        os.remove(path)
        return data

    def fixture(name):
        with open(os.path.join(fixtures, name), "rb") as f:
            return f.read()

    picture = Image.fromarray(texture_rgb(16, 16, seed=7))
    baseline = encoded(picture, quality=75, subsampling=2)
    save("baseline_420_16x16.jpg", baseline)
    save("progressive_16x16.jpg", encoded(picture, quality=75, progressive=True))
    save("exif_big_endian_orientation_5.jpg", fixture("orient_5.jpg"))
    save("grey_20x12.jpg", fixture("grey.jpg"))
    save("cmyk_16x16.jpg", fixture("cmyk.jpg"))
    save("ycck_16x16.jpg", fixture("ycck.jpg"))
    save("truncated.jpg", baseline[:len(baseline) // 2])
    save("junk_before_eoi.jpg", baseline[:-2] + b"\x00\x11\x22" + baseline[-2:])
    save("declares_30000x30000.jpg", with_declared_size(baseline, 30000, 30000))


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests/fixtures/photos")
    corpus = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "fuzz/corpus/jpeg")
    os.makedirs(folder, exist_ok=True)
    os.makedirs(corpus, exist_ok=True)
    write_orientation_set(folder)
    write_colour_models(folder)
    write_photos(folder)
    write_fuzz_seeds(folder, corpus)
    for where in (folder, corpus):
        total = sum(os.path.getsize(os.path.join(where, f)) for f in os.listdir(where))
        print(f"wrote {len(os.listdir(where))} files, {total} bytes, to {where}")


if __name__ == "__main__":
    main()
