"""Rendering decoded streams: remix with residual attribution (more to come: profiles, spatial)."""
