#!/usr/bin/env python3
"""Check that a sav checkpoint loads into an equivalent PyTorch ViT.

The safetensors file is parsed with the standard library and NumPy only (no `safetensors`
package). The model configuration is read from the "config" metadata entry, a PyTorch
module with the checkpoint's parameter names is built, and the weights are loaded with
load_state_dict(strict=True): every name and shape must match exactly. Optimizer moments
("optim.m.*", "optim.v.*", saved for resuming) are skipped. A checkpoint that keeps a moving
average of its weights ("ema.*", training.ema_decay) loads the average, which is what its run
evaluated and what sav_viz explains.

With --cifar DIR the model is also evaluated on the first --count images of
DIR/test_batch.bin (CIFAR-10 binary format), a cross-check that the weights compute the
same function in PyTorch as in sav.
"""
import argparse
import json
import math
import os
import struct
import sys

try:
    import torch
    from torch import nn
except ImportError:
    sys.exit("error: PyTorch is required (pip install torch, or apt-get install python3-torch)")

IMAGE_SIDE = 32


class CheckpointError(Exception):
    pass


def require_numpy():
    """NumPy, imported only where files are read: bench/compare_pytorch.py takes the model from
    this module and runs where PyTorch is installed without NumPy."""
    try:
        import numpy as np
    except ImportError:
        sys.exit("error: NumPy is required to read checkpoints and CIFAR-10 files "
                 "(pip install numpy, or apt-get install python3-numpy)")
    return np


def read_safetensors(path):
    """Returns (tensors: name -> float32 ndarray, metadata: str -> str)."""
    np = require_numpy()
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise CheckpointError(f"{path}: too short to be a safetensors file ({len(data)} bytes)")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len == 0 or 8 + header_len > len(data):
        raise CheckpointError(f"{path}: header length {header_len} does not fit the file size {len(data)}")
    try:
        header = json.loads(data[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: header is not valid JSON ({e})")
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    body = memoryview(data)[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        try:
            dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise CheckpointError(f"{path}: tensor '{name}' has a malformed header entry: {info!r}")
        if dtype != "F32":
            raise CheckpointError(f"{path}: tensor '{name}' has dtype {dtype}; only F32 is supported")
        count = math.prod(shape)
        if not (0 <= begin <= end <= len(body)) or end - begin != 4 * count:
            raise CheckpointError(f"{path}: tensor '{name}' offsets [{begin}, {end}] do not match "
                                  f"shape {shape} or the data size {len(body)}")
        tensors[name] = np.frombuffer(body[begin:end], dtype="<f4").reshape(shape).copy()
    return tensors, metadata


def sinusoidal_positions(tokens, d_model):
    pos = torch.arange(tokens, dtype=torch.float64)[:, None]
    i = torch.arange(d_model)
    angle = pos / torch.pow(10000.0, (i - i % 2).double() / d_model)
    return torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle)).float()


class Attention(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))

    def forward(self, x):
        b, n, d = x.shape
        split = lambda t: t.view(b, n, self.h, d // self.h).transpose(1, 2)  # [B, h, n, d_k]
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.h), dim=-1)
        return self.o((a @ v).transpose(1, 2).reshape(b, n, d))


class FeedForward(nn.Module):
    def __init__(self, d, d_ff):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, d_ff), nn.Linear(d_ff, d)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class Block(nn.Module):
    """Post-LN encoder layer: Y = LN1(X + Drop(MHA(X))), Z = LN2(Y + Drop(FFN(Y)))."""

    def __init__(self, d, h, d_ff, dropout):
        super().__init__()
        self.attn, self.ln1 = Attention(d, h), nn.LayerNorm(d, eps=1e-5)
        self.ffn, self.ln2 = FeedForward(d, d_ff), nn.LayerNorm(d, eps=1e-5)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        y = self.ln1(x + self.drop(self.attn(x)))
        return self.ln2(y + self.drop(self.ffn(y)))


class ViT(nn.Module):
    def __init__(self, patch_features, patches, d, h, n_layers, d_ff, dropout, classes):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, patch_features))
        self.patch_embed = nn.Linear(patch_features, d)
        self.register_buffer("pe", sinusoidal_positions(patches + 1, d), persistent=False)
        self.blocks = nn.ModuleList(Block(d, h, d_ff, dropout) for _ in range(n_layers))
        self.head = nn.Linear(d, classes)

    def forward(self, patches):  # [B, 64, 48] -> logits [B, classes]
        x = torch.cat([self.cls_token.expand(patches.shape[0], -1, -1), patches], dim=1)
        x = self.patch_embed(x) + self.pe
        for block in self.blocks:
            x = block(x)
        return self.head(x[:, 0])


