"""The method registry: one declaration per method, its defaults, parameter hashes, and an
import that web processes can afford (no torch)."""

import hashlib
import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import explain.saliency
from explain import saliency
from explain.saliency import base, registry

ROOT = Path(__file__).resolve().parents[2]

# params_hash(method_params(name)) as computed by explain.services (DEFAULT_METHOD_PARAMS,
# method_params, params_hash) before the registry existed, at commit 5ddc9cd. Stored maps
# are looked up by these: a change of a default's value, or even of its JSON type (50 vs
# 50.0), would orphan every map in users' databases computed with the defaults.
PINNED_DEFAULT_HASHES = {
    "xrai": "b9b1c2cf45253ed142261b70d5e75fdedaf1a241c8e59fbb439c760af583deb7",
    "integrated_gradients": "3162066eb635b0864b534538ed133c6e54e1046e3d3a8e652a12bd8f416b1f54",
    "vanilla_gradient": "12e20603f8ab4740aec97237811204098eb7f2deea2dc5182dc508f195f0505e",
    "smoothgrad": "fb2689aa4ee813f073cbe984a590f5f9f71a9d606dede4e3b38985ee1b71f918",
    "gradient_x_input": "5fd8df38e3c6cef3c89bb6eec4755b98c3aff99b6632f42762885286d92b8ac0",
    "blur_ig": "87a521f99dc9062956508ae0cc76d33794567d4a23cbe6a37a98212354171d1d",
    "guided_ig": "9e5c3d45fcd7f44af8f7646156f3a2a4122eccfa68f6199a16fa957135848c25",
    "grad_cam": "b7f21b4a608c2fee84f752c647229d0d9282d98a0ea4411c6b0d307b22a3bc61",
    "occlusion": "65e119891acb49812f70cc9628de506f8af908b1310208f747ed3605bb8aeb18",
}


def test_the_hash_of_every_methods_defaults_is_the_one_stored_maps_are_keyed_by():
    assert {name: registry.params_hash(registry.method_params(name)) for name in registry.method_names()} == (
        PINNED_DEFAULT_HASHES
    )


IMPORT_THE_REGISTRY = """
import sys
import explain.saliency.registry as registry

params = registry.method_params("xrai", {"steps": 5})
registry.params_hash(params), registry.method_defaults("occlusion"), registry.needs_layer("grad_cam")
registry.LAYER_METHODS, registry.method_names()

import explain.saliency as package
package.xrai.defaults, package.integrated_gradients.__signature__  # the public functions too
print(*[name for name in ("torch", "numba", "skimage", "scipy", "django") if name in sys.modules])
"""


def test_importing_the_registry_imports_neither_torch_nor_numba_nor_skimage_nor_django():
    # A fresh interpreter: this one has imported torch long ago.
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_THE_REGISTRY], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == []


IMPORT_A_METHOD_MODULE_FIRST = """
import importlib
xrai_module = importlib.import_module("explain.saliency.xrai")
segments_module = importlib.import_module("explain.saliency.xrai_segments")
from explain import saliency

assert saliency.xrai is xrai_module.xrai and callable(saliency.xrai)
assert saliency.xrai_segments is segments_module.xrai_segments
print("ok")
"""


def test_the_package_keeps_its_functions_when_a_method_module_is_imported_first():
    # The functions are named like their modules; a lazily filled package would lose them.
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_A_METHOD_MODULE_FIRST],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok"]


def _method_classes() -> list[type[base.SaliencyMethod]]:
    """Every SaliencyMethod subclass defined in a module of explain.saliency."""
    classes = []
    for module_info in pkgutil.iter_modules(explain.saliency.__path__):
        module = importlib.import_module(f"explain.saliency.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, base.SaliencyMethod) and cls is not base.SaliencyMethod:
                if cls.__module__ == module.__name__:
                    classes.append(cls)
    return classes


def test_every_method_is_declared_once_in_a_module_of_its_own_name_and_registered():
    classes = _method_classes()
    names = [cls.name for cls in classes]
    assert len(names) == len(set(names)) == 9
    assert sorted(names) == sorted(registry.method_names())
    for cls in classes:
        assert cls.__module__ == f"explain.saliency.{cls.name}"
        assert type(registry.METHODS[cls.name]) is cls
        # The package's function of that name is the registered method.
        assert getattr(saliency, cls.name) is registry.METHODS[cls.name]
        assert getattr(saliency, f"{cls.name}_result") == registry.METHODS[cls.name].result


def test_the_registry_lists_xrai_and_ig_first_and_grad_cam_as_the_layer_method():
    assert registry.method_names()[:2] == ["xrai", "integrated_gradients"]
    assert registry.LAYER_METHODS == {"grad_cam"} == saliency.LAYER_METHODS
    assert registry.needs_layer("grad_cam") and not registry.needs_layer("xrai")
    assert saliency.METHODS is registry.METHODS


@pytest.mark.parametrize("name", list(PINNED_DEFAULT_HASHES))
def test_each_public_function_shows_the_declared_defaults_and_nowhere_else_has_one(name):
    method = registry.METHODS[name]
    defaults = registry.method_defaults(name)
    public = inspect.signature(getattr(saliency, name)).parameters
    assert {p: public[p].default for p in defaults} == defaults
    # The attribution function takes every declared parameter without a default of its own,
    # so the declaration is the only place a default can be written.
    attribute = inspect.signature(method.attribute).parameters
    for parameter in set(defaults) - {"channel_reduction"}:
        assert attribute[parameter].kind is inspect.Parameter.KEYWORD_ONLY
        assert attribute[parameter].default is inspect.Parameter.empty


@pytest.mark.parametrize("name", list(PINNED_DEFAULT_HASHES))
def test_each_public_function_runs_with_the_declared_defaults(name, monkeypatch):
    """What the attribution function receives when a caller gives no parameters."""
    received = {}
    values = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4) - 10  # (N,C,H,W)
    method = registry.METHODS[name]
    per_channel = "channel_reduction" in method.defaults

    def attribute(self, model, images, targets, **params):
        received.update(params)
        return base.Attribution(values if per_channel else values[:, 0], None)

    monkeypatch.setattr(type(method), "attribute", attribute)
    maps = getattr(saliency, name)(None, np.zeros((1, 3, 3, 4), np.float32), 0)
    defaults = registry.method_defaults(name)
    expected_maps = (
        base.reduce_channels(values, defaults.pop("channel_reduction")) if per_channel else values[:, 0]
    )
    assert received == defaults
    np.testing.assert_array_equal(maps, expected_maps)
    assert maps.dtype == np.float32


