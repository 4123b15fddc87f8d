"""Method registry, method options, and the reference methods."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pytest

from amg_bench.errors import MethodError
from amg_bench.methods.base import GenerationRequest, Method
from amg_bench.methods.config import load_config, parse_method_args, resolve_options
from amg_bench.methods.reference import Avatar, FolderMethod, GroundTruth
from amg_bench.methods.registry import available_methods, get_method, resolve_method_class
from amg_bench.video import read_video, write_video


@dataclass
class EchoOptions:
    scale: int = 1


class Echo(Method):
    """A method defined here, reached as ``test_registry:Echo``."""

    name = "echo"
    Options = EchoOptions

    def generate(self, request):
        return request.condition


class NotAMethod:
    pass


def _fresh_python(code: str) -> str:
    """Run ``code`` in a new interpreter (nothing imported yet) and return what it prints."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip()


def test_builtin_names_resolve_without_importing_other_methods():
    imported = _fresh_python(
        "import sys\n"
        "from amg_bench.methods.registry import available_methods, resolve_method_class\n"
        "names = available_methods()\n"
        "resolve_method_class('ground-truth')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('amg_bench.methods.amg', 'diffusers', 'torch'))))\n"
    )
    assert imported == "[]"
    assert {"ground-truth", "avatar", "amg"} <= set(available_methods())
    assert isinstance(get_method("ground-truth"), GroundTruth)
    assert get_method("ground-truth").requires == frozenset({"video"})
    assert isinstance(get_method("avatar"), Avatar)
    assert get_method("avatar").requires == frozenset({"condition"})


def test_amg_is_registered_lazily():
    # the amg module is imported only when "amg" is resolved, and it gives the AMG class
    printed = _fresh_python(
        "import sys\n"
        "from amg_bench.methods.registry import resolve_method_class\n"
        "before = 'amg_bench.methods.amg' in sys.modules\n"
        "cls = resolve_method_class('amg')\n"
        "print(before, cls.__module__, cls.__name__, 'amg_bench.methods.amg' in sys.modules)\n"
    )
    assert printed == "False amg_bench.methods.amg.method AMG True"


def test_builtin_without_options_refuses_options():
    with pytest.raises(MethodError, match="method 'ground-truth' has no option 'steps'.*its options: none"):
        get_method("ground-truth", steps=3)


def test_module_class_and_its_options():
    method = get_method("test_registry:Echo", scale=3)
    assert isinstance(method, Echo) and method.options_dict() == {"scale": 3}
    assert method.options.scale == 3
    with pytest.raises(MethodError, match="has no option 'sclae'; did you mean 'scale'"):
        get_method("test_registry:Echo", sclae=3)


@pytest.mark.parametrize(
    "value, message",
    [("3", "option 'scale' must be an integer, got '3'"), (True, "must be an integer, got True"), (2.5, "got 2.5")],
)
def test_option_values_are_type_checked(value, message):
    with pytest.raises(MethodError, match=message):
        get_method("test_registry:Echo", scale=value)


def test_option_types_follow_the_dataclass():
    from amg_bench.methods.config import build_options

    @dataclass
    class Typed:
        steps: int = 1
        scale: float = 1.0
        size: tuple[int, int] = (8, 8)
        name: str | None = None
        mode: Literal["a", "b"] = "a"

    built = build_options(Typed, {"scale": 3, "size": [4, 6], "name": None, "mode": "b"}, "typed")
    assert built == Typed(scale=3.0, size=(4, 6), name=None, mode="b") and isinstance(built.scale, float)
    with pytest.raises(MethodError, match=r"option 'size' must be a list of an integer, got \[4, 'x'\]"):
        build_options(Typed, {"size": [4, "x"]}, "typed")
    with pytest.raises(MethodError, match="option 'mode' must be one of 'a', 'b', got 'c'"):
        build_options(Typed, {"mode": "c"}, "typed")
    with pytest.raises(MethodError, match="option 'name' must be a string or null, got 3"):
        build_options(Typed, {"name": 3}, "typed")


def test_a_typo_in_requires_fails_at_class_definition():
    with pytest.raises(
        MethodError, match="requires names 'condtion', which is not a request input; did you mean 'condition'"
    ):

        class Typo(Method):
            requires = frozenset({"prompt", "condtion"})

            def generate(self, request):
                return request.condition


def test_every_request_input_is_a_request_field():
    from dataclasses import fields

    from amg_bench.methods.base import REQUEST_INPUTS

    frame_fields = {"clip_id", "num_frames", "fps", "height", "width", "seed", "encoded"}
    assert set(REQUEST_INPUTS) == {f.name for f in fields(GenerationRequest)} - frame_fields


