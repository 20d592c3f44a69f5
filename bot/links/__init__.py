"""Zuora account links in Slack: link unfurls and the "Zuora failures for this account" message shortcut."""
