# shellcheck shell=bash
# The SLURM part of the testbed, sourced by scripts/testbed: a real single-node SLURM 22.05 cluster on the host
# hpc (namespace hv-hpc) with accounting: munged, MariaDB (temporary datadir), slurmdbd, slurmctld and slurmd.
#
# Configuration lives in /etc/netns/hv-hpc/slurm/. `ip netns exec hv-hpc` bind-mounts it over /etc/slurm for
# everything it starts (the daemons, hpc's sshd and so every SSH session), so hvuser runs sbatch/squeue/sacct
# with no SLURM_CONF, and the root namespace's /etc/slurm is left alone. State, pid files and logs live in
# $TESTBED_DIR/slurm/. The daemons run in their own UTS namespace whose hostname is hpc, so that SlurmctldHost,
# DbdHost and NodeName all say hpc on any machine.

readonly SLURM_DIR="$TESTBED_DIR/slurm"
# Jobs run as the test user from slurmd's spool directory, so it lives outside the repository, which that user
# cannot read (scripts/testbed, fence_repository).
readonly SLURM_SPOOL=/var/spool/harvester-testbed-slurmd
readonly SLURM_ETC="/etc/netns/$NS_HPC/slurm"   # seen as /etc/slurm inside hv-hpc
readonly SLURM_CONF_SEEN=/etc/slurm/slurm.conf
readonly SLURM_NOACCT_CONF_SEEN=/etc/slurm/noacct/slurm.conf
readonly SLURM_CLUSTER=testbed SLURM_NODE=hpc SLURM_PARTITION=debug SLURM_CPUS=64 SLURM_MEMORY_MB=16000
readonly SLURMCTLD_PORT=6817 SLURMD_PORT=6818 SLURMDBD_PORT=6819 MARIADB_PORT=13306
readonly MUNGE_SOCKET=/run/munge/munge.socket.2
readonly SLURM_WAIT_SECONDS=60

slurm_log() { echo "$SLURM_DIR/log/$1.log"; }
slurm_pidfile() { echo "$SLURM_DIR/run/$1.pid"; }

# ---------------------------------------------------------------------------------------------- packages

# What SLURM on hpc needs, as binary:package pairs.
readonly SLURM_BINARIES="/usr/sbin/munged:munge /usr/sbin/slurmctld:slurmctld /usr/sbin/slurmd:slurmd
  /usr/bin/sbatch:slurm-client /usr/sbin/slurmdbd:slurmdbd /usr/sbin/mariadbd:mariadb-server
  /usr/bin/mariadb-install-db:mariadb-server /usr/bin/mariadb:mariadb-client"

# "binary (package), ..." for the missing binaries; empty when nothing is missing.
slurm_missing_binaries() {
  local entry missing=()
  for entry in $SLURM_BINARIES; do
    [[ -x ${entry%%:*} ]] || missing+=("${entry%%:*} (${entry##*:})")
  done
  local IFS=','
  echo "${missing[*]}" | sed 's/,/, /g'
}

# The packages of the missing binaries, separated by spaces.
slurm_missing_packages() {
  local entry
  for entry in $SLURM_BINARIES; do
    [[ -x ${entry%%:*} ]] || echo "${entry##*:}"
  done | sort -u | paste -sd ' ' -
}

slurm_ensure_packages() {
  local missing
  missing="$(slurm_missing_binaries)"
  if [[ -n $missing ]]; then
    apt_install "$(slurm_missing_packages)" "SLURM on hpc: $missing"
    missing="$(slurm_missing_binaries)"
    [[ -z $missing ]] || die "SLURM on hpc still misses $missing after installing its packages"
  fi
  local plugin
  for plugin in accounting_storage_mysql accounting_storage_slurmdbd select_cons_tres proctrack_linuxproc; do
    compgen -G "/usr/lib/*/slurm-wlm/$plugin.so" >/dev/null || die "the SLURM plugin $plugin.so is missing (package slurm-wlm-basic-plugins or slurm-wlm-mysql-plugin)"
  done
  # The munge package normally creates the key; make one if a minimal install did not.
  if [[ ! -s /etc/munge/munge.key ]]; then
    install -d -m 700 -o munge -g munge /etc/munge
    (umask 077 && dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none)
    chown munge:munge /etc/munge/munge.key
  fi
  # `ip netns exec` can only bind-mount our slurm directory over an existing /etc/slurm.
  mkdir -p /etc/slurm
}

