// Reading a repository's queue and a job's timeline, and polling without webhooks: the
// portal API has no long-poll (that is the agents' protocol), so a portal polls, bounded,
// and compares what it already has (a job's `updated_at`, a policy's ETag).
// docs/portal.md quotes this file, and test/examples.test.ts runs it.
import { GaroClient, type Job } from "../src/index.js";

/** The jobs of a repository that wait for a runner, oldest first, as a portal lists them. */
export async function queuedJobs(garo: GaroClient, owner: string, repo: string): Promise<string[]> {
  const lines: string[] = [];
  for await (const job of garo.repoJobs(owner, repo, { state: "queued", limit: 100 })) {
    const where = job.agent_state === "waiting_for_capacity" ? `position ${job.queue_position}` : (job.agent_state ?? "not reported by an agent yet");
    lines.push(`${job.id} ${job.name} [${job.labels.join(",")}] policy ${job.policy ?? "-"}: ${where}`);
  }
  return lines.reverse(); // the listing is newest first
}

/** A job's timeline as "step at" lines. */
export function timeline(job: Job): string[] {
  return job.timeline.map((e) => `${e.step} ${e.at}`);
}

/**
 * Polls a job until its `updated_at` differs from `seen`, at most `tries` times, `everyMs`
 * apart. Returns the changed job, or undefined when nothing changed in that time.
 */
export async function waitForJobChange(
  garo: GaroClient,
  owner: string,
  repo: string,
  jobId: number,
  seen: string,
  { tries = 30, everyMs = 2000, sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) } = {},
): Promise<Job | undefined> {
  for (let i = 0; i < tries; i++) {
    const job = await garo.getJob(owner, repo, jobId);
    if (job.updated_at !== seen) {
      return job;
    }
    await sleep(everyMs);
  }
  return undefined;
}

/** Polls a policy until its ETag differs from `etag` (someone changed it), bounded like waitForJobChange. */
export async function waitForPolicyChange(
  garo: GaroClient,
  owner: string,
  repo: string,
  name: string,
  etag: string,
  { tries = 30, everyMs = 2000, sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) } = {},
): Promise<string | undefined> {
  for (let i = 0; i < tries; i++) {
    const p = await garo.getPolicy(owner, repo, name);
    if (p.etag !== etag) {
      return p.etag;
    }
    await sleep(everyMs);
  }
  return undefined;
}
