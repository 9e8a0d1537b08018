"""VtaConfig: TVM-VTA's keys, every derived value of hw_spec_const.h, and refusal of bad values."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vtaref.spec import ConfigError, VtaConfig
from vtaref.spec.config import KEY_RANGES


def test_default_is_tvm_default():
    c = VtaConfig()
    assert (c.batch, c.block_in, c.block_out) == (1, 16, 16)
    assert (c.inp_width, c.wgt_width, c.acc_width, c.out_width) == (8, 8, 32, 8)
    assert (c.LOG_UOP_BUFF_SIZE, c.LOG_INP_BUFF_SIZE, c.LOG_WGT_BUFF_SIZE,
            c.LOG_ACC_BUFF_SIZE) == (15, 15, 18, 17)
    assert (c.uop_elem_bytes, c.inp_elem_bytes, c.wgt_elem_bytes, c.acc_elem_bytes,
            c.out_elem_bytes) == (4, 16, 256, 64, 16)
    assert (c.log_uop_buff_depth, c.log_inp_buff_depth, c.log_wgt_buff_depth,
            c.log_acc_buff_depth) == (13, 11, 10, 11)
    assert (c.uop_buff_depth, c.inp_buff_depth, c.wgt_buff_depth, c.acc_buff_depth) == (
        8192, 2048, 1024, 2048)
    assert c.log_out_buff_size == 15
    assert c.name == "1x16_i8w8a32_15_15_18_17"


@pytest.mark.parametrize("key", sorted(KEY_RANGES))
def test_out_of_range_key_is_named_with_its_range(key):
    low, high = KEY_RANGES[key]
    with pytest.raises(ConfigError, match=rf"{key} must be an integer in \[{low}, {high}\]"):
        VtaConfig(**{key: high + 1})
    with pytest.raises(ConfigError, match=key):
        VtaConfig(**{key: "3"})


def test_other_refusals():
    with pytest.raises(ConfigError, match="TARGET"):
        VtaConfig(TARGET="gpu")
    with pytest.raises(ConfigError, match="unknown config key 'LOG_FOO'"):
        VtaConfig.from_dict({"LOG_FOO": 1})
    with pytest.raises(ConfigError, match="LOG_BLOCK_IN must equal LOG_BLOCK"):
        VtaConfig.from_dict({"LOG_BLOCK": 4, "LOG_BLOCK_IN": 3})
    # A 1-bit, 1x1 input element would not fill a byte.
    with pytest.raises(ConfigError, match="whole bytes"):
        VtaConfig(LOG_INP_WIDTH=0, LOG_BATCH=0, LOG_BLOCK=1)
    # A micro-op must fit its 32 bits.
    with pytest.raises(ConfigError, match="micro-op"):
        VtaConfig(LOG_ACC_BUFF_SIZE=20, LOG_INP_BUFF_SIZE=20, LOG_WGT_BUFF_SIZE=20)


def test_from_dict_takes_defaults_unless_complete():
    assert VtaConfig.from_dict({"LOG_BATCH": 1}) == VtaConfig(LOG_BATCH=1)
    with pytest.raises(ConfigError, match="missing config key 'LOG_INP_WIDTH'"):
        VtaConfig.from_dict({"LOG_BATCH": 1}, complete=True)


def test_from_json(tmp_path):
    path = tmp_path / "vta_config.json"
    path.write_text(json.dumps(VtaConfig(LOG_BATCH=1).to_dict()))
    assert VtaConfig.from_json(path) == VtaConfig(LOG_BATCH=1)
    path.write_text(json.dumps({"LOG_BATCH": 1}))
    with pytest.raises(ConfigError, match="missing config key 'LOG_INP_WIDTH'"):
        VtaConfig.from_json(path)
    path.write_text("{ not json")
    with pytest.raises(ConfigError, match="bad JSON at line 1"):
        VtaConfig.from_json(path)


@given(st.fixed_dictionaries({key: st.integers(low - 1, high + 1)
                              for key, (low, high) in KEY_RANGES.items()}))
def test_any_config_is_consistent_or_refused_by_key(values):
    try:
        c = VtaConfig(**values)
    except ConfigError as err:
        assert any(key in str(err) for key in KEY_RANGES) or "micro-op" in str(err)
        return
    # Depth x element size = buffer size, for every scratchpad (hw_spec_const.h identities).
    assert c.inp_buff_depth * c.inp_elem_bytes == 1 << c.LOG_INP_BUFF_SIZE
    assert c.wgt_buff_depth * c.wgt_elem_bytes == 1 << c.LOG_WGT_BUFF_SIZE
    assert c.acc_buff_depth * c.acc_elem_bytes == 1 << c.LOG_ACC_BUFF_SIZE
    assert c.uop_buff_depth * c.uop_elem_bytes == 1 << c.LOG_UOP_BUFF_SIZE
    assert c.out_buff_depth * c.out_elem_bytes == 1 << c.log_out_buff_size
