"""The trainer: config -> data -> model -> Horovod data-parallel loop -> checkpoints and outputs."""
