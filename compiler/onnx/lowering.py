"""From :class:`QOp` to a :class:`~vtaref.compiler.graph.Graph`: VTA where it computes the
model's integers exactly, the host (:mod:`.host`, onnxruntime's arithmetic) elsewhere.

On VTA, tensors are the model's integers minus ``Quant.offset``; a convolution or matrix
product absorbs the input zero point into its bias (padding, when the zero point is not VTA's
zero, is added on the host) and requantizes with a per-channel fixed-point multiplier equal to
onnxruntime's float32 scale (:class:`~vtaref.compiler.epilogue.FixedPoint`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from vtaref.spec import VtaConfig

from ..epilogue import FixedPoint, ScaledSum
from ..errors import CompileError
from ..graph import HOST, ON_CPU, Graph, Node
from ..reference import upsample_nearest
from . import host
from .quantized import QOp, Quant
from .reader import Model


@dataclass(frozen=True)
class Placement:
    """Where one ONNX node runs: ``"vta"`` (with the operator) or ``"host"`` (with why)."""

    node: str
    op_type: str
    where: str
    operator: str
    why: str = ""

    def describe(self) -> str:
        place = f"VTA {self.operator}" if self.where == "vta" else f"host ({self.why})"
        return f"{self.node} ({self.op_type}): {place}"


class NotOnVta(Exception):
    """Why an operator cannot run on VTA exactly (it then runs on the host)."""


def multiplier_fixed_point(multiplier: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Return ``(m, k)`` per channel with ``m / 2**k`` equal to each float32 multiplier."""
    ms, ks = [], []
    for value in np.asarray(multiplier, np.float32).reshape(-1):
        mantissa, exponent = np.frexp(np.float64(value))
        m, k = int(mantissa * (1 << 24)), 24 - int(exponent)
        while m % 2 == 0 and k > 1:
            m, k = m // 2, k - 1
        if m < 1 or k < 1:
            raise NotOnVta(f"the requantization multiplier {value} is outside (0, 2**23)")
        ms.append(m)
        ks.append(k)
    return tuple(ms), tuple(ks)


def dense_weights(w: np.ndarray, groups: int) -> np.ndarray:
    """Return the weights ``(O, C, KH, KW)`` of the ordinary convolution that equals the one
    with ``groups`` groups and weights ``w (O, C / groups, KH, KW)``: zero across groups."""
    out, per_group = w.shape[0], w.shape[1]
    full = np.zeros((out, per_group * groups) + w.shape[2:], w.dtype)
    for o in range(out):
        group = o // (out // groups)
        full[o, group * per_group:(group + 1) * per_group] = w[o]
    return full


