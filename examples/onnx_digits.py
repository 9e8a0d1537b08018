"""Write the digits CNN as a quantized ONNX model and some test images to run it on.

    python3 examples/onnx_digits.py [DIR]     (default: the current folder)

Trains the float CNN of vtaref.compiler.digits, exports it with onnx.helper, quantizes it with
onnxruntime's quantize_static (QDQ, int8) on 64 training images, and writes DIR/digits.onnx
(for a batch of 8 images) and DIR/digits-input.npy (8 test images, pixels 0..16, float32)
and DIR/digits-labels.npy. Needs the test extra (onnxruntime).
"""

import sys
from pathlib import Path

import numpy as np

from vtaref.compiler import digits
from vtaref.compiler.onnx.samples import digits_layers_onnx, quantize

BATCH = 8

if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y, test_x, test_y = digits.load_split()
    layers = digits.train_cnn(train_x, train_y)
    float_model = digits_layers_onnx(layers, BATCH)
    calibration = [train_x[i:i + BATCH] for i in range(0, 64, BATCH)]
    quantize(float_model, calibration, folder / "digits.onnx")
    np.save(folder / "digits-input.npy", test_x[:BATCH].astype(np.float32))
    np.save(folder / "digits-labels.npy", test_y[:BATCH])
    print(f"wrote {folder / 'digits.onnx'}, {folder / 'digits-input.npy'} and "
          f"{folder / 'digits-labels.npy'}")