def test_uses_prompt_follows_requires_unless_declared():
    class Reads(Method):
        requires = frozenset({"prompt", "condition"})

        def generate(self, request):
            return request.condition

    class Ignores(Reads):
        uses_prompt = False

    assert Reads.uses_prompt is True and Ignores.uses_prompt is False
    assert GroundTruth.uses_prompt is False


def test_module_class_errors_name_the_problem():
    with pytest.raises(MethodError, match="cannot import module 'no_such_module_xyz'"):
        get_method("no_such_module_xyz:Thing")
    with pytest.raises(MethodError, match="has no attribute 'Ecko'; did you mean Echo"):
        get_method("test_registry:Ecko")
    with pytest.raises(MethodError, match="not a subclass"):
        get_method("test_registry:NotAMethod")


@pytest.mark.parametrize(
    "source, message",
    [
        (
            "raise RuntimeError('no GPU here')",
            r"cannot import module 'broken_plugin_\w+' \(RuntimeError: no GPU here\)",
        ),
        ("def broken(:\n    pass", r"module 'broken_plugin_\w+' has a syntax error \(.*broken_plugin_\w+\.py, line 1"),
        (
            "from amg_bench.methods.base import Method\n"
            "class Plugin(Method):\n"
            "    def __init__(self, **options):\n"
            "        raise KeyError('weights')\n"
            "    def generate(self, request):\n"
            "        return None\n",
            r"could not be built: KeyError: 'weights'",
        ),
    ],
    ids=["raises-at-import", "syntax-error", "constructor-raises"],
)
def test_broken_plugin_modules_are_one_method_error(tmp_path, monkeypatch, source, message):
    module = f"broken_plugin_{abs(hash(source)) % 10**8}"
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MethodError, match=message):
        get_method(f"{module}:Plugin")


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
        from dataclasses import dataclass

        from amg_bench.methods.base import Method

        @dataclass
        class PluginOptions:
            strength: float = 1.0

        class PluginMethod(Method):
            name = "plugged"
            requires = frozenset({"condition"})
            Options = PluginOptions

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
    assert type(method).__name__ == "PluginMethod" and method.options_dict() == {"strength": 0.5}
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
    assert isinstance(method, FolderMethod) and method.options_dict() == {"folder": str(tmp_path.resolve())}
    out = method.generate(_request("c1", frames))
    np.testing.assert_array_equal(out, read_video(tmp_path / "c1.mp4"))
    with caplog.at_level(logging.WARNING):
        method.prepare(["c1", "c2", "c3"], split=_Rates({"c1": 8.0, "c2": 8.0, "c3": 8.0}))
    assert "lacks 2 of 3 videos" in caplog.text and "c2.mp4, c3.mp4" in caplog.text
    with pytest.raises(MethodError, match=f"no video for clip c2 \\(expected {tmp_path / 'c2.mp4'}\\)"):
        method.generate(_request("c2", frames))


class _Rates:
    """The part of the split ``prepare`` reads: each clip's fps."""

    def __init__(self, fps):
        self._fps = fps

    def fps(self, clip_id):
        return self._fps[clip_id]


def test_folder_must_exist(tmp_path):
    with pytest.raises(MethodError, match="is not a folder"):
        get_method(f"folder:{tmp_path / 'nope'}")
    with pytest.raises(MethodError, match="needs a folder"):
        get_method("folder:")


def test_shuffled_partners_are_a_derangement_preferring_another_source():
    from amg_bench.methods.reference import shuffle_partners

    clips = [f"a{i}" for i in range(4)] + [f"b{i}" for i in range(2)]
    sources = ["a"] * 4 + ["b"] * 2
    partners = shuffle_partners(clips, sources)
    assert sorted(partners) == sorted(partners.values()) == sorted(clips)  # a permutation ...
    assert all(partners[c] != c for c in clips)  # ... with no fixed point
    source = dict(zip(clips, sources))
    assert sum(source[c] != source[p] for c, p in partners.items()) == 4  # b0, b1 and two a clips cross over
    assert shuffle_partners(clips, sources) == partners  # fixed
    one_source = shuffle_partners(["c0", "c1", "c2", "c3"], ["s"] * 4)
    assert one_source == {"c0": "c2", "c1": "c3", "c2": "c0", "c3": "c1"}  # as far apart as possible
    with pytest.raises(MethodError, match="at least two clips"):
        shuffle_partners(["c0"], ["s"])


def test_no_baseline_pins_device_or_dtype():
    # a value in baselines/<name>.yaml counts as an explicit option, which `evaluate --device/--dtype` never override
    from amg_bench.methods.config import baseline_dirs, load_config

    for path in sorted(baseline_dirs()[0].glob("*.yaml")):
        assert not {"device", "dtype"} & set(load_config(path)), path
