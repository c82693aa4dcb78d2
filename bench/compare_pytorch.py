#!/usr/bin/env python3
"""Times one training step and one inference pass of the seed's ViT in PyTorch and in sav, on
this machine, with the same threads and batch, and prints both and their ratio.

sav's figures come from build/sav_bench (BM_TrainStep, BM_Inference); PyTorch runs the same
model (tools/check_pytorch_load.py defines it, with sav's parameter names) under Adam, after
one warm-up step, taking the median of --steps timed steps. Needs PyTorch (e.g. Debian's
python3-torch) and a built sav (make).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import torch  # noqa: E402
from check_pytorch_load import ViT  # noqa: E402


def time_pytorch(threads, batch, steps):
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = ViT(patch_features=48, patches=64, d=256, h=8, n_layers=6, d_ff=1024, dropout=0.1,
                classes=10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(batch, 64, 48)
    y = torch.randint(0, 10, (batch,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def train_step():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    model.train()
    train_step()  # warm-up
    train_times = []
    for _ in range(steps):
        start = time.perf_counter()
        train_step()
        train_times.append(time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        model(x)  # warm-up
        infer_times = []
        for _ in range(steps):
            start = time.perf_counter()
            model(x)
            infer_times.append(time.perf_counter() - start)
    return statistics.median(train_times), statistics.median(infer_times)


def time_sav(bench, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    out = subprocess.run([bench, "--benchmark_filter=TrainStep|Inference", "--benchmark_format=json"],
                         env=env, check=True, capture_output=True, text=True).stdout
    seconds = {}
    for b in json.loads(out)["benchmarks"]:
        unit = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9, "s": 1.0}[b["time_unit"]]
        seconds["train" if "TrainStep" in b["name"] else "infer"] = b["real_time"] * unit
    return seconds["train"], seconds["infer"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads for both")
    parser.add_argument("--batch", type=int, default=100, help="images a step (sav's bench uses 100)")
    parser.add_argument("--steps", type=int, default=5, help="timed PyTorch steps (median taken)")
    parser.add_argument("--sav-bench", default=os.path.join(ROOT, "build", "sav_bench"),
                        help="the sav_bench program")
    args = parser.parse_args()
    if not os.path.exists(args.sav_bench):
        sys.exit(f"error: {args.sav_bench} not found (run 'make' first)")
    torch_train, torch_infer = time_pytorch(args.threads, args.batch, args.steps)
    sav_train, sav_infer = time_sav(args.sav_bench, args.threads)
    print(f"threads {args.threads}, batch {args.batch}, torch {torch.__version__}")
    print(f"{'':12}{'sav':>14}{'PyTorch':>14}{'sav / PyTorch':>16}")
    for name, s, t in (("train step", sav_train, torch_train), ("inference", sav_infer, torch_infer)):
        print(f"{name:12}{args.batch / s:>10.1f} i/s{args.batch / t:>10.1f} i/s{t / s:>15.2f}x")


if __name__ == "__main__":
    main()
