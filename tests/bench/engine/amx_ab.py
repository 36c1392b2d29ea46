#!/usr/bin/env python3
"""AMX on vs off on the zoo's int8 models, interleaved in one process (not a ctest test).

    cmake --build --preset ci --target edge_engine_bench
    python3 tests/bench/engine/amx_ab.py [build/ci/tests/bench/engine/edge_engine_bench]

Drives `edge_engine_bench serve` (single thread, Run() wall time) through rounds that
alternate the avx512vnni and amx tiers on each model's fixed input, and prints a Markdown
table of p50 / p90 in us. Only the tier differs between the two columns: amx is avx512vnni
with the int8 GEMMs that AmxPays accepts moved to tiles.
"""
import os
import statistics
import subprocess
import sys

MODELS = ["mlp_anomaly", "sensor_conv1d", "ds_cnn_kws", "resnet8", "mobilenet_v2_block"]
TIERS = ["avx512vnni", "amx"]
ROUNDS, PER_ROUND = 20, 25


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build/ci/tests/bench/engine/edge_engine_bench")
    zoo = os.path.join(root, "tests/models/zoo")
    proc = subprocess.Popen([binary, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(line):
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
        reply = proc.stdout.readline().strip()
        if reply.startswith("error"):
            sys.exit(f"{line}: {reply}")
        return reply

    samples = {}
    for name in MODELS:
        ask(f"load {name} {zoo}/{name}.qdq.onnx")
        for tier in TIERS:
            samples[name, tier] = []
    for _ in range(ROUNDS):
        for name in MODELS:
            for tier in TIERS:
                reply = ask(f"run {name} {tier} {PER_ROUND} {zoo}/{name}.input.npy")
                samples[name, tier] += [int(t) / 1000.0 for t in reply.split()[1:]]
    proc.stdin.write("quit\n")
    proc.stdin.close()
    proc.wait()

    def pct(values, q):
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    print(f"{ROUNDS} interleaved rounds of {PER_ROUND} runs per tier, single thread, us p50 / p90\n")
    print("| model | avx512vnni | amx | amx / avx512vnni (p50) |\n|---|---|---|---|")
    for name in MODELS:
        off, on = samples[name, "avx512vnni"], samples[name, "amx"]
        print(f"| {name} | {pct(off, .5):.1f} / {pct(off, .9):.1f} | {pct(on, .5):.1f} / {pct(on, .9):.1f} "
              f"| {statistics.median(on) / statistics.median(off):.2f} |")


if __name__ == "__main__":
    main()
