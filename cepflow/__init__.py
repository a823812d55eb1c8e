"""The composition root: settings, resources, the Bytewax flow module and every entry point."""
