"""The ``ggbn-topics`` command line (installed as the package ``ggbn_topics``)."""
