"""Rules that cross-check care records against reference data (see the inspectors issue)."""
