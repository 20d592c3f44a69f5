"""Account watches: `/zuora watch`, and a DM (at most hourly) when a watched account fails anew."""