# ---------------------------------------------------------------------------------------------- processes

slurm_daemon_pid() { pid_from_file "$(slurm_pidfile "$1")" "$1"; }

# Commands started from here never inherit descriptor 9, the lock of scripts/testbed: a daemon holding it
# would block every later run.
#
# Runs a command inside hv-hpc (so /etc/slurm is our configuration) in a UTS namespace named hpc.
# `ip netns exec` mounts a fresh /sys without /sys/fs/cgroup, and slurmd 22.05 always loads a cgroup plugin
# (CgroupPlugin=disabled only came in 23.02): an empty tmpfs there, with cgroup/v1 and IgnoreSystemd in
# cgroup.conf, satisfies it; nothing uses cgroups (proctrack/linuxproc, task/none).
in_hpc_as_hpc() {
  # shellcheck disable=SC2016 # $0 and $@ belong to the inner shell
  ip netns exec "$NS_HPC" unshare --uts -- sh -c \
    'hostname "$0" && mount -t tmpfs -o mode=755 slurm-no-cgroup /sys/fs/cgroup && exec "$@"' "$SLURM_NODE" "$@" 9>&-
}

in_hpc() { ip netns exec "$NS_HPC" "$@" 9>&-; }

# ---------------------------------------------------------------------------------------------- munge

munge_answers() { munge -n -S "$MUNGE_SOCKET" </dev/null 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; }

# A running munged is reused (its socket is a file, shared by all namespaces); one we start is recorded in
# $SLURM_DIR/munged.ours so that `down` stops only that one.
munge_up() {
  munge_answers && return 0
  install -d -m 755 -o munge -g munge /run/munge
  rm -f "$SLURM_DIR/munged.ours"
  in_hpc runuser -u munge -- /usr/sbin/munged --socket="$MUNGE_SOCKET" --origin=127.0.0.1 \
    >>"$(slurm_log munged-start)" 2>&1 || die "munged did not start; see $(slurm_log munged-start) and /var/log/munge/munged.log"
  wait_until 10 munge_answers || die "munged does not answer on $MUNGE_SOCKET within 10 s; see /var/log/munge/munged.log"
  cp /run/munge/munged.pid "$SLURM_DIR/munged.ours"
}

munge_down() {
  [[ -s $SLURM_DIR/munged.ours ]] || return 0
  stop_by_pidfile "$SLURM_DIR/munged.ours" munged
}

# ---------------------------------------------------------------------------------------------- MariaDB

mariadb_socket() { echo "$SLURM_DIR/run/mariadb.sock"; }
mariadb_pid() { pid_from_file "$(slurm_pidfile mariadbd)" mariadbd; }
mariadb_sql() { in_hpc mariadb --no-defaults --protocol=socket --socket="$(mariadb_socket)" -u root "$@"; }

