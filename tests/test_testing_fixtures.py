"""The test kit's pytest fixtures, seen from an application's own test run (pytester)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

_APP_TEST = """
from swapkit import SwapClient
from swapkit.testing import FakeClock, accepted, running, succeeded

def test_swap(mock_provider, swapkit_face, swapkit_scene, swapkit_clock):
    vendor = mock_provider("vendor", {steps})
    with SwapClient(providers=[vendor], clock=swapkit_clock) as client:
        client.swap(source=swapkit_face, target=swapkit_scene)
    assert swapkit_clock.now > 1000
"""


def _run(pytester: pytest.Pytester, steps: str) -> pytest.RunResult:
    pytester.makepyfile(test_app=_APP_TEST.replace("{steps}", steps))
    return pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")


def test_a_fully_used_script_passes(pytester: pytest.Pytester) -> None:
    _run(pytester, "accepted(), running(), succeeded()").assert_outcomes(passed=1)


def test_an_unused_step_fails_the_test(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "accepted(), succeeded(), running()")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*scripted steps never used: running*"])


def test_the_vcr_config_fixture_is_swapkits(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_config="""
def test_config(vcr_config):
    assert vcr_config["serializer"] == "swapkit.yaml"
    assert vcr_config["match_on"] == ("method", "path", "query", "body")
"""
    )
    pytester.runpytest_subprocess("-p", "no:randomly").assert_outcomes(passed=1)


def test_an_applications_own_vcr_config_wins(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import pytest, swapkit.testing

@pytest.fixture(scope="module")
def vcr_config():
    return {**swapkit.testing.vcr_config(), "filter_headers": ["x-mine"]}
"""
    )
    pytester.makepyfile(
        test_config="""
def test_config(vcr_config):
    assert vcr_config["filter_headers"] == ["x-mine"]
    assert vcr_config["serializer"] == "swapkit.yaml"
"""
    )
    pytester.runpytest_subprocess("-p", "no:randomly").assert_outcomes(passed=1)
