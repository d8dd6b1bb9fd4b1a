"""Rebuilds `tiny-piper.onnx`, a stand-in Piper voice model (<1 KB) for the Piper tests.

It has the inputs and output of a real Piper (VITS) export: `input` [1, N] int64 phoneme ids,
`input_lengths` [1] int64, `scales` [3] float32 -> `output` [1, 1, 1, 256 N] float32, a tone
burst per phoneme id. Run it where the `onnx` package is installed (it is not a dependency):

    python tests/tts/data/make_tiny_piper.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HOP = 256  # output samples per phoneme id
OUT = Path(__file__).with_name("tiny-piper.onnx")


def const(name: str, value: object, dtype: type) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def build() -> onnx.ModelProto:
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    nodes = [
        helper.make_node("Cast", ["input"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["x", "ax2"], ["x3"]),
        helper.make_node("Tile", ["x3", "reps"], ["tiled"]),
        helper.make_node("Reshape", ["tiled", "shape4"], ["ids4"]),
        helper.make_node("Shape", ["ids4"], ["shp"]),
        helper.make_node("ConstantOfShape", ["shp"], ["ones"], value=one),
        helper.make_node("CumSum", ["ones", "ax3"], ["k"]),
        helper.make_node("Mul", ["k", "w"], ["kw"]),
        helper.make_node("Mul", ["ids4", "idw"], ["phase0"]),
        helper.make_node("Add", ["kw", "phase0"], ["phase"]),
        helper.make_node("Sin", ["phase"], ["s"]),
        # Use the other two inputs (times zero), as a real model does.
        helper.make_node("ReduceSum", ["scales"], ["ssum"], keepdims=1),
        helper.make_node("Cast", ["input_lengths"], ["lenf"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["ssum", "lenf"], ["aux"]),
        helper.make_node("Mul", ["aux", "zero"], ["aux0"]),
        helper.make_node("Add", ["s", "aux0"], ["s2"]),
        helper.make_node("Mul", ["s2", "amp"], ["output"]),
    ]
    initializers = [
        const("ax2", [2], np.int64),
        const("reps", [1, 1, HOP], np.int64),
        const("shape4", [1, 1, 1, -1], np.int64),
        const("ax3", 3, np.int64),
        const("w", 2 * np.pi * 440 / 16000, np.float32),
        const("idw", 0.1, np.float32),
        const("zero", 0.0, np.float32),
        const("amp", 0.5, np.float32),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_piper",
        [
            helper.make_tensor_value_info("input", TensorProto.INT64, [1, "n"]),
            helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 1, "t"])],
        initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="parley-tests"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    onnx.save(build(), OUT)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
