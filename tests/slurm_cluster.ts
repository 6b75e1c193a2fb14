/**
 * A one-node SLURM cluster on localhost for tests: its own munge key and `munged` socket, `slurmctld`
 * and `slurmd` as child processes of the test, with every file (config, state, spool, logs) in one
 * temporary directory. Nothing outside it is touched, so a system munge or SLURM keeps working.
 * Needs root (slurmd starts jobs as their user) and Debian's `slurm-wlm` and `munge` (setup installs them).
 *
 * @module
 */

/** A running test cluster. */
export interface SlurmCluster {
  /** The cluster's `slurm.conf`. */
  conf: string;
  /** The temporary directory holding everything. */
  dir: string;
  /** Environment for SLURM commands (`sbatch`, `squeue`, …) to reach this cluster. */
  env: Record<string, string>;
  /** Cancels its jobs, stops the daemons and removes the directory. */
  stop(): Promise<void>;
}

const BINARIES = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel"];

async function commandOutput(
  command: string,
  args: string[],
  env?: Record<string, string>,
): Promise<{ ok: boolean; text: string }> {
  try {
    const result = await new Deno.Command(command, { args, env, stdout: "piped", stderr: "piped" }).output();
    const text = new TextDecoder().decode(result.success ? result.stdout : result.stderr).trim();
    return { ok: result.success, text };
  } catch (error) {
    return { ok: false, text: (error as Error).message };
  }
}

/**
 * Why a cluster cannot start here (not root, or SLURM/munge missing), with the fix; null when it can.
 */
export async function slurmClusterUnavailable(): Promise<string | null> {
  const uid = await commandOutput("id", ["-u"]);
  const missing = [];
  for (const binary of BINARIES) {
    const found = await commandOutput("sh", ["-c", `command -v ${binary} || test -x /usr/sbin/${binary}`]);
    if (!found.ok) missing.push(binary);
  }
  const problems = [];
  if (uid.text !== "0") problems.push("runs as root (slurmd starts jobs as their user)");
  if (missing.length > 0) {
    problems.push(`has ${missing.join(", ")} (Debian: apt-get install -y slurm-wlm munge)`);
  }
  if (problems.length === 0) return null;
  return `the SLURM test needs a machine that ${problems.join(" and ")}: ` +
    `run deno task test as root on Debian/Ubuntu, whose setup step installs SLURM and munge`;
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function readTail(path: string, lines = 15): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, seconds: number, logs: string[]) {
  const deadline = performance.now() + seconds * 1000;
  while (performance.now() < deadline) {
    if (await check()) return;
    await new Promise((done) => setTimeout(done, 250));
  }
  const tails = await Promise.all(logs.map(async (log) => `--- ${log}\n${await readTail(log)}`));
  throw new Error(`test SLURM cluster: ${what} not ready after ${seconds} s\n${tails.join("\n")}`);
}

/**
 * Starts munged, slurmctld and slurmd for a one-node cluster named `zsltest` whose node is this host,
 * and waits until the node is idle. Throws with the reason and the fix when it cannot
 * (see {@linkcode slurmClusterUnavailable}).
 */
