"""PyTorch reference for `npm run bench -- training` (bench/training.bench.ts starts it).

The same architectures as models/ (CBRs, ResNet-50, Inception-v3, width multiplier),
layer for layer: the same convolutions, padding, batch norms (Inception's without
scale), pools, global average pool and 5-way softmax head, so parameter counts agree.
The same step: batch of random images, softmax output, softmax cross-entropy, Adam 1e-3.
Not a test dependency: the benchmark runs it only when /usr/bin/python3 has torch.

Protocol: one JSON request per stdin line
  {"arch", "size", "width", "batch", "seconds", "threads"}
and one JSON reply per stdout line
  {"imagesPerSec", "steps", "seconds", "cpuSeconds", "threads", "params", "trainingFlops", "torch"}
(or {"error": "..."}). The process stays up between requests, so torch is imported once.
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def scaled(channels, multiplier):
    # models/builder.ts width(): Math.max(1, Math.round(c * m)); Math.round rounds .5 up.
    return max(1, math.floor(channels * multiplier + 0.5))


def tf_same_pads(size, kernel, stride):
    """TensorFlow's "same" padding (before, after) along one axis: the extra pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class MaxPool(nn.Module):
    def __init__(self, kernel, stride, padding):
        super().__init__()
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x):
        if self.padding == "same":
            top, bottom = tf_same_pads(x.shape[2], self.kernel, self.stride)
            left, right = tf_same_pads(x.shape[3], self.kernel, self.stride)
            x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
        return F.max_pool2d(x, self.kernel, self.stride)


class AvgPoolSame3(nn.Module):
    """3x3 stride-1 "same" average pool; TensorFlow leaves the padding out of the mean."""

    def forward(self, x):
        return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


class BatchNorm(nn.Module):
    """Keras BatchNormalization in training mode; scale=False has no gamma (Inception-v3)."""

    def __init__(self, channels, eps=1e-3, scale=True):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels)) if scale else None
        self.beta = nn.Parameter(torch.zeros(channels))
        self.register_buffer("moving_mean", torch.zeros(channels))
        self.register_buffer("moving_var", torch.ones(channels))

    def forward(self, x):
        return F.batch_norm(x, self.moving_mean, self.moving_var, self.gamma, self.beta, True, 0.01, self.eps)


def conv(cin, cout, kernel, stride=1, padding="same", bias=True):
    kernel = (kernel, kernel) if isinstance(kernel, int) else kernel
    # All "same" convolutions in models/ have stride 1, where torch's "same" is TensorFlow's.
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding if padding == "same" else 0, bias=bias)


class Head(nn.Module):
    def __init__(self, channels, outputs=5):
        super().__init__()
        self.dense = nn.Linear(channels, outputs)

    def forward(self, x):
        return F.softmax(self.dense(x.mean(dim=(2, 3))), dim=1)


CBR_CONFIGS = {
    "cbr-larget": (7, [32, 64, 128, 256, 512], False),
    "cbr-largew": (7, [64, 128, 256, 512], True),
    "cbr-small": (7, [32, 64, 128, 256], True),
    "cbr-tiny": (5, [32, 64, 128, 256], True),
}


def cbr(arch, width):
    kernel, channels, pool_after_last = CBR_CONFIGS[arch]
    layers, cin = [], 3
    for i, c in enumerate(channels):
        cout = scaled(c, width)
        layers += [conv(cin, cout, kernel, bias=False), BatchNorm(cout), nn.ReLU()]
        if i < len(channels) - 1 or pool_after_last:
            layers.append(MaxPool(3, 2, "same"))
        cin = cout
    return nn.Sequential(*layers, Head(cin))


RESNET_EPS = 1.001e-5


class Bottleneck(nn.Module):
    def __init__(self, cin, filters, stride, conv_shortcut):
        super().__init__()
        self.shortcut = nn.Sequential(conv(cin, 4 * filters, 1, stride, "valid"), BatchNorm(4 * filters, RESNET_EPS)) if conv_shortcut else None
        self.body = nn.Sequential(
            conv(cin, filters, 1, stride, "valid"), BatchNorm(filters, RESNET_EPS), nn.ReLU(),
            conv(filters, filters, 3), BatchNorm(filters, RESNET_EPS), nn.ReLU(),
            conv(filters, 4 * filters, 1, 1, "valid"), BatchNorm(4 * filters, RESNET_EPS),
        )

    def forward(self, x):
        shortcut = x if self.shortcut is None else self.shortcut(x)
        return F.relu(shortcut + self.body(x))


def resnet50(width, slim=False):
    c1 = scaled(64, width)
    layers = [nn.ZeroPad2d(3), conv(3, c1, 7, 2, "valid"), BatchNorm(c1, RESNET_EPS), nn.ReLU(), nn.ZeroPad2d(1), MaxPool(3, 2, "valid")]
    cin = c1
    for i, (filters, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]):
        f = scaled(filters / 2 if slim and i >= 2 else filters, width)
        for unit in range(1, blocks + 1):
            layers.append(Bottleneck(cin, f, stride if unit == 1 else 1, unit == 1))
            cin = 4 * f
    return nn.Sequential(*layers, Head(cin))


class ConvBn(nn.Sequential):
    """Keras conv2d_bn: conv without bias, batch norm without scale, ReLU."""

    def __init__(self, cin, cout, rows, cols, padding="same", stride=1):
        super().__init__(conv(cin, cout, (rows, cols), stride, padding, bias=False), BatchNorm(cout, scale=False), nn.ReLU())
        self.out = cout


