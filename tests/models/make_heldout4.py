#!/usr/bin/python3
"""Fourth held-out set: seven small networks none of the zoo's (tests/models/make_zoo.py) or the
earlier held-out sets' (tests/models/make_heldout.py, tests/models/make_heldout3.py) shapes, built
for measuring (random He-initialised weights, batch norm folded by the export where PyTorch
folds it), not trained.

Unlike make_heldout3.py nothing is pre-folded: NAME.onnx is torch.onnx.export's graph as
written, shape arithmetic (x.size(), F.pad, .view(b, -1)) included.

Writes to $HELDOUT_DIR (default /tmp/heldout4): NAME.onnx (fp32), NAME.calib.npy (32
random-normal inputs for `edge-model quantize`), NAME.input.npy (4 other inputs; benchmarks use
the first) and ort_floor.onnx (one Relu: ONNX Runtime's per-call floor), as make_heldout.py.
Usage: /usr/bin/python3 tests/models/make_heldout4.py [NAME...], then for each model
  edge-model quantize NAME.onnx --calibration NAME.calib.npy --quantize-outputs --out NAME.qdq.onnx
"""
import math
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_heldout import SE, cbr, main  # noqa: E402  (the shared builder, he_init, cbr, SE)

OUT = os.environ.get("HELDOUT_DIR", "/tmp/heldout4")


class UpPad(nn.Module):
    """milesial/Pytorch-UNet's Up: upsample, pad to the skip's size (computed from x.size()),
    concatenate, two 3x3 convs."""

    def __init__(self, cin, cskip, cout):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.c1 = cbr(cin + cskip, cout, 3, 1, 1)
        self.c2 = cbr(cout, cout, 3, 1, 1)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        dy = x2.size()[2] - x1.size()[2]
        dx = x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.c2(self.c1(torch.cat([x2, x1], 1)))


class UNetTiny(nn.Module):
    """Per-pixel 2-class defect map of a 3 x 60 x 80 crop: strided 3x3 (no padding) convs down
    (60x80 -> 29x39 -> 14x19), nearest Upsample up, pads computed from sizes, skip Concat."""
    shape = (1, 3, 60, 80)
    opset = 13

    def __init__(self):
        super().__init__()
        self.e0 = nn.Sequential(cbr(3, 8, 3, 1, 1), cbr(8, 8, 3, 1, 1))              # 8 x 60 x 80
        self.e1 = nn.Sequential(cbr(8, 16, 3, 2, 0), cbr(16, 16, 3, 1, 1))           # 16 x 29 x 39
        self.e2 = nn.Sequential(cbr(16, 32, 3, 2, 0), cbr(32, 32, 3, 1, 1))          # 32 x 14 x 19
        self.u1 = UpPad(32, 16, 16)                                                   # 16 x 29 x 39
        self.u0 = UpPad(16, 8, 8)                                                     # 8 x 60 x 80
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        a = self.e0(x)
        b = self.e1(a)
        c = self.e2(b)
        return self.head(self.u0(self.u1(c, b), a))


