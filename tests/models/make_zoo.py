#!/usr/bin/python3
"""Builds the engine's model zoo: small, seeded models shaped like real edge workloads.

Each model is trained for a few seconds on a synthetic, class-conditional task so that its
logits are meaningful (top-1 agreement between fp32 and int8 is then a real signal), exported
to ONNX (fp32), and written with:
  <name>.onnx         the fp32 model
  <name>.calib.npy    calibration inputs for `edge-model quantize` (not evaluation data)
  <name>.eval.npy     held-out inputs for the fp32-vs-int8 top-1 agreement test
  <name>.input.npy    a few fixed inputs for the ONNX Runtime golden outputs
Also writes op_mix.onnx, built by hand with onnx.helper, covering the ops and folds the
torch models do not emit (Pad, BatchNormalization, Clip, HardSwish, LeakyRelu, ...).

Run with Debian's python: /usr/bin/python3 tests/models/make_zoo.py [NAME...]  (needs
python3-torch, python3-onnx, python3-numpy: apt-get install python3-torch python3-onnx
python3-numpy). With names, only those models are written; every model seeds its own
generators, so building a subset gives the same files as building all. build_zoo.sh runs
this, the quantizer and the ORT goldens.
"""
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zoo")


class MlpAnomaly(nn.Module):
    """Vibration features (8 bands x 8 frames) -> 4 machine states."""
    shape = (1, 64)
    classes = 4

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32), nn.Tanh(),
                                 nn.Linear(32, 4))

    def forward(self, x):
        return self.net(x)


class SensorConv1d(nn.Module):
    """Raw 3-axis accelerometer window (128 samples) -> 6 activities."""
    shape = (1, 3, 128)
    classes = 6

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(3, 16, 5, padding=2), nn.BatchNorm1d(16), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(16, 32, 3, stride=2, padding=1), nn.BatchNorm1d(32), nn.ReLU(),
            nn.Conv1d(32, 32, 3, padding=2, dilation=2), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(32, 6)

    def forward(self, x):
        return self.head(self.features(x))


class DsCnnKws(nn.Module):
    """MFCC (49 frames x 10 coefficients) -> 12 keywords; depthwise-separable CNN."""
    shape = (1, 1, 49, 10)
    classes = 12

    def __init__(self, c=32):
        super().__init__()
        layers = [nn.Conv2d(1, c, (10, 4), stride=(2, 2), padding=(5, 1)), nn.BatchNorm2d(c), nn.ReLU()]
        for _ in range(2):
            layers += [nn.Conv2d(c, c, 3, padding=1, groups=c), nn.BatchNorm2d(c), nn.ReLU(),
                       nn.Conv2d(c, c, 1), nn.BatchNorm2d(c), nn.ReLU()]
        layers += [nn.AvgPool2d((25, 5)), nn.Flatten(), nn.Linear(c, 12)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return torch.relu(y + (x if self.short is None else self.short(x)))


class ResNet8(nn.Module):
    """32x32x3 defect-detection image -> 10 classes (CIFAR-style ResNet-8)."""
    shape = (1, 3, 32, 32)
    classes = 10

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.blocks = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 64, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand=4):
        super().__init__()
        hid = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.net = nn.Sequential(
            nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.Hardswish(),
            nn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False), nn.BatchNorm2d(hid), nn.Hardswish(),
            nn.Conv2d(hid, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.net(x)
        return x + y if self.use_res else y


class MobileNetV2Block(nn.Module):
    """32x32x3 image -> 10 classes through MobileNet-v2 inverted residuals with hardswish."""
    shape = (1, 3, 32, 32)
    classes = 10

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish())
        self.blocks = nn.Sequential(InvertedResidual(16, 16, 1), InvertedResidual(16, 24, 2),
                                    InvertedResidual(24, 24, 1))
        self.head = nn.Linear(24, 10)

    def forward(self, x):
        y = self.blocks(self.stem(x))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


# ---- The broader zoo: architectures a plant operator might ship beside the classic CNNs. ----
# Each is exported at opset 13, where torch writes LayerNorm as its decomposition
# (ReduceMean/Sub/Pow/Sqrt/Div/Mul/Add) and GELU through Erf.


