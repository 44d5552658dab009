"""A real single-node SLURM cluster on this machine, for the tests of profiles/slurm.

Debian's slurm-wlm and munge, run as root: slurmctld and slurmd on 127.0.0.1 with one node that
has the machine's cores, a little less than its memory and one fake A100 (gres backed by
/dev/null), so a job asking for `--gpus=a100:1` is scheduled and its request is recorded.
There is no accounting database: `sacct` cannot answer, so the executor polls with `squeue`.
Everything the daemons write lives in one directory; the configuration reaches the commands run
here through SLURM_CONF, and those run inside jobs through slurmd's configless cache
(/run/slurm/conf).

    python tests/slurm_cluster.py FOLDER    # start it, submit one GPU job, show its record, stop"""

import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager, suppress
from pathlib import Path

DAEMONS = ("slurmctld", "slurmd", "munged", "sbatch", "squeue", "scontrol")
MUNGE_KEY = Path("/etc/munge/munge.key")


def unavailable() -> str | None:
    """Why a cluster cannot be started here, or None."""
    missing = [name for name in DAEMONS if shutil.which(name) is None]
    if missing:
        return f"{', '.join(missing)} not installed (Debian packages slurm-wlm and munge)"
    if os.geteuid() != 0:
        return "slurmd and munged must run as root here (SlurmdUser=root); the tests run as a user"
    return None


def _memory_mb() -> int:
    total_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return int(total_kb / 1024 * 0.8)


def _start_munge() -> None:
    if subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode == 0:
        return
    if not MUNGE_KEY.exists():
        MUNGE_KEY.parent.mkdir(parents=True, exist_ok=True)
        MUNGE_KEY.write_bytes(os.urandom(1024))
        shutil.chown(MUNGE_KEY, "munge", "munge")
        MUNGE_KEY.chmod(0o400)
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "munged", "--force"], check=True, capture_output=True)
    subprocess.run("munge -n | unmunge", shell=True, check=True, capture_output=True)


def configure(state: Path) -> Path:
    host = socket.gethostname().split(".")[0]
    for folder in ("state", "spool"):
        (state / folder).mkdir(parents=True, exist_ok=True)
    settings = {
        "ClusterName": "local",
        "GresTypes": "gpu",
        "SlurmctldHost": f"{host}(127.0.0.1)",
        "AuthType": "auth/munge",
        "SlurmUser": "root",
        "SlurmdUser": "root",
        "StateSaveLocation": state / "state",
        "SlurmdSpoolDir": state / "spool",
        "SlurmctldLogFile": state / "slurmctld.log",
        "SlurmdLogFile": state / "slurmd.log",
        "SlurmctldPidFile": state / "slurmctld.pid",
        "SlurmdPidFile": state / "slurmd.pid",
        "ProctrackType": "proctrack/linuxproc",
        "TaskPlugin": "task/none",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_Core_Memory",
        "ReturnToService": 2,
        "JobAcctGatherType": "jobacct_gather/none",
        # finished jobs stay visible to scontrol long enough for a test to read them
        "MinJobAge": 3600,
        # slurmd fetches the configuration and caches it in /run/slurm/conf, where commands run
        # inside jobs (srun) find it: the executor removes SLURM_* variables, SLURM_CONF included
        "SlurmctldParameters": "enable_configless",
    }
    lines = [f"{key}={value}" for key, value in settings.items()] + [
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory={_memory_mb()} "
        "Gres=gpu:a100:1 State=UNKNOWN",
        f"PartitionName=main Nodes={host} Default=YES MaxTime=INFINITE State=UP",
    ]
    conf = state / "slurm.conf"
    conf.write_text("\n".join(lines) + "\n")
    (state / "gres.conf").write_text(f"NodeName={host} Name=gpu Type=a100 File=/dev/null\n")
    return conf


def _stop(pid_file: Path) -> None:
    if pid_file.exists():
        with suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


@contextmanager
def slurm_cluster(state: Path):
    """Start the cluster; yield the environment its clients need; stop it on exit."""
    reason = unavailable()
    if reason:
        raise RuntimeError(reason)
    _start_munge()
    conf = configure(state)
    environment = dict(os.environ, SLURM_CONF=str(conf))
    try:
        subprocess.run(["slurmctld", "-c", "-f", str(conf)], check=True, env=environment)
        subprocess.run(["slurmd", "-c", "--conf-server", "127.0.0.1"], check=True, env=environment)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = subprocess.run(
                ["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True, env=environment
            ).stdout.split()
            if states and all(state_name.startswith("idle") for state_name in states):
                break
            time.sleep(1)
        else:
            log = (state / "slurmctld.log").read_text()[-3000:] if (state / "slurmctld.log").exists() else ""
            raise RuntimeError(f"the SLURM node did not become idle within 60 s: {states}\n{log}")
        yield environment
    finally:
        _stop(state / "slurmd.pid")
        _stop(state / "slurmctld.pid")


if __name__ == "__main__":
    import sys

    with slurm_cluster(Path(sys.argv[1]).resolve()) as environment:
        print(subprocess.run(["sinfo"], capture_output=True, text=True, env=environment).stdout)
        job = subprocess.run(
            [
                "sbatch",
                "--parsable",
                "--gpus=a100:1",
                f"--chdir={sys.argv[1]}",
                "--wrap",
                "echo $CUDA_VISIBLE_DEVICES",
            ],
            capture_output=True,
            text=True,
            env=environment,
            check=True,
        ).stdout.strip()
        time.sleep(3)
        print(
            subprocess.run(
                ["scontrol", "show", "job", job], capture_output=True, text=True, env=environment
            ).stdout
        )
