#!/usr/bin/env python3
"""Reference Vision Transformers in the layouts of published checkpoints, and the fixtures that
check sav's loader, forward pass and attribution maps against them.

What it writes (default: the committed fixtures):

    python3 tools/vit_reference.py --out tests/fixtures/published_vit

builds five tiny models with random weights, each in one published layout:

    timm_vit_f32              timm VisionTransformer            model.safetensors (F32)
    timm_deit_distilled_f16   timm VisionTransformerDistilled   model.safetensors (F16)
    hf_vit_bf16               HF ViTForImageClassification      model.safetensors (BF16)
    hf_deit_teacher_sharded   HF DeiTForImageClassificationWithTeacher, two F32 shards
                              and model.safetensors.index.json
    timm_vit_rect_f32         timm VisionTransformer on a non-square 12 x 20 input

and, in each folder, the files a published model comes with (config.json; for the HF layouts
also preprocessor_config.json), a batch of two preprocessed images (input.npy) and what the
model must compute on them: logits, attention probabilities, the tensors the gradient methods
read and every attribution map sav defines (seed, rollout, last, grad-rollout, gradcam), as
.npy files, plus reference.json (sizes, parameter count, predictions) and README.md (the
format, the definitions and the tolerances). The suite reads only these files: it never needs
PyTorch. The fixtures are a function of this script alone (fixed seeds); another NumPy or
PyTorch build may change the last bits of the expected values, never the weights or inputs.

The models are written here in plain PyTorch after the arithmetic and the parameter names of
timm (timm/models/vision_transformer.py, deit.py) and Hugging Face transformers
(models/vit/modeling_vit.py, models/deit/modeling_deit.py); neither package is needed. The
safetensors files are written by the small writer below (no safetensors package either).

Other modes (their output is not committed):

    python3 tools/vit_reference.py --full DIR [--batch 2]
        ViT-S/16 and ViT-B/16 at 224 x 224 (random weights, timm names and config.json as
        published, F32) with an input batch and the same expected files, in DIR/<architecture>.
    python3 tools/vit_reference.py --time [--threads N] [--time-batch 32] [--runs 5]
        PyTorch float32 forward and forward + backward times (median of --runs) of ViT-S/16
        and ViT-B/16 at batch --time-batch on N CPU threads.
    python3 tools/vit_reference.py --self-test
        Consistency checks of this script (writer round trip, timm vs HF arithmetic, map
        routines against a direct matrix product).

Requires Python 3, NumPy and PyTorch (1.13 or later), on the CPU.
"""
import argparse
import json
import math
import os
import statistics
import struct
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:
    sys.exit("error: NumPy and PyTorch are required (pip install numpy torch, or apt-get install"
             " python3-numpy python3-torch)")

# --------------------------------------------------------------------------------------------
# safetensors: 8-byte little-endian header length, JSON header (space-padded so the data starts
# at a multiple of 8), then every tensor's raw little-endian bytes, contiguous.

DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2}