def scaled_sum(qa: Quant, qb: Quant, out: Quant, config: VtaConfig) -> ScaledSum:
    """Return QLinearAdd on VTA values as ``(a * ma + b * mb + bias) >> k``: ``m / 2**k`` are
    the float32 scale ratios rounded to the accumulator's precision and the zero points are
    folded into ``bias``. It equals onnxruntime's float arithmetic except where that lands
    within about 2**-16 of a rounding boundary (docs/compiler.md §6)."""
    ratios = [Fraction(float(host.scale_ratio(q, out))) for q in (qa, qb)]
    constant = sum((r * (q.offset - int(q.zero_point[0])) for r, q in zip(ratios, (qa, qb))),
                   Fraction(int(out.zero_point[0]) - out.offset))
    limit = 1 << (config.acc_width - 1)
    largest = 1 << (config.inp_width - 1)
    for shift in range(config.acc_width - 2, 0, -1):
        multipliers = tuple(round(r * (1 << shift)) for r in ratios)
        bias = int((constant + Fraction(1, 2)) * (1 << shift) // 1)
        if sum(multipliers) * largest + abs(bias) < limit:
            low, high = out.bounds
            return ScaledSum(multipliers, bias, shift, low - out.offset, high - out.offset)
    raise NotOnVta("the scale ratios do not fit the accumulator")


class Lowering:
    """Builds the graph node by node; ``placements`` says where each ONNX node runs."""

    def __init__(self, model: Model, config: VtaConfig):
        self.model = model
        self.config = config
        self.nodes: list[Node] = []
        self.placements: list[Placement] = []
        self._temporaries = 0
        # Every tensor so far, computed from a zero input on the CPU: their shapes.
        self._zeros = {model.input: np.zeros(model.input_shape, model.input_type)}

    def graph(self, ops: list[QOp]) -> Graph:
        """Return the graph of ``ops`` (in execution order)."""
        for op in ops:
            self.lower(op)
        return Graph(self.model.input, self.model.output, self.nodes,
                     input_shape=self.model.input_shape)

    def lower(self, op: QOp) -> None:
        """Add the nodes of ``op``, on VTA if it can run there, and record where it runs."""
        label = op.node.name or op.node.output[0]
        known = len(self.nodes)
        try:
            operator = self._on_vta(op)
        except NotOnVta as why:
            self._host(op)
            self.placements.append(Placement(label, op.node.op_type, "host", "", str(why)))
        else:
            self.placements.append(Placement(label, op.node.op_type, "vta", operator))
        for node in self.nodes[known:]:
            args, attrs = node.arguments(self._zeros)
            compute = HOST[node.op] if node.op in HOST else functools.partial(
                ON_CPU[node.op], config=self.config)
            try:
                self._zeros[node.output] = compute(*args, **attrs)
            except (ValueError, CompileError) as err:  # shapes that do not fit together
                raise op.fail(f"cannot compute it: {err}") from None

    def _temporary(self, name: str) -> str:
        self._temporaries += 1
        return f"{name}:{self._temporaries}"

    def _call(self, inputs: list[str], output: str, function, **attrs) -> None:
        self.nodes.append(Node("call", tuple(inputs), output,
                               dict(function=functools.partial(function, **attrs))))

    # -- VTA ---------------------------------------------------------------------------------

    def _fixed_point(self, multipliers: np.ndarray, out: Quant) -> FixedPoint:
        """Return the requantization by float32 ``multipliers`` (one per channel) into
        ``out``'s VTA values, or raise NotOnVta if the accumulator cannot hold its steps."""
        ms, ks = multiplier_fixed_point(multipliers)
        low, high = out.bounds
        requant = FixedPoint(ms, ks, int(out.zero_point[0]) - out.offset, low - out.offset,
                             high - out.offset)
        try:
            requant.constants(self.config)
        except CompileError as err:
            raise NotOnVta(str(err)) from None
        return requant

    def _on_vta(self, op: QOp) -> str:
        """Add the VTA nodes of ``op`` and return the operator, or raise NotOnVta."""
        config = self.config
        if (config.inp_width, config.out_width) != (8, 8):
            raise NotOnVta(f"the configuration's activations are {config.inp_width}-bit in "
                           f"and {config.out_width}-bit out, not 8-bit")
        if op.kind in ("Conv", "MatMul", "Gemm"):
            return self._weighted(op)
        if op.kind == "MaxPool":
            return self._max_pool(op)
        if op.kind == "Add":
            return self._add(op)
        if op.kind == "GlobalAveragePool":
            return self._global_average(op)
        if op.kind == "AveragePool":
            return self._average_pool(op)
        if op.kind == "Resize":
            if not op.quant[op.inputs[0]].same_as(op.quant[op.output]):
                raise op.fail("input and output are quantized differently")
            self.nodes.append(Node("upsample_nearest", (op.inputs[0],), op.output,
                                   dict(scale=_nearest_scale(op))))
            return "upsample_nearest"
        if op.kind == "Clip":
            low, high = _clip_bounds(op)
            self.nodes.append(Node("clip", (op.inputs[0],), op.output, dict(low=low, high=high)))
            return "clip"
        if op.kind == "Relu":
            x = op.quant[op.inputs[0]]
            if not x.same_as(op.quant[op.output]):
                raise op.fail("a Relu between differently quantized tensors is not supported")
            if int(x.zero_point[0]) != x.offset:
                raise NotOnVta("the zero point is not VTA's zero")
            self.nodes.append(Node("relu", (op.inputs[0],), op.output))
            return "relu"
        raise NotOnVta(_HOST_ONLY.get(op.kind, "VTA has no instructions for it"))

    def _weighted(self, op: QOp) -> str:
        x, out = op.quant[op.inputs[0]], op.quant[op.output]
        weights, w_quant = op.weight
        attrs = op.attrs
        conv = op.kind == "Conv"
        if conv:
            if any(d != 1 for d in attrs.get("dilations", [1, 1])):
                raise NotOnVta("dilated convolution")
            if weights.ndim != 4:
                raise NotOnVta("only 2D convolutions run on VTA")
            w = weights.astype(np.int64)
        else:
            if self._zeros[op.inputs[0]].ndim != 2:
                raise NotOnVta("a matrix product of more than two dimensions")
            if op.kind == "Gemm" and (attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0
                                      or attrs.get("beta", 1.0) != 1.0):
                raise NotOnVta("Gemm with transA, alpha or beta")
            transposed = op.kind == "Gemm" and attrs.get("transB", 0)
            w = (weights if transposed else weights.T).astype(np.int64)  # (N, K)
        channels = w.shape[0]
        w_zero = np.broadcast_to(w_quant.zero_point, (channels,))
        w = w - w_zero.reshape((-1,) + (1,) * (w.ndim - 1))
        if conv and attrs.get("group", 1) != 1:
            w = dense_weights(w, attrs["group"])
        limit = 1 << (self.config.wgt_width - 1)
        if w.min() < -limit or w.max() >= limit:
            raise NotOnVta(f"weights minus their zero point exceed {self.config.wgt_width} bits")
        sums = w.reshape(channels, -1).sum(axis=1)
        bias = np.zeros(channels, np.int64) if op.bias is None else op.bias.astype(np.int64)
        bias = bias + (x.offset - int(x.zero_point[0])) * sums
        worst = np.abs(w).reshape(channels, -1).sum(axis=1) * 128 + np.abs(bias)
        if worst.max() >= 1 << (self.config.acc_width - 1):
            raise NotOnVta(f"the accumulator could exceed {self.config.acc_width} bits")
        requant = self._fixed_point(
            np.broadcast_to(host.output_multiplier(x, w_quant, out), (channels,)), out)
        source = op.inputs[0]
        if not conv:
            self.nodes.append(Node("dense", (source,), op.output,
                                   dict(w=w, bias=bias, requant=requant)))
            return "dense"
        source, padding = self._padded(op, x)
        self.nodes.append(Node("conv2d", (source,), op.output,
                               dict(w=w, bias=bias, stride=tuple(attrs.get("strides", (1, 1))),
                                    padding=padding, requant=requant)))
        return "conv2d"

    def _add(self, op: QOp) -> str:
        (a, b), out = op.inputs, op.quant[op.output]
        requant = scaled_sum(op.quant[a], op.quant[b], out, self.config)
        self.nodes.append(Node("scaled_add", (a, b), op.output, dict(requant=requant)))
        return "scaled_add"

    def _global_average(self, op: QOp) -> str:
        """QLinearGlobalAveragePool as the sum over H and W, the zero point folded into a bias,
        requantized by the float32 multiplier onnxruntime uses, exactly."""
        x, out = op.quant[op.inputs[0]], op.quant[op.output]
        if op.attrs.get("channels_last", 0):
            raise NotOnVta("channels_last")
        shape = self._zeros[op.inputs[0]].shape
        if len(shape) != 4:
            raise NotOnVta(f"the input has shape {shape}, not (N, C, H, W)")
        channels, area = shape[1], shape[2] * shape[3]
        requant = self._fixed_point(np.full(channels, host.average_multiplier(x, out, area)),
                                    out)
        bias = np.full(channels, area * (x.offset - int(x.zero_point[0])), np.int64)
        sums = self._temporary(op.output)
        self.nodes.append(Node("global_sum", (op.inputs[0],), sums,
                               dict(bias=bias, requant=requant)))
        self._call([sums], op.output, host.reshape, shape=(0, 0, 1, 1))
        return "global_sum"

    def _max_pool(self, op: QOp) -> str:
        kernel, stride, (top, left, bottom, right) = _max_pool_window(op)
        if (top, left) != (bottom, right):
            raise NotOnVta("asymmetric padding")
        self.nodes.append(Node("max_pool2d", (op.inputs[0],), op.output,
                               dict(kernel=kernel, stride=stride, padding=(top, left))))
        return "max_pool2d"

    def _padded(self, op: QOp, x: Quant) -> tuple[str, tuple[int, int]]:
        """Return the tensor a window operator on VTA reads and the padding VTA adds with zeros:
        ``op``'s input and pads, or the input padded on the host with its zero point (when
        that is not VTA's zero, or the pads are asymmetric) and none."""
        top, left, bottom, right = _pads(op)
        if (top, left) == (bottom, right) and (not any((top, left))
                                               or x.zero_point[0] == x.offset):
            return op.inputs[0], (top, left)
        padded = self._temporary(op.output)
        self._call([op.inputs[0]], padded, host.pad, pads=(0, 0, top, left, 0, 0, bottom, right),
                   value=int(x.zero_point[0]) - x.offset)
        return padded, (0, 0)

    def _average_pool(self, op: QOp) -> str:
        """AveragePool as ``avg_pool2d`` rounding halves up, where that is onnxruntime's result:
        an odd window (no mean is a half, so its float32 rounding to nearest lands on the exact
        mean's nearest integer, section 6.2 of docs/compiler.md), input and output quantized
        alike (the zero point then cancels out), padding counted in (``count_include_pad``)."""
        x = op.quant[op.inputs[0]]
        if not x.same_as(op.quant[op.output]):
            raise op.fail("cannot run it: input and output are quantized differently")
        if op.attrs.get("ceil_mode", 0) or any(d != 1 for d in op.attrs.get("dilations", [1, 1])):
            raise op.fail("cannot run it: ceil_mode and dilations are not supported")
        kernel, stride = tuple(op.attrs["kernel_shape"]), tuple(op.attrs.get("strides", (1, 1)))
        area = kernel[0] * kernel[1]
        if area % 2 == 0 or area > MAX_ODD_WINDOW:
            raise op.fail(f"cannot run it: onnxruntime rounds each window's float32 mean to "
                          f"nearest, which is exact only for an odd window of up to "
                          f"{MAX_ODD_WINDOW} positions, not {area} (an even one's halves go "
                          f"either way, docs/compiler.md section 6.2)")
        if any(_pads(op)) and not op.attrs.get("count_include_pad", 0):
            raise op.fail("cannot run it: with padding, count_include_pad=0 divides edge windows "
                          "by fewer positions, which is not supported")
        source, padding = self._padded(op, x)
        self.nodes.append(Node("avg_pool2d", (source,), op.output,
                               dict(kernel=kernel, stride=stride, padding=padding,
                                    rounding="half_up")))
        return "avg_pool2d"

    # -- host --------------------------------------------------------------------------------

    def _host(self, op: QOp) -> None:
        """Add the host node that computes ``op`` as onnxruntime does."""
        q = op.quant
        if op.kind == "Quantize":
            if self.model.input_type.kind == "f":
                self._call(op.inputs, op.output, host.quantize, quant=q[op.output])
            else:
                self._call(op.inputs, op.output, host.to_vta, quant=q[op.output])
        elif op.kind == "Dequantize":
            self._call(op.inputs, op.output, host.dequantize, quant=q[op.inputs[0]])
        elif op.kind == "Requantize":
            self._call(op.inputs, op.output, host.requantize_values, x=q[op.inputs[0]],
                       out=q[op.output])
        elif op.kind in ("Conv", "MatMul", "Gemm"):
            self._host_weighted(op)
        elif op.kind == "Add":
            a, b = op.inputs
            self._call([a, b], op.output, host.add, qa=q[a], qb=q[b], out=q[op.output])
        elif op.kind == "GlobalAveragePool":
            self._call(op.inputs, op.output, host.global_avg_pool, x=q[op.inputs[0]],
                       out=q[op.output])
        elif op.kind == "Relu":
            self._call(op.inputs, op.output, host.relu, x=q[op.inputs[0]])
        elif op.kind == "Clip":
            low, high = _clip_bounds(op)
            self._call(op.inputs, op.output, np.clip, a_min=low, a_max=high)
        elif op.kind == "Concat":
            self._call(op.inputs, op.output, host.concat, quants=[q[i] for i in op.inputs],
                       out=q[op.output], axis=op.attrs.get("axis", 1))
        elif op.kind == "Pad":
            self._pad(op)
        elif op.kind == "MaxPool":
            kernel, stride, pads = _max_pool_window(op)
            self._call(op.inputs, op.output, host.max_pool, kernel=kernel, stride=stride,
                       pads=pads)
        elif op.kind in ("Flatten", "Reshape", "Identity", "Resize"):
            if not q[op.inputs[0]].same_as(q[op.output]):
                raise op.fail("input and output are quantized differently")
            if op.kind == "Resize":
                self._call(op.inputs, op.output, upsample_nearest, scale=_nearest_scale(op),
                           config=self.config)
            else:
                self._reshape(op)
        else:
            raise op.fail(f"cannot run it: {_HOST_ONLY.get(op.kind, 'not supported')}")

    def _host_weighted(self, op: QOp) -> None:
        x, out = op.quant[op.inputs[0]], op.quant[op.output]
        weights, w_quant = op.weight
        multiplier = host.output_multiplier(x, w_quant, out)
        if op.kind == "Conv":
            if any(d != 1 for d in op.attrs.get("dilations", [1, 1])):
                raise op.fail("dilated convolution is not supported")
            self._call(op.inputs, op.output, host.conv2d, w=weights, w_zero=w_quant.zero_point,
                       bias=op.bias, stride=tuple(op.attrs.get("strides", (1, 1))),
                       pads=_pads(op), group=op.attrs.get("group", 1), x=x,
                       multiplier=multiplier, out=out)
            return
        if op.kind == "Gemm" and (op.attrs.get("transA", 0) or op.attrs.get("alpha", 1.0) != 1
                                  or op.attrs.get("beta", 1.0) != 1):
            raise op.fail("Gemm with transA, alpha or beta is not supported")
        transposed = op.kind == "Gemm" and op.attrs.get("transB", 0)
        self._call(op.inputs, op.output, host.dense, w=weights if transposed else weights.T,
                   w_zero=w_quant.zero_point, bias=op.bias, x=x, multiplier=multiplier, out=out)

    def _pad(self, op: QOp) -> None:
        x = op.quant[op.inputs[0]]
        if not x.same_as(op.quant[op.output]):
            raise op.fail("input and output are quantized differently")
        constants = op.attrs["constants"]
        mode = op.attrs.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if 1 not in constants or 3 in constants or mode not in ("constant", "reflect", "edge"):
            raise op.fail("only constant pads on every axis, in constant, reflect or edge mode, "
                          "are supported")
        value = _quantized_constant(constants.get(2, np.zeros((), np.float32)), x)
        self._call(op.inputs, op.output, host.pad, pads=tuple(constants[1]),
                   mode=mode, value=value)

    def _reshape(self, op: QOp) -> None:
        if op.kind == "Flatten":
            self._call(op.inputs, op.output, host.flatten, axis=op.attrs.get("axis", 1))
        elif op.kind == "Reshape":
            shape = op.attrs["constants"].get(1)
            if shape is None:
                raise op.fail("the shape must be a constant")
            self._call(op.inputs, op.output, host.reshape, shape=tuple(shape))
        else:
            self._call(op.inputs, op.output, lambda values: values)


_HOST_ONLY = {
    "Quantize": "float input", "Dequantize": "float output",
    "Requantize": "a dequantization and a quantization in float",
    "Add": "the two inputs' scales need two multipliers",
    "GlobalAveragePool": "VTA's average is not onnxruntime's rounding",
    "Flatten": "data movement", "Reshape": "data movement", "Identity": "data movement",
    "Concat": "data movement, and a requantization in float", "Pad": "data movement",
    "AveragePool": "it maps onto VTA's avg_pool2d only with 8-bit activations",
}
# The largest odd window whose float32 mean onnxruntime rounds as the exact mean: its float32
# error (under 2**-16 * (area + 3) steps) stays far below the 1 / (2 * area) that separates
# any mean from a half (docs/compiler.md section 6.2).
MAX_ODD_WINDOW = 49


def _quantized_constant(value: np.ndarray, quant: Quant) -> int:
    """Return a constant operand as a VTA value: a float one (QDQ) is quantized by ``quant``, an
    integer one (QOperator) already is."""
    if value.dtype.kind == "f":
        return int(host.quantize(value, quant))
    return int(host.to_vta(value, quant))


def _clip_bounds(op: QOp) -> tuple[int, int]:
    """Return a Clip's bounds as VTA values, or fail if it changes the quantization.

    QuantizeLinear is monotonic and gives back the integer of a dequantized value, so quantizing
    the clipped float equals clipping the integer to the quantized bounds.
    """
    x = op.quant[op.inputs[0]]
    if not x.same_as(op.quant[op.output]):
        raise op.fail("a Clip between differently quantized tensors is not supported")
    low, high = (host.to_vta(bound, x) for bound in x.bounds)
    constants = op.attrs["constants"]
    if 1 in constants:
        low = max(low, _quantized_constant(constants[1], x))
    elif "min" in op.attrs:
        low = max(low, _quantized_constant(np.float32(op.attrs["min"]), x))
    if 2 in constants:
        high = min(high, _quantized_constant(constants[2], x))
    elif "max" in op.attrs:
        high = min(high, _quantized_constant(np.float32(op.attrs["max"]), x))
    if low > high:
        raise op.fail(f"the bounds quantize to an empty range [{low}, {high}]")
    return int(low), int(high)


def _nearest_scale(op: QOp) -> tuple[int, int]:
    """Return the integer ``(height, width)`` factors of a Resize that repeats pixels, or fail.

    With integer factors, ``nearest`` sampling repeats each pixel under the default
    ``half_pixel`` coordinates with ``round_prefer_floor`` and under ``asymmetric`` with
    ``floor``.
    """
    def text(name, default):
        value = op.attrs.get(name, default)
        return value.decode() if isinstance(value, bytes) else value

    mode = text("mode", "nearest")
    if mode == "linear":
        raise op.fail("bilinear resizing is not supported: onnxruntime computes it with float32 "
                      "weights, so where the exact value is a half its result goes either way "
                      "(2.1-2.2 % of elements for x2, docs/compiler.md section 6); the native "
                      "upsample_bilinear computes the exact value, halves to even")
    coordinates = text("coordinate_transformation_mode", "half_pixel")
    rounding = text("nearest_mode", "round_prefer_floor")
    if mode != "nearest" or (coordinates, rounding) not in (
            ("half_pixel", "round_prefer_floor"), ("pytorch_half_pixel", "round_prefer_floor"),
            ("asymmetric", "floor")):
        raise op.fail(f"only nearest resizing by integer factors is supported (mode {mode}, "
                      f"{coordinates} coordinates, {rounding})")
    constants = op.attrs["constants"]
    scales = constants.get(2)
    if scales is None or np.size(scales) == 0:
        raise op.fail("give the resize as constant scales")
    scales = np.asarray(scales, np.float64).reshape(-1)
    if len(scales) != 4 or tuple(scales[:2]) != (1, 1) or np.any(scales[2:] != np.round(
            scales[2:])) or np.any(scales[2:] < 1):
        raise op.fail(f"only nearest resizing of H and W by integer factors is supported, "
                      f"not scales {scales.tolist()}")
    return int(scales[2]), int(scales[3])


def _max_pool_window(op: QOp) -> tuple[tuple[int, int], tuple[int, int], tuple[int, ...]]:
    """Return a MaxPool's kernel, stride and pads, or fail for what the importer lacks."""
    if not op.quant[op.inputs[0]].same_as(op.quant[op.output]):
        raise op.fail("input and output are quantized differently")
    if op.attrs.get("ceil_mode", 0) or any(d != 1 for d in op.attrs.get("dilations", [1, 1])):
        raise op.fail("ceil_mode and dilations are not supported")
    if op.attrs.get("storage_order", 0) or len(op.node.output) > 1:
        raise op.fail("indices and storage_order are not supported")
    return (tuple(op.attrs["kernel_shape"]), tuple(op.attrs.get("strides", (1, 1))),
            _pads(op))


def _pads(op: QOp) -> tuple[int, int, int, int]:
    """Return ``(top, left, bottom, right)`` of a 2D window operator, or fail."""
    if op.attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise op.fail("auto_pad is not supported: give explicit pads")
    pads = op.attrs.get("pads", [0, 0, 0, 0])
    if len(pads) != 4:
        raise op.fail("only 2D windows are supported")
    return tuple(int(p) for p in pads)


__all__ = ["Lowering", "NotOnVta", "Placement"]
