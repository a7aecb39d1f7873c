"""Schools: the tenants. No blueprint; admins edit settings in :mod:`app.admin`."""
