#!/usr/bin/env bash
# Builds the payload for bench/gpu-check.sh: a bare x86-64 GPU machine with a Vulkan driver
# but no Node.js or npm gets this node binary and the project with the node_modules the
# check needs (only linux-x64 dawn.node; no duckdb, typescript, sharp, vega, tfjs-node-gpu),
# plus this machine's Vulkan loader (libvulkan.so.1) in case the box has none.
#   bash bench/gpu-payload.sh [out dir, default dist/gpu-check]  -> node.xz, project.tar.xz, gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-dist/gpu-check}")
[ "$(uname -m)" = x86_64 ] || { echo "gpu-payload.sh: builds an x86-64 payload; this machine is $(uname -m)" >&2; exit 1; }
[ -f node_modules/webgpu/dist/linux-x64/dawn.node ] || { echo "gpu-payload.sh: node_modules/webgpu/dist/linux-x64/dawn.node is missing; run npm ci first" >&2; exit 1; }
rm -rf "$out" && mkdir -p "$out"
stage=$(mktemp -d) && trap 'rm -rf "$stage"' EXIT

xz -T2 -6 -c "$(readlink -f "$(command -v node)")" > "$out/node.xz"

loader=$(ldconfig -p | sed -n 's/.*libvulkan\.so\.1 (libc6,x86-64) => //p' | head -1)
mkdir -p "$stage/.vulkan"
if [ -n "$loader" ]; then cp -L "$loader" "$stage/.vulkan/libvulkan.so.1"; else echo "gpu-payload.sh: no libvulkan.so.1 here; the GPU box must have its own Vulkan loader" >&2; fi

# The project's own files (tracked and untracked but not ignored) and node_modules without what the check never loads.
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -C "$stage" -xf -
tar -cf - \
  --exclude='node_modules/.cache' --exclude='node_modules/@duckdb' --exclude='node_modules/typescript' \
  --exclude='node_modules/sharp' --exclude='node_modules/@img' --exclude='node_modules/vega' --exclude='node_modules/vega-*' \
  --exclude='node_modules/@tensorflow/tfjs-node-gpu' --exclude='node_modules/@tensorflow/tfjs-node' --exclude='node_modules/fast-check' --exclude='node_modules/@types' \
  --exclude='*.map' --exclude='*.d.ts' --exclude='*.d.mts' --exclude='*.d.cts' \
  --exclude='node_modules/webgpu/dist/darwin-*' --exclude='node_modules/webgpu/dist/win32-*' --exclude='node_modules/webgpu/dist/linux-arm64' \
  node_modules | tar -C "$stage" -xf -
tar -C "$stage" -cf - . | xz -T2 -6 > "$out/project.tar.xz"
cp bench/gpu-check.sh "$out/gpu-check.sh"

total=$(du -cb "$out"/* | tail -1 | cut -f1)
ls -l "$out"
echo "payload $out: $(( total / 1024 / 1024 )) MiB ($total bytes) in all"
[ "$total" -lt $(( 64 * 1024 * 1024 )) ] || { echo "gpu-payload.sh: the payload is over 64 MiB" >&2; exit 1; }
