"""Provider settings: keyword arguments, then ``SWAPKIT_<NAME>_<SETTING>``, then vendor variables,
then the configuration file's ``[providers.<name>]`` table (`swapkit.core.config`).

Each provider declares a pydantic model of its settings (a subclass of `ProviderSettings`) and,
optionally, the vendor's own environment variables for some of them (``<VENDOR>_API_KEY``).
`resolve_settings` reads them in that order once, when a provider is configured, so no swap
pays for environment look-ups.  A bad value names the argument or variable it came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from swapkit.core.errors import ConfigurationError

__all__ = ["ProviderSettings", "env_var", "resolve_settings", "setting_sources"]

SettingsT = TypeVar("SettingsT", bound="ProviderSettings")


class ProviderSettings(BaseModel):
    """Settings every provider understands; providers subclass this to add their own.

    `timeout` bounds one HTTP exchange (seconds); the end-to-end bound is the swap's deadline.
    `price_usd` is the price of one swap; ``None`` means unknown (never assumed to be free).
    `mode` forces the vendor's blocking (``sync``) or job (``async``) endpoint where it has
    both; ``auto`` lets the engine choose from the deadline and ``webhook_url``.
    `max_concurrency` and `requests_per_minute` pace the provider (`swapkit.core.pacing`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr | None = None
    base_url: str = ""
    timeout: float = Field(default=60.0, gt=0)
    price_usd: float | None = Field(default=None, ge=0)
    poll_interval: float = Field(default=2.0, gt=0)
    max_poll_interval: float = Field(default=10.0, gt=0)
    mode: Literal["auto", "sync", "async"] = "auto"
    #: At most this many swaps in flight at this provider (None: no cap; see core/pacing).
    max_concurrency: int | None = Field(default=None, ge=1)
    #: At most this many swaps begun per minute at this provider (None: no limit).
    requests_per_minute: float | None = Field(default=None, gt=0)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


def env_var(provider: str, setting: str) -> str:
    """The swapkit environment variable for one provider setting."""
    return f"SWAPKIT_{provider.upper()}_{setting.upper()}"


def setting_sources(
    settings_class: type[ProviderSettings],
    provider: str,
    overrides: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    aliases: Mapping[str, Sequence[str]] | None = None,
    file: Mapping[str, Any] | None = None,
    file_source: str | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The values given for a provider's settings, and where each came from: a keyword
    setting, else the environment variable that held it, else the configuration `file`'s
    table for the provider; a setting given nowhere keeps its default and is in neither."""
    environ = os.environ if env is None else env
    fields = settings_class.model_fields
    for given, where in ((overrides, None), (file or {}, file_source)):
        unknown = sorted(set(given) - set(fields))
        if unknown:
            origin = f" (in {where} [providers.{provider}])" if where else ""
            raise ConfigurationError(
                f"{provider} has no setting {', '.join(map(repr, unknown))}{origin}; "
                f"known settings: {', '.join(sorted(fields))}"
            )
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in fields:
        if name in overrides:
            values[name] = overrides[name]
            sources[name] = f"the {name!r} setting of {provider}"
            continue
        for variable in (env_var(provider, name), *(aliases or {}).get(name, ())):
            raw = environ.get(variable)
            if raw not in (None, ""):
                values[name] = raw
                sources[name] = f"the environment variable {variable}"
                break
        else:
            if file and name in file:
                values[name] = file[name]
                sources[name] = f"{file_source or 'the configuration file'} [providers.{provider}]"
    return values, sources


def resolve_settings(
    settings_class: type[SettingsT],
    provider: str,
    overrides: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    aliases: Mapping[str, Sequence[str]] | None = None,
    file: Mapping[str, Any] | None = None,
    file_source: str | None = None,
) -> SettingsT:
    """Build a provider's settings from keyword overrides, then the environment, then the
    configuration file's table for the provider (`swapkit.core.config`)."""
    values, sources = setting_sources(
        settings_class,
        provider,
        overrides,
        env=env,
        aliases=aliases,
        file=file,
        file_source=file_source,
    )
    try:
        return settings_class.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "?"
            source = sources.get(name, f"the {name!r} setting of {provider}")
            problems.append(f"{source}: {error['msg']}")
        raise ConfigurationError("; ".join(problems)) from None
