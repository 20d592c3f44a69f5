"""The App Home tab: one user's cockpit (open alerts, watched accounts, their resends, subscriptions)."""
