#!/usr/bin/env bash
# Development script: packs what a GPU session needs to check the device network (cuda_backend::network) and writes
# .gpu/network_check.sh, which runs it all on the GPU machine in one call:
#   1. test_cuda_gpu (the whole GPU-vs-CPU suite, the composed-network cases among them);
#   2. train_images --device cuda on the JSON network of examples/train_images/fashion_mnist_network.json (4 chains
#      of 10k Fashion-MNIST test images, 2 iterations), resumed on the CPU to 4 iterations, then evaluate_energy on the
#      checkpoint with --device cuda and --device cpu and the largest relative difference of the energies;
#   3. bench_cuda_langevin's composed-network rows beside the specialised classes' (--benchmark_filter).
# Usage, from the project root after building build/release with CUDA (cmake --preset release finds nvcc):
#   scripts/gpu_network_check.sh            # packs into .gpu/ (../shared/gpu/pack.sh)
#   then, with the device tool: bash .gpu/on-device.sh bash network_check.sh   (carry [".gpu"])
# Running .gpu/network_check.sh here, without a GPU, exercises its CPU steps and stops at the first --device cuda.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
pack=../shared/gpu/pack.sh
[ -x "$pack" ] || { echo "gpu_network_check.sh: $pack not found (run from the project root of a session)" >&2; exit 2; }
for p in tests/cuda/test_cuda_gpu benchmarks/cuda/bench_cuda_langevin examples/train_images/train_images \
         examples/evaluate_energy/evaluate_energy; do
  [ -x "$build/$p" ] || { echo "gpu_network_check.sh: $build/$p is not built" >&2; exit 2; }
done
rm -rf .gpu
"$pack" "$build" tests/cuda/test_cuda_gpu benchmarks/cuda/bench_cuda_langevin examples/train_images/train_images \
  examples/evaluate_energy/evaluate_energy examples/train_images/small_network.json
# The first 256 test images stand in for the training set (the reader wants the train-* names): what travels must
# stay under 64 MiB, and oneDNN alone is 44 MB.
mkdir -p .gpu/fmnist
python3 - <<'PY'
import gzip, struct
src = "/usr/share/datasets/fashion-mnist/t10k-%s-idx%d-ubyte.gz"
for kind, dims in (("images", 3), ("labels", 1)):
    data = gzip.open(src % (kind, dims)).read()
    header = 4 + 4 * dims
    magic, count = struct.unpack(">II", data[:8])
    item = 1
    for d in struct.unpack(">" + "I" * (dims - 1), data[8:header]):
        item *= d
    keep = 256
    out = data[:4] + struct.pack(">I", keep) + data[8:header] + data[header:header + keep * item]
    with gzip.open(".gpu/fmnist/train-%s-idx%d-ubyte.gz" % (kind, dims), "wb") as f:
        f.write(out)
PY
cat > .gpu/network_check.sh <<'EOF'
#!/usr/bin/env bash
# On the GPU machine, inside .gpu/ (bash on-device.sh bash network_check.sh): see scripts/gpu_network_check.sh.
set -uo pipefail
status=0
step() { echo; echo "== $*"; }
step "test_cuda_gpu"
./test_cuda_gpu || status=1
rm -rf run
args=(--set data.source=fashion_mnist --set data.path=fmnist --set data.image_size=32 --set data.channels=1
      --set data.fit=pad --set model.architecture=network --set model.network=small_network.json
      --set data.limit=64 --set sampler.steps=3 --set training.batch_size=8 --set output.image_every=2
      --set output.checkpoint_every=2 --threads 4)
step "train_images --device cuda (JSON network), 2 iterations"
./train_images --preset short_run "${args[@]}" --set training.iterations=2 --device cuda --output run || status=1
step "train_images --resume --device cpu, to 4 iterations"
./train_images --resume --set training.iterations=4 --device cpu --threads 4 --output run || status=1
python3 - <<'PY' || status=1
import random, struct  # x.npy: 16 states of 1 x 32 x 32 in [-1, 1] (no numpy needed)
random.seed(7)
values = [random.uniform(-1.0, 1.0) for _ in range(16 * 32 * 32)]
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (16, 1, 32, 32), }"
header += " " * (63 - (10 + len(header)) % 64) + "\n"
with open("x.npy", "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + struct.pack("<%df" % len(values), *values))
PY
for device in cuda cpu; do
  step "evaluate_energy --device $device"
  ./evaluate_energy --arch small_network.json --weights run/checkpoint-000000000004.safetensors --input x.npy \
    --energies "u_$device.npy" --gradients "g_$device.npy" --device "$device" || status=1
done
python3 - <<'PY' || status=1
import struct
def load(path):  # a float32 .npy as a flat list
    data = open(path, "rb").read()
    size = struct.unpack("<H", data[8:10])[0]
    body = data[10 + size:]
    return struct.unpack("<%df" % (len(body) // 4), body)
for name in ("u", "g"):
    a, b = load(name + "_cuda.npy"), load(name + "_cpu.npy")
    err = max(abs(p - q) for p, q in zip(a, b)) / max(max(abs(q) for q in b), 1e-30)
    print("%s: max |cuda - cpu| / max |cpu| = %.2e over %d values" % (name, err, len(b)))
    assert len(a) == len(b) and err < 1e-4, name + " differs between the devices"
PY
step "bench_cuda_langevin: composed networks beside the specialised classes"
./bench_cuda_langevin --benchmark_filter='network_steps|convnet_steps/batch:(64|256)/engine:0/tf32:0/graph:1|nonlocal_steps/search:0/tf32:0/graph:1|mlp_steps/graph:1/whole_chain:(0|1)' \
  --benchmark_min_time=0.3s || status=1
echo; echo "network_check.sh: exit $status"
exit $status
EOF
chmod +x .gpu/network_check.sh
du -sh .gpu
echo "packed; run with the device tool: bash .gpu/on-device.sh bash network_check.sh   (carry [\".gpu\"])"
