"""What the two expiring locks (Kubernetes Lease, Redis key) share: renewal in the background.

A backend takes its lock, then wraps it in a `RenewedLock` together with its
`LockBackend` (renew / verify / release for that one lock)::

    async with RenewedLock(profile, holder, ttl=60, every=20, backend=ops) as held:
        ...                       # renewed every ``every`` seconds meanwhile
        await held.ensure_held()  # right before saving

- A renewal that finds the lock someone else's (``LockLostError``) marks it lost for good.
- A renewal that fails otherwise (``StateError``: the API or Redis did not answer) is
  logged and tried again at the next tick; once no renewal has succeeded for ``ttl``
  seconds the lock may have expired, and ``ensure_held`` says it is lost.
- ``ensure_held`` also asks the backend (``verify``) whether the lock is still ours.
- Leaving releases the lock through the backend, which does so only while it is still
  ours; a failed release is logged, not raised (the lock expires by itself).

The body's exceptions never pass through the renewal task group, so they reach the
caller unchanged (not wrapped in an exception group).
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Protocol, Self

import anyio
import anyio.abc
import structlog

from inventory_sync.errors import LockLostError, StateError

RELEASE_TIMEOUT_S = 10.0
"""Longest time leaving a lock spends releasing it (even when the run is cancelled)."""

_log = structlog.get_logger("inventory_sync.state")


def renew_interval(ttl: float, every: float | None) -> float:
    """Seconds between renewals: ``every``, or a third of ``ttl`` (two chances before expiry)."""
    if ttl <= 0:
        raise ValueError(f"a lock's time to live must be positive, not {ttl!r}")
    interval = ttl / 3 if every is None else every
    if interval <= 0:
        raise ValueError(f"a renewal interval must be positive, not {interval!r}")
    return interval


class LockBackend(Protocol):
    """One held lock, as its backend sees it."""

    async def renew(self) -> None:
        """Extend the lock; ``LockLostError`` when it is not ours any more, ``StateError``
        when the backend could not be asked."""
        ...

    async def verify(self) -> None:
        """``LockLostError`` unless the lock is ours right now (``StateError``: cannot tell)."""
        ...

    async def release(self) -> None:
        """Give the lock up if it is still ours; do nothing otherwise."""
        ...


class RenewedLock:
    """A held profile lock (`inventory_sync.state.base.ProfileLock`), renewed while entered."""

    def __init__(
        self,
        profile: str,
        holder: str,
        *,
        ttl: float,
        every: float,
        backend: LockBackend,
        acquired_at: float | None = None,
    ) -> None:
        self._profile = profile
        self._holder = holder
        self._ttl = ttl
        self._every = every
        self._backend = backend
        self._renewed_at = time.monotonic() if acquired_at is None else acquired_at
        self._lost: str | None = None
        self._task_group: anyio.abc.TaskGroup | None = None

    @property
    def holder(self) -> str:
        return self._holder

    @property
    def profile(self) -> str:
        return self._profile

    @property
    def lost(self) -> str | None:
        """Why the lock is lost, or None while it is (as far as we know) held."""
        return self._lost

    async def ensure_held(self) -> None:
        if self._lost is not None:
            raise LockLostError(self._lost)
        try:
            await self._backend.verify()
        except LockLostError as e:
            self._mark_lost(str(e))
            raise
        except StateError as e:
            if self._silent_too_long():
                raise LockLostError(self._lost) from e
            raise
        if self._silent_too_long():
            raise LockLostError(self._lost)

    def _silent_too_long(self) -> bool:
        """No renewal for a whole time to live: the lock may have expired (marks it lost)."""
        silent = time.monotonic() - self._renewed_at
        if silent < self._ttl:
            return False
        self._mark_lost(
            f"lock of profile {self._profile!r} was not renewed for {silent:.1f}s "
            f"(time to live {self._ttl:g}s); it may have expired"
        )
        return True

    async def __aenter__(self) -> Self:
        group = anyio.create_task_group()
        await group.__aenter__()
        self._task_group = group
        group.start_soon(self._keep_renewed)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        group, self._task_group = self._task_group, None
        try:
            if group is not None:
                group.cancel_scope.cancel()
                await group.__aexit__(None, None, None)
        finally:
            with anyio.CancelScope(shield=True) as scope:
                scope.deadline = anyio.current_time() + RELEASE_TIMEOUT_S
                try:
                    await self._backend.release()
                except StateError as e:
                    _log.warning(
                        "inventory_sync.lock_release_failed",
                        profile=self._profile,
                        holder=self._holder,
                        error=str(e),
                    )
            if scope.cancelled_caught:
                _log.warning(
                    "inventory_sync.lock_release_failed",
                    profile=self._profile,
                    holder=self._holder,
                    error=f"no answer within {RELEASE_TIMEOUT_S:g}s",
                )

    def _mark_lost(self, reason: str) -> None:
        if self._lost is None:
            self._lost = reason
            _log.error(
                "inventory_sync.lock_lost",
                profile=self._profile,
                holder=self._holder,
                reason=reason,
            )

    async def _keep_renewed(self) -> None:
        while self._lost is None:
            await anyio.sleep(self._every)
            sent = time.monotonic()
            try:
                await self._backend.renew()
            except LockLostError as e:
                self._mark_lost(str(e))
                return
            except StateError as e:
                _log.warning(
                    "inventory_sync.lock_renew_failed",
                    profile=self._profile,
                    holder=self._holder,
                    error=str(e),
                )
                continue
            except Exception as e:  # a bug must not tear down the run through the task group
                _log.error(
                    "inventory_sync.lock_renew_failed",
                    profile=self._profile,
                    holder=self._holder,
                    error=repr(e),
                    exc_info=True,
                )
                continue
            self._renewed_at = sent
