#!/usr/bin/env bash
# launch/train.sh: run mxdl-train as a Horovod job on one machine or many.
#
#   launch/train.sh CONFIG [key=value ...] [--np N] [--hosts h1:4,h2:4 | --hostfile FILE]
#                   [--resume | --resume-from EPOCH | --fresh] [--output DIR]
#                   [--max-restarts K [--min-np N]] [--mpi | --srun] [--nic NAME] [--start-timeout S] [--hang-timeout S]
#                   [--stop-grace SECONDS] [--verify-data | --no-verify-data] [--timeline FILE]
#                   [--fusion-threshold-mb MB] [--cycle-time-ms MS] [--hierarchical-allreduce] [--dry-run]
#
#   launch/train.sh configs/digits.yaml --np 2                   # 2 CPU workers here
#   launch/train.sh configs/imagenet_resnet50.yaml               # one worker per local GPU
#   launch/train.sh configs/imagenet_resnet50.yaml --hosts node1:8,node2:8
#   launch/train.sh configs/cifar10_resnet.yaml --resume-from 40 optim.lr=1e-4
#   sbatch launch/slurm.sbatch configs/imagenet_resnet50.yaml    # hosts from the allocation
#
# Exit status: 0 finished; 75 stopped on request with a checkpoint (resume later);
# 1 failed; 2 usage error; 130 ended at once by a second interrupt (or before any worker started).
#
# Before any worker starts, a preflight checks mxnet, Horovod, GPUs, the hosts, the run
# directory and the shards: their sizes always, their checksums when they total at most
# 2 GiB (--verify-data checks them at any size, --no-verify-data never).
#
# ctrl+c, TERM, HUP (a closed terminal) or USR1 (Slurm's warning before preemption):
# the first asks every worker to stop at the same step and save a checkpoint (the
# launcher creates RUN/STOP; rank 0 sees it and all workers agree through an
# allreduce). The launcher then waits up to --stop-grace seconds (default 900) for
# the save; horovodrun's own ctrl+c handling would SIGKILL the workers after 5
# seconds, so the job runs in its own session where the terminal's ctrl+c cannot
# reach it. A second signal ends everything at once.
#
# Inside a Slurm allocation (sbatch or salloc) with no --hosts/--hostfile, the hosts
# and slots come from SLURM_JOB_NODELIST and the tasks (or GPUs) per node. horovodrun
# starts the remote workers over ssh; with --srun (launch/slurm.sbatch's default) srun
# starts one task per slot instead and they meet at a rendezvous server run here
# (mxdl/srun.py), so no ssh between compute nodes is needed.
#
# The network interface: --nic, or else the one this machine routes to every host through
# (logged), or else Horovod's own choice.
#
# When a worker dies (crash, out of memory, lost node) horovodrun ends the others
# and exits non-zero; with --max-restarts K the job restarts from the latest
# checkpoint up to K times. A requested stop is never restarted.
set -uo pipefail

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
help_text() {  # every option the parser below takes, with its meaning and default
    usage
    cat <<EOF

options:
  CONFIG                      a YAML experiment, or the name of a config that ships with mxdl
  key=value                   config overrides, e.g. optim.lr=0.01 data.dir=shards/cifar10
  --np N                      workers (default: the hosts' slots; one per local GPU; else 1)
  --hosts H:S,...             hosts and worker slots, e.g. node1:8,node2:8 (default: this machine,
                              or the Slurm allocation inside sbatch/salloc)
  --hostfile FILE             the same as a file: one "host slots=S" per line
  --resume                    continue from the run's latest checkpoint (one must exist)
  --resume-from EPOCH         continue from the checkpoint written at the end of EPOCH
  --fresh                     delete the run's checkpoints, history and step log; start over
                              (default: continue from the latest checkpoint if there is one)
  --output DIR                run directory (default: runs/<config name>)
  --max-restarts K            restart a failed job from its latest checkpoint up to K times,
                              leaving out hosts that no longer answer (default: 0)
  --min-np N                  give up when fewer than N worker slots survive (default: 1)
  --stop-grace SECONDS        how long a requested stop may take to save (default: 900, or
                              \$MXDL_STOP_GRACE)
  --mpi                       Horovod's MPI controller instead of Gloo
  --srun                      inside a Slurm allocation, start the workers with srun (no ssh between nodes)
  --nic NAME                  the network interface the hosts share, e.g. eth0 (default: the one this
                              machine routes to every host through, else Horovod's choice)
  --start-timeout SECONDS     how long the workers may take to start and meet (default: 60)
  --hang-timeout SECONDS      a worker silent this long (stopped, cut off, stuck in I/O) ends the job, named,
                              and --max-restarts restarts it on the hosts that answer (default: 120)
  --verify-data               check the shards' checksums whatever their size
  --no-verify-data            never check the checksums (default: when the shards total <= 2 GiB)
  --timeline FILE             write Horovod's timeline (chrome trace) to FILE
  --fusion-threshold-mb MB    Horovod's tensor fusion buffer (default: Horovod's 64, or the config's)
  --cycle-time-ms MS          Horovod's cycle time (default: Horovod's 1 ms; 0.1 on GPU nodes)
  --hierarchical-allreduce    allreduce within each node first, then across nodes
  --dry-run                   print the layout and the horovodrun command, start nothing
  -h, --help                  this text

exit codes: $EXIT_OK finished; $EXIT_FAILED failed; $EXIT_USAGE usage or input error (one line, before any worker
starts when it can be known then); $EXIT_STOPPED stopped on request with a checkpoint (resume later);
$EXIT_INTERRUPTED ended at once by a second interrupt, or interrupted before any worker started.
EOF
}

# Until the job starts, ctrl+c ends the launcher at once with one line. Each step runs in the
# background, where it ignores SIGINT (so Python prints no traceback) and `wait` returns at once.
STEP_PID=""
interrupted_before_job() {
    [ -n "$STEP_PID" ] && kill -TERM "$STEP_PID" 2>/dev/null
    echo "launch/train.sh: interrupted before any worker started; nothing was run" >&2
    exit "${EXIT_INTERRUPTED:-130}"  # 130 is also the shell's own status for ctrl+c, before the codes are read
}
trap interrupted_before_job INT TERM HUP
# before_job CMD...: run a step where the trap above can end it (output goes to a file, not to
# $(...), whose subshell would not share the trap)
before_job() { "$@" & STEP_PID=$!; wait "$STEP_PID"; local rc=$?; STEP_PID=""; return "$rc"; }
STEP_OUT=$(mktemp) && ATTEMPT_LOG=$(mktemp) || { echo "launch/train.sh: cannot create a temporary file" >&2; exit 2; }
trap 'rm -f "$STEP_OUT" "$ATTEMPT_LOG"' EXIT

# The exit codes are mxdl's (mxdl/errors.py); the python on PATH is the one that runs the workers.
PYTHON=$(command -v python3 || command -v python) || { echo "launch/train.sh: python not found on PATH" >&2; exit 2; }
# (no redirection of stderr here: the ctrl+c trap would write into it)
before_job "$PYTHON" -m mxdl.errors shell > "$STEP_OUT" \
    || { echo "launch/train.sh: mxdl does not import with $PYTHON: activate its environment (make env)" >&2; exit 2; }
source "$STEP_OUT"
die() { echo "launch/train.sh: $*" >&2; exit "$EXIT_USAGE"; }
# value OPTION NEXT WHAT: the option's value, or a usage error (exit 2) naming what it needs
value() { [ -n "${2-}" ] && [[ "$2" != --* ]] || die "$1 needs $3"; VALUE=$2; }
resume_mode() { [ ${#RESUME_ARGS[@]} = 0 ] || die "give one of --resume, --resume-from and --fresh"; }

CONFIG="" NIC="" NP="" HOSTS="" HOSTFILE="" OUTPUT="" DRY_RUN=0 MAX_RESTARTS=0 MIN_NP=1 CONTROLLER=gloo VERIFY=auto
START=ssh START_TIMEOUT=60 HANG_TIMEOUT=120 TIMELINE=""
TUNING=()  # horovodrun's own performance flags, passed through
STOP_GRACE=${MXDL_STOP_GRACE:-900}
RESUME_ARGS=() OVERRIDES=()
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) help_text; exit "$EXIT_OK" ;;
        --np) value "$1" "${2-}" "a number"; NP=$VALUE; shift ;;
        --hosts) value "$1" "${2-}" "h1:4,h2:4"; HOSTS=$VALUE; shift ;;
        --hostfile) value "$1" "${2-}" "a file"; HOSTFILE=$VALUE; shift ;;
        --resume|--fresh) resume_mode; RESUME_ARGS=("$1") ;;
        --resume-from) resume_mode; value "$1" "${2-}" "an epoch"
            [[ "$VALUE" =~ ^[0-9]+$ ]] || die "--resume-from takes an epoch number, got '$VALUE'"
            RESUME_ARGS=(--resume-from "$VALUE"); shift ;;
        --output) value "$1" "${2-}" "a directory"; OUTPUT=$VALUE; shift ;;
        --max-restarts) value "$1" "${2-}" "a number"; MAX_RESTARTS=$VALUE; shift ;;
        --min-np) value "$1" "${2-}" "a number"; MIN_NP=$VALUE; shift ;;
        --stop-grace) value "$1" "${2-}" "seconds"; STOP_GRACE=$VALUE; shift ;;
        --mpi) CONTROLLER=mpi ;;
        --srun) START=srun ;;
        --start-timeout) value "$1" "${2-}" "seconds"; START_TIMEOUT=$VALUE; shift ;;
        --hang-timeout) value "$1" "${2-}" "seconds"; HANG_TIMEOUT=$VALUE; shift ;;
        --nic) value "$1" "${2-}" "an interface name, e.g. eth0"; NIC=$VALUE; shift ;;
        --timeline) value "$1" "${2-}" "a file"; TIMELINE=$VALUE; TUNING+=(--timeline-filename "$VALUE"); shift ;;
        --fusion-threshold-mb|--cycle-time-ms) value "$1" "${2-}" "a number"
            [[ "$VALUE" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "$1 takes a number, got '$VALUE'"
            TUNING+=("$1" "$VALUE"); shift ;;
        --hierarchical-allreduce) TUNING+=("$1") ;;
        --verify-data) VERIFY=on ;;
        --no-verify-data) VERIFY=off ;;
        --dry-run) DRY_RUN=1 ;;
        --*) die "unknown option $1 (see --help)" ;;
        *=*) OVERRIDES+=("$1") ;;
        *) [ -z "$CONFIG" ] || die "two configs given: $CONFIG and $1"; CONFIG=$1 ;;
    esac
    shift
