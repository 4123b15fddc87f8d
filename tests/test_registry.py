"""Method registry, method options, and the reference methods."""

from __future__ import annotations

import logging
import sys
import textwrap

import numpy as np
import pytest

from amg_bench.errors import MethodError
from amg_bench.methods.base import GenerationRequest, Method
from amg_bench.methods.config import load_config, parse_method_args, resolve_options
from amg_bench.methods.reference import Avatar, FolderMethod, GroundTruth
from amg_bench.methods.registry import available_methods, get_method, resolve_method_class
from amg_bench.video import read_video, write_video


class Echo(Method):
    """A method defined here, reached as ``test_registry:Echo``."""

    name = "echo"

    def __init__(self, scale: int = 1) -> None:
        self._options = {"scale": scale}

    def generate(self, request):
        return request.condition


class NotAMethod:
    pass


def test_builtin_names_resolve_without_importing_other_methods():
    assert {"ground-truth", "avatar", "amg"} <= set(available_methods())
    before = set(sys.modules)
    available_methods()
    assert not {m for m in set(sys.modules) - before if m.startswith("amg_bench.methods.")}
    assert isinstance(get_method("ground-truth"), GroundTruth)
    assert get_method("ground-truth").requires == frozenset({"video"})
    assert isinstance(get_method("avatar"), Avatar)
    assert get_method("avatar").requires == frozenset({"condition"})


def test_builtin_without_options_refuses_options():
    with pytest.raises(MethodError, match="takes no options"):
        get_method("ground-truth", steps=3)


def test_module_class_and_its_options():
    method = get_method("test_registry:Echo", scale=3)
    assert isinstance(method, Echo) and method.options() == {"scale": 3}
    with pytest.raises(MethodError, match="bad options for method 'test_registry:Echo'"):
        get_method("test_registry:Echo", sclae=3)


def test_module_class_errors_name_the_problem():
    with pytest.raises(MethodError, match="cannot import module 'no_such_module_xyz'"):
        get_method("no_such_module_xyz:Thing")
    with pytest.raises(MethodError, match="has no attribute 'Ecko'; did you mean Echo"):
        get_method("test_registry:Ecko")
    with pytest.raises(MethodError, match="not a subclass"):
        get_method("test_registry:NotAMethod")


@pytest.mark.parametrize(
    "typo, expected", [("ground-trut", "ground-truth"), ("avtar", "avatar"), ("groundtruth", "ground-truth")]
)
def test_typo_suggests_the_closest_names(typo, expected):
    with pytest.raises(MethodError, match=f"unknown method '{typo}'; did you mean '{expected}'"):
        get_method(typo)


def test_unknown_name_lists_known_methods():
    with pytest.raises(MethodError, match=r"Known methods: \[.*'avatar'.*\]"):
        resolve_method_class("zzzzzz")


def _install_plugin(root, name="plugged", target="amg_plugin_pkg:PluginMethod"):
    """A distribution on sys.path with an ``amg_bench.methods`` entry point, like ``pip install`` makes."""
    (root / "amg_plugin_pkg.py").write_text(
        textwrap.dedent("""
        from amg_bench.methods.base import Method

        class PluginMethod(Method):
            name = "plugged"
            requires = frozenset({"condition"})

            def __init__(self, strength=1.0):
                self._options = {"strength": strength}

            def generate(self, request):
                return request.condition
    """)
    )
    info = root / "amg_plugin_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: amg-plugin-pkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[amg_bench.methods]\n{name} = {target}\n")


def test_entry_point_plugin(tmp_path, monkeypatch):
    _install_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "plugged" in available_methods()
    method = get_method("plugged", strength=0.5)
    assert type(method).__name__ == "PluginMethod" and method.options() == {"strength": 0.5}
    with pytest.raises(MethodError, match="did you mean 'plugged'"):
        get_method("pluged")


def test_entry_point_cannot_shadow_a_builtin(tmp_path, monkeypatch):
    _install_plugin(tmp_path, name="avatar")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert isinstance(get_method("avatar"), Avatar)


def test_broken_entry_point_is_a_method_error(tmp_path, monkeypatch):
    _install_plugin(tmp_path, name="broken", target="amg_plugin_pkg:Missing")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MethodError, match="entry point 'amg_plugin_pkg:Missing' cannot be loaded"):
        get_method("broken")


