#!/bin/bash
# Batch script template for harvester-ts' SlurmSubmitter ("templateFile"). SlurmSubmitter writes one copy
# per worker, placeholders filled in, as harvester_slurm_job.sh in the worker's access point and submits it
# with sbatch (whose --job-name and --comment, carrying the worker's identity, override any #SBATCH ones).
# Placeholders are harvester's ({nNode}, {requestRam}, ... see the README); an unknown one is refused when
# the plugin is built. {{ and }} are literal braces; ${VAR} is left to the shell.
#SBATCH --partition={localQueueName}
#SBATCH --nodes={nNode}
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task={nCorePerNode}
#SBATCH --mem={requestRam}M
#SBATCH --time={requestWalltimeMinute}
#SBATCH --output={accessPoint}/{workerID}.out
#SBATCH --error={accessPoint}/{workerID}.err

# Site set-up goes here (module load ..., export ...).

# Runs the worker's payload in the access point and records its exit code for the monitor.
exec "{payloadScript}"
