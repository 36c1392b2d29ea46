#!/usr/bin/python3
"""Third held-out set: six small networks a plant operator might ship, none of the zoo's
(tests/models/make_zoo.py) or the earlier held-out sets' (tests/models/make_heldout.py) shapes,
built for measuring (random He-initialised weights, batch norm folded by the export), not trained.

Writes to $HELDOUT_DIR (default /tmp/heldout3): NAME.onnx (fp32), NAME.calib.npy (32
random-normal inputs for `edge-model quantize`), NAME.input.npy (4 other inputs; benchmarks use
the first) and ort_floor.onnx (one Relu: ONNX Runtime's per-call floor), as make_heldout.py.
Usage: /usr/bin/python3 tests/models/make_heldout3.py [NAME...], then for each model
  edge-model quantize NAME.onnx --calibration NAME.calib.npy --quantize-outputs --out NAME.qdq.onnx
The shape arithmetic of the exports (torch.chunk, F.pad, x.shape) is folded into constants
before quantizing, as it was measured (the quantizer of that time refused it; NAME.export.onnx
is the raw export, which quantizes now too).
"""
import os
import sys

import numpy as np
import onnx
import onnx.mapping
import onnx.numpy_helper
import onnx.shape_inference
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_heldout import SE, cbr, main  # noqa: E402  (the shared builder, he_init, cbr, SE)

OUT = os.environ.get("HELDOUT_DIR", "/tmp/heldout3")


