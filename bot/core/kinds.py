"""The two kinds of Zuora notification the bot lists and resends, named once for every layer."""

from typing import Literal

NotificationKind = Literal["email", "callout"]
