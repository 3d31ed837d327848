"""partnerkit: what a partnership program actually drives.

The package holds the loaders, schemas and metric functions; the notebooks in
``notebooks/`` only call it and display the results.
"""

__version__ = "0.1.0"
