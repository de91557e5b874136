"""Request and response models of the bank API, one module per entity.

``...Create`` models are what a bank sends (unknown fields are refused); ``...Public`` models are what it
gets back. Secrets (API key hashes, webhook secrets, customer-link token hashes) have no field in any
``Public`` model, so they cannot leak through a response.
"""
