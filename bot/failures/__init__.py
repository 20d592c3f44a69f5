"""An account's failed callouts and emails: the Zuora reads, resend-id lookup and the failures card."""
