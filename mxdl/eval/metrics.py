"""Rank-k accuracy from probabilities, and scikit-learn's report and confusion matrix."""
import numpy as np


def rank_k(probs, labels, k):
    """Fraction of rows whose true label is among the k highest probabilities."""
    probs, labels = np.asarray(probs), np.asarray(labels).astype(int)
    k = min(k, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1)))


def accuracy_text(rank1, rank5, classes, names=("rank-1", "rank-5")):
    """``rank-1 0.9310  rank-5 0.9990``, without rank-5 where it cannot fail."""
    from ..runs.history import reports_top5
    if not reports_top5(classes):
        return f"{names[0]} {rank1:.4f}"
    return f"{names[0]} {rank1:.4f}  {names[1]} {rank5:.4f}"


def report(probs, labels, class_names):
    from sklearn.metrics import classification_report
    return classification_report(labels, np.argmax(probs, axis=1), labels=list(range(len(class_names))),
                                 target_names=class_names, digits=4, zero_division=0)


def confusion_png(probs, labels, class_names, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix
    matrix = confusion_matrix(labels, np.argmax(probs, axis=1), labels=list(range(len(class_names))))
    size = max(5, 0.45 * len(class_names))
    fig, ax = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay(matrix, display_labels=class_names).plot(
        ax=ax, cmap="Blues", colorbar=False, include_values=len(class_names) <= 30, xticks_rotation=90)
    ax.set_title("Confusion matrix (rows: true class)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return matrix