mariadb_up() {
  mariadb_pid >/dev/null && return 0
  local datadir="$SLURM_DIR/mariadb" log
  log="$(slurm_log mariadb)"
  if [[ ! -d $datadir/mysql ]]; then
    rm -rf "$datadir"
    mariadb-install-db --no-defaults --user=root --datadir="$datadir" --auth-root-authentication-method=socket \
      --skip-test-db --skip-name-resolve >>"$log" 2>&1 || die "mariadb-install-db failed for $datadir; see $log"
  fi
  tcp_reachable "$NS_HPC" 127.0.0.1 "$MARIADB_PORT" && die "port $MARIADB_PORT on 127.0.0.1 in $NS_HPC is taken by something else"
  # mariadbd stays in the foreground: detach it from this script's terminal and process group. The InnoDB
  # settings are the least slurmdbd accepts without logging "Database settings not recommended values".
  setsid ip netns exec "$NS_HPC" /usr/sbin/mariadbd --no-defaults --user=root --datadir="$datadir" \
    --socket="$(mariadb_socket)" --port="$MARIADB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
    --pid-file="$(slurm_pidfile mariadbd)" --log-error="$log" \
    --innodb-lock-wait-timeout=900 --innodb-buffer-pool-size=512M \
    </dev/null >>"$log" 2>&1 9>&- &
  wait_until "$SLURM_WAIT_SECONDS" mariadb_sql -e 'SELECT 1' >/dev/null 2>&1 \
    || die "MariaDB does not answer on $(mariadb_socket) within $SLURM_WAIT_SECONDS s; see $log"
  # slurmdbd connects over TCP (with StorageHost=localhost it insists on /run/mysqld/mysqld.sock).
  if [[ ! -s $SLURM_DIR/db-password ]]; then (umask 077 && random_secret >"$SLURM_DIR/db-password"); fi
  # The password goes through stdin, never argv.
  {
    echo "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1';"
    printf "ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '%s';\n" "$(<"$SLURM_DIR/db-password")"
    echo "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
  } | mariadb_sql >>"$log" 2>&1 || die "could not create the MariaDB user slurm for slurmdbd; see $log"
}

mariadb_down() { stop_by_pidfile "$(slurm_pidfile mariadbd)" mariadbd; }

# ---------------------------------------------------------------------------------------------- configuration

