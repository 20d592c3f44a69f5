"""ZuoraClient: notification history, accounts, resend and Data Query over one injected httpx.Client.

The client is split by concern, one module each, stacked on the one choke point:
`transport` (lifecycle, credentials and `_request`, which sends, retries and maps statuses through
`status`), `history` (one page), `scans` (time-sliced concurrent scans), `accounts` (lookup, cache
and an account's failures), `resend` and `queries` (Data Query jobs and result files).
"""

from __future__ import annotations

from bot.zuora.client.accounts import AccountReads
from bot.zuora.client.queries import DataQueries
from bot.zuora.client.resend import Resends
from bot.zuora.client.transport import build_http_client


class ZuoraClient(AccountReads, Resends, DataQueries):
    """Reads accounts and notification histories and resends notifications, with retries and limits.

    Thread-safe: listeners share one client. Public methods validate their input (keys, ids, track id,
    windows) before building any request and raise only ZuoraError subclasses (RuntimeError if used
    after `close()`).
    """


__all__ = ["ZuoraClient", "build_http_client"]