class Branches(nn.Module):
    def __init__(self, branches):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], dim=1)


def chain(cin, specs):
    """ConvBn units in sequence; specs are (filters, rows, cols[, padding, stride])."""
    units = []
    for spec in specs:
        units.append(ConvBn(cin, *spec))
        cin = units[-1].out
    return nn.Sequential(*units), cin


def inception_v3(width):
    w = lambda c: scaled(c, width)
    layers = []
    stem, cin = chain(3, [(w(32), 3, 3, "valid", 2), (w(32), 3, 3, "valid"), (w(64), 3, 3)])
    layers += [stem, MaxPool(3, 2, "valid")]
    stem2, cin = chain(cin, [(w(80), 1, 1, "valid"), (w(192), 3, 3, "valid")])
    layers += [stem2, MaxPool(3, 2, "valid")]

    def mixed(branches):
        nonlocal cin
        built, outs = [], 0
        for b in branches:
            module, out = b(cin)
            built.append(module)
            outs += out
        layers.append(Branches(built))
        cin = outs

    def seq(*specs):
        return lambda c: chain(c, specs)

    def pooled(filters):
        return lambda c: (nn.Sequential(AvgPoolSame3(), ConvBn(c, filters, 1, 1)), filters)

    def max_pooled():
        return lambda c: (MaxPool(3, 2, "valid"), c)

    def split(first, last_filters):
        """A 1x1 (or chain) followed by parallel 1x3 and 3x1 units, concatenated (mixed9/10)."""
        def make(c):
            trunk, t = chain(c, first)
            return nn.Sequential(trunk, Branches([ConvBn(t, last_filters, 1, 3), ConvBn(t, last_filters, 3, 1)])), 2 * last_filters
        return make

    for pool_filters in [32, 64, 64]:
        mixed([seq((w(64), 1, 1)), seq((w(48), 1, 1), (w(64), 5, 5)), seq((w(64), 1, 1), (w(96), 3, 3), (w(96), 3, 3)), pooled(w(pool_filters))])
    mixed([seq((w(384), 3, 3, "valid", 2)), seq((w(64), 1, 1), (w(96), 3, 3), (w(96), 3, 3, "valid", 2)), max_pooled()])
    for mid in [128, 160, 160, 192]:
        m = w(mid)
        mixed([
            seq((w(192), 1, 1)),
            seq((m, 1, 1), (m, 1, 7), (w(192), 7, 1)),
            seq((m, 1, 1), (m, 7, 1), (m, 1, 7), (m, 7, 1), (w(192), 1, 7)),
            pooled(w(192)),
        ])
    mixed([seq((w(192), 1, 1), (w(320), 3, 3, "valid", 2)), seq((w(192), 1, 1), (w(192), 1, 7), (w(192), 7, 1), (w(192), 3, 3, "valid", 2)), max_pooled()])
    for _ in range(2):
        mixed([seq((w(320), 1, 1)), split([(w(384), 1, 1)], w(384)), split([(w(448), 1, 1), (w(384), 3, 3)], w(384)), pooled(w(192))])
    return nn.Sequential(*layers, Head(cin))


def build(arch, width):
    if arch in CBR_CONFIGS:
        return cbr(arch, width)
    if arch in ("resnet50", "resnet50-slim"):
        return resnet50(width, slim=arch == "resnet50-slim")
    if arch == "inception-v3":
        return inception_v3(width)
    raise ValueError(f"unknown arch {arch!r}")


def training_flops(model, size):
    """Per image, as models/count.ts trainingFlopsPerImage: 2 x multiply-adds of every conv and
    dense layer for the forward pass, the same again for the weight gradient, and again for the
    input gradient where the layer's input needs one (not the first conv, whose input is the image)."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        positions = output.shape[2] * output.shape[3] if output.dim() == 4 else 1
        forward = 2 * positions * module.weight.numel()
        total += 2 * forward + (forward if inputs[0].requires_grad else 0)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    model(torch.zeros(2, 3, size, size))  # batch 2: training-mode batch norm refuses one value per channel
    for h in handles:
        h.remove()
    return total


def measure(req):
    torch.set_num_threads(int(req["threads"]))
    torch.manual_seed(1)
    model = build(req["arch"], float(req["width"]))
    model.train()
    batch, size = int(req["batch"]), int(req["size"])
    flops = training_flops(model, size)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    x = torch.randn(batch, 3, size, size)
    y = torch.arange(batch) % 5

    def step():
        optimizer.zero_grad(set_to_none=True)
        # As the TS side: tf.losses.softmaxCrossEntropy on the softmax output.
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        loss.item()

    step()
    step()
    steps, t0, cpu0 = 0, time.perf_counter(), time.process_time()
    while steps < 3 or time.perf_counter() - t0 < float(req["seconds"]):
        step()
        steps += 1
    seconds = time.perf_counter() - t0
    return {
        "imagesPerSec": steps * batch / seconds, "steps": steps, "seconds": seconds,
        "cpuSeconds": time.process_time() - cpu0, "threads": torch.get_num_threads(),
        "params": params, "trainingFlops": flops, "torch": torch.__version__,
    }


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = measure(json.loads(line))
        except Exception as e:  # reported to the benchmark, which prints it and goes on
            reply = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
