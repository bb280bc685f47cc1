"""Exporters: each turns a Tree into one file format."""
