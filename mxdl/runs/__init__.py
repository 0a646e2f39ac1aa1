"""What a run leaves behind, and the one place that knows its files.

- :mod:`.layout`: the run directory's file names, the STOP and outcome files, ``--fresh``;
- :mod:`.checkpoint`: the checkpoint format (identity, meta, saver, loader, which one a run
  folder stands for);
- :mod:`.history`: the per-epoch history and the per-step metrics log;
- :mod:`.provenance`: the config a run trains with, and the ones it had before a resume;
- :mod:`.export`: the served files (symbol JSON + params, ONNX, model-preprocess.json).

The trainer writes these, and evaluation, export and the model zoo read them, through this
package only: none of them imports another's internals.
"""
