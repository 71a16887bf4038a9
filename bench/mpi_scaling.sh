#!/usr/bin/env bash
# Data-parallel training over MPI: time per step spent computing versus exchanging gradients, for
# the Keras seed network (784-512-10) and a larger one (784-2048-2048-10), across process counts,
# over two links:
#   loopback  every rank on this host, OpenMPI's TCP transport over `lo`;
#   veth      every rank in a network namespace of its own (a simulated host), joined through a
#             bridge by veth links shaped with tc to RATE each way (default 10 Gbit/s) and, when
#             the kernel has sch_netem, DELAY one way (default 50 µs; without netem, tbf shapes
#             the rate only and the report adds DELAY in its model); OpenMPI's TCP transport on
#             those links only. PMIx (rank ↔ mpirun) is told to listen on the bridge, which the
#             namespaces reach, instead of loopback, which they do not.
# Prints a Markdown table; writes bench/mpi_scaling.csv and bench/mpi_scaling.svg and the
# predicted speed-up at 2–64 nodes (bench/mpi_report.py).
#
#   bench/mpi_scaling.sh                  # needs root for the namespaces (skipped otherwise)
#   NS="1 2 4" ROWS=6400 RATE=10gbit DELAY=50us bench/mpi_scaling.sh
set -euo pipefail
cd "$(dirname "$0")/.."

NS="${NS:-1 2 3 4}"
ROWS="${ROWS:-6400}"
BATCH="${BATCH:-256}"
SHARDS="${SHARDS:-8}"
EPOCHS="${EPOCHS:-2}"
RATE="${RATE:-10gbit}"
DELAY="${DELAY:-50us}"
LINKS="${LINKS:-loopback veth}"
target="${MLP_MPI_TARGET_DIR:-$PWD/target/mpi}"
data="${MLP_DATA_DIR:-../shared/data}/mnist"
out_csv="bench/mpi_scaling.csv"
work="$(mktemp -d)"
trap 'cleanup_ns; rm -rf "$work"' EXIT

# MLP_MPI_BIN: an `mpi` build already made (else built here, apart from the default build).
bin="${MLP_MPI_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release -p mlp-cli --features mpi --target-dir "$target" --quiet
  bin="$target/release/mlp"
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1

# The first ROWS MNIST training images (the same rows for every run).
python3 - "$data" "$work/mnist" "$ROWS" <<'EOF'
import gzip, os, struct, sys
src, dst, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(dst, exist_ok=True)
img = gzip.open(os.path.join(src, "train-images-idx3-ubyte.gz")).read()
lab = gzip.open(os.path.join(src, "train-labels-idx1-ubyte.gz")).read()
with gzip.open(os.path.join(dst, "train-images-idx3-ubyte.gz"), "wb", compresslevel=1) as f:
    f.write(struct.pack(">IIII", 0x803, rows, 28, 28) + img[16:16 + rows * 784])
with gzip.open(os.path.join(dst, "train-labels-idx1-ubyte.gz"), "wb", compresslevel=1) as f:
    f.write(struct.pack(">II", 0x801, rows) + lab[8:8 + rows])
EOF

ns_up=0
cleanup_ns() {
  if [ "$ns_up" = 1 ]; then
    for i in $(seq 0 63); do ip netns del "mlpb$i" 2>/dev/null || true; done
    ip link del mlpbr0 2>/dev/null || true
    ns_up=0
  fi
}

