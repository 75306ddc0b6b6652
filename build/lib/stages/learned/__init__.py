"""The learned networks of the method: G_flow (§6) and G_frame (§7), their data, training and inference."""
