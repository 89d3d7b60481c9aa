"""lab_adapters package."""
