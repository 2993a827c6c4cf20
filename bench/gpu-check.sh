#!/usr/bin/env bash
# The GPU check for a bare x86-64 machine with a Vulkan driver but no Node.js or npm. Put
# this script beside node.xz and project.tar.xz (bench/gpu-payload.sh builds all three) and
# run it. Within 8 minutes it runs, on the webgpu backend: the webgpu gradient checks
# (test/ml/webgpu.test.ts), the training benchmark for CBR-Small, ResNet-50 and Inception-v3
# at 224 px, batch 32, and one paper-shaped fine-tune (ResNet-50, 224 px, batch 32, Adam) for
# 200 steps; it prints img/s and GFLOP/s.
#   bash gpu-check.sh [--quick]     --quick: toy sizes, for testing the script on a CPU Vulkan (lavapipe)
# Environment: GPU_CHECK_DIR (where to unpack, default /tmp/transfusion-gpu-check),
# GPU_CHECK_SOFTWARE=1 to accept a software adapter (lavapipe) without --quick,
# GPU_CHECK_CARRIED_LOADER=1 to use the payload's libvulkan.so.1 even where the machine has one.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
quick=0; [ "${1:-}" = --quick ] && quick=1
work=${GPU_CHECK_DIR:-/tmp/transfusion-gpu-check}
deadline=$(( $(date +%s) + 480 ))
left() { echo $(( deadline - $(date +%s) )); }
step() { echo; echo "== $* ($(left) s left)"; }

step "unpacking into $work"
rm -rf "$work" && mkdir -p "$work/bin" "$work/project" || exit 1
xz -dc "$here/node.xz" > "$work/bin/node" && chmod +x "$work/bin/node" || { echo "gpu-check: cannot unpack node.xz" >&2; exit 1; }
xz -dc "$here/project.tar.xz" | tar -C "$work/project" -xf - || { echo "gpu-check: cannot unpack project.tar.xz" >&2; exit 1; }
export PATH="$work/bin:$PATH"
cd "$work/project" || exit 1
echo "node $(node --version) on $(uname -srm); $(nproc) CPUs"

# The Vulkan loader: the machine's own if it has one, else the one carried in the payload.
if [ "${GPU_CHECK_CARRIED_LOADER:-0}" = 1 ] || ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
  echo "using the payload's Vulkan loader (libvulkan.so.1)"
  export LD_LIBRARY_PATH="$work/project/.vulkan${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# NVIDIA containers often ship the driver's libGLX_nvidia without its Vulkan ICD manifest.
icds=$(ls /etc/vulkan/icd.d/*.json /usr/share/vulkan/icd.d/*.json 2>/dev/null)
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && ! grep -qs nvidia $icds /dev/null && ldconfig -p 2>/dev/null | grep -q libGLX_nvidia.so.0; then
  printf '{"file_format_version":"1.0.1","ICD":{"library_path":"libGLX_nvidia.so.0","api_version":"1.3"}}\n' > "$work/nvidia_icd.json"
  export VK_DRIVER_FILES="$work/nvidia_icd.json"
  echo "NVIDIA driver without a Vulkan ICD manifest: using $VK_DRIVER_FILES"
fi
echo "Vulkan ICD manifests: ${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-$(echo $icds)}}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
[ -r /proc/driver/nvidia/version ] && head -1 /proc/driver/nvidia/version

step "adapter"
{ [ "$quick" = 1 ] || [ "${GPU_CHECK_SOFTWARE:-0}" = 1 ]; } && export GPU_CHECK_ACCEPT_SOFTWARE=1
node --import tsx -e '
  const { probeWebgpuAdapter } = await import("./ml/webgpu-probe.ts")
  const { describeAdapter } = await import("./ml/backend-names.ts")
  const p = probeWebgpuAdapter()
  if (!("adapter" in p)) { console.log(`webgpu unavailable: ${p.unavailable}`); process.exit(2) }
  console.log(`adapter ${describeAdapter(p.adapter)}`)
  if (p.adapter.software && process.env.GPU_CHECK_ACCEPT_SOFTWARE !== "1") { console.log("a software adapter, not a GPU (pass --quick or GPU_CHECK_SOFTWARE=1 to go on)"); process.exit(3) }
' 2>&1 | grep -v '^Warning: maxDynamic'
status=${PIPESTATUS[0]}
[ "$status" = 0 ] || exit "$status"

failed=0
run() { # seconds, label, command...
  local limit=$1 label=$2; shift 2
  [ "$limit" -gt "$(left)" ] && limit=$(left)
  if [ "$limit" -le 5 ]; then echo "gpu-check: no time left for $label"; failed=1; return; fi
  step "$label (limit ${limit} s)"
  timeout -k 5 "$limit" "$@" 2>&1 | grep -v -e '^Warning: maxDynamic' -e 'tfjs-node for more details' -e '^=*$' -e '^$'
  local rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || { echo "gpu-check: $label failed (exit $rc$([ "$rc" = 124 ] && echo ', timed out'))"; failed=1; }
}

if [ "$quick" = 1 ]; then
  run 150 "webgpu gradient checks" node --import tsx test/run.ts ml/webgpu
  run 120 "training benchmark (quick: 32 px, batch 8)" node --import tsx bench/run.ts training --backend webgpu --models cbr-small:32 --batch 8 --seconds 2
  run 120 "fine-tune (quick: ResNet-50 x0.125, 32 px, batch 8, 4 steps)" node --import tsx bench/gpu-finetune.ts --backend webgpu --steps 4 --size 32 --batch 8 --width 0.125
else
  run 120 "webgpu gradient checks" node --import tsx test/run.ts ml/webgpu
  run 200 "training benchmark (224 px, batch 32)" node --import tsx bench/run.ts training --backend webgpu --models cbr-small:224,resnet50:224,inception-v3:224 --batch 32 --seconds 10
  run 240 "paper-shaped fine-tune (ResNet-50, 224 px, batch 32, 200 steps)" node --import tsx bench/gpu-finetune.ts --backend webgpu --steps 200 --size 224 --batch 32
fi
echo
echo "gpu-check: $([ "$failed" = 0 ] && echo "all steps passed" || echo "some steps failed (see above)"), $(( 480 - $(left) )) s"
exit "$failed"
