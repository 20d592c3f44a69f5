"""Shared Slack layer: messages and elements, mrkdwn, posting once, the request gate, access rules."""
