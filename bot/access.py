"""Who may resend: the allow-list of Slack user IDs and user-group IDs, checked at click time."""

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


class AccessPolicy:
    """Answers `may_resend(user_id)` from RESEND_ALLOWED_USERS, expanding user groups via Slack."""

    def __init__(
        self,
        allowed: frozenset[str],
        slack: WebClient,
        *,
        ttl: float = GROUP_CACHE_SECONDS,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._everyone = "*" in allowed
        self._users = frozenset(i for i in allowed if i[:1] in ("U", "W"))
        self._groups = tuple(sorted(i for i in allowed if i.startswith("S")))
        self._slack = slack
        self._members: TTLCache[str, frozenset[str]] = TTLCache(maxsize=256, ttl=ttl, timer=timer)
        self._lock = threading.Lock()

    def may_resend(self, user_id: str) -> bool:
        """Whether `user_id` is allowed, directly or through one of the allowed user groups."""
        if self._everyone or user_id in self._users:
            return True
        return any(user_id in self._group_members(group) for group in self._groups)

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
