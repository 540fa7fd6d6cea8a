"""Training of the weights EndoFuse ships: the small diffusion prior and the US despeckler.

* :mod:`.data` — seeded patch sampler over images the project may ship or generate
  (scikit-image sample images, the phantom generator), with flips, rotations and intensity curves.
* :mod:`.prior` — epsilon-prediction DDPM training of :class:`engine.diffusion.unet.ADMUNet`.
* :mod:`.denoiser` — DnCNN training on simulated log-Rayleigh speckle.
* :mod:`.checkpointing` — resumable training state (model, optimiser, step, RNG states).
"""
