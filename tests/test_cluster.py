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
    ({"SLURM_JOB_NODELIST": "node[1-2"}, "its brackets do not pair up"),
    ({"SLURM_JOB_NODELIST": "n[1-2]", "SLURM_TASKS_PER_NODE": "4(x2)", "SLURM_NTASKS_PER_NODE": "2"},
     "SLURM_TASKS_PER_NODE=4\\(x2\\) contradicts SLURM_NTASKS_PER_NODE=2"),
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


def test_hosts_and_hostfiles_read_into_one_checked_layout(tmp_path):
    from mxdl.cluster import parse_hostfile, parse_hosts
    assert parse_hosts("n1:4, n2") == [("n1", 4), ("n2", 1)]
    hostfile = tmp_path / "hosts"
    hostfile.write_text("# the rack\nn1 slots=8\nn2 slots=8  # spare\n\n")
    assert parse_hostfile(str(hostfile)) == [("n1", 8), ("n2", 8)]
    for bad, message in [("h 1:2", "'h 1' is not a host name"), ("a:0", "slots '0'"), ("a:b:c", "slots 'b:c'"),
                         ("n1:2,n1:2", "n1 listed twice"), ("a,,b", "'' is not a host name")]:
        with pytest.raises(UserError, match=message):
            parse_hosts(bad)


def test_the_interface_is_chosen_only_when_every_host_routes_through_one():
    from mxdl.cluster import shared_interface

    class Route:
        def __init__(self, table):
            self.table = table

        def __call__(self, cmd, **kw):
            import subprocess
            return subprocess.CompletedProcess(cmd, 0, f"{cmd[-1]} dev {self.table[cmd[-1]]} src 10.0.0.9", "")
    assert shared_interface(["10.0.0.1", "10.0.0.2"], Route({"10.0.0.1": "ib0", "10.0.0.2": "ib0"})) == "ib0"
    assert shared_interface(["10.0.0.1", "10.0.0.2"], Route({"10.0.0.1": "ib0", "10.0.0.2": "eth0"})) is None
    assert shared_interface(["127.0.0.1"], Route({"127.0.0.1": "lo"})) is None


@pytest.mark.parametrize("size", [2, 64, 256])
def test_srun_tasks_take_the_slots_the_rendezvous_server_was_given(size):
    """Simulated allocations of up to 256 workers, 8 per node: every task's HOROVOD_* from Slurm's
    rank matches Horovod's own assignment of the same hosts."""
    from horovod.runner.common.util.hosts import get_host_assignments, parse_hosts as hvd_hosts
    from mxdl.srun import slot_plan, task_environment
    import json
    layout = [(f"gpu{n:03d}", 8) for n in range((size + 7) // 8)]
    plan, nodes = slot_plan(layout, size)
    assert nodes == len(layout)
    theirs = get_host_assignments(hvd_hosts(",".join(f"{h}:{s}" for h, s in layout)), size, size)
    for slot, their in zip(plan, theirs):
        env = task_environment({"MXDL_SRUN_PLAN": json.dumps(plan), "SLURM_PROCID": str(slot["rank"]),
                                "SLURMD_NODENAME": slot["hostname"]})
        assert env == {"HOROVOD_HOSTNAME": their.hostname, "HOROVOD_RANK": str(their.rank),
                       "HOROVOD_SIZE": str(their.size), "HOROVOD_LOCAL_RANK": str(their.local_rank),
                       "HOROVOD_LOCAL_SIZE": str(their.local_size), "HOROVOD_CROSS_RANK": str(their.cross_rank),
                       "HOROVOD_CROSS_SIZE": str(their.cross_size)}


def test_a_task_placed_off_plan_is_one_line():
    from mxdl.srun import slot_plan, task_environment
    import json
    plan, _ = slot_plan([("a", 2), ("b", 2)], 4)
    with pytest.raises(UserError, match="srun placed rank 2 on a, but the rendezvous plan has it on b"):
        task_environment({"MXDL_SRUN_PLAN": json.dumps(plan), "SLURM_PROCID": "2", "SLURMD_NODENAME": "a"})
    with pytest.raises(UserError, match="--np 5 is more than the 4 tasks"):
        slot_plan([("a", 2), ("b", 2)], 5)