def round_to_storage(values, dtype):
    """float32 array -> (stored array, the float32 values it decodes to)."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    if dtype == "F32":
        return values.astype("<f4"), values.copy()
    if dtype == "F16":
        stored = values.astype("<f2")  # round to nearest even, as torch's .half()
        return stored, stored.astype(np.float32)
    if dtype == "BF16":
        bits = values.view(np.uint32).astype(np.uint64)
        # Round to nearest even on the 16 dropped bits (no NaN or infinity among weights).
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")
        return rounded, (rounded.astype(np.uint32) << 16).view(np.float32)
    raise ValueError(f"unknown dtype {dtype}")


def decode_storage(raw, dtype, shape):
    if dtype == "F32":
        return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
    if dtype == "F16":
        return np.frombuffer(raw, dtype="<f2").reshape(shape).astype(np.float32)
    if dtype == "BF16":
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    raise ValueError(f"unknown dtype {dtype}")


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, dtype, stored ndarray). Written in the order the safetensors
    library uses: wider dtypes first, then by name."""
    order = sorted(tensors, key=lambda t: (-DTYPE_BYTES[t[1]], t[0]))
    header = {"__metadata__": metadata if metadata is not None else {"format": "pt"}}
    offset = 0
    blobs = []
    for name, dtype, stored in order:
        raw = np.ascontiguousarray(stored).tobytes()
        header[name] = {"dtype": dtype, "shape": list(stored.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    return offset


def read_safetensors(path):
    """Returns (name -> float32 ndarray, name -> dtype, metadata)."""
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    metadata = header.pop("__metadata__", {})
    base = 8 + length
    arrays, dtypes = {}, {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        arrays[name] = decode_storage(data[base + begin:base + end], info["dtype"], info["shape"])
        dtypes[name] = info["dtype"]
    return arrays, dtypes, metadata


# --------------------------------------------------------------------------------------------
# The models. Each returns its logits and fills a Trace with the attention probabilities of
# every layer and the tokens entering the last layer (the quantities sav's maps read).


class Trace:
    def __init__(self, keep_grads):
        self.keep_grads = keep_grads
        self.attention = []
        self.last_layer_input = None

    def add_attention(self, probs):
        if self.keep_grads:
            probs.retain_grad()
        self.attention.append(probs)

    def set_last_layer_input(self, x):
        if self.keep_grads:
            x.retain_grad()
        self.last_layer_input = x


def pair(v):
    return (int(v[0]), int(v[1])) if isinstance(v, (list, tuple)) else (int(v), int(v))


# --- timm: VisionTransformer / VisionTransformerDistilled (pre-LN, fused qkv, eps 1e-6) ---


class TimmPatchEmbed(nn.Module):
    def __init__(self, patch, dim, channels=3):
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, kernel_size=patch, stride=patch, bias=True)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, D, gh, gw] -> [B, gh * gw, D]


class TimmAttention(nn.Module):
    def __init__(self, dim, heads, qkv_bias=True):
        super().__init__()
        self.num_heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, trace):
        b, n, c = x.shape
        # Output features are laid out (3, heads, head_dim): q of every head, then k, then v.
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        scores = (q * self.scale) @ k.transpose(-2, -1)
        probs = scores.softmax(dim=-1)
        trace.add_attention(probs)
        out = (probs @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(out)


class TimmMlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU, nn.GELU's default


class TimmBlock(nn.Module):
    def __init__(self, dim, heads, hidden, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = TimmAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = TimmMlp(dim, hidden)

    def forward(self, x, trace):
        x = x + self.attn(self.norm1(x), trace)
        return x + self.mlp(self.norm2(x))


class TimmViT(nn.Module):
    """timm VisionTransformer (class token, learned pos_embed covering the prefix tokens,
    global_pool 'token'); distilled=True gives VisionTransformerDistilled."""

    def __init__(self, cfg):
        super().__init__()
        d = cfg.dim
        self.distilled = cfg.distilled
        self.num_prefix_tokens = cfg.prefix
        self.patch_embed = TimmPatchEmbed(cfg.patch, d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        if self.distilled:
            self.dist_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.tokens, d))
        self.blocks = nn.ModuleList(
            [TimmBlock(d, cfg.heads, cfg.hidden, cfg.eps) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(d, eps=cfg.eps)
        self.head = nn.Linear(d, cfg.classes)
        if self.distilled:
            self.head_dist = nn.Linear(d, cfg.classes)

    def forward(self, x, trace):
        x = self.patch_embed(x)
        prefix = [self.cls_token.expand(x.shape[0], -1, -1)]
        if self.distilled:
            prefix.append(self.dist_token.expand(x.shape[0], -1, -1))
        x = torch.cat(prefix + [x], dim=1) + self.pos_embed  # concatenate, then add positions
        for i, block in enumerate(self.blocks):
            if i == len(self.blocks) - 1:
                trace.set_last_layer_input(x)
            x = block(x, trace)
        x = self.norm(x)
        if self.distilled:  # eval: the mean of the two heads
            return (self.head(x[:, 0]) + self.head_dist(x[:, 1])) / 2
        return self.head(x[:, 0])


# --- Hugging Face: ViTForImageClassification / DeiTForImageClassificationWithTeacher ---


class HFPatchEmbeddings(nn.Module):
    def __init__(self, patch, dim, channels=3):
        super().__init__()
        self.projection = nn.Conv2d(channels, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.projection(x).flatten(2).transpose(1, 2)


class HFEmbeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg.dim
        self.distilled = cfg.distilled
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        if self.distilled:
            self.distillation_token = nn.Parameter(torch.zeros(1, 1, d))
        self.patch_embeddings = HFPatchEmbeddings(cfg.patch, d)
        self.position_embeddings = nn.Parameter(torch.zeros(1, cfg.tokens, d))

    def forward(self, x):
        x = self.patch_embeddings(x)
        prefix = [self.cls_token.expand(x.shape[0], -1, -1)]
        if self.distilled:
            prefix.append(self.distillation_token.expand(x.shape[0], -1, -1))
        return torch.cat(prefix + [x], dim=1) + self.position_embeddings


class HFSelfAttention(nn.Module):
    def __init__(self, dim, heads, qkv_bias=True):
        super().__init__()
        self.num_attention_heads = heads
        self.attention_head_size = dim // heads
        self.scaling = self.attention_head_size ** -0.5
        self.query = nn.Linear(dim, dim, bias=qkv_bias)
        self.key = nn.Linear(dim, dim, bias=qkv_bias)
        self.value = nn.Linear(dim, dim, bias=qkv_bias)

    def forward(self, x, trace):
        b, n, c = x.shape

        def split(t):  # [B, N, D] -> [B, heads, N, head_dim]
            return t.view(b, n, self.num_attention_heads, self.attention_head_size).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        probs = F.softmax((q @ k.transpose(-1, -2)) * self.scaling, dim=-1)
        trace.add_attention(probs)
        return (probs @ v).transpose(1, 2).reshape(b, n, c)


class HFSelfOutput(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dense = nn.Linear(dim, dim)


class HFAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.attention = HFSelfAttention(dim, heads)
        self.output = HFSelfOutput(dim)

    def forward(self, x, trace):
        return self.output.dense(self.attention(x, trace))


class HFDense(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.dense = nn.Linear(n_in, n_out)


class HFLayer(nn.Module):
    def __init__(self, dim, heads, intermediate, eps):
        super().__init__()
        self.attention = HFAttention(dim, heads)
        self.intermediate = HFDense(dim, intermediate)
        self.output = HFDense(intermediate, dim)
        self.layernorm_before = nn.LayerNorm(dim, eps=eps)
        self.layernorm_after = nn.LayerNorm(dim, eps=eps)

    def forward(self, x, trace):
        x = self.attention(self.layernorm_before(x), trace) + x
        h = F.gelu(self.intermediate.dense(self.layernorm_after(x)))  # hidden_act "gelu": erf
        return self.output.dense(h) + x


class HFEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList(
            [HFLayer(cfg.dim, cfg.heads, cfg.hidden, cfg.eps) for _ in range(cfg.depth)])


class HFBackbone(nn.Module):  # ViTModel / DeiTModel without the pooler
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = HFEmbeddings(cfg)
        self.encoder = HFEncoder(cfg)
        self.layernorm = nn.LayerNorm(cfg.dim, eps=cfg.eps)

    def forward(self, x, trace):
        x = self.embeddings(x)
        layers = self.encoder.layer
        for i, layer in enumerate(layers):
            if i == len(layers) - 1:
                trace.set_last_layer_input(x)
            x = layer(x, trace)
        return self.layernorm(x)


class HFViTForImageClassification(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.vit = HFBackbone(cfg)
        self.classifier = nn.Linear(cfg.dim, cfg.classes)

    def forward(self, x, trace):
        return self.classifier(self.vit(x, trace)[:, 0, :])


class HFDeiTForImageClassificationWithTeacher(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.deit = HFBackbone(cfg)
        self.cls_classifier = nn.Linear(cfg.dim, cfg.classes)
        self.distillation_classifier = nn.Linear(cfg.dim, cfg.classes)

    def forward(self, x, trace):
        seq = self.deit(x, trace)
        return (self.cls_classifier(seq[:, 0, :]) + self.distillation_classifier(seq[:, 1, :])) / 2


# --------------------------------------------------------------------------------------------
# Model descriptions.


class ModelConfig:
    def __init__(self, name, family, distilled, img, patch, dim, depth, heads, classes, seed,
                 dtype="F32", mlp_ratio=None, intermediate=None, shards=1, architecture=None,
                 label_names=False, full=False):
        self.name, self.family, self.distilled = name, family, distilled
        self.img = pair(img)
        self.patch, self.dim, self.depth, self.heads = patch, dim, depth, heads
        self.classes, self.seed, self.dtype, self.shards = classes, seed, dtype, shards
        self.mlp_ratio = mlp_ratio
        self.hidden = intermediate if intermediate is not None else int(dim * mlp_ratio)
        self.architecture = architecture
        self.label_names = label_names
        self.full = full
        assert dim % heads == 0, "heads must divide the width"
        assert self.img[0] % patch == 0 and self.img[1] % patch == 0
        self.grid = (self.img[0] // patch, self.img[1] // patch)
        self.prefix = 2 if distilled else 1
        self.tokens = self.prefix + self.grid[0] * self.grid[1]
        # timm's LayerNorm default; HF's ViTConfig / DeiTConfig default layer_norm_eps.
        self.eps = 1e-6 if family == "timm" else 1e-12
        if family == "timm":
            # timm's ViT defaults are the Inception mean/std (0.5); DeiT's the ImageNet ones.
            deit = architecture.startswith("deit")
            self.mean = [0.485, 0.456, 0.406] if deit else [0.5, 0.5, 0.5]
            self.std = [0.229, 0.224, 0.225] if deit else [0.5, 0.5, 0.5]
        else:
            self.mean = [0.485, 0.456, 0.406] if distilled else [0.5, 0.5, 0.5]
            self.std = [0.229, 0.224, 0.225] if distilled else [0.5, 0.5, 0.5]

    def build(self):
        if self.family == "timm":
            return TimmViT(self)
        if self.distilled:
            return HFDeiTForImageClassificationWithTeacher(self)
        return HFViTForImageClassification(self)


FIXTURES = [
    ModelConfig("timm_vit_f32", "timm", False, img=32, patch=8, dim=24, depth=2, heads=3,
                mlp_ratio=2.0, classes=7, seed=111, architecture="vit_tiny_patch16_224"),
    ModelConfig("timm_deit_distilled_f16", "timm", True, img=24, patch=8, dim=24, depth=2,
                heads=2, mlp_ratio=2.0, classes=5, seed=222, dtype="F16",
                architecture="deit_tiny_distilled_patch16_224", label_names=True),
    ModelConfig("hf_vit_bf16", "hf", False, img=20, patch=4, dim=24, depth=2, heads=2,
                intermediate=40, classes=6, seed=303, dtype="BF16"),
    ModelConfig("hf_deit_teacher_sharded", "hf", True, img=16, patch=4, dim=16, depth=2,
                heads=4, intermediate=48, classes=7, seed=404, shards=2),
    ModelConfig("timm_vit_rect_f32", "timm", False, img=(12, 20), patch=4, dim=16, depth=3,
                heads=2, mlp_ratio=3.0, classes=4, seed=505, architecture="vit_tiny_patch16_224"),
]

FULL_MODELS = [
    ModelConfig("vit_small_patch16_224", "timm", False, img=224, patch=16, dim=384, depth=12,
                heads=6, mlp_ratio=4.0, classes=1000, seed=606,
                architecture="vit_small_patch16_224", full=True),
    ModelConfig("vit_base_patch16_224", "timm", False, img=224, patch=16, dim=768, depth=12,
                heads=12, mlp_ratio=4.0, classes=1000, seed=707,
                architecture="vit_base_patch16_224", full=True),
]


# --------------------------------------------------------------------------------------------
# Weights: random, drawn so that activations are neither saturated nor flat. A matrix entry is
# normal with std gain / sqrt(fan_in); biases N(0, 0.1); LayerNorm weight 1 + N(0, 0.1), bias
# N(0, 0.1); class, distillation and position embeddings N(0, 0.5). Every value is then rounded
# to the storage dtype, and the model computes with exactly the stored values.


def draw_weights(model, cfg):
    rng = np.random.default_rng(cfg.seed)
    values = {}
    for name, p in model.state_dict().items():
        shape = tuple(p.shape)
        leaf = name.rsplit(".", 1)[-1]
        if len(shape) >= 2 and name.endswith("weight"):
            fan_in = int(np.prod(shape[1:]))
            # Larger query/key gain: attention rows neither uniform nor one-hot.
            qk = any(s in name for s in ("attn.qkv", "attention.query", "attention.key"))
            gain = 1.6 if qk else 1.0
            v = rng.normal(0.0, gain / math.sqrt(fan_in), size=shape)
        elif leaf in ("cls_token", "dist_token", "distillation_token", "pos_embed",
                      "position_embeddings"):
            v = rng.normal(0.0, 0.5, size=shape)
        elif "norm" in name and leaf == "weight":
            v = 1.0 + rng.normal(0.0, 0.1, size=shape)
        else:  # biases (Linear, Conv2d, LayerNorm)
            v = rng.normal(0.0, 0.1, size=shape)
        values[name] = v.astype(np.float32)
    stored, decoded = {}, {}
    for name, v in values.items():
        stored[name], decoded[name] = round_to_storage(v, cfg.dtype)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in decoded.items()}, strict=True)
    return stored, decoded


def draw_input(cfg, batch):
    """Pixels k / 255 drawn uniformly, normalised with the model's mean and std: [B, 3, H, W]."""
    rng = np.random.default_rng(cfg.seed + 1)
    h, w = cfg.img
    pixels = rng.integers(0, 256, size=(batch, 3, h, w)).astype(np.float64) / 255.0
    mean = np.array(cfg.mean).reshape(1, 3, 1, 1)
    std = np.array(cfg.std).reshape(1, 3, 1, 1)
    return ((pixels - mean) / std).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Running a model: logits, prediction, and the backward pass sav's gradient methods need.


def run_model(model, x, dtype=torch.float64, gradients=True):
    """Forward (and backward from 1 at each image's predicted logit) in `dtype`. Returns NumPy
    float64 arrays: logits [B, C], attention [L, B, H, T, T], attention_grad, last_layer_input
    [B, T, D], last_layer_input_grad, predicted [B]."""
    model = model.to(dtype).eval()
    trace = Trace(keep_grads=gradients)
    xt = torch.from_numpy(np.asarray(x)).to(dtype)
    with torch.set_grad_enabled(gradients):
        logits = model(xt, trace)
    predicted = logits.detach().argmax(dim=1)
    out = {"logits": logits.detach().double().numpy(), "predicted": predicted.numpy()}
    out["attention"] = torch.stack([a.detach() for a in trace.attention]).double().numpy()
    out["last_layer_input"] = trace.last_layer_input.detach().double().numpy()
    if gradients:
        # The explained class is the predicted one; its logit is back-propagated with a 1 at
        # each image's class (images do not interact, so each gets its own gradient).
        seed = torch.zeros_like(logits)
        seed[torch.arange(logits.shape[0]), predicted] = 1.0
        logits.backward(seed)
        out["attention_grad"] = torch.stack([a.grad for a in trace.attention]).double().numpy()
        out["last_layer_input_grad"] = trace.last_layer_input.grad.double().numpy()
    return out


# --------------------------------------------------------------------------------------------
# The attribution maps: sav's definitions (docs/design.md section 4, src/attribution/
# methods.cpp) with the prefix tokens generalised. T = prefix + patches; token 0 is the class
# token; tokens 0 .. prefix - 1 (class, and distillation) are left out of every map.


def layer_matrix(probs, grads, identity_weight, attention_weight, fusion, gradient_weighted,
                 normalize_rows, discard_ratio):
    """B_l = a I + b fuse_h(G_l) over all T tokens, in float64. probs, grads: [H, T, T]."""
    g = np.maximum(0.0, grads * probs) if gradient_weighted else probs
    if fusion == "mean":
        fused = g.mean(axis=0)
    elif fusion == "sum":
        fused = g.sum(axis=0)
    elif fusion == "max":
        fused = g.max(axis=0)
    else:
        fused = g.min(axis=0)
    n = fused.shape[0]
    discard = int(discard_ratio * n * (n - 1))
    if discard > 0:  # among the entries outside column 0; ties go to the lower index
        flat = fused.reshape(-1).copy()
        candidates = [i for i in range(n * n) if i % n != 0]
        candidates.sort(key=lambda i: (flat[i], i))
        flat[candidates[:discard]] = 0.0
        fused = flat.reshape(n, n)
    b = attention_weight * fused + identity_weight * np.eye(n)
    if normalize_rows:
        sums = b.sum(axis=1, keepdims=True)
        b = np.where(sums > 0, b / np.where(sums > 0, sums, 1.0), b)
    return b


ROLLUPS = {
    # method: identity weight a, attention weight b, fusion, gradient weighted, rows normalised,
    # last layer only
    "seed": (1.0, 1.0, "sum", False, False, False),
    "rollout": (0.5, 0.5, "mean", False, True, False),  # residual weight 0.5, discard 0
    "last": (0.0, 1.0, "mean", False, False, True),
    "grad-rollout": (1.0, 1.0, "mean", True, False, False),
}
METHODS = ["seed", "rollout", "last", "grad-rollout", "gradcam"]


def rollup(attention, attention_grad, prefix, method, discard_ratio=0.0):
    """One image: attention [L, H, T, T]. Row 0 of B_L ... B_first, patch columns only."""
    a, b, fusion, weighted, normalize, last_only = ROLLUPS[method]
    layers = attention.shape[0]
    first = layers - 1 if last_only else 0
    row = np.zeros(attention.shape[-1])
    row[0] = 1.0
    for l in range(layers - 1, first - 1, -1):
        grads = attention_grad[l] if weighted else None
        row = row @ layer_matrix(attention[l], grads, a, b, fusion, weighted, normalize,
                                 discard_ratio)
    return row[prefix:]


def gradcam(tokens, token_grads, prefix):
    """One image: tokens, token_grads [T, D] entering the last layer. Channel weights: the
    gradient averaged over the patch tokens; score = max(0, sum_c w_c x_tc) per patch."""
    weights = token_grads[prefix:].mean(axis=0)
    return np.maximum(0.0, tokens[prefix:] @ weights)


def compute_maps(out, cfg):
    maps = {}
    batch = out["logits"].shape[0]
    for method in METHODS:
        per_image = []
        for i in range(batch):
            if method == "gradcam":
                s = gradcam(out["last_layer_input"][i], out["last_layer_input_grad"][i],
                            cfg.prefix)
            else:
                s = rollup(out["attention"][:, i], out["attention_grad"][:, i], cfg.prefix,
                           method)
            per_image.append(s.reshape(cfg.grid))
        maps[method] = np.stack(per_image)
    return maps


def min_max(m):
    lo, hi = float(m.min()), float(m.max())
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)


# --------------------------------------------------------------------------------------------
# The published side files.

TRANSFORMERS_VERSION = "4.46.3"


def labels(cfg):
    return [f"class_{i}" for i in range(cfg.classes)]


def timm_config(cfg):
    """config.json as timm's save_config_for_hf writes it (push_to_hf_hub / save_for_hf)."""
    arch = cfg.architecture
    deit = arch.startswith("deit")
    out = {"architecture": arch, "num_classes": cfg.classes, "num_features": cfg.dim,
           "global_pool": "token"}
    if cfg.label_names:
        out["label_names"] = labels(cfg)
    if not cfg.full:
        # The tiny models are not the named architecture's size: the create_model kwargs that
        # build them (the published ViT-S/B files carry none, the name implies the sizes).
        out["model_args"] = {
            "img_size": list(cfg.img) if cfg.img[0] != cfg.img[1] else cfg.img[0],
            "patch_size": cfg.patch, "embed_dim": cfg.dim, "depth": cfg.depth,
            "num_heads": cfg.heads, "mlp_ratio": cfg.mlp_ratio, "qkv_bias": True,
            "class_token": True, "global_pool": "token",
        }
    pretrained = {"tag": "fb_in1k" if deit else "augreg_in21k_ft_in1k",
                  "custom_load": not deit, "input_size": [3, cfg.img[0], cfg.img[1]],
                  "fixed_input_size": True, "interpolation": "bicubic",
                  "crop_pct": 0.875 if deit else 0.9, "crop_mode": "center",
                  "mean": cfg.mean, "std": cfg.std, "num_classes": cfg.classes,
                  "pool_size": None, "first_conv": "patch_embed.proj",
                  "classifier": ["head", "head_dist"] if cfg.distilled else "head",
                  "license": "apache-2.0"}
    out["pretrained_cfg"] = pretrained
    return json.dumps(out, indent=2)


def hf_config(cfg):
    """config.json as PretrainedConfig.save_pretrained writes a ViTConfig / DeiTConfig."""
    out = {
        "architectures": ["DeiTForImageClassificationWithTeacher" if cfg.distilled
                          else "ViTForImageClassification"],
        "attention_probs_dropout_prob": 0.0, "encoder_stride": cfg.patch,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "hidden_size": cfg.dim,
        "id2label": {str(i): n for i, n in enumerate(labels(cfg))},
        "image_size": cfg.img[0], "initializer_range": 0.02,
        "intermediate_size": cfg.hidden,
        "label2id": {n: i for i, n in enumerate(labels(cfg))},
        "layer_norm_eps": cfg.eps, "model_type": "deit" if cfg.distilled else "vit",
        "num_attention_heads": cfg.heads, "num_channels": 3,
        "num_hidden_layers": cfg.depth, "patch_size": cfg.patch, "qkv_bias": True,
        "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[cfg.dtype],
        "transformers_version": TRANSFORMERS_VERSION,
    }
    out["pooler_act"] = "tanh"  # newer ViTConfig / DeiTConfig fields; no pooler is stored
    out["pooler_output_size"] = cfg.dim
    return json.dumps(out, indent=2, sort_keys=True) + "\n"


def hf_preprocessor_config(cfg):
    """preprocessor_config.json as ViTImageProcessor / DeiTImageProcessor save it."""
    side = cfg.img[0]
    if cfg.distilled:  # DeiT: resize (bicubic) then centre crop to the model's input
        resize = side * 5 // 4  # e.g. 20 -> 16, as 256 -> 224 for the published 224 models
        out = {"crop_size": {"height": side, "width": side}, "do_center_crop": True,
               "do_normalize": True, "do_rescale": True, "do_resize": True,
               "image_mean": cfg.mean, "image_processor_type": "DeiTImageProcessor",
               "image_std": cfg.std, "resample": 3, "rescale_factor": 1 / 255,
               "size": {"height": resize, "width": resize}}
    else:  # ViT: resize (bilinear) straight to the input
        out = {"do_normalize": True, "do_rescale": True, "do_resize": True,
               "image_mean": cfg.mean, "image_processor_type": "ViTImageProcessor",
               "image_std": cfg.std, "resample": 2, "rescale_factor": 1 / 255,
               "size": {"height": side, "width": side}}
    return json.dumps(out, indent=2, sort_keys=True) + "\n"


def write_weights(folder, cfg, model, stored):
    """model.safetensors, or HF-style shards with model.safetensors.index.json."""
    names = list(model.state_dict().keys())  # state-dict order, as save_pretrained shards
    entries = [(n, cfg.dtype, stored[n]) for n in names]
    if cfg.shards == 1:
        write_safetensors(os.path.join(folder, "model.safetensors"), entries)
        return ["model.safetensors"]
    total = sum(e[2].nbytes for e in entries)
    limit = total / cfg.shards
    groups, current, size = [], [], 0
    for e in entries:
        if current and size + e[2].nbytes > limit and len(groups) < cfg.shards - 1:
            groups.append(current)
            current, size = [], 0
        current.append(e)
        size += e[2].nbytes
    groups.append(current)
    files, weight_map = [], {}
    for k, group in enumerate(groups):
        fname = f"model-{k + 1:05d}-of-{len(groups):05d}.safetensors"
        write_safetensors(os.path.join(folder, fname), group)
        files.append(fname)
        for e in group:
            weight_map[e[0]] = fname
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return files + ["model.safetensors.index.json"]


def load_weights(folder):
    """Reads the folder back the way a loader would: the index if present, else the file."""
    index_path = os.path.join(folder, "model.safetensors.index.json")
    arrays, dtypes = {}, {}
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
        for fname in sorted(set(index["weight_map"].values())):
            a, d, _ = read_safetensors(os.path.join(folder, fname))
            arrays.update(a)
            dtypes.update(d)
        assert set(arrays) == set(index["weight_map"]), "index and shards disagree"
    else:
        arrays, dtypes, _ = read_safetensors(os.path.join(folder, "model.safetensors"))
    return arrays, dtypes


# --------------------------------------------------------------------------------------------
# Writing one model's folder.


def parameter_count(model):
    return sum(p.numel() for p in model.state_dict().values())


def describe_dynamics(out, maps, cfg):
    """Numbers showing the fixture is not degenerate (also kept in reference.json)."""
    att = out["attention"]
    logits = out["logits"]
    top2 = np.sort(logits, axis=1)[:, -2:]
    return {
        "attention_mean_row_max": float(att.max(axis=-1).mean()),
        "attention_min_row_max": float(att.max(axis=-1).min()),
        "logit_margin_min": float((top2[:, 1] - top2[:, 0]).min()),
        "gradcam_positive_patches": [int((m > 0).sum()) for m in maps["gradcam"]],
        "map_min_range": {m: float(min(v.max() - v.min() for v in maps[m])) for m in maps},
    }


def deviation(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def write_model_folder(folder, cfg, batch=2, check_f32=True):
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(cfg.seed)
    model = cfg.build()
    stored, _ = draw_weights(model, cfg)
    files = write_weights(folder, cfg, model, stored)
    config_text = timm_config(cfg) if cfg.family == "timm" else hf_config(cfg)
    with open(os.path.join(folder, "config.json"), "w") as f:
        f.write(config_text)
    files.append("config.json")
    if cfg.family == "hf":
        with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
            f.write(hf_preprocessor_config(cfg))
        files.append("preprocessor_config.json")

    # The reference computes from the files as written (decoded to float32), in float64.
    arrays, dtypes = load_weights(folder)
    assert set(dtypes.values()) == {cfg.dtype}
    check = cfg.build()
    check.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()}, strict=True)
    x = draw_input(cfg, batch)
    out = run_model(check, x, torch.float64)
    maps = compute_maps(out, cfg)

    arrays_out = {
        "input": x,
        "logits": out["logits"],
        "attention": out["attention"],
        "attention_grad": out["attention_grad"],
        "last_layer_input": out["last_layer_input"],
        "last_layer_input_grad": out["last_layer_input_grad"],
    }
    for m in METHODS:
        arrays_out[f"maps_{m}"] = maps[m]
    for key, value in arrays_out.items():
        np.save(os.path.join(folder, f"{key}.npy"), np.ascontiguousarray(value, np.float32))
        files.append(f"{key}.npy")
    predicted = out["predicted"].astype(np.int64)
    np.save(os.path.join(folder, "predicted.npy"), predicted)
    np.save(os.path.join(folder, "explained.npy"), predicted)
    files += ["predicted.npy", "explained.npy"]

    info = {
        "layout": ("timm " if cfg.family == "timm" else "hf ")
                  + (("VisionTransformerDistilled" if cfg.distilled else "VisionTransformer")
                     if cfg.family == "timm" else
                     ("DeiTForImageClassificationWithTeacher" if cfg.distilled
                      else "ViTForImageClassification")),
        "stored_dtype": cfg.dtype,
        "image": list(cfg.img), "patch": cfg.patch, "grid": list(cfg.grid),
        "prefix_tokens": cfg.prefix, "tokens": cfg.tokens, "dim": cfg.dim,
        "depth": cfg.depth, "heads": cfg.heads, "mlp_hidden": cfg.hidden,
        "classes": cfg.classes, "layer_norm_eps": cfg.eps,
        "parameters": parameter_count(model), "batch": batch,
        "max_abs_logit": float(np.abs(out["logits"]).max()),
        "predicted": predicted.tolist(), "explained": predicted.tolist(),
        "dynamics": describe_dynamics(out, maps, cfg),
    }
    if check_f32:
        # How far PyTorch's own float32 computation is from the float64 reference: the scale
        # of error any float32 implementation may show.
        check32 = cfg.build()
        check32.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
        out32 = run_model(check32, x, torch.float32)
        maps32 = compute_maps(out32, cfg)
        info["float32_deviation"] = {
            "logits_abs": deviation(out32["logits"], out["logits"]),
            "attention_abs": deviation(out32["attention"], out["attention"]),
            "maps_normalised_abs": {
                m: max(deviation(min_max(maps32[m][i]), min_max(maps[m][i]))
                       for i in range(batch)) for m in METHODS},
            "maps_raw_rel": {
                m: max(deviation(maps32[m][i], maps[m][i]) / max(1e-30, np.abs(maps[m][i]).max())
                       for i in range(batch)) for m in METHODS},
            "same_prediction": bool((out32["predicted"] == out["predicted"]).all()),
        }
    with open(os.path.join(folder, "reference.json"), "w") as f:
        f.write(json.dumps(info, indent=2) + "\n")
    files.append("reference.json")
    return info, files


def summary_line(name, info):
    return (f"{name}: {info['layout']}, {info['stored_dtype']}, image {info['image'][0]}x"
            f"{info['image'][1]}, patch {info['patch']}, grid {info['grid'][0]}x"
            f"{info['grid'][1]}, tokens {info['tokens']}, D {info['dim']}, depth "
            f"{info['depth']}, heads {info['heads']}, MLP {info['mlp_hidden']}, classes "
            f"{info['classes']}, {info['parameters']} parameters, max |logit| "
            f"{info['max_abs_logit']:.4f}, predicted {info['predicted']}")


# --------------------------------------------------------------------------------------------
# The fixture README (generated, so that its numbers are the files').

README_HEAD = """\
# Published-ViT fixtures

Tiny Vision Transformers with random weights, saved in the layouts of published checkpoints
(timm ViT and DeiT, Hugging Face `ViTForImageClassification` and
`DeiTForImageClassificationWithTeacher`), with what a correct implementation must compute on
them. Written by `python3 tools/vit_reference.py --out tests/fixtures/published_vit` (fixed
seeds; `--self-test` checks the script itself). The suite reads these files only and never needs
PyTorch.

## Folders

| folder | layout | stored | image | patch | grid | T | D | depth | heads | MLP | classes | parameters | max abs logit |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
{table}

T = prefix tokens + patches (prefix 1: class token; 2: class and distillation tokens).
`timm_vit_rect_f32` (a 3 x 5 grid) is the only non-square input; published models are square,
so a loader that accepts square inputs only may skip it.

## Files in each folder

| file | dtype | shape | meaning |
|---|---|---|---|
| `model.safetensors` | F32 / F16 / BF16 | | the weights, PyTorch names and layout (Linear `[out, in]`, Conv2d `[out, in, kh, kw]`) |
| `model-0000k-of-00002.safetensors`, `model.safetensors.index.json` | F32 | | `hf_deit_teacher_sharded` only, in place of `model.safetensors`: two shards and the HF index `{"metadata": {"total_size": bytes}, "weight_map": {tensor: file}}` |
| `config.json` | JSON | | as the library that publishes the model writes it (below) |
| `preprocessor_config.json` | JSON | | HF folders only, as `ViTImageProcessor` / `DeiTImageProcessor` save it |
| `input.npy` | float32 | `[2, 3, H, W]` | two preprocessed images: pixels k/255 drawn uniformly, `(x - mean) / std` with the model's mean and std |
| `logits.npy` | float32 | `[2, classes]` | the model's output; for the distilled models the mean of the two heads |
| `predicted.npy` | int64 | `[2]` | argmax of the logits |
| `explained.npy` | int64 | `[2]` | the class every map explains (= predicted) |
| `attention.npy` | float32 | `[layers, 2, heads, T, T]` | softmax probabilities of every layer, row = query token |
| `attention_grad.npy` | float32 | `[layers, 2, heads, T, T]` | d (explained logit) / d attention probability |
| `last_layer_input.npy` | float32 | `[2, T, D]` | the tokens entering the last block (the residual stream before its first LayerNorm) |
| `last_layer_input_grad.npy` | float32 | `[2, T, D]` | d (explained logit) / d those tokens |
| `maps_seed.npy`, `maps_rollout.npy`, `maps_last.npy`, `maps_grad-rollout.npy`, `maps_gradcam.npy` | float32 | `[2, grid_h, grid_w]` | sav's maps, raw (not normalised), patch (r, c) at `[r, c]` |
| `reference.json` | JSON | | sizes, parameter count, max abs logit, predictions, activation statistics and how far PyTorch's float32 computation is from these values |

The `.npy` files are NumPy format 1.0, little-endian, C order (`numpy.save`): float32 is
`'<f4'`, int64 is `'<i8'`. Token order everywhere: class token, [distillation token], then the
patches row by row (the order of `Conv2d(...).flatten(2).transpose(1, 2)`).

**How the values were computed.** The reference decodes the weights from the files as written
(F16 and BF16 converted exactly to float32, as sav does on load), then computes in float64
(PyTorch, CPU, eval mode, no dropout) and stores the results as float32. `reference.json`
`float32_deviation` gives the distance of PyTorch's own float32 computation from them.

## The architectures

Both libraries compute the same pre-LN block:
`x = x + Attn(LN1(x)); x = x + FC2(GELU(FC1(LN2(x))))`, GELU the exact (erf) one, attention
`softmax(q k^T / sqrt(head_dim)) v` per head, heads = consecutive slices of head_dim features;
tokens = `cat(prefix tokens, patch tokens) + position embeddings` (the embeddings cover the
prefix tokens too); after the last block a LayerNorm; the head reads token 0 (class), and a
distilled model averages it with the distillation head on token 1. LayerNorm uses the biased
variance.

| | timm | HF |
|---|---|---|
| patch embedding | `patch_embed.proj.weight` `[D, 3, p, p]`, `.bias` | `{vit,deit}.embeddings.patch_embeddings.projection.weight`, `.bias` |
| class token | `cls_token` `[1, 1, D]` | `{vit,deit}.embeddings.cls_token` |
| distillation token | `dist_token` `[1, 1, D]` | `deit.embeddings.distillation_token` |
| positions | `pos_embed` `[1, T, D]` | `{vit,deit}.embeddings.position_embeddings` `[1, T, D]` |
| block i, LN1 | `blocks.i.norm1.weight`, `.bias` | `{vit,deit}.encoder.layer.i.layernorm_before.weight`, `.bias` |
| q, k, v | `blocks.i.attn.qkv.weight` `[3D, D]`, `.bias` `[3D]`: rows 0..D-1 = q, D..2D-1 = k, 2D..3D-1 = v (timm's `reshape(B, N, 3, heads, head_dim)`) | `...layer.i.attention.attention.query.weight` `[D, D]`, `.bias`; also `key`, `value` |
| output projection | `blocks.i.attn.proj.weight`, `.bias` | `...layer.i.attention.output.dense.weight`, `.bias` |
| block i, LN2 | `blocks.i.norm2.weight`, `.bias` | `...layer.i.layernorm_after.weight`, `.bias` |
| MLP | `blocks.i.mlp.fc1.weight` `[hidden, D]`, `.bias`; `blocks.i.mlp.fc2.weight` `[D, hidden]`, `.bias` | `...layer.i.intermediate.dense.weight`, `.bias`; `...layer.i.output.dense.weight`, `.bias` |
| final LayerNorm | `norm.weight`, `.bias` | `{vit,deit}.layernorm.weight`, `.bias` |
| head | `head.weight` `[classes, D]`, `.bias` | `classifier.weight`, `.bias` (ViT); `cls_classifier.*` and `distillation_classifier.*` (DeiT with teacher) |
| distillation head | `head_dist.weight`, `.bias` | (above) |
| LayerNorm eps | 1e-6 (timm's LayerNorm default, not in the config) | `layer_norm_eps` (1e-12) |

## config.json: the keys a loader must read

**timm** (as `timm.models.push_to_hf_hub` / `save_config_for_hf` writes it): `architecture`,
`num_classes`, `num_features`, `global_pool`, optional `label_names` (a list), optional
`model_args`, and `pretrained_cfg` (`input_size [3, H, W]`, `interpolation`, `crop_pct`,
`crop_mode`, `mean`, `std`, `num_classes`, `classifier`, ...). The loader reads:

- `model_args` when present: the `timm.create_model` keyword arguments that override the
  architecture's defaults; these fixtures carry `img_size` (an int, or `[H, W]`), `patch_size`,
  `embed_dim`, `depth`, `num_heads`, `mlp_ratio` (also `qkv_bias`, `class_token`,
  `global_pool`, always timm's defaults `true`, `true`, `"token"`). Published ViT/DeiT files
  have no `model_args`: the sizes then come from the `architecture` name (`vit_tiny`/`deit_tiny`
  192 wide, 12 deep, 3 heads; `small` 384, 12, 6; `base` 768, 12, 12; `large` 1024, 24, 16;
  `_patch16_` = patch 16; the trailing `_224` / `_384` = image size, which
  `pretrained_cfg.input_size` also gives; MLP ratio 4).
- `num_heads` is the one size the tensors do not determine (D, depth, patch, T, the MLP width
  and the class count all follow from tensor shapes); a loader should check the others against
  the shapes.
- `num_classes` (root; overrides `pretrained_cfg.num_classes`), `pretrained_cfg.input_size`
  (the image the model takes; must agree with `img_size`), `pretrained_cfg.mean` / `std`,
  `pretrained_cfg.interpolation` and `crop_pct` (preprocessing: resize the shorter side to
  `floor(H / crop_pct)` then centre-crop H x W).
- distilled or not: `dist_token` / `head_dist` present in the weights (the architecture name
  contains `distilled`, and `pretrained_cfg.classifier` is `["head", "head_dist"]`).

**HF** (sorted keys, as `save_pretrained` writes them): `model_type` (`vit` / `deit`),
`architectures` (`["ViTForImageClassification"]` /
`["DeiTForImageClassificationWithTeacher"]`), `hidden_size`, `num_hidden_layers`,
`num_attention_heads`, `intermediate_size`, `hidden_act` (`gelu`: exact), `layer_norm_eps`,
`image_size`, `patch_size`, `num_channels`, `qkv_bias`, `id2label` (string keys), `label2id`.
Ignored: dropout probabilities (0), `initializer_range`, `encoder_stride`, `pooler_*`,
`torch_dtype` (the safetensors header gives each tensor's dtype), `transformers_version`.
Newer transformers write `dtype` for `torch_dtype`; older published files have a
`preprocessor_config.json` with `"feature_extractor_type"` and `"size": 224` (an int) in place
of `image_processor_type` and `{"height", "width"}`; a loader should accept both forms.

`preprocessor_config.json`: `do_resize`, `size {height, width}`, `resample` (PIL codes:
2 bilinear, 3 bicubic), `do_center_crop` + `crop_size` (DeiT), `do_rescale` +
`rescale_factor` (1/255), `do_normalize` + `image_mean` / `image_std`. HF resizes the whole
image to `size.height x size.width` (the aspect ratio is not kept; timm instead resizes the
shorter side), then crops the centre to `crop_size` when `do_center_crop`. {prep}, as the
published DeiT files go 256 x 256 -> 224 x 224. `input.npy` is already preprocessed: these fixtures do not
test the resampling.

## The maps

sav's definitions (docs/design.md section 4, `src/attribution/methods.cpp`) are written for
its CIFAR model, whose only prefix token is the class token. Generalised to P prefix tokens
(P = 1, or 2 with the distillation token) and T = P + patches, with sav's defaults (head
fusion mean, residual weight 0.5, discard ratio 0):

- **seed, rollout, last, grad-rollout** (`rollup`): layer l contributes the T x T matrix
  `B_l = a I + b fuse_h(G_l)` (the identity over **all** T tokens, the distillation token
  included; row normalisation over all T columns); the map is row 0 (the class token's row) of
  `B_L ... B_1` (`B_L` alone for `last`) restricted to the **patch columns P .. T - 1**: the
  class and distillation columns are both dropped (sav drops column 0 only). Parameters as
  sav's: seed a = 1, b = 1, sum over heads, rows not normalised; rollout a = 0.5, b = 0.5,
  mean, rows normalised; last a = 0, b = 1, mean, last layer only; grad-rollout a = 1, b = 1,
  mean of `max(0, dA * A)`, rows not normalised.
- **discard ratio** (default 0, so not exercised here): sav's rule kept as it is: among the
  T (T - 1) entries outside column 0, zero the floor(r T (T - 1)) smallest; the distillation
  column is not protected. A C++ generalisation that protects all P prefix columns would be a
  different method; these fixtures do not distinguish the two.
- **gradcam**: X = the tokens entering the last block (before its LN1) `[T, D]`, dX their
  gradient; the channel weights are dX averaged over the **patch tokens P .. T - 1**, and patch
  t scores `max(0, sum_c w_c X[t, c])`. Class and distillation tokens take no part.
- **gradients**: of the explained class's logit (the predicted class), the averaged logit for
  the distilled models, with respect to the attention probabilities (after the softmax) and to
  X; images are independent, so one backward pass with a 1 at each image's class gives each
  image its own.
- `random` is not here (sav draws it from its own generator).

The maps are raw scores. Rollup maps are computed in float64 from the float64 attention.

## Tolerances

The expected values are float64 results rounded to float32. Suggested checks (each a few
times the distance of PyTorch's float32 computation from them, `reference.json`):

- logits: `max |sav - ref| <= 1e-4 * max(1, max |ref|)` (per image); predicted classes equal.
- attention probabilities: `max |sav - ref| <= 1e-5`.
- maps: after min-max normalisation of each image's map (a constant map becomes zeros),
  `max |sav - ref| <= 1e-4`; raw maps within `1e-4 * max |ref|` of that image's map.
- last-layer tokens and gradients: `max |sav - ref| <= 1e-4 * max(1, max |ref|)`.

## Measured

{measured}

## Full-size check (not committed)

`python3 tools/vit_reference.py --full DIR [--batch 2]` writes `DIR/vit_small_patch16_224` and
`DIR/vit_base_patch16_224`: ViT-S/16 (22,050,664 parameters) and ViT-B/16 (86,567,656) at
224 x 224 with random weights, in timm's names, F32, with a `config.json` as the published
timm files have it (no `model_args`: the sizes come from the architecture name) and the same
expected files as above (`input.npy` of `--batch` images, logits, attention, maps, ...). At
that size PyTorch's float32 computation is within about 4e-6 of the float64 values for logits
and attention and 1e-5 for normalised maps, so the tolerances above hold there too.
`--time --threads N` prints PyTorch's float32 forward and forward + backward times at batch 32
(`--time-batch`), the median of 5 runs (`--runs`).
"""


def readme(results):
    rows, measured = [], []
    for name, info in results:
        rows.append(
            f"| `{name}` | {info['layout']} | {info['stored_dtype']} | {info['image'][0]} x "
            f"{info['image'][1]} | {info['patch']} | {info['grid'][0]} x {info['grid'][1]} | "
            f"{info['tokens']} | {info['dim']} | {info['depth']} | {info['heads']} | "
            f"{info['mlp_hidden']} | {info['classes']} | {info['parameters']} | "
            f"{info['max_abs_logit']:.4f} |")
        dev = info["float32_deviation"]
        dyn = info["dynamics"]
        measured.append(
            f"- `{name}`: predicted {info['predicted']}; smallest top-2 logit margin "
            f"{dyn['logit_margin_min']:.3g}; attention row maximum mean "
            f"{dyn['attention_mean_row_max']:.3f} (min {dyn['attention_min_row_max']:.3f}); "
            f"gradcam positive patches {dyn['gradcam_positive_patches']}. PyTorch float32 vs "
            f"reference: logits {dev['logits_abs']:.2g}, attention {dev['attention_abs']:.2g}, "
            f"normalised maps up to "
            f"{max(dev['maps_normalised_abs'].values()):.2g}.")
    prep = []
    for cfg in FIXTURES:
        if cfg.family != "hf":
            continue
        side = cfg.img[0]
        if cfg.distilled:
            prep.append(f"`{cfg.name}` resizes to {side * 5 // 4} x {side * 5 // 4} (bicubic) "
                        f"and centre-crops {side} x {side}")
        else:
            prep.append(f"`{cfg.name}` resizes straight to {side} x {side} (bilinear)")
    return (README_HEAD.replace("{table}", "\n".join(rows))
            .replace("{measured}", "\n".join(measured))
            .replace("{prep}", "; ".join(prep))) + "\n"


def write_fixtures(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    results = []
    total = 0
    for cfg in FIXTURES:
        folder = os.path.join(out_dir, cfg.name)
        info, files = write_model_folder(folder, cfg)
        size = sum(os.path.getsize(os.path.join(folder, f)) for f in files)
        total += size
        results.append((cfg.name, info))
        print(summary_line(cfg.name, info))
        dyn = info["dynamics"]
        # A fixture must exercise every method: a clear prediction, attention neither uniform
        # nor one-hot, and Grad-CAM maps with several positive patches (not constant).
        assert dyn["logit_margin_min"] > 0.03, "prediction too close to a tie"
        assert 0.15 < dyn["attention_mean_row_max"] < 0.8, "attention degenerate"
        assert min(dyn["gradcam_positive_patches"]) >= 3, "Grad-CAM map nearly constant"
        assert min(dyn["map_min_range"].values()) > 1e-3, "a constant map"
        print(f"    {len(files)} files, {size} bytes; float32 deviation: "
              f"{json.dumps(info['float32_deviation'])}")
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(readme(results))
    print(f"{len(results)} fixtures, {total} bytes, in {out_dir}")


# --------------------------------------------------------------------------------------------
# Full-size models and timing.


def write_full(out_dir, batch):
    for cfg in FULL_MODELS:
        folder = os.path.join(out_dir, cfg.name)
        start = time.time()
        info, files = write_model_folder(folder, cfg, batch=batch)
        print(summary_line(cfg.name, info) + f" ({time.time() - start:.1f} s, {folder})")


TIME_MODES = ("forward", "forward+backward")


def time_model(cfg, batch, runs, modes=TIME_MODES):
    """Median seconds of each of `modes` on `cfg`'s model in float32 at `batch`, after one
    warm-up: "forward" without autograd, "forward+backward" from 1 at each image's predicted
    logit, keeping the gradients of the attention and of the last block's input as the maps
    need them. The backward pass computes what the maps need and no more, as sav's explain
    does: the parameters are frozen and the gradient starts at the input. Returns
    {mode: seconds}."""
    model = cfg.build().float().eval()
    for p in model.parameters():  # weights only need to be finite and non-degenerate
        nn.init.normal_(p, 0.0, 0.02)
        p.requires_grad_(False)
    x = torch.from_numpy(draw_input(cfg, batch))

    def forward():
        with torch.no_grad():
            model(x, Trace(keep_grads=False))

    def forward_backward():
        trace = Trace(keep_grads=True)
        logits = model(x.clone().requires_grad_(True), trace)
        seed = torch.zeros_like(logits)
        seed[torch.arange(batch), logits.detach().argmax(1)] = 1.0
        logits.backward(seed)

    functions = {"forward": forward, "forward+backward": forward_backward}
    medians = {}
    for label in modes:
        fn = functions[label]
        fn()  # warm-up
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        medians[label] = statistics.median(times)
    return medians


def time_models(threads, batch, runs):
    torch.set_num_threads(threads)
    print(f"PyTorch {torch.__version__}, float32, {torch.get_num_threads()} threads, "
          f"batch {batch}, median of {runs}")
    for cfg in FULL_MODELS:
        for label, med in time_model(cfg, batch, runs).items():
            print(f"{cfg.name}: {label}: {med * 1e3:.1f} ms per batch, "
                  f"{med * 1e3 / batch:.2f} ms per image")


# --------------------------------------------------------------------------------------------
# Self-test.


def timm_to_hf(state, cfg):
    """timm names -> HF names (splitting qkv), for checking the two codes agree."""
    prefix = "deit" if cfg.distilled else "vit"
    out = {f"{prefix}.embeddings.cls_token": state["cls_token"],
           f"{prefix}.embeddings.position_embeddings": state["pos_embed"],
           f"{prefix}.embeddings.patch_embeddings.projection.weight":
               state["patch_embed.proj.weight"],
           f"{prefix}.embeddings.patch_embeddings.projection.bias":
               state["patch_embed.proj.bias"],
           f"{prefix}.layernorm.weight": state["norm.weight"],
           f"{prefix}.layernorm.bias": state["norm.bias"]}
    if cfg.distilled:
        out[f"{prefix}.embeddings.distillation_token"] = state["dist_token"]
        out["cls_classifier.weight"] = state["head.weight"]
        out["cls_classifier.bias"] = state["head.bias"]
        out["distillation_classifier.weight"] = state["head_dist.weight"]
        out["distillation_classifier.bias"] = state["head_dist.bias"]
    else:
        out["classifier.weight"] = state["head.weight"]
        out["classifier.bias"] = state["head.bias"]
    d = cfg.dim
    for i in range(cfg.depth):
        t, h = f"blocks.{i}.", f"{prefix}.encoder.layer.{i}."
        for j, n in enumerate(("query", "key", "value")):  # qkv rows: q, then k, then v
            rows = slice(j * d, (j + 1) * d)
            out[h + f"attention.attention.{n}.weight"] = state[t + "attn.qkv.weight"][rows]
            out[h + f"attention.attention.{n}.bias"] = state[t + "attn.qkv.bias"][rows]
        pairs = {"attn.proj": "attention.output.dense", "norm1": "layernorm_before",
                 "norm2": "layernorm_after", "mlp.fc1": "intermediate.dense",
                 "mlp.fc2": "output.dense"}
        for a, b in pairs.items():
            for s in ("weight", "bias"):
                out[h + f"{b}.{s}"] = state[t + f"{a}.{s}"]
    return out


def self_test():
    import tempfile
    ok = True

    def check(label, cond):
        nonlocal ok
        print(("ok   " if cond else "FAIL ") + label)
        ok = ok and bool(cond)

    # 1. Storage rounding: F16 and BF16 as torch rounds them.
    v = np.random.default_rng(0).normal(0, 3, size=10000).astype(np.float32)
    _, f16 = round_to_storage(v, "F16")
    _, bf16 = round_to_storage(v, "BF16")
    check("F16 rounding matches torch",
          np.array_equal(f16, torch.from_numpy(v).half().float().numpy()))
    check("BF16 rounding matches torch",
          np.array_equal(bf16, torch.from_numpy(v).bfloat16().float().numpy()))

    # 2. Writer round trip, HF sharding, and timm vs HF arithmetic on the same weights.
    with tempfile.TemporaryDirectory() as tmp:
        for distilled in (False, True):
            tcfg = ModelConfig("t", "timm", distilled, img=24, patch=8, dim=24, depth=2, heads=3,
                               mlp_ratio=2.0, classes=5, seed=9, dtype="BF16",
                               architecture="deit_tiny_distilled_patch16_224" if distilled
                               else "vit_tiny_patch16_224")
            hcfg = ModelConfig("h", "hf", distilled, img=24, patch=8, dim=24, depth=2, heads=3,
                               intermediate=48, classes=5, seed=9, shards=2)
            tm = tcfg.build()
            stored, decoded = draw_weights(tm, tcfg)
            folder = os.path.join(tmp, f"t{int(distilled)}")
            os.makedirs(folder)
            write_weights(folder, tcfg, tm, stored)
            back, _ = load_weights(folder)
            check(f"round trip BF16 (distilled={distilled})",
                  all(np.array_equal(back[k], decoded[k]) for k in decoded))
            hm = hcfg.build()
            hm.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v))
                                for k, v in timm_to_hf(decoded, hcfg).items()}, strict=True)
            hfolder = os.path.join(tmp, f"h{int(distilled)}")
            os.makedirs(hfolder)
            hstored = {k: v.detach().numpy().astype("<f4") for k, v in hm.state_dict().items()}
            write_weights(hfolder, hcfg, hm, hstored)
            hback, _ = load_weights(hfolder)
            check(f"sharded round trip (distilled={distilled})",
                  all(np.array_equal(hback[k], hstored[k]) for k in hstored))
            x = draw_input(tcfg, 2)
            tcfg_eps = tcfg.eps
            for m in hm.modules():  # same eps for the comparison
                if isinstance(m, nn.LayerNorm):
                    m.eps = tcfg_eps
            ot, oh = run_model(tm, x), run_model(hm, x)
            for key in ("logits", "attention", "attention_grad", "last_layer_input_grad"):
                check(f"timm == HF {key} (distilled={distilled})",
                      deviation(ot[key], oh[key]) < 1e-10)

    # 3. The row-vector rollup equals the matrix product, and seed == rollout at w = 1/(H+1)
    # after normalisation.
    rng = np.random.default_rng(1)
    L, H, T = 3, 4, 7
    att = rng.random((L, H, T, T))
    att /= att.sum(-1, keepdims=True)
    grad = rng.normal(size=(L, H, T, T))
    for method, (a, b, fusion, weighted, norm, last_only) in ROLLUPS.items():
        prod = np.eye(T)
        for l in range(L - 1 if last_only else 0, L):
            prod = layer_matrix(att[l], grad[l], a, b, fusion, weighted, norm, 0.0) @ prod
        check(f"rollup {method} == matrix product",
              deviation(prod[0, 2:], rollup(att, grad, 2, method)) < 1e-12)
    seed_map = rollup(att, grad, 1, "seed")
    prod = np.eye(T)
    for l in range(L):
        prod = layer_matrix(att[l], None, 1 / (H + 1), H / (H + 1), "mean", False, True, 0.0) @ prod
    check("seed == rollout(w = 1/(H+1)) * (H+1)^L",
          deviation(seed_map, prod[0, 1:] * (H + 1) ** L) < 1e-9)
    # Grad-rollout as R <- R + mean_h(G) R from R = I.
    r = np.eye(T)
    for l in range(L):
        r = r + np.maximum(0, grad[l] * att[l]).mean(0) @ r
    check("grad-rollout == accumulation",
          deviation(r[0, 1:], rollup(att, grad, 1, "grad-rollout")) < 1e-12)
    print("self-test " + ("passed" if ok else "FAILED"))
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="write the fixtures to this folder")
    parser.add_argument("--full", metavar="DIR", help="write ViT-S/16 and ViT-B/16 to DIR")
    parser.add_argument("--batch", type=int, default=2, help="--full: images in input.npy")
    parser.add_argument("--time", action="store_true", help="time ViT-S/16 and ViT-B/16")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--time-batch", type=int, default=32)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if not (args.out or args.full or args.time or args.self_test):
        parser.error("nothing to do: give --out, --full, --time or --self-test")
    if args.self_test and not self_test():
        return 1
    if args.out:
        torch.set_num_threads(max(1, min(args.threads, 4)))
        write_fixtures(args.out)
    if args.full:
        torch.set_num_threads(args.threads)
        write_full(args.full, args.batch)
    if args.time:
        time_models(args.threads, args.time_batch, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
