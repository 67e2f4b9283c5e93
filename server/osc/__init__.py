"""The OSC address space: one route table per domain, one dispatcher, docs generated from the tables."""
