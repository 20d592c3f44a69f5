"""How many accounts a set of failures touched: one definition for every card, alert and the CLI.

An account is one Zuora account, known by its id, its number or both: a record carrying both (a
callout's eventContext) joins them, so an email (id only) and a callout (number only) of the same
account count once when any record of the set names both. Keys are compared case-folded. A failure
with neither belongs to no account (a tenant-level event): it is not an account, and is counted
apart as "with no account" — the outages card, the digest, spike alerts and `zuora-ops outages`
all say "31 accounts, plus 3 with no account" for the same failures.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.zuora.models import CalloutHistory, EmailHistory


class AccountTally:
    """Distinct accounts among failures (ids and numbers joined) and failures with no account."""

    __slots__ = ("_parent", "without_account")

    def __init__(self) -> None:
        # Union-find over "i:<id>" and "n:<number>" nodes; one component is one account.
        self._parent: dict[str, str] = {}
        self.without_account = 0

    def add(self, account_id: str | None, account_number: str | None = None) -> None:
        """Count one failure of the account with this id and/or number (neither: no account)."""
        nodes = [
            f"{prefix}:{value.strip().casefold()}"
            for prefix, value in (("i", account_id), ("n", account_number))
            if value and value.strip()
        ]
        if not nodes:
            self.without_account += 1
            return
        for node in nodes:
            self._parent.setdefault(node, node)
        if len(nodes) == 2:
            self._join(nodes[0], nodes[1])

    def add_callout(self, callout: CalloutHistory) -> None:
        """Count one callout (its eventContext may name the account's id, number or both)."""
        self.add(callout.account_id, callout.account_number)

    def add_email(self, email: EmailHistory) -> None:
        """Count one email (Zuora lists the account's id only)."""
        self.add(email.account_id)

    def update(self, other: AccountTally) -> None:
        """Add another tally's accounts and failures (the same account in both counts once)."""
        for node in other._parent:
            self._parent.setdefault(node, node)
            self._join(node, other._root(node))
        self.without_account += other.without_account

    @property
    def accounts(self) -> int:
        """How many distinct accounts."""
        return sum(1 for node in self._parent if self._root(node) == node)

    def describe(self) -> str:
        """`31 accounts, plus 3 with no account` (or `1 account`): the same words everywhere."""
        words = f"{self.accounts:,} account" + ("" if self.accounts == 1 else "s")
        if self.without_account:
            words += f", plus {self.without_account:,} with no account"
        return words

    def _root(self, node: str) -> str:
        parent = self._parent[node]
        while parent != self._parent[parent]:
            self._parent[parent] = self._parent[self._parent[parent]]
            parent = self._parent[parent]
        self._parent[node] = parent
        return parent

    def _join(self, a: str, b: str) -> None:
        root_a, root_b = self._root(a), self._root(b)
        if root_a != root_b:
            self._parent[max(root_a, root_b)] = min(root_a, root_b)


def count_accounts(
    callouts: Iterable[CalloutHistory] = (), emails: Iterable[EmailHistory] = ()
) -> AccountTally:
    """The accounts of a set of failures (see the module docstring for what counts as one)."""
    tally = AccountTally()
    for callout in callouts:
        tally.add_callout(callout)
    for email in emails:
        tally.add_email(email)
    return tally


def merged(tallies: Iterable[AccountTally]) -> AccountTally:
    """One tally of several (e.g. every cause of an outages card)."""
    total = AccountTally()
    for tally in tallies:
        total.update(tally)
    return total


def count_account_keys(keys: Iterable[str]) -> int:
    """Accounts among stored per-failure keys (id, else number; "" for no account), case-folded.

    Spike alerts keep one key per failure in the database across checks; this counts them by the
    same rule, without the id/number join a single scan can make.
    """
    return len({key.strip().casefold() for key in keys if key and key.strip()})