def channel_shuffle(x, c, h, w):
    # two groups: [1, 2, c/2, h, w] -> swap the group axes -> [1, c, h, w] (Reshape, 5-D Transpose, Reshape)
    return x.reshape(1, 2, c // 2, h, w).transpose(1, 2).reshape(1, c, h, w)


class ShuffleUnit(nn.Module):
    def __init__(self, cin, cout, stride, hw_out):
        super().__init__()
        self.stride, self.cout, self.hw = stride, cout, hw_out
        half = cout // 2
        if stride == 2:
            self.b1 = nn.Sequential(cbr(cin, cin, 3, 2, 1, groups=cin, act=None), cbr(cin, half, 1))
            b2in = cin
        else:
            self.b1 = None
            b2in = half
        self.b2 = nn.Sequential(cbr(b2in, half, 1), cbr(half, half, 3, stride, 1, groups=half, act=None),
                                cbr(half, half, 1))

    def forward(self, x):
        if self.stride == 2:
            y = torch.cat([self.b1(x), self.b2(x)], 1)
        else:
            a, b = x.chunk(2, dim=1)                             # Split
            y = torch.cat([a, self.b2(b)], 1)
        return channel_shuffle(y, self.cout, self.hw, self.hw)


class ShuffleV2(nn.Module):
    """ShuffleNet-v2 0.5x-ish on a 3 x 96 x 96 crop: channel split, concat, shuffle."""
    shape = (1, 3, 96, 96)
    opset = 13

    def __init__(self):
        super().__init__()
        self.stem = cbr(3, 24, 3, 2, 1)                          # 24 x 48 x 48
        self.pool = nn.MaxPool2d(3, 2, 1)                        # 24 x 24 x 24
        self.s2 = nn.Sequential(ShuffleUnit(24, 48, 2, 12), ShuffleUnit(48, 48, 1, 12),
                                ShuffleUnit(48, 48, 1, 12))     # 48 x 12 x 12
        self.s3 = nn.Sequential(ShuffleUnit(48, 96, 2, 6), ShuffleUnit(96, 96, 1, 6))   # 96 x 6 x 6
        self.head = cbr(96, 192, 1)
        self.fc = nn.Linear(192, 10)

    def forward(self, x):
        x = self.head(self.s3(self.s2(self.pool(self.stem(x)))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


# ---------------------------------------------------------------- 2. GhostNet
class GhostModule(nn.Module):
    def __init__(self, cin, cout, relu=True):
        super().__init__()
        half = cout // 2
        act = nn.ReLU if relu else None
        self.primary = cbr(cin, half, 1, act=act)
        self.cheap = cbr(half, half, 3, 1, 1, groups=half, act=act)

    def forward(self, x):
        y = self.primary(x)
        return torch.cat([y, self.cheap(y)], 1)


class GhostSE(SE):
    gate = staticmethod(F.hardsigmoid)


class GhostBottleneck(nn.Module):
    def __init__(self, cin, mid, cout, stride, se):
        super().__init__()
        self.g1 = GhostModule(cin, mid, True)
        self.dw = cbr(mid, mid, 3, 2, 1, groups=mid, act=None) if stride == 2 else None
        self.se = GhostSE(mid, max(8, mid // 4)) if se else None
        self.g2 = GhostModule(mid, cout, False)
        if stride == 1 and cin == cout:
            self.short = None
        else:
            self.short = nn.Sequential(cbr(cin, cin, 3, stride, 1, groups=cin, act=None), cbr(cin, cout, 1, act=None))

    def forward(self, x):
        y = self.g1(x)
        if self.dw is not None:
            y = self.dw(y)
        if self.se is not None:
            y = self.se(y)
        y = self.g2(y)
        return y + (x if self.short is None else self.short(x))


class GhostNetTiny(nn.Module):
    """GhostNet-style: ghost modules (1x1 conv then a cheap depthwise 3x3, concatenated), SE
    with HardSigmoid, on a 3 x 64 x 64 crop."""
    shape = (1, 3, 64, 64)
    opset = 13

    def __init__(self):
        super().__init__()
        self.stem = cbr(3, 16, 3, 2, 1)                          # 16 x 32 x 32
        self.blocks = nn.Sequential(
            GhostBottleneck(16, 16, 16, 1, False),
            GhostBottleneck(16, 48, 24, 2, False),               # 24 x 16 x 16
            GhostBottleneck(24, 72, 24, 1, False),
            GhostBottleneck(24, 72, 40, 2, True),                # 40 x 8 x 8
            GhostBottleneck(40, 120, 40, 1, True))
        self.head = cbr(40, 160, 1)
        self.fc = nn.Linear(160, 10)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


# ---------------------------------------------------------------- 3. ConvNeXt
class ConvNeXtBlock(nn.Module):
    def __init__(self, c, seed):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, 1, 3, groups=c)
        self.ln = nn.LayerNorm(c, eps=1e-6)
        self.pw1 = nn.Linear(c, 4 * c)
        self.pw2 = nn.Linear(4 * c, c)
        g = torch.Generator().manual_seed(seed)
        self.gamma = nn.Parameter(0.5 + 0.1 * torch.randn(c, generator=g))   # layer scale

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)                       # NHWC
        y = self.pw2(F.gelu(self.pw1(self.ln(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class ChannelsFirstLN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln = nn.LayerNorm(c, eps=1e-6)

    def forward(self, x):
        return self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtTiny(nn.Module):
    """ConvNeXt-ish: 4x4/4 patchify stem, blocks of 7x7 depthwise, LayerNorm over channels
    (NHWC by Transpose), pointwise MLP x4 with GELU (Erf), layer scale; 3 x 64 x 64."""
    shape = (1, 3, 64, 64)
    opset = 17

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 48, 4, 4)                       # 48 x 16 x 16
        self.stem_ln = ChannelsFirstLN(48)
        self.b1 = ConvNeXtBlock(48, 31)
        self.b2 = ConvNeXtBlock(48, 32)
        self.down_ln = ChannelsFirstLN(48)
        self.down = nn.Conv2d(48, 96, 2, 2)                      # 96 x 8 x 8
        self.b3 = ConvNeXtBlock(96, 33)
        self.ln = nn.LayerNorm(96, eps=1e-6)
        self.fc = nn.Linear(96, 10)

    def forward(self, x):
        x = self.b2(self.b1(self.stem_ln(self.stem(x))))
        x = self.b3(self.down(self.down_ln(x)))
        return self.fc(self.ln(x.mean((2, 3))))


# ---------------------------------------------------------------- 4. 1-D causal autoencoder
class CausalConv(nn.Module):
    def __init__(self, cin, cout, k, dilation=1, act=True):
        super().__init__()
        self.left = (k - 1) * dilation
        self.conv = nn.Conv1d(cin, cout, k, 1, 0, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm1d(cout)
        self.act = act

    def forward(self, x):
        y = self.bn(self.conv(F.pad(x, (self.left, 0))))
        return F.relu(y) if self.act else y


class VibCausalAE(nn.Module):
    """Vibration anomaly autoencoder on 1 x 1024 samples: dilated causal convs (left Pad),
    stride-2 downsampling, a 16 x 128 bottleneck, decoder by ConvTranspose1d and a nearest
    Upsample (Resize), reconstruction 1 x 1 x 1024."""
    shape = (1, 1, 1024)
    opset = 13

    def __init__(self):
        super().__init__()
        self.e1 = CausalConv(1, 16, 7)
        self.d1 = cbr(16, 32, 4, 2, 1, dim=1)                    # 32 x 512
        self.e2 = CausalConv(32, 32, 3, 2)
        self.d2 = cbr(32, 64, 4, 2, 1, dim=1)                    # 64 x 256
        self.e3 = CausalConv(64, 64, 3, 4)
        self.d3 = cbr(64, 64, 4, 2, 1, dim=1)                    # 64 x 128
        self.bott = nn.Conv1d(64, 16, 1)                         # 16 x 128
        self.u1 = nn.ConvTranspose1d(16, 64, 4, 2, 1)            # 64 x 256
        self.c1 = CausalConv(64, 64, 3, 2)
        self.c2 = CausalConv(64, 32, 3, 1)                       # after Upsample: 32 x 512
        self.u2 = nn.ConvTranspose1d(32, 16, 4, 2, 1)            # 16 x 1024
        self.out = nn.Conv1d(16, 1, 1)

    def forward(self, x):
        x = self.e1(x)
        x = self.e2(self.d1(x))
        x = self.e3(self.d2(x))
        z = self.bott(self.d3(x))
        y = self.c1(F.relu(self.u1(z)))
        y = self.c2(F.interpolate(y, scale_factor=2.0, mode="nearest"))
        y = F.relu(self.u2(y))
        return self.out(y)


# ---------------------------------------------------------------- 5. KWS with asymmetric kernels
class AsymBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a = cbr(c, c, (1, 7), 1, (0, 3))
        self.b = cbr(c, c, (7, 1), 1, (3, 0), act=None)

    def forward(self, x):
        return F.relu(x + self.b(self.a(x)))


class KwsAsym(nn.Module):
    """Keyword spotting on 49 x 40 MFCC without recurrence: factorised 1x7 / 7x1 convs (strided
    in time and frequency), residual asymmetric blocks, MaxPool, 12 classes."""
    shape = (1, 1, 49, 40)
    opset = 13

    def __init__(self):
        super().__init__()
        self.f = cbr(1, 32, (1, 7), (1, 2), (0, 3))             # 32 x 49 x 20
        self.t = cbr(32, 48, (7, 1), (2, 1), (3, 0))            # 48 x 25 x 20
        self.blocks = nn.Sequential(AsymBlock(48), AsymBlock(48))
        self.pool = nn.MaxPool2d(2, 2)                           # 48 x 12 x 10
        self.mix = cbr(48, 64, 3, 1, 1)
        self.fc = nn.Linear(64, 12)

    def forward(self, x):
        x = self.mix(self.pool(self.blocks(self.t(self.f(x)))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


# ---------------------------------------------------------------- 6. MLP-Mixer
class MixerBlock(nn.Module):
    def __init__(self, tokens, d, tok_hidden, ch_hidden):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.t1 = nn.Linear(tokens, tok_hidden)
        self.t2 = nn.Linear(tok_hidden, tokens)
        self.ln2 = nn.LayerNorm(d)
        self.c1 = nn.Linear(d, ch_hidden)
        self.c2 = nn.Linear(ch_hidden, d)

    def forward(self, x):                                        # x: 1 x tokens x d
        y = self.ln1(x).transpose(1, 2)                          # 1 x d x tokens
        x = x + self.t2(F.gelu(self.t1(y))).transpose(1, 2)
        return x + self.c2(F.gelu(self.c1(self.ln2(x))))


class MlpMixer(nn.Module):
    """MLP-Mixer on a 3 x 32 x 32 crop: 4x4 patches (64 tokens of 64), two mixer blocks (token
    mixing by Transpose + MatMul over the token axis, channel MLP), GELU, mean over tokens."""
    shape = (1, 3, 32, 32)
    opset = 17

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 64, 4, 4)                      # 64 x 8 x 8
        self.blocks = nn.Sequential(MixerBlock(64, 64, 128, 256), MixerBlock(64, 64, 128, 256))
        self.ln = nn.LayerNorm(64)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.patch(x).reshape(1, 64, 64).transpose(1, 2)    # 1 x 64 tokens x 64
        x = self.blocks(x)
        return self.fc(self.ln(x).mean(1))


# ---------------------------------------------------------------- shape arithmetic folded
_FOLDABLE = {"Shape", "Gather", "Add", "Sub", "Mul", "Div", "ConstantOfShape", "Concat", "Reshape",
             "Slice", "Transpose", "Cast", "Unsqueeze", "Squeeze", "Constant"}


def fold_shape_arithmetic(model):
    """What onnx-simplifier does to PyTorch 1.13's exports: the integer subgraphs that compute a
    Slice's starts (torch.chunk: Shape -> Gather -> Add -> Div -> Mul) or a Pad's pads (F.pad:
    ConstantOfShape -> Concat -> Reshape -> Slice -> Transpose -> Reshape -> Cast) evaluated
    here on the static shapes and written as initializers. Only integer results are folded; the
    float graph is untouched. Returns the number of nodes removed."""
    from onnx import numpy_helper, shape_inference
    g = model.graph
    inferred = shape_inference.infer_shapes(model).graph
    shapes = {}
    for vi in list(inferred.value_info) + list(inferred.input) + list(inferred.output):
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        if dims and all(d > 0 for d in dims):
            shapes[vi.name] = dims
    known = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    attrs = lambda n: {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
    folded, keep = [], []
    for n in g.node:
        a = attrs(n)
        ins = [known.get(i) if i else None for i in n.input]
        val = None
        if n.op_type not in _FOLDABLE:
            pass
        elif n.op_type == "Constant":
            val = numpy_helper.to_array(a["value"])
        elif n.op_type == "Shape" and n.input[0] in shapes:
            val = np.array(shapes[n.input[0]], dtype=np.int64)
        elif all(x is not None for x, name in zip(ins, n.input) if name):
            x = ins[0]
            if n.op_type == "Gather":
                val = np.take(x, ins[1], axis=a.get("axis", 0))
            elif n.op_type in ("Add", "Sub", "Mul", "Div") and x.dtype.kind in "iu":
                y = ins[1]
                val = {"Add": lambda: x + y, "Sub": lambda: x - y, "Mul": lambda: x * y,
                       "Div": lambda: np.trunc(x / y).astype(x.dtype)}[n.op_type]()  # toward zero
            elif n.op_type == "ConstantOfShape":
                v = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
                val = np.full(tuple(x), v.reshape(-1)[0], dtype=v.dtype)
            elif n.op_type == "Concat":
                val = np.concatenate([i for i in ins], axis=a["axis"])
            elif n.op_type == "Reshape":
                shape = [x.shape[k] if d == 0 else d for k, d in enumerate(ins[1].tolist())]
                val = x.reshape(shape)
            elif n.op_type == "Slice":
                starts, ends = ins[1], ins[2]
                axes = ins[3] if len(ins) > 3 and ins[3] is not None else np.arange(len(starts))
                steps = ins[4] if len(ins) > 4 and ins[4] is not None else np.ones(len(starts), np.int64)
                idx = [slice(None)] * x.ndim
                for s, e, ax, st in zip(starts, ends, axes, steps):
                    e = None if (st < 0 and e < -x.shape[ax]) else int(e)
                    idx[int(ax)] = slice(int(s), e, int(st))
                val = x[tuple(idx)]
            elif n.op_type == "Transpose":
                val = np.transpose(x, a.get("perm"))
            elif n.op_type == "Cast":
                val = x.astype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[a["to"]])
            elif n.op_type == "Unsqueeze":
                val = np.expand_dims(x, tuple(ins[1].tolist()) if len(ins) > 1 else tuple(a["axes"]))
            elif n.op_type == "Squeeze":
                val = np.squeeze(x, tuple(ins[1].tolist()) if len(ins) > 1 else tuple(a["axes"]))
        if val is not None and val.dtype.kind in "iub":
            known[n.output[0]] = np.asarray(val)
            folded.append(n)
        else:
            keep.append(n)
    if not folded:
        return 0
    used = {i for n in keep for i in n.input} | {o.name for o in g.output}
    new_inits = [t for t in g.initializer if t.name in used]
    have = {t.name for t in new_inits}
    for n in folded:
        o = n.output[0]
        if o in used and o not in have:
            new_inits.append(numpy_helper.from_array(known[o], o))
            have.add(o)
    del g.node[:]
    g.node.extend(keep)
    del g.initializer[:]
    g.initializer.extend(new_inits)
    return len(folded)


MODELS = {
    "shufflev2": (ShuffleV2, 21), "ghostnet_tiny": (GhostNetTiny, 22), "convnext_tiny": (ConvNeXtTiny, 23),
    "vib_causal_ae": (VibCausalAE, 24), "kws_asym": (KwsAsym, 25), "mlp_mixer": (MlpMixer, 26),
}


if __name__ == "__main__":
    # the graphs measured (docs/benchmarks.md) had their shape arithmetic folded: the quantizer
    # of that time refused it (it takes it now; NAME.export.onnx is the raw export)
    main(MODELS, OUT, fold_shape_arithmetic)