export async function startSlurmCluster(): Promise<SlurmCluster> {
  const unavailable = await slurmClusterUnavailable();
  if (unavailable) throw new Error(unavailable);
  const dir = await Deno.makeTempDir({ prefix: "zsl-slurm-" });
  // munged refuses a socket under a directory that other users cannot traverse.
  await Deno.chmod(dir, 0o755);
  const children: Deno.ChildProcess[] = [];
  let controllerStarted = false;
  const stop = async () => {
    const env = { SLURM_CONF: `${dir}/slurm.conf` };
    // squeue retries for a minute when no controller answers: ask only when one was started.
    const jobs = controllerStarted ? await commandOutput("squeue", ["-h", "-o", "%i"], env) : null;
    if (jobs?.ok && jobs.text !== "") await commandOutput("scancel", jobs.text.split(/\s+/), env);
    for (const child of children.reverse()) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
      const exited = await Promise.race([
        child.status.then(() => true),
        new Promise<boolean>((done) => setTimeout(() => done(false), 5000)),
      ]);
      if (!exited) {
        try {
          child.kill("SIGKILL");
        } catch {
          // Exited meanwhile.
        }
        await child.status;
      }
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    // A private key: 1024 random bytes, readable only by the daemon's user, as mungekey writes.
    const key = new Uint8Array(1024);
    crypto.getRandomValues(key);
    await Deno.writeFile(`${dir}/munge.key`, key, { mode: 0o600 });
    const socket = `${dir}/munge.socket`;
    children.push(
      new Deno.Command("munged", {
        args: [
          "--foreground",
          `--socket=${socket}`,
          `--key-file=${dir}/munge.key`,
          `--pid-file=${dir}/munged.pid`,
          `--seed-file=${dir}/munged.seed`,
          `--log-file=${dir}/munged.log`,
        ],
        stdout: "null",
        stderr: "null",
      }).spawn(),
    );
    await waitFor("munged", () => Deno.stat(socket).then(() => true, () => false), 10, [`${dir}/munged.log`]);
    const host = (await commandOutput("hostname", ["-s"])).text;
    // Through awk: Deno reads /proc only with --allow-all.
    const memoryKb = (await commandOutput("awk", ["/^MemTotal:/ { print $2 }", "/proc/meminfo"])).text;
    // Below the node's memory, which slurmd measures a little differently (more would drain the node).
    const memoryMb = Math.floor(Number(memoryKb || 1048576) / 1024 * 0.9);
    await Deno.mkdir(`${dir}/state`);
    await Deno.mkdir(`${dir}/spool`);
    const conf = `${dir}/slurm.conf`;
    await Deno.writeTextFile(
      conf,
      [
        "ClusterName=zsltest",
        // The host name must be this machine's short name: slurmctld and slurmd find themselves by it.
        `SlurmctldHost=${host}(127.0.0.1)`,
        `SlurmctldPort=${freePort()}`,
        `SlurmdPort=${freePort()}`,
        "AuthType=auth/munge",
        "CredType=cred/munge",
        `AuthInfo=socket=${socket}`,
        "SlurmUser=root",
        "SlurmdUser=root",
        `StateSaveLocation=${dir}/state`,
        `SlurmdSpoolDir=${dir}/spool`,
        `SlurmctldPidFile=${dir}/slurmctld.pid`,
        `SlurmdPidFile=${dir}/slurmd.pid`,
        `SlurmctldLogFile=${dir}/slurmctld.log`,
        `SlurmdLogFile=${dir}/slurmd.log`,
        // No cgroups in containers: track processes through /proc and bind no tasks.
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        // CPUs only: with memory consumable, a job without --mem would take the whole node.
        "SelectTypeParameters=CR_CPU",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "MpiDefault=none",
        "ReturnToService=2",
        "SchedulerType=sched/backfill",
        "MailProg=/bin/true",
        // Finished jobs stay visible to squeue --states=all for this long (there is no sacct here).
        "MinJobAge=600",
        `NodeName=${host} NodeAddr=127.0.0.1 CPUs=${navigator.hardwareConcurrency} RealMemory=${memoryMb}`,
        `PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
        "",
      ].join("\n"),
    );
    const env = { SLURM_CONF: conf };
    for (const daemon of ["slurmctld", "slurmd"]) {
      children.push(
        new Deno.Command(daemon, { args: ["-D"], env, stdout: "null", stderr: "null" }).spawn(),
      );
      controllerStarted = true;
    }
    await waitFor(
      "node idle in sinfo",
      async () => (await commandOutput("sinfo", ["-h", "-N", "-o", "%T"], env)).text === "idle",
      30,
      [`${dir}/slurmctld.log`, `${dir}/slurmd.log`],
    );
    return { conf, dir, env, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
