#!/usr/bin/env python3
"""Data-parallel scaling on paper: a step's compute against the all-reduce of its gradients.

For the seed's ViT (4.7 M parameters) and ViT-B/16 (86.6 M), at 8, 64 and 512 GPUs, over NVLink
and InfiniBand, prints a Markdown table of the step's compute time, the all-reduce time and the
scaling efficiency compute / (compute + all-reduce): what sav's trainer gets, which sums its
gradients in one buffer after the backward pass (no overlap), and the bound with the all-reduce
fully hidden behind the backward pass (buckets) for comparison.

The model of the all-reduce is the usual one for NCCL's ring and tree algorithms: every GPU
sends and receives 2 (N - 1) / N of the buffer at the link's bandwidth, plus a latency of
2 log2(N) hops. The figures that are not sav's are assumptions, stated with --help and printed
with the table; change them with the flags.

    python3 tools/scaling_estimate.py
"""
import argparse
import math

# Parameters (sav's parameter counts: nn::parameter_count for the seed; timm's ViT-B/16).
MODELS = {
    "seed ViT (6 x 256)": {"parameters": 4_747_578, "train_gflop_per_image": 1.9},
    # 17.6 GMACs forward at 224 x 224 (timm): 35.1 GFLOP; training = forward + backward = 3x.
    "ViT-B/16": {"parameters": 86_567_656, "train_gflop_per_image": 3 * 35.1},
}


def all_reduce_seconds(buffer_bytes, gpus, bandwidth, latency):
    if gpus == 1:
        return 0.0
    return 2 * (gpus - 1) / gpus * buffer_bytes / bandwidth + 2 * math.ceil(
        math.log2(gpus)) * latency


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", default="8,64,512", help="job sizes (default 8,64,512)")
    parser.add_argument("--nvlink-gbs", type=float, default=400.0,
                        help="NVLink bandwidth a GPU reaches in an all-reduce, GB/s (default 400: "
                        "H100/H200 NVLink 4 carries 450 GB/s each way)")
    parser.add_argument("--ib-gbs", type=float, default=45.0,
                        help="InfiniBand bandwidth a GPU reaches, GB/s (default 45: one NDR "
                        "400 Gb/s adapter a GPU, 50 GB/s, less protocol)")
    parser.add_argument("--nvlink-latency-us", type=float, default=5.0)
    parser.add_argument("--ib-latency-us", type=float, default=10.0)
    parser.add_argument("--seed-batch", type=int, default=128, help="images a GPU, seed ViT")
    parser.add_argument("--seed-tflops", type=float, default=100.0,
                        help="sustained TF32 TFLOP/s of a GPU on the seed ViT (default 100: a "
                        "fifth of an H100's 494 dense; its 256-wide products are small)")
    parser.add_argument("--vitb-batch", type=int, default=64, help="images a GPU, ViT-B/16")
    parser.add_argument("--vitb-tflops", type=float, default=200.0,
                        help="sustained TF32 TFLOP/s of a GPU on ViT-B/16 (default 200, about "
                        "40%% of an H100's dense peak)")
    args = parser.parse_args()
    gpus = [int(n) for n in args.gpus.split(",")]
    links = [("NVLink", args.nvlink_gbs * 1e9, args.nvlink_latency_us * 1e-6),
             ("InfiniBand", args.ib_gbs * 1e9, args.ib_latency_us * 1e-6)]
    setups = {"seed ViT (6 x 256)": (args.seed_batch, args.seed_tflops),
              "ViT-B/16": (args.vitb_batch, args.vitb_tflops)}

    print("| model | gradients | images a GPU | compute a step | link | GPUs | all-reduce | "
          "efficiency, sav (no overlap) | hidden behind backward (2/3 of the step) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, model in MODELS.items():
        batch, tflops = setups[name]
        buffer_bytes = 4 * model["parameters"]
        compute = batch * model["train_gflop_per_image"] * 1e9 / (tflops * 1e12)
        for link, bandwidth, latency in links:
            for n in gpus:
                comm = all_reduce_seconds(buffer_bytes, n, bandwidth, latency)
                serial = compute / (compute + comm)
                # With buckets, the all-reduce runs during the backward pass (2/3 of the compute);
                # only what does not fit there is exposed.
                exposed = max(0.0, comm - 2 * compute / 3)
                overlapped = compute / (compute + exposed)
                print(f"| {name} | {buffer_bytes / 1e6:.1f} MB | {batch} | {compute * 1e3:.2f} ms | "
                      f"{link} | {n} | {comm * 1e3:.2f} ms | {100 * serial:.0f}% | "
                      f"{100 * overlapped:.0f}% |")
    print()
    print(f"Assumptions: NVLink {args.nvlink_gbs:g} GB/s and {args.nvlink_latency_us:g} us a hop, "
          f"InfiniBand {args.ib_gbs:g} GB/s and {args.ib_latency_us:g} us a hop; seed ViT "
          f"{args.seed_tflops:g} TFLOP/s at {args.seed_batch} images a GPU, ViT-B/16 "
          f"{args.vitb_tflops:g} TFLOP/s at {args.vitb_batch}; FP32 gradients.")


if __name__ == "__main__":
    main()
