"""Zuora account links in Slack: link unfurls and the "Zuora account failures" message shortcut."""
