"""Diffusion prior: the ADM UNet (``unet``), respaced schedules (``schedule``) and the DDIM/DDFM
sampler with a pluggable fusion correction (``sampler``)."""