def test_method_params_are_the_defaults_updated_by_the_overrides():
    assert registry.method_params("occlusion") == {
        "patch_size": 15,
        "stride": 8,  # the platform's default (PAIR and Captum use 1; see occlusion.py)
        "baseline_value": 0.0,
        "aggregation": "mean",
    }
    assert registry.method_params("occlusion", {"stride": 1})["stride"] == 1
    assert registry.method_params("xrai", None) == registry.method_defaults("xrai")
    assert registry.method_params("xrai", {}) == registry.method_defaults("xrai")


def test_method_params_returns_a_copy_that_can_be_changed_safely():
    params = registry.method_params("xrai")
    params["baselines"].append("zeros")
    registry.method_params("smoothgrad")["base_params"]["steps"] = 3
    overrides = {"base_params": {"steps": 4}}
    registry.method_params("smoothgrad", overrides)["base_params"]["steps"] = 5
    assert registry.method_params("xrai")["baselines"] == ["min", "max"]
    assert registry.METHODS["xrai"].defaults["baselines"] == ["min", "max"]
    assert registry.method_params("smoothgrad")["base_params"] == {}
    assert overrides == {"base_params": {"steps": 4}}
    with pytest.raises(TypeError):
        registry.METHODS["occlusion"].defaults["stride"] = 1  # the declaration itself is read-only


def test_an_unknown_method_is_named_with_the_known_ones():
    known = "blur_ig, grad_cam, gradient_x_input, guided_ig, integrated_gradients, occlusion, smoothgrad, "
    known += "vanilla_gradient, xrai"
    for call in (registry.method_params, registry.method_defaults, registry.needs_layer):
        with pytest.raises(ValueError) as error:
            call("gradcam")
        assert str(error.value) == f"unknown method 'gradcam'; known: {known}"


def test_unknown_parameters_are_named_sorted():
    with pytest.raises(ValueError) as error:
        registry.method_params("xrai", {"step": 5, "baseline": "zeros", "steps": 5})
    assert str(error.value) == "unknown parameters for xrai: baseline, step"


def test_params_hash_is_sha256_of_the_sorted_json():
    params = {"steps": 25, "baseline": "zeros", "nested": {"b": [1, 2.0], "a": None}}
    expected = hashlib.sha256(
        b'{"baseline": "zeros", "nested": {"a": null, "b": [1, 2.0]}, "steps": 25}'
    ).hexdigest()
    assert registry.params_hash(params) == expected
    assert registry.params_hash(dict(reversed(params.items()))) == expected  # key order is irrelevant
    assert registry.params_hash({**params, "steps": 26}) != expected


@pytest.mark.parametrize("name", list(PINNED_DEFAULT_HASHES))
def test_defaults_survive_a_json_round_trip_unchanged(name):
    # Parameters are stored in a JSON field; what comes back must hash the same.
    defaults = registry.method_defaults(name)
    again = json.loads(json.dumps(defaults))
    assert again == defaults
    assert registry.params_hash(again) == registry.params_hash(defaults)
    assert [type(v) for v in again.values()] == [type(v) for v in defaults.values()]


def test_a_method_that_writes_a_second_default_is_rejected_when_it_is_created():
    class Doubled(base.SaliencyMethod):
        name = "doubled"
        defaults = {"steps": 25}

        def attribute(self, model, images, targets, *, steps=30, batch_size=8):
            raise AssertionError

    with pytest.raises(TypeError, match="'steps' as a keyword-only argument without a default"):
        Doubled()

    class Forgotten(base.SaliencyMethod):
        name = "forgotten"
        defaults = {"steps": 25}

        def attribute(self, model, images, targets, *, batch_size=8):
            raise AssertionError

    with pytest.raises(TypeError, match="'steps'"):
        Forgotten()

    class NotJson(base.SaliencyMethod):
        name = "not_json"
        defaults = {"sigma": float("nan")}

        def attribute(self, model, images, targets, *, sigma):
            raise AssertionError

    with pytest.raises(TypeError, match="JSON"):
        NotJson()


def test_a_bad_channel_reduction_fails_before_the_attribution_runs(monkeypatch):
    def attribute(self, model, images, targets, **params):
        raise AssertionError("the work started")

    monkeypatch.setattr(type(saliency.integrated_gradients), "attribute", attribute)
    with pytest.raises(ValueError, match="unknown channel_reduction 'l1'"):
        saliency.integrated_gradients(None, np.zeros((1, 3, 4, 4)), 0, channel_reduction="l1")


def test_an_unknown_keyword_is_a_type_error_as_for_any_function():
    with pytest.raises(TypeError, match="stepz"):
        saliency.integrated_gradients(None, np.zeros((1, 3, 4, 4)), 0, stepz=3)
