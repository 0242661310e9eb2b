/**
 * Issue #2: how long does injecting a node identity into a 1 GiB NixOS installer image take?
 *
 * Two numbers, each printed beside mtools' `mcopy` writing the same three files into the same
 * ESP in the same run (machines are noisy, so only the ratio is comparable between machines):
 *  - in-process: `injectTarget()` (plan in an overlay, commit, fsync, read back and compare);
 *  - whole process: `node bin/zflash.js inject …`, with `node -e 0` and `zflash --version`
 *    beside it to show how much of it is Node start-up and module loading.
 * Printed, never asserted (DESIGN.md: bench/ is not part of `npm test`).
 *
 * Run with `npm run bench:inject` (builds app/ and bench/ into dist/ first).
 */
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildNodeIdentity, parseAuthorizedKeys } from '../app/node/index.js';
import { renderPayload } from '../app/payload/render.js';
import { injectTarget, inspectTarget } from '../app/payload/target.js';
import { buildNixosIso, espOffsetBySfdisk, run, tempDir } from '../test/fixtures.js';
import { GiB, MiB, ratio, repoRoot, stats, type Stats } from './common.js';

/** Repeated runs (re-injection, the realistic repeated case) and whole-process runs. */
const RUNS_IN_PROCESS = 20;
const RUNS_FIRST = 5;
const RUNS_PROCESS = 10;
const WARMUP = 2;
const TARGET_IN_PROCESS_MS = 50;
const TARGET_PROCESS_MS = 500;
const HOST = 'bench-node-1';
// Fixed so the files injectTarget renders are byte-identical to the ones handed to mcopy.
const CREATED_AT = new Date('2025-01-01T00:00:00Z');

function timeProcess(cmd: string, args: readonly string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = performance.now() - t0;
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  }
  return ms;
}

function readRange(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, buf, done, length - done, offset + done);
      if (n === 0) throw new Error(`short read of ${path}`);
      done += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

/**
 * Puts the pristine ESP bytes back, which is what a fresh copy of the image looks like to
 * both injectors (they read and write only inside the ESP), without copying 1 GiB each time.
 * Flushed here so the fsync inside injectTarget does not pay for this write.
 */
