#!/usr/bin/env python3
"""Times one training step and one inference pass of the seed's ViT in PyTorch and in sav, on
this machine, with the same threads and batch, and prints both, their ratio and peak memory.

sav's figures come from build/sav_bench (BM_TrainStep, BM_Inference); PyTorch runs the same
model (tools/check_pytorch_load.py defines it, with sav's parameter names) under Adam in a
child process, after one warm-up step, taking the median of --steps timed steps. Each side's
peak RSS is its own process's. Needs PyTorch (e.g. Debian's python3-torch) and a built sav
(make).

--published vit_small[,vit_base] does the same for the published ViTs at full size (ViT-S/16,
ViT-B/16, 224 x 224, random weights, batch 32): inference (the forward pass without autograd)
and explanation (forward + one backward pass from each image's predicted logit, keeping the
gradients of the attention and of the last block's input; on both sides the parameters are
frozen and the gradient starts at the input, so that neither computes weight gradients the maps
do not need). PyTorch runs the models of
tools/vit_reference.py (the median of --runs, after a warm-up); sav runs sav_bench's
BM_PublishedInference and BM_PublishedExplain (attribution::explain with grad-rollout and gradcam,
which adds the two maps of every image; the median of the passes that fit in --sav-min-time
seconds, after a warm-up). Each measurement, on either side, runs in a process of its own, so
each peak RSS is that measurement's. --check-agreement also writes the full-size fixtures of
both models (tools/vit_reference.py --full, into a temporary folder) and runs sav's test
PublishedFull.MatchesTheReferenceAtFullSize on them (build/tests/sav_tests), printing how far
sav's logits, attention and maps are from the reference's float64 values, beside how far
PyTorch's own float32 computation is.

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
DEFAULT_TESTS = os.path.join(ROOT, "build", "tests", "sav_tests")
PUBLISHED_BATCH = 32  # the batch BM_PublishedInference and BM_PublishedExplain time
# --published's names: tools/vit_reference.py's model and sav_bench's argument (d_model).
PUBLISHED = {"vit_small": ("vit_small_patch16_224", 384, "ViT-S/16"),
             "vit_base": ("vit_base_patch16_224", 768, "ViT-B/16")}
MODES = (("infer", "forward", "BM_PublishedInference", "inference"),
         ("explain", "forward+backward", "BM_PublishedExplain", "explain"))


def openblas_kernels():
    """The kernels this process's OpenBLAS runs (e.g. "Haswell"), or None if none is loaded."""
    import ctypes
    for name in ("libopenblas.so.0", "libblas.so.3"):
        try:
            lib = ctypes.CDLL(name, mode=getattr(os, "RTLD_NOLOAD", 0))
            corename = lib.openblas_get_corename
        except (OSError, AttributeError):
            continue
        corename.restype = ctypes.c_char_p
        return corename().decode()
    return None


def describe_kernels(args, kernels):
    """What PyTorch's OpenBLAS ran: its kernels, and whether they were asked for."""
    asked = args.pytorch_coretype or os.environ.get("OPENBLAS_CORETYPE", "")
    return f"{kernels or '?'} kernels, " + (f"OPENBLAS_CORETYPE={asked}" if asked
                                            else "OpenBLAS's choice")


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
            "rss_mib": peak_mib, "version": torch.__version__, "kernels": openblas_kernels()}


def time_pytorch_published(threads, model, mode, runs):
    """Runs in the child process: one of vit_reference.py's full-size models, one mode."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import torch
    import vit_reference

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    cfg = next(c for c in vit_reference.FULL_MODELS if c.name == PUBLISHED[model][0])
    seconds = vit_reference.time_model(cfg, PUBLISHED_BATCH, runs, modes=(mode,))[mode]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "runs": runs, "rss_mib": peak_mib, "version": torch.__version__,
            "kernels": openblas_kernels()}


def run_pytorch(args, extra=()):
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads))
    if args.pytorch_coretype:
        env["OPENBLAS_CORETYPE"] = args.pytorch_coretype
    if args.pytorch_blas_dir:
        env["LD_LIBRARY_PATH"] = args.pytorch_blas_dir + ":" + env.get("LD_LIBRARY_PATH", "")
    command = [sys.executable, os.path.abspath(__file__), "--pytorch-child",
               "--threads", str(args.threads), "--steps", str(args.steps), "--device", args.device]
    if args.tf32:
        command.append("--tf32")
    command += list(extra)
    run = subprocess.run(command, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        lines = run.stderr.strip().splitlines() or ["(no message)"]
        sys.exit(f"error: the PyTorch run failed: {lines[-1]}")
    return json.loads(run.stdout)


def time_sav(bench, threads, device, tf32):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    if device == "cuda":
        suffix = "tf32:1" if tf32 else "tf32:0"
        # sav_train's step: replayed from its CUDA graph.
        pattern = f"BM_Cuda(TrainStep/{suffix}/graphs:1|Inference/{suffix})"
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


def time_sav_published(args, d_model, benchmark):
    """sav_bench's `benchmark` for one model in a process of its own: the median pass's
    seconds, the passes timed and the process's peak RSS."""
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads))
    run = subprocess.run([args.sav_bench, f"--benchmark_filter=^{benchmark}/d_model:{d_model}/",
                          f"--benchmark_min_time={args.sav_min_time}", "--benchmark_format=json"],
                         env=env, capture_output=True, text=True)
    if run.returncode != 0:
        lines = run.stderr.strip().splitlines() or ["(no message)"]
        sys.exit(f"error: {benchmark} failed: {lines[-1]}")
    report = json.loads(run.stdout)
    if not report["benchmarks"]:
        sys.exit(f"error: {args.sav_bench} has no {benchmark} (rebuild it)")
    b = report["benchmarks"][0]
    if b.get("error_occurred"):
        sys.exit(f"error: {b['name']}: {b.get('error_message', 'failed')}")
    return {"seconds": b["median_ms"] / 1e3, "runs": b["iterations"], "rss_mib": b["peak_RSS_MiB"],
            "cpu": report["context"].get("sav_cpu", "")}


