"""The provider-neutral core: models, errors, images, settings, plugins, the flow and clients.

Nothing in this package names a vendor.
"""
