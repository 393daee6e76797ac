"""Dataset paths and loaders (one module per dataset), plus synthetic data for tests."""
