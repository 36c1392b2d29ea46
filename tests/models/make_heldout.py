#!/usr/bin/python3
"""Held-out models for the engine's speed targets: nine small networks a plant operator might
bring, none of the zoo's shapes, built for measuring (random He-initialised weights, batch norm
folded by the export), not trained, and not used by tests/run.sh.

Writes to $HELDOUT_DIR (default /tmp/heldout): NAME.onnx (fp32), NAME.calib.npy (32
random-normal inputs for `edge-model quantize`), NAME.input.npy (4 other inputs; benchmarks use
the first) and ort_floor.onnx (one Relu: ONNX Runtime's per-call floor).
Usage: /usr/bin/python3 tests/models/make_heldout.py [NAME...]  (python3-torch, python3-onnx,
python3-numpy from Debian, as make_zoo.py), then for each model
  edge-model quantize NAME.onnx --calibration NAME.calib.npy --quantize-outputs --out NAME.qdq.onnx
How they were timed and what they showed: docs/benchmarks.md, "Held-out models on AVX-512".
"""
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.environ.get("HELDOUT_DIR", "/tmp/heldout")


def he_init(model, seed):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.05)
        elif isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d)):
            # weight [cin, cout / groups, k...]: each output sums cin * k / stride taps
            k = int(np.prod(m.kernel_size))
            s = int(np.prod(m.stride))
            fan_in = m.in_channels // m.groups * k / s
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.05)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            with torch.no_grad():
                m.weight.copy_(1.0 + 0.1 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.05 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.05 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(1.0 + 0.1 * torch.rand(m.running_var.shape, generator=g))
        elif isinstance(m, nn.LayerNorm):
            with torch.no_grad():
                m.weight.copy_(1.0 + 0.1 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.05 * torch.randn(m.bias.shape, generator=g))


def cbr(cin, cout, k, s=1, p=0, act=nn.ReLU, groups=1, dim=2, dilation=1):
    conv = nn.Conv2d if dim == 2 else nn.Conv1d
    bn = nn.BatchNorm2d if dim == 2 else nn.BatchNorm1d
    layers = [conv(cin, cout, k, s, p, dilation=dilation, groups=groups, bias=False), bn(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


# ---------------------------------------------------------------- the six earlier held-out shapes
class Vib1d(nn.Module):
    shape = (1, 1, 2048)
    opset = 13

    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(cbr(1, 16, 16, 4, 6, dim=1), cbr(16, 32, 9, 2, 4, dim=1),
                               cbr(32, 64, 5, 3, 2, dim=1), nn.MaxPool1d(4, 4))
        self.fc = nn.Linear(64, 8)

    def forward(self, x):
        x = self.f(x)
        x = F.adaptive_avg_pool1d(x, 1).flatten(1)
        return self.fc(x)


class Fire(nn.Module):
    def __init__(self, cin, s, e):
        super().__init__()
        self.sq = cbr(cin, s, 1)
        self.e1 = cbr(s, e, 1)
        self.e3 = cbr(s, e, 3, p=1)

    def forward(self, x):
        x = self.sq(x)
        return torch.cat([self.e1(x), self.e3(x)], 1)


class SqueezeFire(nn.Module):
    shape = (1, 3, 64, 64)
    opset = 13

    def __init__(self):
        super().__init__()
        self.stem = cbr(3, 32, 3, 2, 1)
        self.f = nn.Sequential(
            Fire(32, 16, 32), Fire(64, 16, 32), nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(64, 32, 64), Fire(128, 32, 64), nn.MaxPool2d(3, 2, ceil_mode=True))
        self.cls = nn.Conv2d(128, 10, 1)

    def forward(self, x):
        x = self.f(self.stem(x))
        x = F.relu(self.cls(x))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = cbr(cin, cout, 3, stride, 1)
        self.c2 = cbr(cout, cout, 3, 1, 1, act=None)
        self.down = cbr(cin, cout, 1, stride, 0, act=None) if (stride != 1 or cin != cout) else None

    def forward(self, x):
        y = self.c2(self.c1(x))
        return F.relu(y + (self.down(x) if self.down is not None else x))


class Resnet18Stem(nn.Module):
    shape = (1, 3, 96, 96)
    opset = 13

    def __init__(self):
        super().__init__()
        self.stem = cbr(3, 32, 7, 2, 3)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.blocks = nn.Sequential(BasicBlock(32, 32, 1), BasicBlock(32, 64, 2), BasicBlock(64, 64, 1))
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.blocks(self.pool(self.stem(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class SE(nn.Module):
    gate = staticmethod(torch.sigmoid)  # HardSigmoid in the later sets' SE blocks

    def __init__(self, c, r):
        super().__init__()
        self.a = nn.Conv2d(c, r, 1)
        self.b = nn.Conv2d(r, c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.b(F.relu(self.a(s))))


class MBConv(nn.Module):
    def __init__(self, cin, cout, expand, k, stride, act=nn.ReLU6, se=True, se_ratio=0.25):
        super().__init__()
        mid = cin * expand
        self.exp = cbr(cin, mid, 1, act=act)
        self.dw = cbr(mid, mid, k, stride, k // 2, groups=mid, act=act)
        self.se = SE(mid, max(4, int(mid * se_ratio))) if se else None
        self.proj = cbr(mid, cout, 1, act=None)
        self.res = stride == 1 and cin == cout

    def forward(self, x):
        y = self.dw(self.exp(x))
        if self.se is not None:
            y = self.se(y)
        y = self.proj(y)
        return x + y if self.res else y


class MnasSe(nn.Module):
    shape = (1, 3, 57, 57)
    opset = 13

    def __init__(self):
        super().__init__()
        self.stem = cbr(3, 16, 3, 2, 1, act=nn.ReLU6)
        self.blocks = nn.Sequential(MBConv(16, 24, 3, 5, 2), MBConv(24, 24, 3, 5, 1), MBConv(24, 40, 4, 5, 2))
        self.fc = nn.Linear(40, 10)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class MHA(nn.Module):
    """Plain multi-head self-attention written out (MatMul, Reshape, Transpose, Softmax)."""

    def __init__(self, d, heads):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.o = nn.Linear(d, d)

    def forward(self, x):
        t = x.shape[1]
        split = lambda y: y.reshape(1, t, self.h, self.dh).transpose(1, 2)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        a = torch.softmax(torch.matmul(q, k.transpose(2, 3)) * (self.dh ** -0.5), dim=-1)
        y = torch.matmul(a, v).transpose(1, 2).reshape(1, t, self.h * self.dh)
        return self.o(y)


class TemporalAttn(nn.Module):
    shape = (1, 50, 32)
    opset = 17

    def __init__(self):
        super().__init__()
        d = 64
        self.inp = nn.Linear(32, d)
        self.ln1 = nn.LayerNorm(d)
        self.att = MHA(d, 2)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 128)
        self.ff2 = nn.Linear(128, d)
        self.fc = nn.Linear(d, 5)

    def forward(self, x):
        x = self.inp(x)
        x = x + self.att(self.ln1(x))
        x = x + self.ff2(F.relu(self.ff1(self.ln2(x))))
        return self.fc(x.mean(1))


class OddPools(nn.Module):
    shape = (1, 3, 120, 160)
    opset = 13

    def __init__(self):
        super().__init__()
        self.stem = cbr(3, 16, 3, 1, 1)
        self.dil = cbr(16, 16, 3, 3, 2, dilation=2)
        self.mix = cbr(16, 32, 1)
        self.fc = nn.Linear(32, 6)

    def forward(self, x):
        x = self.stem(x)                                      # 16 x 120 x 160
        a = F.avg_pool2d(x, 5, 5)                             # 16 x 24 x 32
        b = F.max_pool2d(x, (15, 10), (15, 10))               # 16 x 8 x 16
        c = self.dil(a)                                       # 16 x 8 x 11
        y = self.mix(torch.cat([b, c], -1))                   # 32 x 8 x 27
        return self.fc(F.adaptive_avg_pool2d(y, 1).flatten(1))


# ---------------------------------------------------------------- three new ones
class EffLiteSwish(nn.Module):
    """EfficientNet-lite style: HardSwish stem/head, MBConv blocks with x*Sigmoid(x) (SiLU written
    out), one with SE, on a 3 x 80 x 112 camera crop (non-square, not a multiple of 32)."""
    shape = (1, 3, 80, 112)
    opset = 14  # HardSwish exists from opset 14

    def __init__(self):
        super().__init__()
        self.stem = cbr(3, 16, 3, 2, 1, act=nn.Hardswish)             # 16 x 40 x 56
        self.b1 = cbr(16, 16, 3, 1, 1, groups=16, act=None)
        self.b1p = cbr(16, 16, 1, act=None)
        self.b2e = cbr(16, 64, 1, act=None)
        self.b2d = cbr(64, 64, 3, 2, 1, groups=64, act=None)           # 64 x 20 x 28
        self.b2p = cbr(64, 24, 1, act=None)
        self.b3e = cbr(24, 96, 1, act=None)
        self.b3d = cbr(96, 96, 5, 1, 2, groups=96, act=None)
        self.b3se = SE(96, 8)
        self.b3p = cbr(96, 24, 1, act=None)
        self.head = cbr(24, 128, 1, act=nn.Hardswish)
        self.fc = nn.Linear(128, 7)

    @staticmethod
    def silu(x):
        return x * torch.sigmoid(x)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.b1p(self.silu(self.b1(x)))
        x = self.b2p(self.silu(self.b2d(self.silu(self.b2e(x)))))
        x = x + self.b3p(self.b3se(self.silu(self.b3d(self.silu(self.b3e(x))))))
        x = self.head(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class SensorStatsPool(nn.Module):
    """6-axis IMU window of 500 samples: 1-D CNN, then statistics pooling over time
    (mean, max, std concatenated; no recurrent layer), two Gemms."""
    shape = (1, 6, 500)
    opset = 13

    def __init__(self):
        super().__init__()
        self.c1 = cbr(6, 32, 7, 1, 3, dim=1)
        self.c2 = cbr(32, 48, 5, 2, 2, dim=1)                 # 250
        self.c3 = cbr(48, 64, 3, 1, 2, dim=1, dilation=2)     # 250
        self.pool = nn.AvgPool1d(2, 2)                        # 125
        self.c4 = cbr(64, 64, 3, 1, 1, dim=1)
        self.fc1 = nn.Linear(192, 64)
        self.fc2 = nn.Linear(64, 8)

    def forward(self, x):
        x = self.c4(self.pool(self.c3(self.c2(self.c1(x)))))
        mean = x.mean(-1)
        mx = x.amax(-1)
        std = torch.sqrt(((x - mean.unsqueeze(-1)) ** 2).mean(-1) + 1e-5)
        y = torch.cat([mean, mx, std], 1)
        return self.fc2(F.relu(self.fc1(y)))


class VitPatchTiny(nn.Module):
    """ViT-tiny block: 6x6 patch embedding of a 3 x 48 x 48 crop (64 tokens of 64), learned
    position embedding, pre-norm 4-head attention, Gelu MLP, mean over tokens."""
    shape = (1, 3, 48, 48)
    opset = 17

    def __init__(self):
        super().__init__()
        d = 64
        self.patch = nn.Conv2d(3, d, 6, 6)
        g = torch.Generator().manual_seed(7)
        self.pos = nn.Parameter(0.02 * torch.randn(1, 64, d, generator=g))
        self.ln1 = nn.LayerNorm(d)
        self.att = MHA(d, 4)
        self.ln2 = nn.LayerNorm(d)
        self.m1 = nn.Linear(d, 128)
        self.m2 = nn.Linear(128, d)
        self.ln3 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 10)

    def forward(self, x):
        x = self.patch(x).reshape(1, 64, 64).transpose(1, 2) + self.pos   # 1 x 64 x 64 (constant shape: the quantizer refuses the Shape/Slice/Concat that flatten(2) exports)
        x = x + self.att(self.ln1(x))
        x = x + self.m2(F.gelu(self.m1(self.ln2(x))))
        return self.fc(self.ln3(x).mean(1))


MODELS = {
    "vib1d": (Vib1d, 1), "squeeze_fire": (SqueezeFire, 2), "resnet18_stem": (Resnet18Stem, 3),
    "mnas_se": (MnasSe, 4), "temporal_attn": (TemporalAttn, 5), "odd_pools": (OddPools, 6),
    "efflite_swish": (EffLiteSwish, 7), "sensor_statspool": (SensorStatsPool, 8),
    "vit_patch_tiny": (VitPatchTiny, 9),
}


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def build(name, models=None, out=None, post_export=None):
    """Exports models[name] (a class with `shape`, `opset` and optionally `outputs`, and its seed)
    to out/NAME.onnx with its calibration and input samples. post_export(model) may rewrite the
    exported graph (make_heldout3.py folds shape arithmetic); the raw export is then kept as
    NAME.export.onnx. A class with several graph inputs lists them as `inputs`, (name, shape, high)
    each instead of `shape`: high None for random-normal floats, else int64 ids in [0, high)
    (their .npy files hold them as float32, as `edge-model run` reads every input); the inputs
    after the first write NAME.INPUT.calib.npy and NAME.INPUT.input.npy."""
    models, out = models or MODELS, out or OUT
    cls, seed = models[name]
    torch.manual_seed(seed)
    m = cls()
    he_init(m, seed)
    m.eval()
    specs = getattr(cls, "inputs", None) or [("x", cls.shape, None)]
    xs = [torch.randn(*s) if high is None else torch.randint(0, high, s) for _, s, high in specs]
    path = os.path.join(out, f"{name}.onnx")
    torch.onnx.export(m, xs[0] if len(xs) == 1 else tuple(xs), path, opset_version=cls.opset,
                      input_names=[n for n, _, _ in specs],
                      output_names=getattr(cls, "outputs", ["y"]), do_constant_folding=True)
    model = onnx.load(path)
    onnx.checker.check_model(model)
    if post_export is not None:
        onnx.save(model, os.path.join(out, f"{name}.export.onnx"))
        post_export(model)
        onnx.checker.check_model(model)
        onnx.save(model, path)
    ops = {}
    for n in model.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    rng = np.random.default_rng(100 + seed)
    firsts = []
    for i, (input_name, s, high) in enumerate(specs):
        draw = ((lambda n: rng.standard_normal((n,) + s[1:])) if high is None else
                (lambda n: rng.integers(0, high, (n,) + s[1:])))
        calib = draw(32).astype(np.float32)
        inp = draw(4).astype(np.float32)
        stem = name if i == 0 else f"{name}.{input_name}"
        np.save(os.path.join(out, f"{stem}.calib.npy"), calib)
        np.save(os.path.join(out, f"{stem}.input.npy"), inp)
        firsts.append(torch.from_numpy(inp[:1]) if high is None else torch.from_numpy(inp[:1]).long())
    with torch.no_grad():
        y = m(*firsts)
    ys = y if isinstance(y, tuple) else (y,)
    shapes = specs[0][1] if len(specs) == 1 else [s for _, s, _ in specs]
    print(f"{name}: opset {cls.opset}, input {shapes}, outputs {[tuple(t.shape) for t in ys]}, "
          f"{n_params(m)} params, {len(model.graph.node)} nodes: "
          + " ".join(f"{k}x{v}" for k, v in sorted(ops.items())))


def build_floor(out=None):
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "floor",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(m, os.path.join(out or OUT, "ort_floor.onnx"))


def main(models=None, out=None, post_export=None):
    out = out or OUT
    os.makedirs(out, exist_ok=True)
    for n in (sys.argv[1:] or (models or MODELS)):
        build(n, models, out, post_export)
    build_floor(out)


if __name__ == "__main__":
    main()