# NMAX namespaces mlpb0.. with 10.231.0.(i+1)/24 on veth links to bridge mlpbr0 (10.231.0.254);
# each direction of each link shaped to RATE, with half of DELAY when netem exists (so one way
# host to host is DELAY).
netem=1
shape() { # dev [netns]
  local ns=(${2:+ip netns exec "$2"})
  if [ "$netem" = 1 ] && "${ns[@]}" tc qdisc add dev "$1" root netem delay "$half" rate "$RATE" limit 100000 2>/dev/null; then
    return
  fi
  netem=0
  "${ns[@]}" tc qdisc replace dev "$1" root tbf rate "$RATE" burst 1mb latency 10ms
}
setup_ns() {
  local nmax=$1
  half="$(python3 -c "import re,sys; v=re.match(r'([0-9.]+)(\w+)', sys.argv[1]); print(f'{float(v[1])/2:g}{v[2]}')" "$DELAY")"
  ip link add mlpbr0 type bridge
  ip addr add 10.231.0.254/24 dev mlpbr0
  ip link set mlpbr0 up
  ns_up=1
  for i in $(seq 0 $((nmax - 1))); do
    ip netns add "mlpb$i"
    ip link add "mlpv$i" type veth peer name eth0 netns "mlpb$i"
    ip link set "mlpv$i" master mlpbr0 up
    ip -n "mlpb$i" addr add "10.231.0.$((i + 1))/24" dev eth0
    ip -n "mlpb$i" link set eth0 up
    ip -n "mlpb$i" link set lo up
    shape eth0 "mlpb$i"
    shape "mlpv$i"
  done
  [ "$netem" = 1 ] || echo "(no sch_netem in this kernel: the links are rate-shaped with tbf, without added delay)" >&2
}

net_spec() {
  case $1 in
    seed) echo "512:relu,10:softmax" ;;
    large) echo "2048:relu,2048:relu,10:softmax" ;;
  esac
}

run_one() { # link net n
  local link=$1 net=$2 n=$3 log="$work/$1-$2-$3.log"
  local args=(train --data "$work/mnist" --layers "$(net_spec "$net")" --epochs "$EPOCHS" --batch-size "$BATCH"
    --shards "$SHARDS" --no-shuffle --seed 1 --out "$work/m-$link-$net-$n.safetensors" -q)
  local mpi=(mpirun --oversubscribe --bind-to none -np "$n" --mca btl tcp,self -x MLP_MPI_STATS=1)
  if [ "$link" = loopback ]; then
    "${mpi[@]}" --mca btl_tcp_if_include lo "$bin" "${args[@]}" 2>"$log" >/dev/null
  else
    # Each rank enters the namespace of its rank number before exec'ing mlp.
    PMIX_MCA_ptl_tcp_remote_connections=1 PMIX_MCA_ptl_tcp_if_include=mlpbr0 \
      "${mpi[@]}" --mca btl_tcp_if_include 10.231.0.0/24 --mca oob_tcp_if_include mlpbr0 \
      bash -c 'exec ip netns exec "mlpb$OMPI_COMM_WORLD_RANK" "$@"' mlp "$bin" "${args[@]}" 2>"$log" >/dev/null
  fi
  # One CSV row per rank.
  grep '^mpi-stats' "$log" | sed -E "s/^mpi-stats /link=$link net=$net params=$(python3 -c "
import sys; w=[784]+[int(x.split(':')[0]) for x in sys.argv[1].split(',')]; print(sum(a*b+b for a,b in zip(w,w[1:])))" "$(net_spec "$net")") /" \
    | tr ' ' '\n' | paste -sd, >>"$work/rows.txt" || { echo "run $link $net -np $n failed:" >&2; cat "$log" >&2; exit 1; }
}

: >"$work/rows.txt"
nmax=1
for n in $NS; do [ "$n" -gt "$nmax" ] && nmax=$n; done
for link in $LINKS; do
  if [ "$link" = veth ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "(veth: needs root for network namespaces; skipped)" >&2
      continue
    fi
    setup_ns "$nmax"
  fi
  for net in seed large; do
    for n in $NS; do
      run_one "$link" "$net" "$n"
    done
  done
  [ "$link" = veth ] && cleanup_ns
done
echo "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores" >&2
python3 bench/mpi_report.py "$work/rows.txt" --csv "$out_csv" --svg bench/mpi_scaling.svg \
  --rate "$RATE" --delay "$DELAY" --netem "$netem" --load "$(cut -d' ' -f1-3 /proc/loadavg)" --cores "$(nproc)"
