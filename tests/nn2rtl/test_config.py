import pytest

from nn2rtl.config import AUTO, Config, Strategy
from nn2rtl.errors import ConfigError, PrecisionError
from nn2rtl.fixed import FixedType


def test_defaults_equal_hls4ml():
    lc = Config().layer(["fc1"], "Dense")
    assert lc.weight == lc.bias == lc.result == lc.accum == FixedType(16, 6)
    assert lc.reuse_factor == 1 and lc.strategy is Strategy.LATENCY


def test_precedence_layer_name_over_type_over_model():
    cfg = Config.from_dict({
        "Model": {"Precision": {"default": "fixed<12,4>", "accum": "fixed<20,8>"}, "ReuseFactor": 1},
        "LayerType": {"Dense": {"Precision": {"weight": "fixed<8,2>"}}},
        "LayerName": {"fc1": {"Precision": {"weight": "fixed<6,1>", "accum": "auto"}}},
    })
    fc1, fc2 = cfg.layer(["fc1"], "Dense"), cfg.layer(["fc2"], "Dense")
    assert fc1.weight == FixedType(6, 1) and fc1.accum == AUTO and fc1.result == FixedType(12, 4)
    assert fc2.weight == FixedType(8, 2) and fc2.accum == FixedType(20, 8)
    assert cfg.layer(["r"], "Relu").result == FixedType(12, 4)


def test_string_precision_for_a_layer_sets_all_its_variables():
    cfg = Config.from_dict({"LayerName": {"fc1": {"Precision": "fixed<10,3>"}}})
    lc = cfg.layer(["fc1"], "Dense")
    assert lc.weight == lc.accum == lc.result == FixedType(10, 3)


def test_yaml_file(tmp_path):
    p = tmp_path / "c.yml"
    p.write_text("Model:\n  Precision: fixed<8,3,RND,SAT>\n  Strategy: latency\n")
    cfg = Config.load(p)
    assert cfg.precision["default"] == FixedType.parse("fixed<8,3,RND,SAT>")


@pytest.mark.parametrize("d, exc, fragment", [
    ({"Modle": {}}, ConfigError, "unknown key 'Modle'"),
    ({"Model": {"Precision": "fixed<16,x>"}}, PrecisionError, "Model.Precision"),
    ({"Model": {"ReuseFactor": 0}}, ConfigError, "positive integer"),
    ({"Model": {"AdderLevelsPerStage": 0}}, ConfigError, "AdderLevelsPerStage must be a positive integer"),
    ({"LayerType": {"Dense": {"AdderLevelsPerStage": "2"}}}, ConfigError, "LayerType.Dense.AdderLevelsPerStage"),
    ({"Model": {"Strategy": "Fast"}}, ConfigError, "'Latency', 'Resource' or 'distributed_arithmetic', not 'Fast'"),
    ({"Model": {"IOType": "io_streaming"}}, ConfigError, "io_parallel, io_stream"),
    ({"Model": {"FlowControl": "elastic"}}, ConfigError,
     "Model.FlowControl must be one of stall, fifo, skid, not 'elastic'"),
    ({"Model": {"DSP": "xilinx"}}, ConfigError, "Model.DSP must be one of inferred, ecp5, not 'xilinx'"),
    ({"Model": {"ElementsPerBeat": 0}}, ConfigError, "ElementsPerBeat"),
    ({"Model": {"ClockPeriod": "5ns"}}, ConfigError, "ClockPeriod"),
    ({"LayerName": {"fc1": {"Precision": {"wieght": "fixed<8,2>"}}}}, ConfigError, "unknown precision variable"),
    ({"LayerName": {"fc1": {"Reuse": 2}}}, ConfigError, "LayerName.fc1: unknown key 'Reuse'"),
])
def test_errors(d, exc, fragment):
    with pytest.raises(exc, match=fragment):
        Config.from_dict(d)


def test_unknown_layer_names_are_reported():
    cfg = Config.from_dict({"LayerName": {"fc9": {"Precision": "fixed<8,2>"}}})
    with pytest.raises(ConfigError, match="LayerName.fc9: no layer or input of that name; the model has: fc1, x"):
        cfg.check_names({"fc1", "x"}, {"Dense"})


def test_bad_yaml(tmp_path):
    p = tmp_path / "c.yml"
    p.write_text("Model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Config.load(p)


def test_reuse_strategy_and_pipelining_resolve_per_layer():
    cfg = Config.from_dict({"Model": {"ReuseFactor": 3, "AdderLevelsPerStage": 4},
                            "LayerType": {"Dense": {"Strategy": "resource"}},
                            "LayerName": {"fc2": {"ReuseFactor": 7, "AdderLevelsPerStage": 1}}})
    fc1, fc2 = cfg.layer(["fc1"], "Dense"), cfg.layer(["fc2"], "Dense")
    assert (fc1.reuse_factor, fc1.levels_per_stage, fc1.strategy) == (3, 4, Strategy.RESOURCE)
    assert (fc2.reuse_factor, fc2.levels_per_stage, fc2.strategy) == (7, 1, Strategy.RESOURCE)
    cli = cfg.with_overrides(reuse_factor=5, strategy="Latency", levels_per_stage=2)
    assert cli.layer(["fc1"], "Dense").reuse_factor == 5 and cli.layer(["fc2"], "Dense").reuse_factor == 7
    assert cli.layer(["fc1"], "Dense").levels_per_stage == 2
    with pytest.raises(ConfigError, match="--strategy: Strategy must be"):
        cfg.with_overrides(strategy="fast")
