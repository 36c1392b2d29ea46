#!/usr/bin/python3
"""Seventh held-out set: recurrent sensor models, the shapes the engine refused before it ran
RNN, GRU and LSTM (held-out set 6's gru_ae is the third). Random weights (PyTorch's uniform
initialisation of the cells, seeded; he_init for the Linear heads), not trained; torch.onnx.export's
graph as written.

lstm2_pm: predictive maintenance on 50 steps of 6 sensor channels (1 x 50 x 6, batch first), a
two-layer LSTM of hidden 64 (two LSTM nodes: PyTorch exports one per layer), the last step's state
through a Linear to 3 classes. bigru_cls: 40 steps of 16 features through a bidirectional GRU of
hidden 48 (linear_before_reset 1, as PyTorch exports it), the mean over time, a Linear to 5.

Writes to $HELDOUT_DIR (default /tmp/heldout7) as make_heldout.py: NAME.onnx, NAME.calib.npy,
NAME.input.npy and ort_floor.onnx. The quantizer leaves the cells float (no int8 form; ONNX
Runtime's static QDQ quantizer neither), so the QDQ model runs them float between a
DequantizeLinear and a QuantizeLinear.
Usage: /usr/bin/python3 tests/models/make_heldout7.py [NAME...], then for each model
  edge-model quantize NAME.onnx --calibration NAME.calib.npy --quantize-outputs --out NAME.qdq.onnx
"""
import os
import sys

import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_heldout import main  # noqa: E402  (the shared builder)

OUT = os.environ.get("HELDOUT_DIR", "/tmp/heldout7")


class Lstm2Pm(nn.Module):
    shape, opset = (1, 50, 6), 14

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(6, 64, num_layers=2, batch_first=True)
        self.fc = nn.Linear(64, 3)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


class BiGruCls(nn.Module):
    shape, opset = (1, 40, 16), 14

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(16, 48, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(96, 5)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y.mean(1))


MODELS = {"lstm2_pm": (Lstm2Pm, 71), "bigru_cls": (BiGruCls, 72)}


if __name__ == "__main__":
    main(MODELS, OUT)
