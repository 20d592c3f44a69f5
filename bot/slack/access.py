"""Who may resend and who may read: allow-lists of Slack user and user-group IDs, checked per request.

Reading (callout response bodies, the audit trail, `/zuora status`) is open to the resend allow-list
and to READ_ALLOWED_USERS (`*` there opens it to the whole workspace). Both lists share one cache of
user-group members.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from cachetools import TTLCache
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

logger = logging.getLogger(__name__)

GROUP_CACHE_SECONDS = 120.0


class AccessCheckError(Exception):
    """Slack could not tell us a user group's members; nothing was done."""


class _AllowList:
    """One parsed list: everyone (`*`), user IDs, and user-group IDs to expand."""

    def __init__(self, allowed: frozenset[str]) -> None:
        self.everyone = "*" in allowed
        self.users = frozenset(i for i in allowed if i[:1] in ("U", "W"))
        self.groups = tuple(sorted(i for i in allowed if i.startswith("S")))


class AccessPolicy:
    """Answers `may_resend` (RESEND_ALLOWED_USERS) and `may_read` (that list plus READ_ALLOWED_USERS),
    expanding user groups via Slack."""

    def __init__(
        self,
        allowed: frozenset[str],
        slack: WebClient,
        *,
        readers: frozenset[str] = frozenset(),
        ttl: float = GROUP_CACHE_SECONDS,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resenders = _AllowList(allowed)
        self._readers = _AllowList(readers)
        self._slack = slack
        self._members: TTLCache[str, frozenset[str]] = TTLCache(maxsize=256, ttl=ttl, timer=timer)
        self._lock = threading.Lock()

    @property
    def reading_is_open(self) -> bool:
        """Whether everyone in the workspace may read (`*` on either list)."""
        return self._resenders.everyone or self._readers.everyone

    def may_resend(self, user_id: str) -> bool:
        """Whether `user_id` is allowed, directly or through one of the allowed user groups."""
        return self._on(self._resenders, user_id)

    def may_read(self, user_id: str) -> bool:
        """Whether `user_id` may see response bodies, the audit trail and the bot's configuration."""
        if self.reading_is_open:
            return True
        direct = user_id in self._resenders.users or user_id in self._readers.users
        return direct or self._on(self._readers, user_id) or self._on(self._resenders, user_id)

    def _on(self, allow: _AllowList, user_id: str) -> bool:
        if allow.everyone or user_id in allow.users:
            return True
        return any(user_id in self._group_members(group) for group in allow.groups)

    def _group_members(self, group_id: str) -> frozenset[str]:
        with self._lock:
            cached = self._members.get(group_id)
        if cached is not None:
            return cached
        try:
            response = self._slack.usergroups_users_list(usergroup=group_id)
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            if error in ("no_such_subgroup", "subteam_not_found"):
                logger.warning("allow-list group %s does not exist in this workspace", group_id)
                members: frozenset[str] = frozenset()
            else:
                raise AccessCheckError(f"Slack refused usergroups.users.list: {error}") from exc
        except SlackClientError as exc:
            raise AccessCheckError("Slack could not be reached to check user groups") from exc
        else:
            members = frozenset(str(u) for u in response.get("users") or [])
        with self._lock:
            self._members[group_id] = members
        return members
