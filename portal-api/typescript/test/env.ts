// What the tests share: the garo-server under test (started by the Go test that runs them,
// portal-api/typescript/sdk_test.go, which passes its URL and secrets in the environment)
// and names unique to each test, so that the test files can run at once on one server.
import { createHmac, randomBytes } from "node:crypto";
import { GaroClient, type ClientOptions } from "../src/index.js";

function required(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === "") {
    throw new Error(`${name} is not set: run these tests with \`go test ./portal-api/typescript/\`, which starts garo-server`);
  }
  return v;
}

export const server = {
  get url(): string {
    return required("GARO_SERVER");
  },
  get adminToken(): string {
    return required("GARO_TOKEN");
  },
  get webhookSecret(): string {
    return required("GARO_WEBHOOK_SECRET");
  },
};

/** A client of the server under test, with the admin token unless another is given. */
export function client(opts: Partial<ClientOptions> = {}): GaroClient {
  return new GaroClient({ baseUrl: server.url, token: server.adminToken, ...opts });
}

/** An owner name no other test uses, such as `ts-3f9a1c`. */
export function uniqueOwner(prefix = "ts"): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

/** Sends a signed workflow_job delivery, as GitHub would, and returns the server's answer. */
export async function sendWorkflowJob(action: "queued" | "in_progress" | "completed", jobId: number, repo: string, labels: string[]): Promise<{ status: number; body: unknown }> {
  const [owner = "", name = ""] = repo.split("/");
  const payload = JSON.stringify({
    action,
    workflow_job: {
      id: jobId,
      run_id: jobId * 10,
      name: "build",
      workflow_name: "CI",
      labels,
      status: action,
      html_url: `https://github.com/${repo}/actions/runs/${jobId * 10}/job/${jobId}`,
      created_at: new Date().toISOString(),
      runner_name: null,
      runner_id: null,
    },
    repository: { id: 1, name, full_name: repo, owner: { login: owner } },
    installation: { id: 7 },
  });
  const sig = createHmac("sha256", server.webhookSecret).update(payload).digest("hex");
  const res = await fetch(`${server.url}/webhooks/github`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "X-GitHub-Event": "workflow_job",
      "X-GitHub-Delivery": randomBytes(16).toString("hex"),
      "X-Hub-Signature-256": `sha256=${sig}`,
    },
    body: payload,
  });
  return { status: res.status, body: await res.json() };
}