# ---------------------------------------------------------------- 2. MobileNetV3-small-ish
def make_div(v, d=8):
    return max(d, int(v + d / 2) // d * d)


class SEHard(SE):
    gate = staticmethod(F.hardsigmoid)

    def __init__(self, c):
        super().__init__(c, make_div(c // 4))


class MBv3Block(nn.Module):
    def __init__(self, cin, k, exp, cout, se, hs, s):
        super().__init__()
        act = nn.Hardswish if hs else nn.ReLU
        self.exp = cbr(cin, exp, 1, act=act) if exp != cin else None
        self.dw = cbr(exp, exp, k, s, k // 2, groups=exp, act=act)
        self.se = SEHard(exp) if se else None
        self.proj = cbr(exp, cout, 1, act=None)
        self.res = s == 1 and cin == cout

    def forward(self, x):
        y = self.exp(x) if self.exp is not None else x
        y = self.dw(y)
        if self.se is not None:
            y = self.se(y)
        y = self.proj(y)
        return x + y if self.res else y


class MBv3Small(nn.Module):
    """MobileNetV3-small's first six bneck blocks on a 3 x 96 x 96 crop: HardSwish, SE with
    HardSigmoid, 5x5 depthwise, stride 2; 1x1 head to 288, HardSwish classifier."""
    shape = (1, 3, 96, 96)
    opset = 14

    def __init__(self):
        super().__init__()
        self.stem = cbr(3, 16, 3, 2, 1, act=nn.Hardswish)                             # 16 x 48 x 48
        spec = [(16, 3, 16, 16, True, False, 2),                                      # 16 x 24 x 24
                (16, 3, 72, 24, False, False, 2),                                     # 24 x 12 x 12
                (24, 3, 88, 24, False, False, 1),
                (24, 5, 96, 40, True, True, 2),                                       # 40 x 6 x 6
                (40, 5, 240, 40, True, True, 1),
                (40, 5, 120, 48, True, True, 1)]                                      # 48 x 6 x 6
        self.blocks = nn.Sequential(*[MBv3Block(*s) for s in spec])
        self.head = cbr(48, 288, 1, act=nn.Hardswish)
        self.fc1 = nn.Linear(288, 256)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc2(F.hardswish(self.fc1(x)))


# ---------------------------------------------------------------- 3. YOLO-style two-head detector
def cbl(cin, cout, k, s=1):
    return cbr(cin, cout, k, s, k // 2, act=lambda: nn.LeakyReLU(0.1))


class YoloTiny2(nn.Module):
    """YOLOv3-tiny-shaped detector on 3 x 128 x 128: conv + MaxPool backbone, ZeroPad2d +
    MaxPool(2, 1), two heads (3 anchors x (5 + 3 classes) = 24 channels) at 8 x 8 and 16 x 16
    (nearest Upsample, Concat with the stride-8 features): two graph outputs."""
    shape = (1, 3, 128, 128)
    opset = 13
    outputs = ["p5", "p4"]

    def __init__(self):
        super().__init__()
        self.b1 = nn.Sequential(cbl(3, 8, 3), nn.MaxPool2d(2, 2),                     # 8 x 64 x 64
                                cbl(8, 16, 3), nn.MaxPool2d(2, 2),                    # 16 x 32 x 32
                                cbl(16, 32, 3), nn.MaxPool2d(2, 2),                   # 32 x 16 x 16
                                cbl(32, 64, 3))                                       # 64 x 16 x 16 (route)
        self.b2 = nn.Sequential(nn.MaxPool2d(2, 2), cbl(64, 128, 3),                  # 128 x 8 x 8
                                nn.ZeroPad2d((0, 1, 0, 1)), nn.MaxPool2d(2, 1),        # 128 x 8 x 8
                                cbl(128, 64, 1))
        self.h5 = nn.Sequential(cbl(64, 128, 3), nn.Conv2d(128, 24, 1))
        self.lat = cbl(64, 32, 1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.h4 = nn.Sequential(cbl(96, 64, 3), nn.Conv2d(64, 24, 1))

    def forward(self, x):
        r = self.b1(x)
        z = self.b2(r)
        p5 = self.h5(z)
        p4 = self.h4(torch.cat([self.up(self.lat(z)), r], 1))
        return p5, p4


# ---------------------------------------------------------------- 4. BC-ResNet KWS
class SubSpectralNorm(nn.Module):
    def __init__(self, c, s):
        super().__init__()
        self.s = s
        self.bn = nn.BatchNorm2d(c * s)

    def forward(self, x):
        b, c, f, t = x.size()
        x = self.bn(x.view(b, c * self.s, f // self.s, t))
        return x.view(b, c, f, t)


class BCBlock(nn.Module):
    """BC-ResNet's broadcasted residual block: frequency-wise depthwise 3x1 + SubSpectralNorm
    (f2), mean over frequency, temporal depthwise 1x3 + BN + ReLU + 1x1 (f1, dropout removed),
    x + f2 + f1 broadcast over frequency, ReLU. A transition block (cin != cout) starts with a
    1x1 conv and strides the frequency axis, and has no identity path."""

    def __init__(self, cin, cout, fstride, sub_bands):
        super().__init__()
        self.trans = cbr(cin, cout, 1) if cin != cout else None
        self.f2 = nn.Conv2d(cout, cout, (3, 1), (fstride, 1), (1, 0), groups=cout, bias=False)
        self.ssn = SubSpectralNorm(cout, sub_bands)
        self.f1 = nn.Sequential(nn.Conv2d(cout, cout, (1, 3), 1, (0, 1), groups=cout, bias=False),
                                nn.BatchNorm2d(cout), nn.ReLU(), nn.Conv2d(cout, cout, 1, bias=False))

    def forward(self, x):
        idt = x
        if self.trans is not None:
            x = self.trans(x)
        y = self.ssn(self.f2(x))
        z = self.f1(y.mean(2, keepdim=True))                                          # [B, C, 1, T]
        out = y + z
        if self.trans is None:
            out = out + idt
        return F.relu(out)


class BCResNetKws(nn.Module):
    """Keyword spotting on 40 log-mel bands x 101 frames (1 s): 5x5 stem strided in frequency,
    BC-ResNet blocks at 32 / 48 / 64 channels (frequency 20 -> 10 -> 5), depthwise 5 x 5 head
    over the remaining bands, 1x1, mean over time, 12 classes."""
    shape = (1, 1, 40, 101)
    opset = 13

    def __init__(self):
        super().__init__()
        self.stem = cbr(1, 32, 5, (2, 1), 2)                                          # 32 x 20 x 101
        self.blocks = nn.Sequential(BCBlock(32, 32, 1, 5), BCBlock(32, 32, 1, 5),
                                    BCBlock(32, 48, 2, 5), BCBlock(48, 48, 1, 5),      # 48 x 10 x 101
                                    BCBlock(48, 64, 2, 5), BCBlock(64, 64, 1, 5))      # 64 x 5 x 101
        self.dwh = nn.Conv2d(64, 64, 5, 1, (0, 2), groups=64, bias=False)             # 64 x 1 x 101
        self.pw = cbr(64, 64, 1)
        self.cls = nn.Conv2d(64, 12, 1)

    def forward(self, x):
        x = self.pw(self.dwh(self.blocks(self.stem(x))))
        x = self.cls(x.mean((2, 3), keepdim=True))
        return x.view(x.size(0), -1)


# ---------------------------------------------------------------- 5. ConvTranspose autoencoder
class ConvTAE(nn.Module):
    """Image anomaly autoencoder on a 3 x 64 x 64 patch: stride-2 convs to 64 x 8 x 8, a 16-channel
    bottleneck, ConvTranspose2d 3x3/2 (output_padding 1) and 4x4/2 up, each with BatchNorm
    (which PyTorch does not fold into a ConvTranspose) and ReLU, Sigmoid reconstruction."""
    shape = (1, 3, 64, 64)
    opset = 13

    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(cbr(3, 16, 3, 2, 1), cbr(16, 32, 3, 2, 1), cbr(32, 64, 3, 2, 1),
                                 nn.Conv2d(64, 16, 1))                                # 16 x 8 x 8
        self.dec = nn.Sequential(
            nn.ConvTranspose2d(16, 64, 3, 2, 1, output_padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),   # 32 x 32 x 32
            cbr(32, 32, 3, 1, 1),
            nn.ConvTranspose2d(32, 3, 4, 2, 1))                                       # 3 x 64 x 64

    def forward(self, x):
        return torch.sigmoid(self.dec(self.enc(x)))


# ---------------------------------------------------------------- 6. raw-audio DS 1-D net
def pad_same_1d(x, k, s):
    """TF 'SAME' padding computed from the traced length (timm's pad_same, 1-D)."""
    n = x.size(-1)
    pad = max((math.ceil(n / s) - 1) * s + k - n, 0)
    return F.pad(x, [pad // 2, pad - pad // 2])


class DSBlock1d(nn.Module):
    def __init__(self, cin, cout, k, s):
        super().__init__()
        self.k, self.s = k, s
        self.dw = cbr(cin, cin, k, s, 0, groups=cin, dim=1)
        self.pw = cbr(cin, cout, 1, dim=1)
        self.res = s == 1 and cin == cout

    def forward(self, x):
        y = self.pw(self.dw(pad_same_1d(x, self.k, self.s)))
        return x + y if self.res else y


class RawAudioDS(nn.Module):
    """1 s of 16 kHz audio (1 x 16000): a 1 -> 32 conv with an 80-tap kernel at stride 8
    (2000 frames), depthwise-separable blocks (9-tap depthwise, TF-SAME padding by F.pad) down to
    128 x 125, global average, 12 classes."""
    shape = (1, 1, 16000)
    opset = 13

    def __init__(self):
        super().__init__()
        self.front = cbr(1, 32, 80, 8, 36, dim=1)                                     # 32 x 2000
        self.blocks = nn.Sequential(DSBlock1d(32, 48, 9, 2), DSBlock1d(48, 64, 9, 2),  # 64 x 500
                                    DSBlock1d(64, 96, 9, 2), DSBlock1d(96, 128, 9, 2), # 128 x 125
                                    DSBlock1d(128, 128, 9, 1))
        self.fc = nn.Linear(128, 12)

    def forward(self, x):
        x = self.blocks(self.front(x))
        return self.fc(x.mean(-1))


# ---------------------------------------------------------------- 7. attention-pooling sensor net
class AttnPoolSensor(nn.Module):
    """9-axis IMU window of 256 samples: Conv1d features (64 x 128), additive attention
    (Linear, Tanh, Linear -> Softmax over time), weighted sum over time by MatMul of two
    activations, x.view(b, -1), two Gemms, 6 activities."""
    shape = (1, 9, 256)
    opset = 13

    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(cbr(9, 32, 5, 1, 2, dim=1), cbr(32, 64, 5, 2, 2, dim=1),
                               cbr(64, 64, 3, 1, 1, dim=1))                            # 64 x 128
        self.w = nn.Linear(64, 32)
        self.v = nn.Linear(32, 1)
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 6)

    def forward(self, x):
        h = self.f(x).transpose(1, 2)                                                  # 1 x 128 x 64
        a = torch.softmax(self.v(torch.tanh(self.w(h))), dim=1)                        # 1 x 128 x 1
        p = torch.matmul(a.transpose(1, 2), h)                                          # 1 x 1 x 64
        p = p.view(p.size(0), -1)
        return self.fc2(F.relu(self.fc1(p)))


MODELS = {
    "unet_tiny": (UNetTiny, 41), "mbv3_small": (MBv3Small, 42), "yolo_tiny2": (YoloTiny2, 43),
    "bcresnet_kws": (BCResNetKws, 44), "convt_ae": (ConvTAE, 45), "raw_audio_ds": (RawAudioDS, 46),
    "attnpool_sensor": (AttnPoolSensor, 47),
}


if __name__ == "__main__":
    main(MODELS, OUT)