def model_from_config(config):
    data, model = config.get("data", {}), config.get("model", {})
    channels = int(data.get("channels", 3))
    p = data.get("patch_size", [4, 4])
    p = int(p[0]) if isinstance(p, list) else int(p)
    d = int(model["d_model"])
    return ViT(patch_features=channels * p * p, patches=(IMAGE_SIDE // p) ** 2, d=d,
               h=int(model["h"]), n_layers=int(model["N"]), d_ff=int(model.get("d_ff", 4 * d)),
               dropout=float(model.get("dropout", 0.0)),
               classes=int(data.get("n_classes", 10))), channels, p


def load_cifar_test(folder, count, channels, p):
    np = require_numpy()
    path = os.path.join(folder, "test_batch.bin")
    raw = np.fromfile(path, dtype=np.uint8)
    record = 1 + channels * IMAGE_SIDE * IMAGE_SIDE
    if raw.size == 0 or raw.size % record != 0:
        raise CheckpointError(f"{path}: size {raw.size} is not a multiple of the {record}-byte record")
    raw = raw.reshape(-1, record)[:count]
    labels = torch.from_numpy(raw[:, 0].astype(np.int64))
    g = IMAGE_SIDE // p
    images = raw[:, 1:].reshape(-1, channels, g, p, g, p).astype(np.float32) / 255.0
    # pixel (c, y, x) -> token (y // p) * g + x // p, feature c * p * p + (y % p) * p + x % p
    patches = images.transpose(0, 2, 4, 1, 3, 5).reshape(-1, g * g, channels * p * p)
    return torch.from_numpy(np.ascontiguousarray(patches)), labels


def main():
    parser = argparse.ArgumentParser(
        description="Load a sav ViT checkpoint (safetensors) into a PyTorch module with "
                    "load_state_dict(strict=True), and optionally measure its CIFAR-10 test accuracy.")
    parser.add_argument("checkpoint", help="path to a .safetensors checkpoint written by sav_train")
    parser.add_argument("--cifar", metavar="DIR",
                        help="folder holding test_batch.bin (CIFAR-10 binary); evaluates the model")
    parser.add_argument("--count", type=int, default=1000, metavar="N",
                        help="number of test images to evaluate with --cifar (default 1000)")
    parser.add_argument("--batch-size", type=int, default=250, help="evaluation batch size (default 250)")
    args = parser.parse_args()

    try:
        if not os.path.isfile(args.checkpoint):
            raise CheckpointError(f"{args.checkpoint}: no such file")
        tensors, metadata = read_safetensors(args.checkpoint)
        if "config" not in metadata:
            raise CheckpointError(f"{args.checkpoint}: no 'config' in the metadata; not a sav checkpoint")
        try:
            config = json.loads(metadata["config"])
            model, channels, p = model_from_config(config)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{args.checkpoint}: unusable model configuration ({e!r})")

        averaged = any(k.startswith("ema.") for k in tensors)
        if averaged:
            state = {k[4:]: torch.from_numpy(v) for k, v in tensors.items() if k.startswith("ema.")}
        else:
            state = {k: torch.from_numpy(v) for k, v in tensors.items() if not k.startswith("optim.")}
        skipped = len(tensors) - len(state)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"strict load failed:\n{e}")

        m = config["model"]
        print(f"checkpoint: {args.checkpoint}")
        print(f"format: {metadata.get('format', '?')}  epoch: {metadata.get('epoch', '?')}  "
              f"step: {metadata.get('step', '?')}")
        print(f"model: d_model {m['d_model']}, heads {m['h']}, layers {m['N']}, "
              f"d_ff {m.get('d_ff', 4 * int(m['d_model']))}, patch {p}x{p}")
        if averaged:
            print(f"tensors: {len(state)} of the weights' moving average (ema.*) loaded, "
                  f"{skipped} others (the weights, optim.*) skipped")
        else:
            print(f"tensors: {len(state)} model, {skipped} optimizer (optim.*) skipped")
        print(f"parameters: {sum(t.numel() for t in model.parameters()):,}")
        print("strict load: OK")

        if args.cifar:
            if args.count <= 0:
                raise CheckpointError("--count must be positive")
            patches, labels = load_cifar_test(args.cifar, args.count, channels, p)
            model.eval()
            correct = 0
            with torch.no_grad():
                for i in range(0, len(labels), args.batch_size):
                    logits = model(patches[i:i + args.batch_size])
                    correct += (logits.argmax(dim=1) == labels[i:i + args.batch_size]).sum().item()
            print(f"test accuracy: {correct / len(labels):.4f} ({correct}/{len(labels)} images)")
    except (CheckpointError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
