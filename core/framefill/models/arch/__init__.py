"""framefill's own network definitions, one module per family.

Each module defines the network, ``detect(state_dict)`` and ``build(state_dict)``;
:mod:`framefill.models.archs` registers them. Importing a family module imports
torch, so only model loading does it.
"""
