// Helpers every benchmark shares: free ports, child processes, JSON requests.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

/** A port that was free a moment ago. */
export const freePort = (host = '127.0.0.1') =>
  new Promise((resolve) => {
    const s = createServer().listen(0, host, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** Spawns a node script and resolves once its output contains `readyText`. */
export function startChild(args, env, readyText) {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (out.includes(readyText)) {
        clearInterval(timer);
        resolve({ child, output: () => out });
      } else if (child.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(out));
      }
    }, 50);
  });
}

/** fetch + JSON body; throws with the status and body on a non-2xx answer. */
export async function json(url, init) {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${res.status} ${await res.text()}`);
  return res.json();
}
