#!/usr/bin/env python3
"""Times one training step and one inference pass of the seed's ViT in PyTorch and in sav, on
this machine, with the same threads and batch, and prints both, their ratio and peak memory.

sav's figures come from build/sav_bench (BM_TrainStep, BM_Inference); PyTorch runs the same
model (tools/check_pytorch_load.py defines it, with sav's parameter names) under Adam in a
child process, after one warm-up step, taking the median of --steps timed steps. Each side's
peak RSS is its own process's. Needs PyTorch (e.g. Debian's python3-torch) and a built sav
(make).

Debian's PyTorch does its matrix products in the system's OpenBLAS (the pthreads build unless
the alternatives system says otherwise), whose kernels follow OPENBLAS_CORETYPE when that is
set. --pytorch-coretype sets it for PyTorch alone, and --pytorch-blas-dir puts another OpenBLAS
build first on PyTorch's library path (e.g. /usr/lib/x86_64-linux-gnu/openblas-openmp, the
build sav uses). sav chooses its own (see src/backends/cpu/openblas.h).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 100  # the batch sav_bench times
DEFAULT_BENCH = os.path.join(ROOT, "build", "sav_bench")


def time_pytorch(threads, batch, steps, device, tf32):
    """Runs in the child process: returns (train seconds, inference seconds, peak RSS MiB)."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import torch
    from check_pytorch_load import ViT

    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("PyTorch sees no CUDA device (or was built without CUDA)")
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    torch.backends.cuda.matmul.allow_tf32 = tf32
    model = ViT(patch_features=48, patches=64, d=256, h=8, n_layers=6, d_ff=1024, dropout=0.1,
                classes=10).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    host_x = torch.rand(batch, 64, 48)  # uploaded every step, as sav's benchmarks do
    y = torch.randint(0, 10, (batch,)).to(device)
    loss_fn = torch.nn.CrossEntropyLoss()

    def train_step():
        optimizer.zero_grad()
        loss = loss_fn(model(host_x.to(device)), y)
        loss.backward()
        optimizer.step()
        return loss.item()  # waits for the GPU, as sav's step does

    model.train()
    train_step()  # warm-up
    train_times = []
    for _ in range(steps):
        start = time.perf_counter()
        train_step()
        train_times.append(time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        model(host_x.to(device)).cpu()  # warm-up
        infer_times = []
        for _ in range(steps):
            start = time.perf_counter()
            model(host_x.to(device)).cpu()
            infer_times.append(time.perf_counter() - start)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"train": statistics.median(train_times), "infer": statistics.median(infer_times),
            "rss_mib": peak_mib, "version": torch.__version__}


def run_pytorch(args):
    env = dict(os.environ)
    if args.pytorch_coretype:
        env["OPENBLAS_CORETYPE"] = args.pytorch_coretype
    if args.pytorch_blas_dir:
        env["LD_LIBRARY_PATH"] = args.pytorch_blas_dir + ":" + env.get("LD_LIBRARY_PATH", "")
    command = [sys.executable, os.path.abspath(__file__), "--pytorch-child",
               "--threads", str(args.threads), "--steps", str(args.steps), "--device", args.device]
    if args.tf32:
        command.append("--tf32")
    run = subprocess.run(command, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        lines = run.stderr.strip().splitlines() or ["(no message)"]
        sys.exit(f"error: the PyTorch run failed: {lines[-1]}")
    return json.loads(run.stdout)


def time_sav(bench, threads, device, tf32):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    if device == "cuda":
        suffix = "tf32:1" if tf32 else "tf32:0"
        pattern = f"BM_Cuda(TrainStep|Inference)/{suffix}"
    else:
        pattern = "BM_(TrainStep|Inference)"
    out = subprocess.run([bench, f"--benchmark_filter={pattern}", "--benchmark_format=json"],
                         env=env, check=True, capture_output=True, text=True).stdout
    result = {}
    for b in json.loads(out)["benchmarks"]:
        unit = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9, "s": 1.0}[b["time_unit"]]
        if b.get("error_occurred"):
            sys.exit(f"error: {b['name']}: {b.get('error_message', 'failed')}")
        result["train" if "TrainStep" in b["name"] else "infer"] = b["real_time"] * unit
        if "peak_RSS_MiB" in b:
            result["rss_mib"] = max(result.get("rss_mib", 0), b["peak_RSS_MiB"])
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads for both")
    parser.add_argument("--steps", type=int, default=10, help="timed PyTorch steps (median taken)")
    parser.add_argument("--sav-bench", default=DEFAULT_BENCH,
                        help="the benchmark program (default: build/sav_bench, or "
                             "build/sav_bench_cuda with --device cuda)")
    parser.add_argument("--pytorch-coretype", default="",
                        help="OPENBLAS_CORETYPE for PyTorch's OpenBLAS (default: the environment's)")
    parser.add_argument("--pytorch-blas-dir", default="",
                        help="folder with the libblas.so.3 / libopenblas.so.0 PyTorch should load")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: time both on the GPU (sav's build/sav_bench_cuda)")
    parser.add_argument("--tf32", action="store_true", help="TF32 matrix products on the GPU, both")
    parser.add_argument("--pytorch-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pytorch_child:
        print(json.dumps(time_pytorch(args.threads, BATCH, args.steps, args.device, args.tf32)))
        return
    if args.device == "cuda" and args.sav_bench == DEFAULT_BENCH:
        args.sav_bench = os.path.join(ROOT, "build", "sav_bench_cuda")
    if not os.path.exists(args.sav_bench):
        sys.exit(f"error: {args.sav_bench} not found (run 'make' first)")
    if args.pytorch_blas_dir and not os.path.isdir(args.pytorch_blas_dir):
        sys.exit(f"error: --pytorch-blas-dir {args.pytorch_blas_dir} is not a folder")
    torch = run_pytorch(args)
    sav = time_sav(args.sav_bench, args.threads, args.device, args.tf32)
    coretype = args.pytorch_coretype or os.environ.get("OPENBLAS_CORETYPE", "OpenBLAS's choice")
    blas = args.pytorch_blas_dir or "the system's"
    if args.device == "cuda":
        print(f"GPU, batch {BATCH}, TF32 {'on' if args.tf32 else 'off'}, PyTorch {torch['version']}")
    else:
        print(f"threads {args.threads}, batch {BATCH}, PyTorch {torch['version']} "
              f"(OpenBLAS: {blas}, kernels: {coretype})")
    print(f"{'':12}{'sav':>14}{'PyTorch':>14}{'sav / PyTorch':>16}")
    for name in ("train", "infer"):
        label = "train step" if name == "train" else "inference"
        s, t = sav[name], torch[name]
        print(f"{label:12}{BATCH / s:>10.1f} i/s{BATCH / t:>10.1f} i/s{t / s:>15.2f}x")
    if "rss_mib" in sav:
        print(f"{'peak RSS':12}{sav['rss_mib']:>10.0f} MiB{torch['rss_mib']:>10.0f} MiB")


if __name__ == "__main__":
    main()
