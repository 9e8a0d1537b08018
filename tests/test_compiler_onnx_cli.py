"""`vta compile` and `vta infer` on quantized ONNX models, and the one-line errors for models the
importer cannot take (nothing is written then)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from click.testing import CliRunner

from vtaref.cli import main
from vtaref.compiler.onnx.samples import quantize, residual_onnx

SHAPE = (1, 3, 8, 8)


def vta(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The residual net in float and quantized (QDQ, per-channel, uint8), and an input."""
    folder = tmp_path_factory.mktemp("models")
    rng = np.random.default_rng(0)
    float_model = residual_onnx()
    onnx.save(float_model, folder / "float.onnx")
    calibration = [rng.standard_normal(SHAPE).astype(np.float32) for _ in range(4)]
    quantize(float_model, calibration, folder / "int8.onnx", per_channel=True,
             activations="uint8")
    np.save(folder / "input.npy", rng.standard_normal(SHAPE).astype(np.float32))
    return folder


def test_infer_writes_what_onnxruntime_returns(models, tmp_path):
    result = vta("infer", models / "int8.onnx", models / "input.npy", "-o", tmp_path / "y.npy")
    assert result.exit_code == 0, result.output
    assert "10 of 13 operators on spec" in result.output
    session = ort.InferenceSession(str(models / "int8.onnx"))
    want = session.run(None, {"x": np.load(models / "input.npy")})[0]
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), want)


def test_compile_saves_programs_that_conform_replays(models, tmp_path):
    result = vta("compile", models / "int8.onnx", "--save", tmp_path / "programs")
    assert result.exit_code == 0, result.output
    assert "QDQ model, input (1, 3, 8, 8) float32: 13 operators, 10 on VTA" in result.output
    assert "10 programs" in result.output
    folders = sorted(p.name for p in (tmp_path / "programs").iterdir())
    assert len(folders) == 10 and "1_conv2d" in folders and "4_scaled_add" in folders
    replay = vta("conform", tmp_path / "programs")
    assert replay.exit_code == 0 and "10 passed, 0 failed" in replay.output


def _edited(models, tmp_path, edit) -> str:
    model = onnx.load(models / "int8.onnx")
    edit(model)
    path = tmp_path / "bad.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def _opset(version):
    def edit(model):
        model.opset_import[0].version = version
    return edit


def _dynamic(model):
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"


def _missing_initializer(model):
    weight = next(i for i in model.graph.initializer if i.name.endswith("w_quantized"))
    model.graph.initializer.remove(weight)


def _unsupported(model):
    model.graph.node.append(onnx.helper.make_node("Softmax", ["y"], ["probabilities"]))
    model.graph.output[0].name = "probabilities"


def _impossible_reshape(model):
    flatten = next(node for node in model.graph.node if node.op_type == "Flatten")
    flatten.op_type = "Reshape"
    del flatten.attribute[:]
    flatten.input.append("bad_shape")
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.array([7, -1, 5]),
                                                                "bad_shape"))


BAD_MODELS = {
    "float": (lambda models, tmp: models / "float.onnx", "a float model (no QuantizeLinear"),
    "opset too old": (lambda m, t: _edited(m, t, _opset(9)), "opset 9 is not supported"),
    "opset too new": (lambda m, t: _edited(m, t, _opset(30)), "opset 30 is not supported"),
    "dynamic shape": (lambda m, t: _edited(m, t, _dynamic), "dynamic dimension 0 ('N')"),
    "missing initializer": (lambda m, t: _edited(m, t, _missing_initializer),
                            "is neither an initializer"),
    "unsupported operator": (lambda m, t: _edited(m, t, _unsupported),
                             "(Softmax): operator not supported in a quantized model"),
    "impossible reshape": (lambda m, t: _edited(m, t, _impossible_reshape),
                           "(Reshape): cannot compute it: cannot reshape array of size 16"),
    "missing file": (lambda m, t: t / "nothing.onnx", "no such file"),
}


@pytest.mark.parametrize("command", ["compile", "infer"])
@pytest.mark.parametrize("case", BAD_MODELS.values(), ids=BAD_MODELS.keys())
def test_a_bad_model_is_one_line_and_writes_nothing(models, tmp_path, case, command):
    make, message = case
    path = make(models, tmp_path)
    out = tmp_path / "out"
    if command == "compile":
        result = vta("compile", path, "--save", out)
    else:
        result = vta("infer", path, models / "input.npy", "-o", out)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vta: error: ") and message in lines[0], lines
    assert not out.exists()


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.5, 0.8, 0.99])
def test_a_truncated_file_is_one_line(models, tmp_path, fraction):
    data = (models / "int8.onnx").read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[:int(len(data) * fraction)])
    result = vta("infer", path, models / "input.npy", "-o", tmp_path / "y.npy")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"vta: error: {path}: "), lines
    assert not (tmp_path / "y.npy").exists()


def test_infer_checks_the_input(models, tmp_path):
    np.save(tmp_path / "wrong.npy", np.zeros((2, 3, 8, 8), np.float32))
    result = vta("infer", models / "int8.onnx", tmp_path / "wrong.npy", "-o", tmp_path / "y")
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("shape (2, 3, 8, 8), but the model takes (1, 3, 8, 8)")
    assert not (tmp_path / "y").exists()


def test_the_readme_example_runs(tmp_path):
    """examples/onnx_digits.py writes the model the README's ONNX example compiles and runs."""
    script = Path(__file__).parents[1] / "examples" / "onnx_digits.py"
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True, capture_output=True)
    result = vta("infer", tmp_path / "digits.onnx", tmp_path / "digits-input.npy", "-o",
                 tmp_path / "logits.npy")
    assert result.exit_code == 0, result.output
    logits = np.load(tmp_path / "logits.npy")
    session = ort.InferenceSession(str(tmp_path / "digits.onnx"))
    np.testing.assert_array_equal(
        logits, session.run(None, {"x": np.load(tmp_path / "digits-input.npy")})[0])
    assert (logits.argmax(axis=1) == np.load(tmp_path / "digits-labels.npy")).mean() >= 0.75