MAP_METHODS = ("seed", "rollout", "last", "grad-rollout", "gradcam")


def check_agreement(args):
    """Writes the full-size fixtures (ViT-S/16 and ViT-B/16, a batch of 2) into a temporary
    folder and runs sav's full-size test on them. Returns (passed, {model: {quantity: (sav's
    deviation, PyTorch float32's)}}, the test's failure lines)."""
    import re
    import tempfile
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads))
    with tempfile.TemporaryDirectory(prefix="sav_published_full_") as folder:
        write = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "vit_reference.py"),
                                "--full", folder, "--threads", str(args.threads)],
                               env=env, capture_output=True, text=True)
        if write.returncode != 0:
            lines = write.stderr.strip().splitlines() or ["(no message)"]
            sys.exit(f"error: vit_reference.py --full failed: {lines[-1]}")
        pytorch = {}
        known = [full for full, _, _ in PUBLISHED.values()]
        for name in sorted(os.listdir(folder), key=lambda n: (known + [n]).index(n)):
            with open(os.path.join(folder, name, "reference.json")) as f:
                dev = json.load(f)["float32_deviation"]
            pytorch[name] = dict(logits=dev["logits_abs"], attention=dev["attention_abs"],
                                 **dev["maps_raw_rel"])
        test = subprocess.run([args.sav_tests,
                               "--gtest_filter=PublishedFull.MatchesTheReferenceAtFullSize"],
                              env=dict(env, SAV_PUBLISHED_FULL_DIR=folder), capture_output=True,
                              text=True)
    out = test.stdout + test.stderr
    if "[  SKIPPED ]" in out or not re.search(r"Running [1-9]", out):
        sys.exit(f"error: {args.sav_tests} did not run PublishedFull.MatchesTheReferenceAtFullSize")
    sav = {name: {} for name in pytorch}
    number = r"([0-9.e+-]+)"
    for line in out.splitlines():
        m = re.match(rf"(\S+): logits within {number}, attention within {number}$", line)
        if m and m.group(1) in sav:
            sav[m.group(1)].update(logits=float(m.group(2)), attention=float(m.group(3)))
        m = re.match(rf"(\S+) (\S+): within {number} of the largest score$", line)
        if m and m.group(1) in sav:
            sav[m.group(1)][m.group(2)] = float(m.group(3))
    table = {name: {q: (sav[name].get(q), pytorch[name][q]) for q in pytorch[name]}
             for name in pytorch}
    failures = [line for line in out.splitlines()
                if "Failure" in line or "Expected" in line or "Which is" in line]
    return test.returncode == 0, table, failures


def print_agreement(passed, table, failures):
    labels = {full: label for full, _, label in PUBLISHED.values()}
    quantities = ("logits", "attention") + MAP_METHODS
    print(f"agreement at full size with tools/vit_reference.py's float64 values (batch 2): "
          f"{'passed' if passed else 'FAILED'}")
    print(f"{'':22}" + "".join(f"{q:>13}" for q in quantities))
    for name, row in table.items():
        for side, label in ((0, "sav"), (1, "PyTorch f32")):
            cells = "".join(f"{row[q][side]:>13.2g}" if row[q][side] is not None else f"{'?':>13}"
                            for q in quantities)
            print(f"{labels.get(name, name) + ' ' + label:22}{cells}")
    print("(largest deviation: logits and attention absolute, maps relative to the image's "
          "largest score; the test's tolerances: logits 1e-4 x max(1, max |logit|), attention "
          "1e-5, maps 1e-4)")
    for line in failures:
        print("  " + line.strip())