class MultiscaleConcat(nn.Module):
    """28x28 RGB inspection patch -> 6 defect classes. Inception-style parallel branches joined
    by Concat at full resolution, a reduction block whose stride-2 conv, average-pool and
    max-pool branches meet at half resolution, and a pyramid of globally pooled features from
    three scales concatenated for the head."""
    shape = (1, 3, 28, 28)
    classes = 6
    train_steps = 300

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1, bias=False), nn.BatchNorm2d(12), nn.ReLU())
        self.b1 = nn.Sequential(nn.Conv2d(12, 8, 1), nn.ReLU())
        self.b3 = nn.Sequential(nn.Conv2d(12, 8, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.bd = nn.Sequential(nn.Conv2d(12, 8, 3, padding=2, dilation=2), nn.ReLU())
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(12, 8, 1), nn.ReLU())
        self.r_conv = nn.Sequential(nn.Conv2d(32, 16, 3, 2, 1), nn.ReLU())
        self.r_avg = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(32, 16, 1), nn.ReLU())
        self.r_max = nn.MaxPool2d(2)
        self.down = nn.Sequential(nn.Conv2d(64, 32, 3, 2, 1), nn.ReLU())
        self.head = nn.Linear(32 + 64 + 32, 6)

    def forward(self, x):
        x = self.stem(x)
        s28 = torch.cat([self.b1(x), self.b3(x), self.bd(x), self.bp(x)], 1)        # 32 x 28 x 28
        s14 = torch.cat([self.r_conv(s28), self.r_avg(s28), self.r_max(s28)], 1)   # 64 x 14 x 14
        s7 = self.down(s14)                                                        # 32 x 7 x 7
        gap = lambda t: torch.flatten(nn.functional.adaptive_avg_pool2d(t, 1), 1)
        return self.head(torch.cat([gap(s28), gap(s14), gap(s7)], 1))


class GatedTcnLayer(nn.Module):
    def __init__(self, c, dilation):
        super().__init__()
        self.filt = nn.Conv1d(c, c, 3, padding=dilation, dilation=dilation)
        self.gate = nn.Conv1d(c, c, 3, padding=dilation, dilation=dilation)
        self.res = nn.Conv1d(c, c, 1)
        self.skip = nn.Conv1d(c, c, 1)

    def forward(self, x):
        z = torch.tanh(self.filt(x)) * torch.sigmoid(self.gate(x))
        return x + self.res(z), self.skip(z)


class GatedTcn(nn.Module):
    """6-channel vibration/current window (100 samples) -> 5 machine states. WaveNet-style
    gated temporal conv net: tanh x sigmoid gates, dilations 1-2-4-8, residual and skip Adds."""
    shape = (1, 6, 100)
    classes = 5

    def __init__(self, c=24):
        super().__init__()
        self.inp = nn.Conv1d(6, c, 1)
        self.layers = nn.ModuleList([GatedTcnLayer(c, d) for d in (1, 2, 4, 8)])
        self.out = nn.Sequential(nn.ReLU(), nn.Conv1d(c, c, 1), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(c, 5)

    def forward(self, x):
        x = self.inp(x)
        skip = None
        for layer in self.layers:
            x, s = layer(x)
            skip = s if skip is None else skip + s
        return self.head(self.out(skip))


class TinyTransformer(nn.Module):
    """20 frames x 12 features (e.g. a spectrogram slice) -> 6 classes. One pre-norm transformer
    block: two-head self-attention (Q.K^T and attention.V are MatMuls of two activations,
    Softmax), a GELU MLP, LayerNorm, then mean over the tokens."""
    shape = (1, 20, 12)
    classes = 6
    train_steps = 200

    def __init__(self, d=32, heads=2):
        super().__init__()
        self.t, self.h, self.dh = 20, heads, d // heads
        self.embed = nn.Linear(12, d)
        self.pos = nn.Parameter(torch.randn(1, 20, d) * 0.1)
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.head = nn.Linear(d, 6)

    def heads(self, x):
        return x.reshape(-1, self.t, self.h, self.dh).transpose(1, 2)  # [B, H, T, dh]

    def forward(self, x):
        x = self.embed(x) + self.pos
        y = self.ln1(x)
        q, k, v = self.heads(self.q(y)), self.heads(self.k(y)), self.heads(self.v(y))
        att = torch.softmax(torch.matmul(q, k.transpose(2, 3)) * (self.dh ** -0.5), dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(-1, self.t, self.h * self.dh)
        x = x + self.o(y)
        x = x + self.mlp(self.ln2(x))
        return self.head(self.ln3(x).mean(dim=1))


class WideMlpSoftmax(nn.Module):
    """96 spectral bins -> probabilities over 8 fault classes: a wide MLP with a Softmax head
    (the model's output is the probability vector, as a plant dashboard would consume it)."""
    shape = (1, 96)
    classes = 8
    outputs_probabilities = True
    output_name = "probs"

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(96, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                                 nn.Linear(256, 8), nn.Softmax(dim=1))

    def forward(self, x):
        return self.net(x)


class ReshapeReduce(nn.Module):
    """8 sensors x 48 samples -> 4 states, by framing and reducing: Reshape into 6 frames of 8,
    Transpose frames first, a per-frame projection (MatMul), then ReduceMax / ReduceMean over
    the projected bins and a ReduceSum energy over the sensors, concatenated and flattened."""
    shape = (1, 8, 48)
    classes = 4

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 16)
        self.head = nn.Linear(6 * (8 + 8 + 16), 4)

    def forward(self, x):
        f = x.reshape(-1, 8, 6, 8).permute(0, 2, 1, 3)          # [B, frames 6, sensors 8, samples 8]
        z = torch.relu(self.proj(f))                             # [B, 6, 8, 16]
        peak = z.amax(dim=3)                                     # [B, 6, 8]
        mean = z.mean(dim=3)                                     # [B, 6, 8]
        energy = (z * z).sum(dim=2) * 0.125                      # [B, 6, 16]
        feat = torch.cat([peak, mean, energy], 2).transpose(1, 2)  # [B, 32, 6]
        return self.head(torch.flatten(feat, 1))


class OddStrides(nn.Module):
    """61x45 two-channel thermal/depth patch (odd sizes) -> 5 classes, with non-square
    kernels, unequal strides, a dilated strided depthwise conv and asymmetric pooling."""
    shape = (1, 2, 61, 45)
    classes = 5

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(2, 12, (5, 3), stride=(3, 2), padding=(2, 1), bias=False), nn.BatchNorm2d(12), nn.ReLU(),  # 21x23
            nn.Conv2d(12, 12, 3, stride=2, padding=2, dilation=2, groups=12), nn.ReLU6(),                       # 11x12
            nn.Conv2d(12, 24, (3, 3), stride=(1, 3), padding=(1, 0)), nn.ReLU(),                                # 11x4
            nn.MaxPool2d((3, 2), stride=(2, 1)),                                                                # 5x3
            nn.Conv2d(24, 32, 1), nn.ReLU(), nn.AvgPool2d((5, 3)), nn.Flatten())
        self.head = nn.Linear(32, 5)

    def forward(self, x):
        return self.head(self.net(x))


