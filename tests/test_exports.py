"""The public surface: exported names, the error tree, and sync/async parity."""

from __future__ import annotations

import inspect

import swapkit
from swapkit import errors
from swapkit.core import errors as core_errors


def test_all_is_sorted_and_importable() -> None:
    assert list(swapkit.__all__) == sorted(swapkit.__all__)
    for name in swapkit.__all__:
        assert hasattr(swapkit, name), name


def test_design_names_import_from_swapkit() -> None:
    from swapkit import AsyncSwapClient, SwapClient, SwapRequest, SwapResult, Template

    assert all([AsyncSwapClient, SwapClient, SwapRequest, SwapResult, Template])


def test_error_tree_is_rooted_and_exported() -> None:
    assert sorted(errors.__all__) == sorted(
        name for name in core_errors.__all__ if name != "error_class_for_status"
    )
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.SwapError), name
        assert cls.__doc__, f"{name} must say when it is raised"
    for name in ("NoFaceDetected", "ImageTooLarge", "UnsupportedImage"):
        assert issubclass(getattr(errors, name), errors.InvalidRequest)
    for name in (
        "InvalidRequest",
        "AuthenticationError",
        "InsufficientCredits",
        "PermissionDenied",
        "RateLimited",
        "ContentRefused",
        "ProviderUnavailable",
        "ProviderTimeout",
        "JobFailed",
        "JobNotFound",
        "ResultExpired",
        "ResultInvalid",
    ):
        assert issubclass(getattr(errors, name), errors.ProviderError), name


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and callable(member)
    }


def test_sync_and_async_clients_have_the_same_methods() -> None:
    sync, async_ = _public(swapkit.SwapClient), _public(swapkit.AsyncSwapClient)
    renamed = {"close": "aclose"}
    assert {renamed.get(n, n) for n in sync} == set(async_)
    for name, signature in sync.items():
        twin = async_[renamed.get(name, name)]
        assert list(signature.parameters) == list(twin.parameters), name
        is_coroutine = inspect.iscoroutinefunction(getattr(swapkit.AsyncSwapClient, name, None))
        if name == "swap":
            assert is_coroutine
    sync_init = inspect.signature(swapkit.SwapClient.__init__).parameters
    async_init = inspect.signature(swapkit.AsyncSwapClient.__init__).parameters
    assert list(sync_init) == list(async_init)


def test_the_plugin_and_test_kit_modules_export_what_they_promise() -> None:
    import swapkit.provider
    import swapkit.testing

    for module in (swapkit.provider, swapkit.testing):
        assert list(module.__all__) == sorted(module.__all__), module.__name__
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"
    # the provider module is the base class, outcomes, declaration and helpers, nothing else
    assert swapkit.provider.Provider is swapkit.Provider
    assert not {"SwapClient", "Sandbox", "FailoverPolicy"} & set(swapkit.provider.__all__)