function restoreEsp(path: string, offset: number, esp: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    let done = 0;
    while (done < esp.length) done += writeSync(fd, esp, done, esp.length - done, offset + done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Peak RSS in KiB of one `zflash inject` run, or a note saying why there is none. */
function peakRss(node: string, args: readonly string[]): { kib: number; via: string } | string {
  if (existsSync('/usr/bin/time')) {
    const r = spawnSync('/usr/bin/time', ['-f', '%M', node, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const last = r.stderr.toString().trim().split('\n').at(-1) ?? '';
    if (r.status === 0 && /^\d+$/.test(last)) return { kib: Number(last), via: '/usr/bin/time' };
  }
  // No GNU time: let the zflash process report its own high-water mark as it exits.
  const hook = `process.on('exit',()=>process.stderr.write('\\nzflash-bench-maxrss='+process.resourceUsage().maxRSS+'\\n'))`;
  const r = spawnSync(
    node,
    ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, ...args],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const m = /zflash-bench-maxrss=(\d+)/.exec(r.stderr.toString());
  if (r.status === 0 && m) return { kib: Number(m[1]), via: 'process.resourceUsage()' };
  return 'peak RSS not measured (no /usr/bin/time and the --import hook failed)';
}

const ms = (v: number) => `${v.toFixed(v < 10 ? 2 : 1)} ms`;

function row(label: string, s: Stats, base?: Stats): string {
  return [
    label.padEnd(52),
    ms(s.median).padStart(10),
    ms(s.p90).padStart(10),
    String(s.runs).padStart(4),
    (base ? ratio(s.median, base.median) : '').padStart(9),
  ].join('');
}

async function main(): Promise<void> {
  const root = repoRoot();
  const zflash = join(root, 'bin', 'zflash.js');
  if (!existsSync(join(root, 'dist', 'app', 'cli', 'main.js'))) {
    throw new Error('bench: dist/ is not built; run `npm run bench:inject` (it builds first)');
  }
  const node = process.execPath;
  const tmp = tempDir('zflash-bench-');
  const cleanup = () => tmp.cleanup();
  // spawnSync children get Ctrl-C too; remove the GiB of temp files before exiting.
  const onSignal = (sig: NodeJS.Signals) => {
    cleanup();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // 1. One 1 GiB NixOS-layout image and an SSH key.
    const t0 = performance.now();
    const image = join(tmp.path, 'nixos.iso');
    buildNixosIso(image, { zeroFillerBytes: GiB - 4 * MiB });
    const key = join(tmp.path, 'id_ed25519');
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench@zflash', '-f', key]);

    const info = await inspectTarget(image);
    if (!info.esp) throw new Error(`no ESP in ${image}: ${info.espProblem?.message}`);
    const esp = info.esp;
    const { offset, size } = esp;
    const bySfdisk = espOffsetBySfdisk(image);
    if (bySfdisk.offset !== offset) {
      throw new Error(`ESP offset: zflash says ${offset}, sfdisk says ${bySfdisk.offset}`);
    }
    const pristineEsp = readRange(image, offset, size);
    // Our injector works on `image`, mcopy on its own copy, so neither sees the other's files.
    const mimage = join(tmp.path, 'nixos-mcopy.iso');
    run('cp', ['--reflink=auto', image, mimage]);
    const setupMs = performance.now() - t0;

    // 2. The same three payload files, in memory for us and on disk for mcopy.
    const keys = parseAuthorizedKeys(run('ssh-keygen', ['-y', '-f', key])).keys;
    const { identity } = buildNodeIdentity({ hostname: HOST, keys });
    const files = renderPayload(identity, { createdAt: CREATED_AT });
    const payloadDir = join(tmp.path, 'payload');
    mkdirSync(payloadDir);
    const filePaths = files.map((f) => {
      const p = join(payloadDir, f.name);
      writeFileSync(p, f.data);
      return p;
    });
    const mcopyArgs = ['-o', '-i', `${mimage}@@${offset}`, ...filePaths, '::/'];
    const inject = async () => {
      const t = performance.now();
      await injectTarget(image, identity, { createdAt: CREATED_AT });
      return performance.now() - t;
    };

    // 3. In-process, interleaved with mcopy so drift hits both alike.
    for (let i = 0; i < WARMUP; i++) {
      await inject();
      timeProcess('mcopy', mcopyArgs);
    }
    const first: number[] = [];
    const mcopyFirst: number[] = [];
    for (let i = 0; i < RUNS_FIRST; i++) {
      restoreEsp(image, offset, pristineEsp);
      restoreEsp(mimage, offset, pristineEsp);
      first.push(await inject());
      mcopyFirst.push(timeProcess('mcopy', mcopyArgs));
    }
    const again: number[] = [];
    const mcopyAgain: number[] = [];
    for (let i = 0; i < RUNS_IN_PROCESS; i++) {
      again.push(await inject());
      mcopyAgain.push(timeProcess('mcopy', mcopyArgs));
    }

    // 4. Whole processes, interleaved the same way.
    const injectArgs = [zflash, 'inject', image, '--host', HOST, '--ssh-key', `${key}.pub`];
    timeProcess(node, injectArgs);
    const proc: number[] = [];
    const mcopyProc: number[] = [];
    const nodeBare: number[] = [];
    const nodeVersion: number[] = [];
    for (let i = 0; i < RUNS_PROCESS; i++) {
      proc.push(timeProcess(node, injectArgs));
      mcopyProc.push(timeProcess('mcopy', mcopyArgs));
      nodeBare.push(timeProcess(node, ['-e', '0']));
      nodeVersion.push(timeProcess(node, [zflash, '--version']));
    }
    const rss = peakRss(node, injectArgs);

    // The image still holds what we wrote, and mtools reads it the same.
    const back = await inspectTarget(image);
    const mtypeHost = run('mtype', ['-i', `${image}@@${offset}`, '::/zeta-hostname.txt']);
    if (back.payload?.hostname !== HOST || mtypeHost.trim() !== HOST) {
      throw new Error(`bench: payload did not read back (hostname ${back.payload?.hostname})`);
    }

    // 5. Report.
    const s = {
      first: stats(first),
      mcopyFirst: stats(mcopyFirst),
      again: stats(again),
      mcopyAgain: stats(mcopyAgain),
      proc: stats(proc),
      mcopyProc: stats(mcopyProc),
      nodeBare: stats(nodeBare),
      nodeVersion: stats(nodeVersion),
    };
    const header = ['', 'median', 'p90', 'N', 'ratio'];
    const head = [
      header[0]!.padEnd(52),
      header[1]!.padStart(10),
      header[2]!.padStart(10),
      header[3]!.padStart(4),
      header[4]!.padStart(9),
    ].join('');
    const payloadBytes = files.reduce((n, f) => n + f.data.length, 0);
    const out = [
      `zflash inject benchmark (issue #2), Node ${process.version}, ${process.platform}/${process.arch}`,
      `image  ${(info.size / GiB).toFixed(3)} GiB NixOS-layout isohybrid, ESP ${info.esp?.fatType} ${(size / MiB).toFixed(1)} MiB at offset ${offset} (sfdisk agrees)`,
      `payload ${files.map((f) => `${f.name} (${f.data.length} B)`).join(', ')} = ${payloadBytes} B`,
      `setup  ${(setupMs / 1000).toFixed(1)} s (build image, copy for mcopy), ${WARMUP} warm-up runs of each not counted`,
      '',
      'in-process (ratio = ours / mcopy in the same block)',
      head,
      row('injectTarget, first injection into a fresh ESP', s.first, s.mcopyFirst),
      row('mcopy -o -i IMG@@OFF <3 files> ::/, fresh ESP', s.mcopyFirst),
      row('injectTarget, re-injection (files already there)', s.again, s.mcopyAgain),
      row('mcopy -o -i IMG@@OFF <3 files> ::/, overwriting', s.mcopyAgain),
      '',
      'whole process (ratio = row / mcopy process)',
      head,
      row('node bin/zflash.js inject IMG --host … --ssh-key …', s.proc, s.mcopyProc),
      row('mcopy -o -i IMG@@OFF <3 files> ::/', s.mcopyProc),
      row('node -e 0 (bare Node start-up)', s.nodeBare, s.mcopyProc),
      row('node bin/zflash.js --version (start-up + imports)', s.nodeVersion, s.mcopyProc),
      '',
      `zflash inject = ${ratio(s.proc.median, s.nodeBare.median)} bare Node start-up; ` +
        `Node start-up is ${((100 * s.nodeBare.median) / s.proc.median).toFixed(0)}% of it, ` +
        `start-up + imports ${((100 * s.nodeVersion.median) / s.proc.median).toFixed(0)}%`,
      typeof rss === 'string'
        ? rss
        : `peak RSS of zflash inject: ${(rss.kib / 1024).toFixed(1)} MiB (via ${rss.via})`,
      '',
      `target: in-process < ${TARGET_IN_PROCESS_MS} ms: ${
        Math.max(s.first.median, s.again.median) < TARGET_IN_PROCESS_MS ? 'MET' : 'NOT MET'
      } (median first ${ms(s.first.median)}, re-injection ${ms(s.again.median)})`,
      `target: whole command < ${TARGET_PROCESS_MS} ms: ${
        s.proc.median < TARGET_PROCESS_MS ? 'MET' : 'NOT MET'
      } (median ${ms(s.proc.median)})`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
