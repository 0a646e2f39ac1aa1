"""Evaluation and the book's workflows around a trained model: rank-k, 10-crop, ensembles,
error analysis, prediction, feature extraction."""
