"""framefill's own network definitions, one module per family.

Each family module (``rife``, ``rife_hdv3``, ``rrdbnet``, ``srvgg``) defines the
network, ``detect(state_dict)`` and ``build(state_dict)``, which returns a
descriptor (``interp_model.InterpModel`` or ``models.upscale.UpscaleModel``);
:mod:`framefill.models.archs` registers them. ``common`` holds the state-dict
helpers they share. Importing a family module imports torch, so only model
loading does it.
"""
