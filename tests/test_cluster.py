"""Slurm allocations read into host layouts, and broken ones refused in one line."""
import pytest

from mxdl.cluster import expand_counts, expand_hostlist, slurm_layout
from mxdl.errors import UserError


def test_hostlists_expand_like_scontrol():
    assert expand_hostlist("gpu[01-03,07],login1") == ["gpu01", "gpu02", "gpu03", "gpu07", "login1"]
    assert expand_hostlist("n[8-11]") == ["n8", "n9", "n10", "n11"]
    assert expand_hostlist("a1,b[2-3]-ib") == ["a1", "b2-ib", "b3-ib"]
    assert expand_counts("4(x2),2") == [4, 4, 2]


def test_layout_from_tasks_or_gpus_per_node():
    env = {"SLURM_JOB_NODELIST": "node[1-2]", "SLURM_JOB_NUM_NODES": "2", "SLURM_TASKS_PER_NODE": "4(x2)",
           "SLURM_NTASKS": "8"}
    assert slurm_layout(env) == [("node1", 4), ("node2", 4)]
    assert slurm_layout({"SLURM_JOB_NODELIST": "g[1-3]", "SLURM_GPUS_ON_NODE": "8"}) == [
        ("g1", 8), ("g2", 8), ("g3", 8)]
    assert slurm_layout({"SLURM_JOB_NODELIST": "solo"}) == [("solo", 1)]


@pytest.mark.parametrize("env,message", [
    ({"SLURM_JOB_NODELIST": "n[1-3]", "SLURM_JOB_NUM_NODES": "2"}, "lists 3 nodes but SLURM_JOB_NUM_NODES is 2"),
    ({"SLURM_JOB_NODELIST": "n[1-3]", "SLURM_TASKS_PER_NODE": "2(x2)"}, "counts for 2 nodes but"),
    ({"SLURM_JOB_NODELIST": "n[1-2]", "SLURM_TASKS_PER_NODE": "2(x2)", "SLURM_NTASKS": "5"}, "SLURM_NTASKS is 5"),
    ({"SLURM_JOB_NODELIST": "n[a-b]"}, "cannot read the range 'a-b'"),
    ({}, "not inside a Slurm allocation"),
])
def test_contradicting_allocations_are_one_line_errors(env, message):
    with pytest.raises(UserError, match=message):
        slurm_layout(env)


def test_gpus_are_counted_from_where_they_are_known():
    from mxdl.topology import gpus
    assert gpus({"CUDA_VISIBLE_DEVICES": "0,1,2"}).describe() == "3 GPU(s) (CUDA_VISIBLE_DEVICES=0,1,2)"
    assert gpus({"CUDA_VISIBLE_DEVICES": "-1"}).count == 0
    assert gpus({"SLURM_GPUS_ON_NODE": "8"}, nvidia_smi="").describe() == "8 GPU(s) (from Slurm: SLURM_GPUS_ON_NODE=8)"
    assert gpus({}, nvidia_smi="").describe() == "no GPU (no nvidia-smi on this node)"


def test_rank_and_sizes_come_from_any_launcher():
    from mxdl.topology import is_primary, local_rank, rank, size
    assert (rank({"OMPI_COMM_WORLD_RANK": "3"}), size({"OMPI_COMM_WORLD_SIZE": "8"})) == (3, 8)
    assert (rank({"HOROVOD_RANK": "5"}), local_rank({"HOROVOD_LOCAL_RANK": "1"})) == (5, 1)
    assert rank({"SLURM_PROCID": "2", "SLURM_STEP_NUM_TASKS": "4"}) == 2
    assert rank({"SLURM_PROCID": "0"}) == 0 and is_primary({}) and not is_primary({"PMI_RANK": "1"})
