"""Region masks (method §4–5): clusters of Ā, segmentation of the realistic twin, and the selection that
keeps the clusters the segmentation covers."""
