#!/usr/bin/python3
"""Writes the recurrent-cell test models of tests/models/recurrent/: ONNX RNN, GRU and LSTM
nodes with the attributes ONNX's own backend cases leave out (reverse and bidirectional cells,
sequence_lens, clip, named activations with alpha/beta, linear_before_reset, input_forget,
peepholes, batch-first layout, states and lengths fed at run time), random weights from a fixed
seed, and each input as NAME.in<k>.npy (float32; integer inputs hold integers). Goldens come
from ONNX Runtime: `node tests/models/ort/golden_io.js tests/models/recurrent NAME.onnx...`
writes NAME.out<k>.npy for every output. ONNX Runtime refuses batch-first cells (layout 1): a
case's NAME_batch_first twin has no goldens. Needs python3-onnx and python3-numpy (dev tools).

    /usr/bin/python3 tests/models/make_recurrent.py && (cd tests/models/recurrent && \\
      node ../ort/golden_io.js . $(ls *.onnx | grep -v _batch_first))
"""
import os
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "recurrent")
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def save_npy(path, a):
    np.save(path, np.ascontiguousarray(a, dtype=np.float32))


def cell(name, op, seq, batch, inp, hidden, *, twin=False, **kw):
    """One recurrent node (write_cell); with `twin`, also NAME_batch_first: the same cell and
    inputs in layout 1, which ONNX Runtime does not run (its outputs are checked against the
    engine's own on NAME, transposed)."""
    write_cell(name, op, seq, batch, inp, hidden, **kw)
    if twin:
        write_cell(name + "_batch_first", op, seq, batch, inp, hidden, layout=1, seed=name, **kw)


def write_cell(name, op, seq, batch, inp, hidden, *, dirs=1, layout=0, lens=None, h0=False, c0=False, peep=False,
               runtime=(), outputs=("Y", "Y_h"), opset=14, seed=None, **attrs):
    """One recurrent node. `runtime` names the optional inputs fed at run time (initial_h,
    initial_c, sequence_lens); the others given are initializers. Random values are drawn in
    layout 0's shapes from `seed` (default: the name), then laid out."""
    rng = np.random.default_rng(zlib.crc32((seed or name).encode()))
    batch_first = (lambda a: a.swapaxes(0, 1)) if layout else (lambda a: a)
    g = GATES[op]
    x_shape = [batch, seq, inp] if layout else [seq, batch, inp]
    state_shape = [batch, dirs, hidden] if layout else [dirs, batch, hidden]
    inits, inputs, feeds = [], [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape)], [
        batch_first(rng.uniform(-1.5, 1.5, [seq, batch, inp]).astype(np.float32))]

    def const(n, a, dtype=TensorProto.FLOAT):
        inits.append(helper.make_tensor(n, dtype, a.shape, a.flatten().tolist()))

    const("W", rng.uniform(-0.6, 0.6, [dirs, g * hidden, inp]).astype(np.float32))
    const("R", rng.uniform(-0.6, 0.6, [dirs, g * hidden, hidden]).astype(np.float32))
    const("B", rng.uniform(-0.4, 0.4, [dirs, 2 * g * hidden]).astype(np.float32))
    names = ["X", "W", "R", "B"]

    def optional(n, value, dtype=TensorProto.FLOAT):
        if value is None:
            names.append("")
            return
        names.append(n)
        if n in runtime:
            inputs.append(helper.make_tensor_value_info(n, dtype, list(value.shape)))
            feeds.append(value.astype(np.float32))
        else:
            const(n, value, dtype)

    optional("sequence_lens", None if lens is None else np.array(lens, dtype=np.int32), TensorProto.INT32)
    state = [dirs, batch, hidden]
    optional("initial_h", batch_first(rng.uniform(-1, 1, state).astype(np.float32)) if h0 else None)
    if op == "LSTM":
        optional("initial_c", batch_first(rng.uniform(-1, 1, state).astype(np.float32)) if c0 else None)
        optional("P", rng.uniform(-0.5, 0.5, [dirs, 3 * hidden]).astype(np.float32) if peep else None)
    while names and names[-1] == "":
        names.pop()
    if dirs == 2:
        attrs.setdefault("direction", "bidirectional")
    if opset >= 14:
        attrs["layout"] = layout
    node = helper.make_node(op, names, list(outputs), name=name, hidden_size=hidden, **attrs)
    y_shape = [batch, seq, dirs, hidden] if layout else [seq, dirs, batch, hidden]
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, y_shape if k == 0 else state_shape)
            for k, o in enumerate(outputs) if o]
    graph = helper.make_graph([node], name, inputs, outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, name + ".onnx"))
    for k, f in enumerate(feeds):
        save_npy(os.path.join(OUT, f"{name}.in{k}.npy"), f)


def main():
    os.makedirs(OUT, exist_ok=True)
    cell("rnn_reverse_leaky", "RNN", 5, 2, 3, 4, h0=True, direction="reverse", activations=["LeakyRelu"],
         activation_alpha=[0.1], clip=2.0)
    cell("rnn_bidir_lens", "RNN", 6, 3, 2, 5, dirs=2, lens=[6, 2, 4], activations=["Tanh", "Affine"],
         activation_alpha=[0.7], activation_beta=[0.2])
    cell("gru_bidir_lens", "GRU", 5, 2, 3, 4, dirs=2, lens=[5, 3], h0=True)
    cell("gru_lbr", "GRU", 6, 2, 4, 8, linear_before_reset=1, h0=True, twin=True)
    cell("gru_reverse_clip", "GRU", 7, 1, 3, 6, direction="reverse", clip=0.8, activations=["HardSigmoid", "Softsign"],
         activation_alpha=[0.3], activation_beta=[0.4], outputs=("", "Y_h"))
    cell("lstm_bidir_peep_clip", "LSTM", 4, 3, 3, 5, dirs=2, lens=[4, 2, 3], h0=True, c0=True, peep=True, clip=1.5,
         outputs=("Y", "Y_h", "Y_c"))
    cell("lstm_input_forget", "LSTM", 5, 2, 2, 3, direction="reverse", input_forget=1, twin=True,
         activations=["Sigmoid", "Tanh", "Softsign"], outputs=("Y", "", "Y_c"))
    cell("lstm_runtime_states", "LSTM", 6, 2, 3, 4, lens=[3, 6], h0=True, c0=True,
         runtime=("initial_h", "initial_c", "sequence_lens"), outputs=("Y", "Y_h", "Y_c"), twin=True)
    cell("gru_opset7", "GRU", 4, 1, 3, 3, h0=True, opset=7)


if __name__ == "__main__":
    main()
