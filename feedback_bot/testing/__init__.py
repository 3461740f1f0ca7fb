"""Test doubles that sit at the network seam (e.g. a fake Twilio REST API)."""