MODELS = {
    "mlp_anomaly": (MlpAnomaly, 13),
    "sensor_conv1d": (SensorConv1d, 13),
    "ds_cnn_kws": (DsCnnKws, 13),
    "resnet8": (ResNet8, 13),
    "mobilenet_v2_block": (MobileNetV2Block, 14),  # opset 14 exports HardSwish natively
    "multiscale_concat": (MultiscaleConcat, 13),
    "gated_tcn": (GatedTcn, 13),
    "tiny_transformer": (TinyTransformer, 13),
    "wide_mlp_softmax": (WideMlpSoftmax, 13),
    "reshape_reduce": (ReshapeReduce, 13),
    "odd_strides": (OddStrides, 13),
}


def synthetic(model_cls, count, gen, prototypes):
    """Class-conditional data: a per-class prototype pattern plus noise."""
    labels = torch.randint(0, model_cls.classes, (count,), generator=gen)
    noise = torch.randn((count,) + model_cls.shape[1:], generator=gen)
    x = prototypes[labels] * 1.0 + 0.8 * noise
    return x, labels


def train(model, model_cls, gen, prototypes, steps=120):
    steps = getattr(model_cls, "train_steps", steps)
    probabilities = getattr(model_cls, "outputs_probabilities", False)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        x, y = synthetic(model_cls, 32, gen, prototypes)
        out = model(x)
        # A model whose output is already a probability vector trains on its log.
        loss = (nn.functional.nll_loss(torch.log(out + 1e-9), y) if probabilities
                else nn.functional.cross_entropy(out, y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        x, y = synthetic(model_cls, 256, gen, prototypes)
        acc = (model(x).argmax(1) == y).float().mean().item()
    return acc


def save(name, array):
    np.save(os.path.join(OUT, name), np.ascontiguousarray(array, dtype=np.float32))


def build_torch_models(only=None):
    for name, (cls, opset) in MODELS.items():
        if only and name not in only:
            continue
        torch.manual_seed(1234)
        gen = torch.Generator().manual_seed(4321)
        prototypes = torch.randn((cls.classes,) + cls.shape[1:], generator=gen)
        model = cls()
        acc = train(model, cls, gen, prototypes)
        dummy = torch.zeros(cls.shape)
        path = os.path.join(OUT, name + ".onnx")
        torch.onnx.export(model, dummy, path, opset_version=opset, input_names=["input"],
                          output_names=[getattr(cls, "output_name", "logits")], do_constant_folding=True)
        calib, _ = synthetic(cls, 32, gen, prototypes)
        evals, _ = synthetic(cls, 100, gen, prototypes)
        fixed, _ = synthetic(cls, 4, gen, prototypes)
        save(name + ".calib.npy", calib.numpy())
        save(name + ".eval.npy", evals.numpy())
        save(name + ".input.npy", fixed.numpy())
        print(f"{name}: synthetic-task accuracy {acc:.3f}, {os.path.getsize(path)} bytes")


def build_op_mix():
    """Hand-built graph exercising folds and ops the torch exports do not produce."""
    rng = np.random.default_rng(7)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)
    inits = [
        numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], dtype=np.int64), "pads"),
        numpy_helper.from_array(f(8, 4, 3, 3) * 0.3, "w1"),
        numpy_helper.from_array(f(8) * 0.1, "b1"),
        numpy_helper.from_array(np.abs(f(8)) + 0.5, "bn_scale"),
        numpy_helper.from_array(f(8) * 0.1, "bn_bias"),
        numpy_helper.from_array(f(8) * 0.1, "bn_mean"),
        numpy_helper.from_array(np.abs(f(8)) + 0.5, "bn_var"),
        numpy_helper.from_array(np.array(-1.0, dtype=np.float32), "clip_lo"),
        numpy_helper.from_array(np.array(4.0, dtype=np.float32), "clip_hi"),
        numpy_helper.from_array(np.array([1, 8 * 4 * 4], dtype=np.int64), "flat_shape"),
        numpy_helper.from_array(f(128, 16) * 0.1, "w_mm"),
        numpy_helper.from_array(f(16) * 0.1, "b_mm"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axes1"),
        numpy_helper.from_array(f(8, 1, 3, 3) * 0.5, "w_dw"),
    ]
    const_node = helper.make_node("Constant", [], ["two"], value=numpy_helper.from_array(
        np.array(2, dtype=np.int64), "two_v"))
    nodes = [
        helper.make_node("Identity", ["input"], ["x0"]),
        helper.make_node("Pad", ["x0", "pads"], ["xp"], mode="constant"),
        helper.make_node("Conv", ["xp", "w1", "b1"], ["c1"], kernel_shape=[3, 3], strides=[1, 1]),
        helper.make_node("BatchNormalization", ["c1", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["bn1"]),
        helper.make_node("Clip", ["bn1", "clip_lo", "clip_hi"], ["r1"]),
        helper.make_node("Conv", ["r1", "w_dw"], ["dw"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         group=8, dilations=[1, 1], strides=[2, 2]),
        helper.make_node("HardSwish", ["dw"], ["hs"]),
        helper.make_node("LeakyRelu", ["hs"], ["lr"], alpha=0.1),
        helper.make_node("AveragePool", ["lr"], ["ap"], kernel_shape=[2, 2], strides=[1, 1],
                         pads=[0, 0, 1, 1], count_include_pad=0),
        helper.make_node("MaxPool", ["ap"], ["mp"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Transpose", ["mp"], ["tp"], perm=[0, 1, 3, 2]),
        helper.make_node("Sigmoid", ["tp"], ["sg"]),
        helper.make_node("Mul", ["tp", "sg"], ["swish"]),
        helper.make_node("Concat", ["swish", "tp"], ["cat"], axis=1),
        helper.make_node("ReduceMean", ["cat"], ["rm"], axes=[2, 3], keepdims=1),
        helper.make_node("Squeeze", ["rm", "squeeze_axes"], ["sq"]),
        const_node,
        helper.make_node("Cast", ["two"], ["two_f"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["mp", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w_mm"], ["mm"]),
        helper.make_node("Add", ["mm", "b_mm"], ["mmb"]),
        helper.make_node("HardSigmoid", ["mmb"], ["hsg"], alpha=0.2, beta=0.5),
        helper.make_node("Tanh", ["sq"], ["th"]),
        helper.make_node("Concat", ["hsg", "th"], ["feat"], axis=1),
        helper.make_node("Mul", ["feat", "two_f"], ["feat2"]),
        helper.make_node("Unsqueeze", ["feat2", "axes1"], ["us"]),
        helper.make_node("Softmax", ["us"], ["sm"], axis=-1),
        helper.make_node("Flatten", ["sm"], ["probs"], axis=1),
    ]
    inits.append(numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "squeeze_axes"))
    graph = helper.make_graph(
        nodes, "op_mix",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 16, 16])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 32])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, "op_mix.onnx"))
    save("op_mix.calib.npy", rng.standard_normal((32, 1, 4, 16, 16)).reshape(32, 1, 4, 16, 16)[:, 0])
    save("op_mix.eval.npy", rng.standard_normal((100, 4, 16, 16)))
    save("op_mix.input.npy", rng.standard_normal((4, 4, 16, 16)))
    print("op_mix: written")


def build_ort_floor():
    """One Relu on 4 floats: ONNX Runtime's per-call overhead through node, for the benchmark."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["input"], ["output"])], "ort_floor",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.save(model, os.path.join(OUT, "ort_floor.onnx"))
    save("ort_floor.input.npy", np.ones((1, 1, 4), dtype=np.float32))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    only = set(sys.argv[1:])
    build_torch_models(only)
    if not only or "op_mix" in only:
        build_op_mix()
    if not only or "ort_floor" in only:
        build_ort_floor()
