"""`slicevlm serve`'s command line follows the conventions of `slicevlm ask`: the same device names and
voxel cap, negative window centres without `=`, typed values, one-line errors for options that parse
but cannot work."""

from __future__ import annotations

import pytest

pytest.importorskip("litserve", reason="the server needs the `serve` extra")

from slicevlm.errors import ConfigError  # noqa: E402
from slicevlm.inference.cli import ModelOptions, ask_main  # noqa: E402
from slicevlm.serve.server import build_parser, main, pin_cuda_device  # noqa: E402
from slicevlm.serve.server_limits import ServerLimits  # noqa: E402


def _parse(*argv: str):
    from slicevlm.command_line import join_negative_values

    parser = build_parser()
    return parser.parse_args(join_negative_values(parser, ["--checkpoint", "ckpt", *argv]))


def test_serve_and_ask_share_device_names_and_the_voxel_cap() -> None:
    for device in ("auto", "cpu", "cuda", "cuda:1"):
        assert _parse("--device", device).device == device
    assert ServerLimits().max_voxels == ModelOptions(checkpoint="x").max_voxels


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "cuda:-1", "tpu"])
def test_bad_device_names_are_usage_errors_in_serve_and_ask(bad: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as serve_exit:
        _parse("--device", bad)
    assert serve_exit.value.code == 2 and "cuda:N" in capsys.readouterr().err
    with pytest.raises(SystemExit) as ask_exit:
        ask_main(["scan.npy", "Which plane?", "--checkpoint", "ckpt", "--device", bad])
    assert ask_exit.value.code == 2 and "cuda:N" in capsys.readouterr().err


def test_preprocessing_options_come_from_the_one_declaration_and_take_a_negative_centre() -> None:
    from slicevlm.io.recipe import RECIPE_CHOICES, overrides_from_fields
    from slicevlm.serve.uploads import FORM_FIELDS

    import dataclasses

    from slicevlm.inference.cli import PreprocessingOptions

    assert [option.name for option in dataclasses.fields(PreprocessingOptions)] == [choice.name for choice in RECIPE_CHOICES]
    flags = {option for action in build_parser()._actions for option in action.option_strings}
    for choice in RECIPE_CHOICES:  # the server's options, its form fields and ask's options: one list
        assert choice.flag in flags and choice.name in FORM_FIELDS
    args = _parse("--window", "-600,1500", "--slice-spacing", "2.5", "--depth", "spacing")
    overrides = overrides_from_fields({choice.name: getattr(args, choice.name) for choice in RECIPE_CHOICES})
    assert overrides == {"window": "-600,1500", "depth": "spacing", "slice_spacing_mm": 2.5}
    with pytest.raises(ConfigError, match="slice_spacing"):
        overrides_from_fields({"slice_spacing": "thick"})


def test_an_option_that_cannot_work_is_one_line(tmp_path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--checkpoint", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.startswith("slicevlm serve: error: ") and err.count("\n") == 1 and "usage:" not in err, err


def test_cuda_n_narrows_the_visible_gpus(monkeypatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    pin_cuda_device("cuda:2")
    import os

    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    pin_cuda_device("cuda:1")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "6"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    with pytest.raises(ConfigError, match="no GPU 2"):
        pin_cuda_device("cuda:2")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    pin_cuda_device("cuda")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "4,6"