def test_amg_is_registered_lazily():
    # resolving "amg" imports its module on demand: either the class, or a MethodError naming the import
    try:
        cls = resolve_method_class("amg")
    except MethodError as exc:
        assert "amg_bench.methods.amg" in str(exc)
    else:
        assert issubclass(cls, Method)


# ---- options ---------------------------------------------------------------------------------


def test_method_args_are_typed_and_nested():
    assert parse_method_args(
        [
            "steps=20",
            "guidance=3.0",
            "fp16=true",
            "name=ddim",
            "size=[256, 256]",
            "scheduler.eta=0",
            "scheduler.kind=ddim",
            "empty=",
        ]
    ) == {
        "steps": 20,
        "guidance": 3.0,
        "fp16": True,
        "name": "ddim",
        "size": [256, 256],
        "scheduler": {"eta": 0, "kind": "ddim"},
        "empty": "",
    }


@pytest.mark.parametrize("item", ["steps", "=3", "a..b=1"])
def test_bad_method_arg(item):
    with pytest.raises(MethodError, match="key=value"):
        parse_method_args([item])


def test_method_arg_cannot_nest_under_a_value():
    with pytest.raises(MethodError, match="'a' is already set to a value"):
        parse_method_args(["a=1", "a.b=2"])


def test_config_file_then_overrides(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("steps: 20\nscheduler:\n  eta: 0.0\n  kind: ddim\n")
    options, source = resolve_options("anything", path, ["steps=5", "scheduler.eta=0.5"])
    assert source == path
    assert options == {"steps": 5, "scheduler": {"eta": 0.5, "kind": "ddim"}}


def test_bad_config_files(tmp_path):
    with pytest.raises(MethodError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(MethodError, match="must be a mapping"):
        load_config(tmp_path / "list.yaml")
    (tmp_path / "bad.yaml").write_text("a: [1, 2\n")
    with pytest.raises(MethodError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_default_config_is_the_baseline_file(tmp_path, monkeypatch):
    import amg_bench.methods.config as config

    (tmp_path / "mymethod.yaml").write_text("steps: 7\n")
    monkeypatch.setattr(config, "baseline_dirs", lambda: [tmp_path])
    assert resolve_options("mymethod") == ({"steps": 7}, tmp_path / "mymethod.yaml")
    assert resolve_options("mymethod", None, ["steps=8"])[0] == {"steps": 8}
    assert resolve_options("other") == ({}, None)
    assert resolve_options("folder:/x") == ({}, None)


# ---- reference methods -----------------------------------------------------------------------


def _request(clip_id="c1", frames=None, condition=None):
    frames = np.random.default_rng(0).integers(0, 255, (4, 16, 16, 3), dtype=np.uint8) if frames is None else frames
    return GenerationRequest(
        clip_id=clip_id,
        video=frames,
        condition=condition,
        num_frames=len(frames),
        height=frames.shape[1],
        width=frames.shape[2],
    )


def test_ground_truth_returns_the_real_clip():
    request = _request()
    assert get_method("ground-truth").generate(request) is request.video


def test_avatar_returns_the_condition_at_the_requested_size():
    condition = np.full((4, 8, 8, 3), 200, np.uint8)
    out = get_method("avatar").generate(_request(condition=condition))
    assert out.shape == (4, 16, 16, 3) and (out == 200).all()


def test_folder_reads_clip_videos_and_reports_missing_ones(tmp_path, caplog):
    frames = np.random.default_rng(1).integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)
    write_video(tmp_path / "c1.mp4", frames, fps=8)
    method = get_method(f"folder:{tmp_path}")
    assert isinstance(method, FolderMethod) and method.options() == {"folder": str(tmp_path.resolve())}
    out = method.generate(_request("c1", frames))
    np.testing.assert_array_equal(out, read_video(tmp_path / "c1.mp4"))
    with caplog.at_level(logging.WARNING):
        method.prepare(["c1", "c2", "c3"])
    assert "lacks 2 of 3 videos" in caplog.text and "c2.mp4, c3.mp4" in caplog.text
    with pytest.raises(MethodError, match=f"no video for clip c2 \\(expected {tmp_path / 'c2.mp4'}\\)"):
        method.generate(_request("c2", frames))


def test_folder_must_exist(tmp_path):
    with pytest.raises(MethodError, match="is not a folder"):
        get_method(f"folder:{tmp_path / 'nope'}")
    with pytest.raises(MethodError, match="needs a folder"):
        get_method("folder:")