# slurm.conf for the cluster; $1 is the AccountingStorageType.
slurm_conf_text() {
  local accounting="$1"
  cat <<EOF
# The testbed's single-node SLURM on hpc; written by scripts/testbed (seen as $SLURM_CONF_SEEN inside $NS_HPC).
ClusterName=$SLURM_CLUSTER
SlurmctldHost=$SLURM_NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=$SLURMCTLD_PORT
SlurmdPort=$SLURMD_PORT
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_SPOOL
SlurmctldPidFile=$(slurm_pidfile slurmctld)
SlurmdPidFile=$(slurm_pidfile slurmd)
SlurmctldLogFile=$(slurm_log slurmctld)
SlurmdLogFile=$(slurm_log slurmd)
# No cgroups in a container: track processes by parent pid and bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# The node announces more CPUs than the machine has, so that many short jobs run at once.
SlurmdParameters=config_overrides
# Finished jobs stay visible to squeue --states=all for 10 minutes.
MinJobAge=600
# A timed-out or cancelled job is killed 5 s after SIGTERM instead of 30.
KillWait=5
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=$accounting
EOF
  if [[ $accounting == accounting_storage/slurmdbd ]]; then
    echo "AccountingStorageHost=127.0.0.1"
    echo "AccountingStoragePort=$SLURMDBD_PORT"
    echo "AccountingStoreFlags=job_comment"
  fi
  cat <<EOF
NodeName=$SLURM_NODE NodeHostname=$SLURM_NODE NodeAddr=127.0.0.1 CPUs=$SLURM_CPUS RealMemory=$SLURM_MEMORY_MB State=UNKNOWN
PartitionName=$SLURM_PARTITION Nodes=$SLURM_NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

slurmdbd_conf_text() {
  cat <<EOF
# slurmdbd of the testbed's SLURM on hpc; written by scripts/testbed.
AuthType=auth/munge
DbdHost=$SLURM_NODE
DbdAddr=127.0.0.1
DbdPort=$SLURMDBD_PORT
SlurmUser=root
LogFile=$(slurm_log slurmdbd)
PidFile=$(slurm_pidfile slurmdbd)
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$MARIADB_PORT
StorageUser=slurm
StorageLoc=slurm_acct_db
StoragePass=$(<"$SLURM_DIR/db-password")
EOF
}

# Writes the files in place (never replaces the directory): a running sshd of hpc holds a bind mount of it.
slurm_write_configs() {
  install -d -m 755 "$SLURM_ETC" "$SLURM_ETC/noacct"
  slurm_conf_text accounting_storage/slurmdbd >"$SLURM_ETC/slurm.conf.tmp"
  mv "$SLURM_ETC/slurm.conf.tmp" "$SLURM_ETC/slurm.conf"
  # A client-only copy without accounting: `SLURM_CONF=$SLURM_NOACCT_CONF_SEEN sacct` answers
  # "accounting storage is disabled", the path of a site without slurmdbd.
  slurm_conf_text accounting_storage/none >"$SLURM_ETC/noacct/slurm.conf.tmp"
  mv "$SLURM_ETC/noacct/slurm.conf.tmp" "$SLURM_ETC/noacct/slurm.conf"
  printf '# See in_hpc_as_hpc in scripts/testbed-slurm.sh.\nCgroupPlugin=cgroup/v1\nIgnoreSystemd=yes\n' >"$SLURM_ETC/cgroup.conf"
  chmod 644 "$SLURM_ETC/slurm.conf" "$SLURM_ETC/noacct/slurm.conf" "$SLURM_ETC/cgroup.conf"
  [[ -s $SLURM_DIR/db-password ]] || (umask 077 && random_secret >"$SLURM_DIR/db-password")
  # slurmdbd insists on mode 600 and its SlurmUser as owner: it holds the database password.
  (umask 077 && slurmdbd_conf_text >"$SLURM_ETC/slurmdbd.conf.tmp")
  mv "$SLURM_ETC/slurmdbd.conf.tmp" "$SLURM_ETC/slurmdbd.conf"
}

slurm_make_dirs() {
  install -d -m 711 "$SLURM_DIR"
  install -d -m 700 "$SLURM_DIR/state" "$SLURM_DIR/mariadb"
  install -d -m 755 "$SLURM_SPOOL" "$SLURM_DIR/log" "$SLURM_DIR/run"
}

# ---------------------------------------------------------------------------------------------- SLURM daemons

# The node's state as sinfo reports it (idle, mixed, allocated, idle* when not responding, ...).
slurm_node_state() { in_hpc sinfo -h -n "$SLURM_NODE" -o %T 2>/dev/null; }
slurm_node_ready() { [[ $(slurm_node_state) =~ ^(idle|mixed|allocated|completing)$ ]]; }
slurmctld_answers() { in_hpc scontrol ping 2>/dev/null | grep -q 'is UP'; }
slurmdbd_answers() { in_hpc sacctmgr -n -P list cluster format=cluster >/dev/null 2>&1; }

start_slurm_daemon() {
  local name="$1"; shift
  slurm_daemon_pid "$name" >/dev/null && return 0
  in_hpc_as_hpc "/usr/sbin/$name" "$@" >>"$(slurm_log "$name-start")" 2>&1 \
    || die "$name did not start; see $(slurm_log "$name") and $(slurm_log "$name-start")"
  wait_until 10 slurm_daemon_pid "$name" >/dev/null || die "$name exited right after starting; see $(slurm_log "$name")"
}

slurmdbd_up() {
  start_slurm_daemon slurmdbd
  wait_until "$SLURM_WAIT_SECONDS" slurmdbd_answers \
    || die "slurmdbd does not answer within $SLURM_WAIT_SECONDS s; see $(slurm_log slurmdbd) (and $(slurm_log mariadb) for the database)"
}

slurmctld_up() {
  start_slurm_daemon slurmctld
  wait_until "$SLURM_WAIT_SECONDS" slurmctld_answers \
    || die "slurmctld does not answer 'scontrol ping' within $SLURM_WAIT_SECONDS s; see $(slurm_log slurmctld)"
}

slurmd_up() {
  start_slurm_daemon slurmd -N "$SLURM_NODE"
  wait_until "$SLURM_WAIT_SECONDS" slurm_node_ready \
    || die "node $SLURM_NODE is '$(slurm_node_state)', not idle, after $SLURM_WAIT_SECONDS s; see $(slurm_log slurmd) and $(slurm_log slurmctld)"
}

# sshd sessions see /etc/slurm only when hpc's sshd was started after $SLURM_ETC existed.
slurm_check_visible_to_sshd() {
  local pid
  pid="$(sshd_pid hpc)" || die "the sshd of hpc is not running"
  [[ -r /proc/$pid/root$SLURM_CONF_SEEN ]] \
    || die "hpc's sshd (pid $pid) does not see $SLURM_CONF_SEEN; restart it with scripts/testbed sshd-stop hpc && scripts/testbed sshd-start hpc"
}

# ---------------------------------------------------------------------------------------------- entry points

# Before hpc's sshd starts: the configuration directory it must see.
slurm_prepare() {
  slurm_make_dirs
  slurm_write_configs
}

slurm_up() {
  local started=$SECONDS
  munge_up
  mariadb_up
  slurmdbd_up
  slurmctld_up
  slurmd_up
  slurm_check_visible_to_sshd
  say "SLURM up in $((SECONDS - started)) s: node $SLURM_NODE ($SLURM_CPUS CPUs) idle in partition $SLURM_PARTITION; logs in $SLURM_DIR/log"
}

# slurmd goes first so that no job starts while the rest goes away; its jobs' slurmstepds are left to the
# namespace cleanup of `down`.
slurm_down() {
  stop_by_pidfile "$(slurm_pidfile slurmd)" slurmd
  stop_by_pidfile "$(slurm_pidfile slurmctld)" slurmctld
  stop_by_pidfile "$(slurm_pidfile slurmdbd)" slurmdbd
  mariadb_down
  munge_down
  rm -rf "$SLURM_SPOOL"
}

# Stops only the controller: slurmd and the jobs it runs keep going; the state is saved on SIGTERM.
slurmctld_stop() {
  stop_by_pidfile "$(slurm_pidfile slurmctld)" slurmctld
}

# Starts the controller again; without -c it recovers jobs and nodes from StateSaveLocation.
slurmctld_start() {
  ns_exists "$NS_HPC" || die "namespace $NS_HPC does not exist: run scripts/testbed up"
  [[ -s $SLURM_ETC/slurm.conf ]] || die "no $SLURM_ETC/slurm.conf: run scripts/testbed up"
  slurmctld_up
  wait_until "$SLURM_WAIT_SECONDS" slurm_node_ready \
    || die "node $SLURM_NODE is '$(slurm_node_state)' after restarting slurmctld; see $(slurm_log slurmctld)"
}

# Accounting down: sacct fails, slurmctld queues the records and sends them once slurmdbd is back.
slurmdbd_stop() { stop_by_pidfile "$(slurm_pidfile slurmdbd)" slurmdbd; }

slurmdbd_start() {
  ns_exists "$NS_HPC" || die "namespace $NS_HPC does not exist: run scripts/testbed up"
  slurmdbd_up
}

# One status line per daemon, through the report function of cmd_status.
slurm_status() {
  local pid name
  if munge_answers; then report ok "munged ($MUNGE_SOCKET$([[ -s $SLURM_DIR/munged.ours ]] && echo ', started by the testbed'))"
  else report down "munged ($MUNGE_SOCKET)"; fi
  if pid="$(mariadb_pid)"; then report ok "mariadbd (pid $pid, 127.0.0.1:$MARIADB_PORT in $NS_HPC)"; else report down "mariadbd"; fi
  for name in slurmdbd slurmctld slurmd; do
    if pid="$(slurm_daemon_pid "$name")"; then report ok "$name (pid $pid, log $(slurm_log "$name"))"
    else report down "$name"; fi
  done
  if ns_exists "$NS_HPC" && slurm_node_ready; then report ok "node $SLURM_NODE $(slurm_node_state) in partition $SLURM_PARTITION"
  else report down "node $SLURM_NODE ($(ns_exists "$NS_HPC" && slurm_node_state || echo 'no namespace'))"; fi
}