done
[ -n "$CONFIG" ] || { usage >&2; die "no CONFIG given"; }
[ -z "$HOSTS" ] || [ -z "$HOSTFILE" ] || die "give --hosts or --hostfile, not both"
[[ "$MAX_RESTARTS" =~ ^[0-9]+$ ]] || die "--max-restarts must be a whole number"
[[ "$MIN_NP" =~ ^[1-9][0-9]*$ ]] || die "--min-np must be a positive number, got '$MIN_NP'"
[[ "$STOP_GRACE" =~ ^[0-9]+$ ]] || die "--stop-grace must be a whole number of seconds, got '$STOP_GRACE'"
[ -z "$NP" ] || [[ "$NP" =~ ^[1-9][0-9]*$ ]] || die "--np must be a positive number, got '$NP'"
[[ "$START_TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "--start-timeout must be a positive whole number of seconds, got '$START_TIMEOUT'"
[[ "$HANG_TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "--hang-timeout must be a positive whole number of seconds, got '$HANG_TIMEOUT'"
# Every worker waits at most this long in a collective (Gloo's timeout, 30 s by default): a worker
# that stops answering ends the job instead of hanging it, and mxdl.joblog names the silent one.
export HOROVOD_GLOO_TIMEOUT_SECONDS=$HANG_TIMEOUT
[ "$START" = ssh ] || [ "$CONTROLLER" = gloo ] || die "give --srun or --mpi, not both (--srun uses Gloo's rendezvous)"
if [ "$START" = srun ] && [ -z "${SLURM_JOB_ID:-}" ]; then
    die "--srun starts workers inside a Slurm allocation (sbatch or salloc), and there is none here (no SLURM_JOB_ID)"
fi
[ "$START" = ssh ] || [ -z "$HOSTS$HOSTFILE" ] || die "--srun takes its hosts from the Slurm allocation; drop --hosts/--hostfile"


if [ -z "$HOSTS$HOSTFILE" ] && [ -n "${SLURM_JOB_NODELIST:-}" ]; then
    before_job "$PYTHON" -m mxdl.cluster slurm-hosts > "$STEP_OUT" || exit "$EXIT_USAGE"
    HOSTS=$(cat "$STEP_OUT")
    echo "Slurm allocation ${SLURM_JOB_ID:-}: hosts $HOSTS"
fi
# The run directory, its STOP file and its outcome file are named by mxdl itself.
# A bare name (digits) is a config that ships with mxdl; mxdl.runs.layout says which file that is.
before_job "$PYTHON" -m mxdl.runs.layout "$CONFIG" ${OUTPUT:+--output "$OUTPUT"} > "$STEP_OUT" || exit "$EXIT_USAGE"
{ read -r CONFIG; read -r RUN_DIR; read -r STOP_FILE; read -r OUTCOME_FILE; read -r HEARTBEAT_FILE; } < "$STEP_OUT"

# ---- host layout --------------------------------------------------------------------------
# --hosts and --hostfile become one checked list of host:slots (mxdl/cluster.py), so a restart can
# drop hosts from it
if [ -n "$HOSTS$HOSTFILE" ]; then
    before_job "$PYTHON" -m mxdl.cluster hosts ${HOSTS:+--hosts "$HOSTS"} ${HOSTFILE:+--hostfile "$HOSTFILE"} \
        > "$STEP_OUT" || exit "$EXIT_USAGE"
    HOSTS=$(cat "$STEP_OUT") HOSTFILE=""
fi
host_list() { tr ',' '\n' <<<"$HOSTS" | awk -F: 'NF{print $1, $2}'; }  # one "host slots" line per host
# GPUs on this (the launching) node, counted as every worker counts its own (mxdl/topology.py)
before_job "$PYTHON" -m mxdl.topology gpus > "$STEP_OUT" || exit "$EXIT_USAGE"
read -r LOCAL_GPUS GPU_SOURCE < "$STEP_OUT"
if [ -n "$HOSTS" ]; then
    SLOTS=$(host_list | awk '{s+=$2} END{print s+0}')
    NP=${NP:-$SLOTS}
    [ "$NP" -le "$SLOTS" ] || die "--np $NP is more than the $SLOTS slots the hosts offer"
    PER_HOST=$(host_list | awk 'NR==1{print $2}')
else
    NP=${NP:-$([ "$LOCAL_GPUS" -gt 0 ] && echo "$LOCAL_GPUS" || echo 1)}
    PER_HOST=$NP
fi
[[ "$NP" =~ ^[1-9][0-9]*$ ]] || die "the hosts give no worker slots: check --hosts/--hostfile"
[ "$MIN_NP" -le "$NP" ] || die "--min-np $MIN_NP is more than the $NP worker(s) the job starts with"
NIC_NOTE=""
if [ -z "$NIC" ] && [ -n "$HOSTS" ] && [ "$START" = ssh ]; then
    before_job "$PYTHON" -m mxdl.cluster nic $(host_list | awk '{print $1}') > "$STEP_OUT" || exit "$EXIT_USAGE"
    NIC=$(cat "$STEP_OUT")
    [ -n "$NIC" ] && NIC_NOTE="network interface: $NIC (the route to every host from here; --nic overrides)"
fi
# Each worker splits its node's cores between compute and decoding itself (mxdl/budget.py),
# from the cores it may use and the workers on its node; the layout below shows this node's.
if [ "$LOCAL_GPUS" -gt 0 ]; then
    DEVICE="one GPU per worker (mx.gpu(local_rank)), NCCL allreduce"
    # NVIDIA's MXNet ResNet-50 settings for GPU nodes (a value already set is kept):
    # two engine threads per GPU, so compute overlaps the next batch's copy...
    export MXNET_GPU_WORKER_NTHREADS=${MXNET_GPU_WORKER_NTHREADS:-2}
    export MXNET_GPU_COPY_NTHREADS=${MXNET_GPU_COPY_NTHREADS:-1}
    # ...cuDNN's heuristics instead of timing every algorithm at start-up, which needs large
    # workspaces (out-of-memory at start) and minutes on big networks...
    export MXNET_CUDNN_AUTOTUNE_DEFAULT=${MXNET_CUDNN_AUTOTUNE_DEFAULT:-0}
    # ...forward and backward operators launched in bulk, fewer engine round trips per step...
    export MXNET_EXEC_BULK_EXEC_MAX_NODE_TRAIN_FWD=${MXNET_EXEC_BULK_EXEC_MAX_NODE_TRAIN_FWD:-999}
    export MXNET_EXEC_BULK_EXEC_MAX_NODE_TRAIN_BWD=${MXNET_EXEC_BULK_EXEC_MAX_NODE_TRAIN_BWD:-25}
    # ...Horovod negotiating every 0.1 ms and fusing gradients into 64 MiB buffers, so the
    # allreduce of one layer starts while the backward pass computes the next.
    export HOROVOD_CYCLE_TIME=${HOROVOD_CYCLE_TIME:-0.1}
    export HOROVOD_FUSION_THRESHOLD=${HOROVOD_FUSION_THRESHOLD:-67108864}
else
    DEVICE="CPU"
fi
DEVICE+="; GPUs on the launching node: $LOCAL_GPUS ($GPU_SOURCE)"

build_hvd() {
    if [ "$START" = srun ]; then  # horovodrun's tuning flags are its own; under srun the env carries them
        HVD=("$PYTHON" -m mxdl.srun start --np "$NP" --start-timeout "$START_TIMEOUT" ${NIC:+--nic "$NIC"} --)
        return
    fi
    HVD=(horovodrun -np "$NP" "--$CONTROLLER" --start-timeout "$START_TIMEOUT" "${TUNING[@]}")
    [ -n "$HOSTS" ] && HVD+=(-H "$HOSTS")
    # Name the interface the nodes share when they also share others (e.g. docker0, or lo in
    # network namespaces): Horovod may otherwise pick one that does not reach the other nodes.
    [ -n "$NIC" ] && HVD+=(--network-interfaces "$NIC")
}
build_hvd
TRAIN=("$PYTHON" -m mxdl.train.cli "$CONFIG" "${OVERRIDES[@]}")
[ -n "$OUTPUT" ] && TRAIN+=(--output "$OUTPUT")

print_layout() {
    echo "layout: $NP worker(s); $DEVICE; threads here: $("$PYTHON" -m mxdl.budget --local-workers "$PER_HOST")"
    [ -n "$NIC_NOTE" ] && echo "$NIC_NOTE"
    echo "hang bound: a worker silent for ${HANG_TIMEOUT}s ends the job (--hang-timeout)"
    [ "$START" = srun ] && echo "workers started by srun in Slurm job ${SLURM_JOB_ID}; rendezvous on $(hostname)"
    if [ -n "$HOSTS" ]; then
        host_list | awk -v np="$NP" '{n=($2<np-r?$2:np-r); if(n>0) printf "  %s: ranks %d-%d\n", $1, r, r+n-1; r+=n}'
    else
        echo "  localhost: ranks 0-$((NP - 1))"
    fi
    echo "run directory: $RUN_DIR"
}

if [ "$DRY_RUN" = 1 ]; then
    print_layout
    echo "command: ${HVD[*]} ${TRAIN[*]} ${RESUME_ARGS[*]}"
    exit 0
fi

# One id for this launcher's job across its restarts: the run directory's lock (mxdl/runs/liveness.py)
# lets a restart of the same job take over from its own dead rank 0, and refuses anyone else's.
export MXDL_JOB_ID="launch/train.sh pid $$ on $(hostname) at $(date +%s)"
# ---- preflight: one line per problem, before any worker starts ------------------------------
preflight_args=(--np "$NP" --config "$CONFIG" --run-dir "$RUN_DIR" --controller "$CONTROLLER" --verify-data "$VERIFY")
[ "${RESUME_ARGS[0]:-}" = --resume-from ] && preflight_args+=("${RESUME_ARGS[@]}")
[ -n "$HOSTS" ] && preflight_args+=(--hosts "$(host_list | awk '{printf "%s%s", sep, $1; sep=","}')")
[ "$START" = srun ] && preflight_args+=(--srun)
[ -n "$NIC" ] && preflight_args+=(--nic "$NIC")
[ -n "$TIMELINE" ] && preflight_args+=(--timeline "$TIMELINE")
before_job "$PYTHON" -m mxdl.preflight "${preflight_args[@]}" "${OVERRIDES[@]}" || exit "$EXIT_USAGE"

# ---- run, with coordinated ctrl+c and restarts -----------------------------------------------
JOB_PID="" STOPPING=0 STOP_DEADLINE=0
export MXDL_UNDER_LAUNCHER=1  # the workers leave the resume hint to this script, which knows the hosts
mkdir -p "$RUN_DIR"
rm -f "$STOP_FILE" "$OUTCOME_FILE"
# The workers end themselves when this heartbeat stops (this script killed by any signal, SIGKILL
# included): no job trains on without its launcher. Touched every poll below.
export MXDL_LAUNCHER_HEARTBEAT=$HEARTBEAT_FILE
touch "$HEARTBEAT_FILE"
trap 'rm -f "$STEP_OUT" "$ATTEMPT_LOG" "$HEARTBEAT_FILE"' EXIT

kill_job() {
    [ -n "$JOB_PID" ] || return 0
    kill -TERM -- "-$JOB_PID" 2>/dev/null
    sleep 3
    kill -KILL -- "-$JOB_PID" 2>/dev/null
}
on_interrupt() {
    if [ "$STOPPING" = 1 ]; then
        echo "launch/train.sh: second interrupt: ending all workers now" >&2
        kill_job
        exit "$EXIT_INTERRUPTED"
    fi
    STOPPING=1
    STOP_DEADLINE=$(( $(date +%s) + STOP_GRACE ))
    touch "$STOP_FILE"
    echo "launch/train.sh: stopping: workers finish the current step and save a checkpoint" \
         "(up to ${STOP_GRACE}s; press ctrl+c again to end at once)" >&2
}
trap on_interrupt INT TERM HUP USR1
OVERRAN=0
resume_command() {  # this job's command with --resume: the same hosts, start, network and tuning flags
    local where="--np $NP" flags=""
    if [ "$START" = srun ]; then where+=" --srun"; elif [ -n "$HOSTS" ]; then where+=" --hosts $HOSTS"; fi
    [ "$CONTROLLER" = mpi ] && flags+=" --mpi"
    [ -n "$NIC" ] && flags+=" --nic $NIC"
    [ "$START_TIMEOUT" != 60 ] && flags+=" --start-timeout $START_TIMEOUT"
    [ "$HANG_TIMEOUT" != 120 ] && flags+=" --hang-timeout $HANG_TIMEOUT"
    [ "$STOP_GRACE" != "${MXDL_STOP_GRACE:-900}" ] && flags+=" --stop-grace $STOP_GRACE"
    [ "$MAX_RESTARTS" != 0 ] && flags+=" --max-restarts $MAX_RESTARTS --min-np $MIN_NP"
    [ ${#TUNING[@]} -gt 0 ] && flags+=" $(tuning_flags)"
    echo "${MXDL_LAUNCHER:-$0} $CONFIG $where$flags --resume${OUTPUT:+ --output $OUTPUT} ${OVERRIDES[*]}"
}
tuning_flags() {  # the launcher's own names of horovodrun's tuning flags
    local out="" i=0
    while [ $i -lt ${#TUNING[@]} ]; do
        case "${TUNING[$i]}" in
            --timeline-filename) out+=" --timeline ${TUNING[$((i + 1))]}"; i=$((i + 2)) ;;
            --hierarchical-allreduce) out+=" ${TUNING[$i]}"; i=$((i + 1)) ;;
            *) out+=" ${TUNING[$i]} ${TUNING[$((i + 1))]}"; i=$((i + 2)) ;;
        esac
    done
    echo "${out# }"
}

# ---- restarts on the hosts that survive --------------------------------------------------------
declare -A STRIKES=()  # host -> consecutive failures that began with one of its ranks
host_of_rank() { host_list | awk -v r="$1" '{if (r < $2) {print $1; exit}; r -= $2}'; }
is_local() { case "$1" in localhost|127.0.0.1|::1|"$(hostname)"|"$(hostname -f 2>/dev/null)") return 0 ;; esac; return 1; }
answers_ssh() {  # under srun, Slurm itself ends a job whose node is lost; no ssh to ask with
    [ "$START" = srun ] || is_local "$1" || ssh -o BatchMode=yes -o ConnectTimeout=5 "$1" true </dev/null >/dev/null 2>&1
}
drop_lost_hosts() {  # RANK: drop hosts that no longer answer ssh, or whose ranks failed first twice running
    local failed_host="" keep="" lost=()
    [ -n "$1" ] && failed_host=$(host_of_rank "$1")
    for h in "${!STRIKES[@]}"; do [ "$h" = "$failed_host" ] || STRIKES[$h]=0; done
    [ -n "$failed_host" ] && STRIKES[$failed_host]=$(( ${STRIKES[$failed_host]:-0} + 1 ))
    while read -r host slots; do
        if ! answers_ssh "$host"; then
            lost+=("$host (no ssh)")
        elif [ "${STRIKES[$host]:-0}" -ge 2 ]; then
            lost+=("$host (the failure began on it twice running)")
        else
            keep+="${keep:+,}$host:$slots"
        fi
    done < <(host_list)
    [ ${#lost[@]} = 0 ] && return 0
    local slots_left=0
    [ -n "$keep" ] && slots_left=$(tr ',' '\n' <<<"$keep" | awk -F: '{s+=$2} END{print s+0}')
    if [ "$slots_left" -lt "$MIN_NP" ]; then
        echo "launch/train.sh: lost ${lost[*]}; $slots_left worker slot(s) left, below --min-np $MIN_NP: giving up" >&2
        exit "$EXIT_FAILED"
    fi
    echo "launch/train.sh: lost ${lost[*]}; continuing on $keep" >&2
    HOSTS=$keep
    NP=$(( NP < slots_left ? NP : slots_left ))
    build_hvd
}

attempt=0
while :; do
    cmd=("${HVD[@]}" "${TRAIN[@]}" "${RESUME_ARGS[@]}")
    echo "+ ${cmd[*]}"
    [ "$attempt" = 0 ] && print_layout
    : > "$ATTEMPT_LOG"
    # Own session: the terminal's ctrl+c reaches this script only, never horovodrun directly.
    # tee and the filter ignore INT too, so a ctrl+c cannot break the job's output pipe.
    # horovodrun's closing traceback stays in launch.log; the terminal gets the line below instead.
    # This attempt's output also goes to a temporary file, which the diagnosis reads: launch.log
    # may be cut short by the very full disk that ended the job (the workers say so themselves).
    setsid "${cmd[@]}" > >(trap '' INT TERM HUP USR1
                           tee -a "$RUN_DIR/launch.log" "$ATTEMPT_LOG" 2>/dev/null | "$PYTHON" -m mxdl.joblog filter) 2>&1 &
    JOB_PID=$!
    # Poll rather than block in `wait`, so a ctrl+c is handled at once and the stop deadline holds.
    while kill -0 "$JOB_PID" 2>/dev/null; do
        sleep 0.5
        touch "$HEARTBEAT_FILE" 2>/dev/null
        if [ "$STOPPING" = 1 ] && [ "$(date +%s)" -ge "$STOP_DEADLINE" ]; then
            echo "launch/train.sh: the stop took longer than ${STOP_GRACE}s; ending workers" >&2
            OVERRAN=1
            kill_job
        fi
    done
    wait "$JOB_PID"; status=$?
    outcome=$(cat "$OUTCOME_FILE" 2>/dev/null || true)
    if [ "$STOPPING" = 1 ] && [ "$OVERRAN" = 1 ]; then
        echo "launch/train.sh: the stop overran --stop-grace (${STOP_GRACE}s) and the workers were killed;" \
             "the checkpoint of this stop may be missing (the previous ones are intact)." \
             "Resume with: $(resume_command)" >&2
        exit "$EXIT_FAILED"
    fi
    if [ "$status" = 0 ] && [ "$outcome" = stopped ]; then
        echo "launch/train.sh: stopped with a checkpoint (exit $EXIT_STOPPED). Resume with: $(resume_command)"
        exit "$EXIT_STOPPED"
    fi
    [ "$status" = 0 ] && exit "$EXIT_OK"
    # horovodrun's log says which rank failed first; mxdl.joblog finds the one that stopped responding
    { read -r rank; read -r why; read -r first_code; } \
        < <("$PYTHON" -m mxdl.joblog diagnose "$ATTEMPT_LOG" "$NP")
    if [ "$first_code" = "$EXIT_USAGE" ]; then  # a worker refused its input: the same input fails again
        echo "launch/train.sh: a worker refused its input (the error above); not restarted" >&2
        exit "$EXIT_USAGE"
    fi
    echo "launch/train.sh: job failed with status $status ($why)" >&2
    if [ "$outcome" = failed ]; then  # the run ended itself (a diverged loss): a restart would repeat it
        [ "$MAX_RESTARTS" -gt 0 ] && echo "launch/train.sh: the run failed by itself, not by a crash; not restarted" >&2
        exit "$EXIT_FAILED"
    fi
    if [ "$attempt" -ge "$MAX_RESTARTS" ]; then
        exit "$status"
    fi
    attempt=$((attempt + 1))
    [ -n "$HOSTS" ] && drop_lost_hosts "${rank:-}"
    echo "launch/train.sh: restart $attempt of $MAX_RESTARTS from the latest checkpoint" \
         "($NP worker(s)${HOSTS:+ on $HOSTS})" >&2
    RESUME_ARGS=()   # mxdl-train resumes from the latest checkpoint in the run directory by default
done
