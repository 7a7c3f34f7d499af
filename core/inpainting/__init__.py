"""Inpainting: classical priors (priors.py), the model adapters (models.py), models a user adds
(user_models.py), the mask's regions and their scale (regions.py), texture from the photo
(exemplar.py) and the fill pipeline (pipeline.py)."""