def main_published(args):
    models = [m.strip() for m in args.published.split(",") if m.strip()]
    for m in models:
        if m not in PUBLISHED:
            sys.exit(f"error: --published {m}: not one of {', '.join(PUBLISHED)}")
    if not os.path.exists(args.sav_bench):
        sys.exit(f"error: {args.sav_bench} not found (run 'make' first)")
    if args.check_agreement and not os.path.exists(args.sav_tests):
        sys.exit(f"error: {args.sav_tests} not found (run 'make' first)")
    results = {}
    for m in models:
        _, d_model, _ = PUBLISHED[m]
        for key, torch_mode, benchmark, mode_label in MODES:
            print(f"timing {PUBLISHED[m][2]} {mode_label}: PyTorch, then sav", file=sys.stderr)
            torch = run_pytorch(args, ["--published-child", m, "--mode", torch_mode,
                                       "--runs", str(args.runs)])
            sav = time_sav_published(args, d_model, benchmark)
            results[(m, key)] = (sav, torch)
    first_sav, first_torch = next(iter(results.values()))
    blas = args.pytorch_blas_dir or "the system's"
    print(f"threads {args.threads}, batch {PUBLISHED_BATCH}, 224 x 224, float32, "
          f"PyTorch {first_torch['version']} (OpenBLAS: {blas}, "
          f"{describe_kernels(args, first_torch['kernels'])})")
    print(f"sav: {first_sav['cpu']}")
    print(f"{'':22}{'sav':>14}{'PyTorch':>14}{'sav / PyTorch':>15}{'sav RSS':>12}"
          f"{'PyTorch RSS':>14}{'runs':>9}")
    for m in models:
        label = PUBLISHED[m][2]
        for key, _, _, mode_label in MODES:
            sav, torch = results[(m, key)]
            s, t = sav["seconds"], torch["seconds"]
            print(f"{label + ' ' + mode_label:22}{PUBLISHED_BATCH / s:>10.2f} i/s"
                  f"{PUBLISHED_BATCH / t:>10.2f} i/s{t / s:>14.2f}x"
                  f"{sav['rss_mib']:>8.0f} MiB{torch['rss_mib']:>10.0f} MiB"
                  f"{sav['runs']:>5} /{torch['runs']:>2}")
    print("(images/s of the median pass; explain: sav's attribution::explain with grad-rollout "
          "and gradcam, PyTorch's forward + backward; runs: passes timed, sav / PyTorch)")
    if args.check_agreement:
        passed, table, failures = check_agreement(args)
        print_agreement(passed, table, failures)
        if not passed:
            sys.exit(1)


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
    parser.add_argument("--published", nargs="?", const="vit_small", default="",
                        metavar="vit_small,vit_base",
                        help="time the published ViTs at full size instead (default: vit_small)")
    parser.add_argument("--runs", type=int, default=5,
                        help="--published: timed PyTorch passes (median taken)")
    parser.add_argument("--sav-min-time", type=float, default=10.0,
                        help="--published: seconds of sav passes to time (median taken; "
                             "at least one)")
    parser.add_argument("--check-agreement", action="store_true",
                        help="--published: also check sav against the float64 reference, both "
                             "models at full size (tools/vit_reference.py --full and sav_tests)")
    parser.add_argument("--sav-tests", default=DEFAULT_TESTS,
                        help="the test program for --check-agreement "
                             "(default: build/tests/sav_tests)")
    parser.add_argument("--pytorch-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--published-child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pytorch_child:
        if args.published_child:
            print(json.dumps(time_pytorch_published(args.threads, args.published_child, args.mode,
                                                    args.runs)))
        else:
            print(json.dumps(time_pytorch(args.threads, BATCH, args.steps, args.device,
                                          args.tf32)))
        return
    if args.pytorch_blas_dir and not os.path.isdir(args.pytorch_blas_dir):
        sys.exit(f"error: --pytorch-blas-dir {args.pytorch_blas_dir} is not a folder")
    if args.published:
        if args.device != "cpu":
            sys.exit("error: --published runs on the CPU only")
        main_published(args)
        return
    if args.device == "cuda" and args.sav_bench == DEFAULT_BENCH:
        args.sav_bench = os.path.join(ROOT, "build", "sav_bench_cuda")
    if not os.path.exists(args.sav_bench):
        sys.exit(f"error: {args.sav_bench} not found (run 'make' first)")
    torch = run_pytorch(args)
    sav = time_sav(args.sav_bench, args.threads, args.device, args.tf32)
    blas = args.pytorch_blas_dir or "the system's"
    if args.device == "cuda":
        print(f"GPU, batch {BATCH}, TF32 {'on' if args.tf32 else 'off'}, PyTorch {torch['version']}")
    else:
        print(f"threads {args.threads}, batch {BATCH}, PyTorch {torch['version']} "
              f"(OpenBLAS: {blas}, {describe_kernels(args, torch.get('kernels'))})")
    print(f"{'':12}{'sav':>14}{'PyTorch':>14}{'sav / PyTorch':>16}")
    for name in ("train", "infer"):
        label = "train step" if name == "train" else "inference"
        s, t = sav[name], torch[name]
        print(f"{label:12}{BATCH / s:>10.1f} i/s{BATCH / t:>10.1f} i/s{t / s:>15.2f}x")
    if "rss_mib" in sav:
        print(f"{'peak RSS':12}{sav['rss_mib']:>10.0f} MiB{torch['rss_mib']:>10.0f} MiB")


if __name__ == "__main__":
    main()
