"""AXI4 and AXI4-Lite interface signatures (AMBA AXI and ACE Protocol Specification, IHI 0022).

Members carry the specification's signal names without the ``M_AXI_`` prefix (``araddr``,
``rvalid``...), so an exported core has ports ``axi__araddr`` and so on. Both are written from
the manager's side: the VTA core has ``Out(axi4(...))`` (it is the memory manager) and
``In(axi4_lite())`` (it is the control subordinate). Transaction IDs, QoS, regions, locks,
cache and protection attributes are not used: a subordinate sees ID 0, normal non-secure data
accesses, ``INCR`` bursts and full-width beats (``arsize``/``awsize`` = log2 of the data
bytes).
"""

from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

ADDR_WIDTH = 32
DATA_WIDTHS = (64, 128, 256, 512)  # the memory port widths the core supports
MAX_BURST_BEATS = 256  # AXI4 INCR bursts: 1..256 beats (AxLEN + 1)
BOUNDARY_BYTES = 4096  # a burst must not cross a 4 KiB boundary
BURST_INCR = 1  # AxBURST encoding of INCR
RESP_OKAY = 0
RESP_EXOKAY = 1
RESP_SLVERR = 2  # the subordinate failed the access
RESP_DECERR = 3  # no subordinate at the address (from the interconnect)
RESP_NAMES = {RESP_OKAY: "OKAY", RESP_EXOKAY: "EXOKAY", RESP_SLVERR: "SLVERR",
              RESP_DECERR: "DECERR"}
LITE_ADDR_WIDTH = 8
LITE_DATA_WIDTH = 32


def check_data_width(data_width: int) -> None:
    """Raise ValueError unless ``data_width`` is a supported memory port width."""
    if data_width not in DATA_WIDTHS:
        raise ValueError(f"AXI data width must be one of {', '.join(map(str, DATA_WIDTHS))} "
                         f"bits, not {data_width!r}")


def axi4(data_width: int) -> wiring.Signature:
    """Return the signature of an AXI4 manager port with ``data_width``-bit data."""
    check_data_width(data_width)
    return wiring.Signature({
        # write address
        "awaddr": Out(ADDR_WIDTH), "awlen": Out(8), "awsize": Out(3), "awburst": Out(2),
        "awvalid": Out(1), "awready": In(1),
        # write data
        "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wlast": Out(1),
        "wvalid": Out(1), "wready": In(1),
        # write response
        "bresp": In(2), "bvalid": In(1), "bready": Out(1),
        # read address
        "araddr": Out(ADDR_WIDTH), "arlen": Out(8), "arsize": Out(3), "arburst": Out(2),
        "arvalid": Out(1), "arready": In(1),
        # read data
        "rdata": In(data_width), "rresp": In(2), "rlast": In(1),
        "rvalid": In(1), "rready": Out(1),
    })


def axi4_lite() -> wiring.Signature:
    """Return the signature of an AXI4-Lite manager port (32-bit data, 8-bit addresses)."""
    return wiring.Signature({
        "awaddr": Out(LITE_ADDR_WIDTH), "awvalid": Out(1), "awready": In(1),
        "wdata": Out(LITE_DATA_WIDTH), "wstrb": Out(LITE_DATA_WIDTH // 8),
        "wvalid": Out(1), "wready": In(1),
        "bresp": In(2), "bvalid": In(1), "bready": Out(1),
        "araddr": Out(LITE_ADDR_WIDTH), "arvalid": Out(1), "arready": In(1),
        "rdata": In(LITE_DATA_WIDTH), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
    })
