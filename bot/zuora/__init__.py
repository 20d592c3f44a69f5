"""The Zuora layer: a REST client (`client`), its models, errors and settings; import from the modules."""
