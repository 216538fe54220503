import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startPlatform } from './helpers/platform.js';

/** The pid of the process listening on a TCP port, read with `ss -p`. */
function listenerPid(port: number): number {
  const line = execFileSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' });
  const pid = /pid=(\d+)/.exec(line)?.[1];
  if (!pid) throw new Error(`no process listens on ${port}: ${line}`);
  return Number(pid);
}

const listening = (port: number) =>
  execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).trim() !== '';

async function waitUntil(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

describe('npm start (scripts/start.mjs)', () => {
  it('stops the other two when one process crashes, and says so', async () => {
    const platform = await startPlatform();
    const gatewayPort = Number(new URL(platform.gatewayUrl).port);
    const cpPort = Number(new URL(platform.controlPlaneUrl).port);
    try {
      process.kill(listenerPid(platform.sidecarPort), 'SIGKILL');
      expect(await waitUntil(() => !listening(gatewayPort) && !listening(cpPort), 20_000)).toBe(true);
      expect(platform.output()).toContain('sidecar exited unexpectedly');
    } finally {
      await platform.stop();
    }
  });

  it('Ctrl-C stops all three cleanly', async () => {
    const platform = await startPlatform();
    const ports = [platform.gatewayUrl, platform.controlPlaneUrl, platform.consoleUrl].map((u) =>
      Number(new URL(u).port),
    );
    await platform.stop('SIGINT');
    expect([...ports, platform.sidecarPort].filter(listening)).toEqual([]);
    expect(platform.output()).not.toContain('exited unexpectedly');
    expect(platform.exitCode()).toBe(0);
  });
});
