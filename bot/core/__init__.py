"""The bottom layer: action ids and button values, dedup keys, the lease keeper, the /zuora grammar, masks."""
