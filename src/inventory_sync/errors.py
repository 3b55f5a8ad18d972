"""The one exception tree of inventory-sync.

Every error the job raises on purpose is an ``InventorySyncError``; third-party
errors (httpx, pydantic, yaml, OS) are wrapped with ``raise X(...) from e`` at the
adapter that met them, so callers only ever handle this tree::

    InventorySyncError
    ├── ConfigError                 bad settings, profiles file or flags; found before
    │   │                           anything is written → exit code 2
    │   └── StateFormatError        a stored state record is not in the expected shape
    ├── StateError                  the state store could not be read or written
    │   ├── LockHeldError           another live run holds the profile's lock (holder named)
    │   └── LockLostError           this run's lock expired or was taken before it saved
    └── ApiError                    a call to Fluent, commercetools or an OAuth server failed
        ├── TemporaryApiError       worth retrying: connection/timeout, HTTP 429/502/503/504,
        │                           a GraphQL error code the API marks as transient
        └── PermanentApiError       retrying the same request will not help
            ├── AuthError           credentials rejected (names the API and client, never a secret)
            ├── GraphQLError        the answer carried GraphQL errors (first code and message)
            ├── BadResponseError    not JSON, an HTML page, or a shape we do not understand
            ├── PagingError         the source repeated a cursor ("loop detected")
            └── ChannelNotFoundError  no commercetools channel with the profile's key

Messages never contain secrets: tokens, passwords and client secrets stay in
``SecretStr`` values and are only unwrapped inside the request that needs them.
"""

from __future__ import annotations


class InventorySyncError(Exception):
    """Base of every error raised by inventory-sync."""


class ConfigError(InventorySyncError):
    """Configuration or usage is wrong; nothing has been written."""


class StateFormatError(ConfigError):
    """A stored state record is not in the expected shape; it is left as it is."""


class StateError(InventorySyncError):
    """The state store could not be read or written."""


class LockHeldError(StateError):
    """Another live run holds the profile's lock; this run skips the profile."""

    def __init__(self, profile: str, holder: str, *, expires: str | None = None) -> None:
        until = f" until {expires}" if expires else ""
        super().__init__(f"profile {profile!r} is locked by {holder!r}{until}")
        self.profile = profile
        self.holder = holder


class LockLostError(StateError):
    """This run no longer holds the profile's lock; it must not write state."""


class ApiError(InventorySyncError):
    """A call to an external API failed.

    ``api`` is one of ``fluent``, ``commercetools``, ``fluent-auth``, ``commercetools-auth``;
    ``code`` is the API's error code when it sent one (or the HTTP status).
    """

    def __init__(self, api: str, message: str, *, code: str | None = None) -> None:
        super().__init__(f"{api}: {message}")
        self.api = api
        self.code = code


class TemporaryApiError(ApiError):
    """A failure that may go away when the same request is sent again."""

    def __init__(
        self,
        api: str,
        message: str,
        *,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(api, message, code=code)
        self.retry_after = retry_after


class PermanentApiError(ApiError):
    """A failure that sending the same request again will not fix."""


class AuthError(PermanentApiError):
    """The API rejected our credentials."""


class GraphQLError(PermanentApiError):
    """The API answered with GraphQL errors."""


class BadResponseError(PermanentApiError):
    """The API answered with something that is not the expected JSON."""


class PagingError(PermanentApiError):
    """The source's paging went wrong (a repeated cursor)."""


class ChannelNotFoundError(PermanentApiError):
    """No commercetools channel has the profile's key."""
