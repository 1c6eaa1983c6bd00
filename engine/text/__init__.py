"""The text side of CLIP: prompt templates (``templates``, pure data) and the text encoder (``encoder``)."""
